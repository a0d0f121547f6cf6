/* metrics.h: counters shared by every postern process, for the Prometheus text endpoint
 * master serves on $metrics_listen and for `postern metrics`.
 *
 * The counters live in one fixed-layout file, $queue_directory/pid/metrics, that master
 * creates at start (owned by $mail_owner, mode 0600) and every daemon maps MAP_SHARED on
 * first use; increments are __atomic adds, so no process has to talk to another and no
 * log is parsed. The two small string tables in the file (top deferral destinations,
 * written by any daemon; process counts per service, written by master) are updated under
 * flock(). Nothing read from the file is trusted: the renderer checks the header, bounds
 * every string and escapes label values.
 *
 * Every recording function is cheap, never fails visibly and is a no-op when the file
 * cannot be opened (metrics are best effort; mail flow never depends on them). */
#ifndef POSTERN_METRICS_H
#define POSTERN_METRICS_H
#include "str.h"

/* Families of plain counters; a family has a fixed set of label values (below). */
enum metric_family {
    METRIC_RECEIVED,          /* messages committed by cleanup */
    METRIC_DELIVERED,         /* per recipient: sent (deliver_status) */
    METRIC_DEFERRED,          /* per recipient: deferred */
    METRIC_BOUNCED,           /* per recipient: bounced */
    METRIC_REJECTED,          /* smtpd rejections: class x reason */
    METRIC_SMTP_SESSIONS,     /* smtpd connections served */
    METRIC_TLS_HANDSHAKES,    /* successful server handshakes by protocol */
    METRIC_TLS_FAILURES,      /* failed server handshakes */
    METRIC_AUTH,              /* SMTP AUTH attempts by result */
    METRIC_SPF,               /* SPF results (smtpd) */
    METRIC_DKIM,              /* DKIM verification results (cleanup) */
    METRIC_DMARC,             /* DMARC results (cleanup) */
    METRIC_NFAMILIES
};

/* Reasons for METRIC_REJECTED, classified from the rejecting reply (metrics_reject). */
enum metric_reject_reason {
    REJECT_RELAY, REJECT_RECIPIENT, REJECT_SENDER, REJECT_CLIENT, REJECT_SPF,
    REJECT_SIZE, REJECT_LIMIT, REJECT_CONTENT, REJECT_PROTOCOL, REJECT_OTHER,
    REJECT_NREASONS
};

#define METRICS_TOP_DESTINATIONS 20
#define METRICS_DEST_MAX 64         /* bytes kept of a destination name, with NUL */
#define METRICS_SERVICES 64
#define METRICS_SERVICE_MAX 48

/* Increment family f at label index `label` (0 for families without labels); an
 * out-of-range family or label is ignored. */
void metrics_inc(enum metric_family f, int label);
/* smtpd: one rejection; code is the SMTP reply code (4xx/5xx), cmd the command
 * ("RCPT", "END-OF-MESSAGE"), reply the reply text: the reason label comes from it. */
void metrics_reject(int code, const char *cmd, const char *reply);
/* TLS handshake: protocol "TLSv1.3" etc. on success, NULL on failure. */
void metrics_tls_handshake(const char *protocol);
/* SPF/DKIM/DMARC outcome by result name ("pass", "fail", "softfail", "neutral", "none",
 * "temperror", "permerror", "policy"; anything else counts as "other"). */
void metrics_auth_result(enum metric_family f, const char *result);
/* deliver_status: one final recipient result (enum deliver_status), its delay since
 * arrival (seconds) and the next-hop destination (deferrals are counted per destination,
 * the top METRICS_TOP_DESTINATIONS kept). */
void metrics_delivery(int status, double delay, const char *destination);

/* master: create or validate the file at start (owner uid/gid, -1 for unchanged).
 * 0, or -1 with *err (malloc'd). */
int metrics_file_create(const char *qdir, long uid, long gid, char **err);
/* master: replace the per-service process table: n entries of (name, processes). */
void metrics_set_processes(const char *const *names, const int *nproc, int n);

/* Render the whole exposition text (counters, histogram, destinations, processes, and
 * the queue gauges of qdir) into out. 0, or -1 with *err (malloc'd) when the counter file
 * is missing or invalid (the queue gauges are still rendered). */
int metrics_render(str *out, const char *qdir, char **err);

/* Internal: the mapped file (NULL when unavailable); opens it on first use. */
struct metrics_file;
struct metrics_file *metrics_map(void);
/* Use a specific queue directory (default: config_str("queue_directory")). */
void metrics_use_queue_directory(const char *qdir);

#endif
