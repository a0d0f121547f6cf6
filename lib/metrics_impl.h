/* metrics_impl.h: the on-disk layout of $queue_directory/pid/metrics and the table of
 * metric families, shared by lib/metrics.c (recording, file set-up) and
 * lib/metrics_render.c (the exposition text). Not for use outside lib/metrics*.c.
 *
 * Layout version changes whenever anything below changes size or meaning; master
 * re-creates a file with the wrong magic, version or size. */
#ifndef POSTERN_METRICS_IMPL_H
#define POSTERN_METRICS_IMPL_H
#include <stdint.h>
#include "metrics.h"

#define METRICS_MAGIC   "PSTRNMET"
#define METRICS_VERSION 1u
#define METRICS_MAX_LABELS 32            /* label values of one family */

/* Result names shared by SPF, DKIM and DMARC (label "result"). */
#define METRICS_NRESULTS 9
extern const char *const metrics_result_names[METRICS_NRESULTS];

/* Delivery delay histogram bucket upper bounds (seconds), +Inf implied. */
#define METRICS_NBUCKETS 12
extern const double metrics_bucket_bounds[METRICS_NBUCKETS];

struct metrics_family_def {
    const char *name;                    /* "postern_messages_received_total" */
    const char *help;
    const char *label;                   /* label name, NULL for none */
    int nlabels;                         /* label values (1 when label is NULL) */
    const char *const *values;           /* label values, or NULL (see render) */
};
extern const struct metrics_family_def metrics_families[METRIC_NFAMILIES];
#define METRICS_NSLOTS 128               /* >= sum of nlabels, checked at run time */
/* Slot of (family, label) in counters[], or -1 when out of range. */
int metrics_slot(int family, int label);

/* Protocol labels of METRIC_TLS_HANDSHAKES. */
#define METRICS_NTLS 5
extern const char *const metrics_tls_names[METRICS_NTLS];
extern const char *const metrics_reject_names[REJECT_NREASONS];

struct metrics_dest {
    char name[METRICS_DEST_MAX];
    uint64_t count;
};

struct metrics_proc {
    char name[METRICS_SERVICE_MAX];
    uint32_t nproc;
    uint32_t pad;
};

struct metrics_file {
    char magic[8];
    uint32_t version;
    uint32_t size;                       /* sizeof(struct metrics_file) */
    uint64_t counters[METRICS_NSLOTS];
    uint64_t buckets[METRICS_NBUCKETS + 1];   /* per bucket, not cumulative; last = +Inf */
    uint64_t delay_sum_ms;
    struct metrics_dest dest[METRICS_TOP_DESTINATIONS];     /* under flock */
    uint32_t nprocs;                                        /* under flock */
    uint32_t pad;
    struct metrics_proc procs[METRICS_SERVICES];            /* under flock */
};

/* The fd of the mapping (for flock), -1 when not mapped. */
int metrics_fd(void);
/* Path of the counter file under qdir into buf; NULL if it does not fit. */
const char *metrics_path(char *buf, size_t len, const char *qdir);

#endif
