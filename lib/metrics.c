/* metrics.c: the shared counter file $queue_directory/pid/metrics (see metrics.h):
 * creation by master, lazy MAP_SHARED mapping in every daemon, and the recording
 * functions the daemons call (atomic adds; flock for the two string tables). The text
 * output is in metrics_render.c. */
#define _GNU_SOURCE 1
#include "metrics.h"
#include "metrics_impl.h"
#include "config.h"
#include "log.h"
#include "mem.h"
#include "deliver_status.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>

const char *const metrics_result_names[METRICS_NRESULTS] = {
    "pass", "fail", "softfail", "neutral", "none", "temperror", "permerror", "policy", "other"
};
const char *const metrics_tls_names[METRICS_NTLS] = {
    "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3", "other"
};
const char *const metrics_reject_names[REJECT_NREASONS] = {
    "relay", "recipient", "sender", "client", "spf", "size", "limit", "content",
    "protocol", "other"
};
static const char *const auth_names[] = { "success", "failure" };
const double metrics_bucket_bounds[METRICS_NBUCKETS] = {
    0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400
};

const struct metrics_family_def metrics_families[METRIC_NFAMILIES] = {
    [METRIC_RECEIVED] = { "postern_messages_received_total",
        "Messages committed to the queue by cleanup.", NULL, 1, NULL },
    [METRIC_DELIVERED] = { "postern_messages_delivered_total",
        "Recipients delivered (status=sent) by the agents or discarded by qmgr.", NULL, 1, NULL },
    [METRIC_DEFERRED] = { "postern_messages_deferred_total",
        "Recipient delivery attempts deferred by an agent or by qmgr.", NULL, 1, NULL },
    [METRIC_BOUNCED] = { "postern_messages_bounced_total",
        "Recipients bounced (by an agent, an error: route or expiry).", NULL, 1, NULL },
    [METRIC_REJECTED] = { "postern_messages_rejected_total",
        "SMTP commands rejected by smtpd, by reply class and reason.", "reason",
        2 * REJECT_NREASONS, NULL },
    [METRIC_SMTP_SESSIONS] = { "postern_smtp_sessions_total",
        "SMTP client connections served by smtpd.", NULL, 1, NULL },
    [METRIC_TLS_HANDSHAKES] = { "postern_tls_handshakes_total",
        "Successful smtpd TLS handshakes by protocol.", "protocol", METRICS_NTLS,
        metrics_tls_names },
    [METRIC_TLS_FAILURES] = { "postern_tls_handshake_failures_total",
        "Failed smtpd TLS handshakes.", NULL, 1, NULL },
    [METRIC_AUTH] = { "postern_smtp_auth_total",
        "SMTP AUTH attempts by result.", "result", 2, auth_names },
    [METRIC_SPF] = { "postern_spf_results_total",
        "SPF check results.", "result", METRICS_NRESULTS, metrics_result_names },
    [METRIC_DKIM] = { "postern_dkim_results_total",
        "DKIM signature verification results.", "result", METRICS_NRESULTS,
        metrics_result_names },
    [METRIC_DMARC] = { "postern_dmarc_results_total",
        "DMARC evaluation results.", "result", METRICS_NRESULTS, metrics_result_names },
};

static struct metrics_file *mapped;
static int map_fd = -1;
static int map_tried;
static int map_read_only;               /* mapped PROT_READ: recording is a no-op */
static char *queue_dir_override;

int metrics_slot(int family, int label)
{
    int base = 0;

    if (family < 0 || family >= METRIC_NFAMILIES)
        return -1;
    if (label < 0 || label >= metrics_families[family].nlabels)
        return -1;
    for (int i = 0; i < family; i++)
        base += metrics_families[i].nlabels;
    return base + label < METRICS_NSLOTS ? base + label : -1;
}

const char *metrics_path(char *buf, size_t len, const char *qdir)
{
    int n = snprintf(buf, len, "%s/pid/metrics", qdir);
    return n > 0 && (size_t) n < len ? buf : NULL;
}

void metrics_use_queue_directory(const char *qdir)
{
    free(queue_dir_override);
    queue_dir_override = qdir ? xstrdup(qdir) : NULL;
    if (mapped) {
        munmap(mapped, sizeof *mapped);
        mapped = NULL;
    }
    if (map_fd >= 0)
        close(map_fd);
    map_fd = -1;
    map_tried = 0;
}

static int header_ok(const struct metrics_file *f)
{
    return memcmp(f->magic, METRICS_MAGIC, sizeof f->magic) == 0
        && f->version == METRICS_VERSION && f->size == sizeof *f;
}

/* Map an existing file read-write; NULL when missing, foreign or of the wrong size. */
static struct metrics_file *writable(void)
{
    struct metrics_file *f = metrics_map();
    return f && !map_read_only ? f : NULL;
}

static struct metrics_file *map_existing(const char *path, int *fdp)
{
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW), prot = PROT_READ | PROT_WRITE;
    struct stat st;

    if (fd < 0 && errno == EACCES) {    /* a reader such as `postern metrics` */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        prot = PROT_READ;
    }
    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size != sizeof(struct metrics_file)) {
        close(fd);
        return NULL;
    }
    void *p = mmap(NULL, sizeof(struct metrics_file), prot, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        close(fd);
        return NULL;
    }
    if (!header_ok(p)) {
        munmap(p, sizeof(struct metrics_file));
        close(fd);
        return NULL;
    }
    *fdp = fd;
    map_read_only = !(prot & PROT_WRITE);
    return p;
}

struct metrics_file *metrics_map(void)
{
    char path[4096];

    if (mapped || map_tried)
        return mapped;
    map_tried = 1;                      /* one attempt per process: never slow mail down */
    const char *qdir = queue_dir_override ? queue_dir_override : config_str("queue_directory");
    if (!metrics_path(path, sizeof path, qdir))
        return NULL;
    mapped = map_existing(path, &map_fd);
    if (!mapped && msg_verbose)
        msg_debug("metrics: %s not available; not counting", path);
    return mapped;
}

int metrics_fd(void)
{
    return metrics_map() ? map_fd : -1;
}

int metrics_file_create(const char *qdir, long uid, long gid, char **err)
{
    char path[4096], tmp[4200];
    int fd;

    metrics_use_queue_directory(qdir);
    if (!metrics_path(path, sizeof path, qdir)) {
        *err = xstrdup("metrics: queue directory path too long");
        return -1;
    }
    if ((mapped = map_existing(path, &map_fd)) != NULL) {
        map_tried = 1;
        if (uid >= 0 && fchown(map_fd, (uid_t) uid, (gid_t) gid) != 0) {
            *err = xasprintf("metrics: chown %s: %s", path, strerror(errno));
            return -1;
        }
        return 0;                       /* counters survive a master restart */
    }
    /* A fresh zeroed file, made complete under a temporary name and renamed, so a daemon
     * never maps a half-initialised one. */
    snprintf(tmp, sizeof tmp, "%s.%ld", path, (long) getpid());
    unlink(tmp);
    fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        *err = xasprintf("metrics: create %s: %s", tmp, strerror(errno));
        return -1;
    }
    struct metrics_file *init = xcalloc(1, sizeof *init);
    memcpy(init->magic, METRICS_MAGIC, sizeof init->magic);
    init->version = METRICS_VERSION;
    init->size = sizeof *init;
    ssize_t n = write(fd, init, sizeof *init);
    free(init);
    if (n != (ssize_t) sizeof(struct metrics_file)
        || (uid >= 0 && fchown(fd, (uid_t) uid, (gid_t) gid) != 0)
        || rename(tmp, path) != 0) {
        *err = xasprintf("metrics: initialise %s: %s", path, n < 0 ? strerror(errno)
                  : errno ? strerror(errno) : "short write");
        close(fd);
        unlink(tmp);
        return -1;
    }
    close(fd);
    if ((mapped = map_existing(path, &map_fd)) == NULL) {
        *err = xasprintf("metrics: map %s: %s", path, strerror(errno));
        return -1;
    }
    map_tried = 1;
    return 0;
}

static void add(int slot, uint64_t n)
{
    struct metrics_file *f = writable();
    if (f && slot >= 0 && slot < METRICS_NSLOTS)
        __atomic_fetch_add(&f->counters[slot], n, __ATOMIC_RELAXED);
}

void metrics_inc(enum metric_family family, int label)
{
    add(metrics_slot((int) family, label), 1);
}

static int contains(const char *s, const char *needle)
{
    return s && strcasestr(s, needle) != NULL;
}

void metrics_reject(int code, const char *cmd, const char *reply)
{
    enum metric_reject_reason r;

    if (contains(reply, "Relay access denied"))
        r = REJECT_RELAY;
    else if (contains(reply, "SPF"))
        r = REJECT_SPF;
    else if (contains(reply, "Recipient address rejected"))
        r = REJECT_RECIPIENT;
    else if (contains(reply, "Sender address rejected") || contains(reply, "sender address"))
        r = REJECT_SENDER;
    else if (contains(reply, "Client host rejected") || contains(reply, "Helo command rejected")
             || contains(reply, "Access denied") || contains(reply, "authorization"))
        r = REJECT_CLIENT;
    else if (contains(reply, "size") || contains(reply, "too big"))
        r = REJECT_SIZE;
    else if (contains(reply, "too many"))
        r = REJECT_LIMIT;
    else if (cmd && strcmp(cmd, "END-OF-MESSAGE") == 0)
        r = REJECT_CONTENT;
    else if (code >= 500 && code <= 504)
        r = REJECT_PROTOCOL;
    else
        r = REJECT_OTHER;
    add(metrics_slot(METRIC_REJECTED, 2 * (int) r + (code >= 500)), 1);
}

void metrics_tls_handshake(const char *protocol)
{
    if (!protocol) {
        metrics_inc(METRIC_TLS_FAILURES, 0);
        return;
    }
    int i;
    for (i = 0; i < METRICS_NTLS - 1; i++)
        if (strcmp(protocol, metrics_tls_names[i]) == 0)
            break;
    metrics_inc(METRIC_TLS_HANDSHAKES, i);
}

void metrics_auth_result(enum metric_family family, const char *result)
{
    int i;
    for (i = 0; i < METRICS_NRESULTS - 1; i++)
        if (result && strcasecmp(result, metrics_result_names[i]) == 0)
            break;
    metrics_inc(family, i);
}

/* Count one deferral for dest in the top-N table (space-saving: a new name takes the
 * smallest entry's place and inherits its count, so heavy hitters stay). */
static void count_destination(struct metrics_file *f, const char *dest)
{
    char name[METRICS_DEST_MAX];
    size_t n = 0;

    for (const char *s = dest && *dest ? dest : "none"; *s && n < sizeof name - 1; s++)
        name[n++] = (*s > 0x20 && *s < 0x7f) ? *s : '?';
    name[n] = 0;
    if (flock(map_fd, LOCK_EX) != 0)
        return;
    int hit = -1, lowest = 0;
    for (int i = 0; i < METRICS_TOP_DESTINATIONS; i++) {
        if (f->dest[i].count > 0 && strncmp(f->dest[i].name, name, sizeof name) == 0) {
            hit = i;
            break;
        }
        if (f->dest[i].count < f->dest[lowest].count)
            lowest = i;
    }
    if (hit < 0) {
        hit = lowest;
        memcpy(f->dest[hit].name, name, sizeof name);
    }
    f->dest[hit].count++;
    flock(map_fd, LOCK_UN);
}

void metrics_delivery(int status, double delay, const char *destination)
{
    struct metrics_file *f = writable();

    if (!f)
        return;
    if (status == DELIVER_SENT) {
        metrics_inc(METRIC_DELIVERED, 0);
        if (!(delay >= 0))
            delay = 0;
        if (delay > 1e9)
            delay = 1e9;
        int b = 0;
        while (b < METRICS_NBUCKETS && delay > metrics_bucket_bounds[b])
            b++;
        __atomic_fetch_add(&f->delay_sum_ms, (uint64_t) (delay * 1000 + 0.5), __ATOMIC_RELAXED);
        __atomic_fetch_add(&f->buckets[b], 1, __ATOMIC_RELAXED);
    } else if (status == DELIVER_DEFER) {
        metrics_inc(METRIC_DEFERRED, 0);
        count_destination(f, destination);
    } else {
        metrics_inc(METRIC_BOUNCED, 0);
    }
}

void metrics_set_processes(const char *const *names, const int *nproc, int n)
{
    struct metrics_file *f = writable();

    if (!f || flock(map_fd, LOCK_EX) != 0)
        return;
    if (n > METRICS_SERVICES)
        n = METRICS_SERVICES;
    memset(f->procs, 0, sizeof f->procs);
    for (int i = 0; i < n; i++) {
        snprintf(f->procs[i].name, sizeof f->procs[i].name, "%s", names[i]);
        f->procs[i].nproc = nproc[i] < 0 ? 0 : (uint32_t) nproc[i];
    }
    f->nprocs = (uint32_t) n;
    flock(map_fd, LOCK_UN);
}
