/* metrics_render.c: the Prometheus text exposition (format 0.0.4) of the shared counter
 * file plus the queue gauges (messages and oldest-message age per queue, from readdir +
 * stat, cached for a second). Used by master's endpoint and by `postern metrics`, so both
 * print the same text. The file is read as untrusted: strings are bounded and escaped. */
#define _GNU_SOURCE 1
#include "metrics.h"
#include "metrics_impl.h"
#include "mem.h"
#include "queue.h"
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/file.h>
#include <sys/stat.h>

#define QUEUE_SCAN_LIMIT 10000000L      /* entries looked at per queue and scrape */

static const char *const gauge_queues[] = { "incoming", "active", "deferred", "hold" };
#define NQUEUES (sizeof gauge_queues / sizeof gauge_queues[0])

struct queue_stats {
    long count[NQUEUES];
    double oldest_age[NQUEUES];
};

static void header(str *out, const char *name, const char *help, const char *type)
{
    str_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value from the shared file: printable ASCII, quoted per the text format. */
static void append_label_value(str *out, const char *s, size_t max)
{
    for (size_t i = 0; i < max && s[i]; i++) {
        unsigned char c = (unsigned char) s[i];
        if (c == '\\' || c == '"')
            str_putc(out, '\\');
        str_putc(out, c >= 0x20 && c < 0x7f ? c : '?');
    }
}

static void scan_queue(const char *qdir, const char *queue, long *count, double *oldest)
{
    char path[4096];
    time_t now = time(NULL);
    long first = -1;

    *count = 0;
    *oldest = 0;
    if (snprintf(path, sizeof path, "%s/%s", qdir, queue) >= (int) sizeof path)
        return;
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    long seen = 0;
    while ((e = readdir(d)) != NULL && seen++ < QUEUE_SCAN_LIMIT) {
        if (e->d_name[0] == '.' || !queue_id_valid(e->d_name))
            continue;
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
            continue;
        (*count)++;
        long t = queue_id_time(e->d_name);
        if (t < 0)
            t = (long) st.st_ctime;
        if (first < 0 || t < first)
            first = t;
    }
    closedir(d);
    if (first >= 0 && now > first)
        *oldest = (double) (now - first);
}

/* Queue statistics, recomputed at most once a second for the same directory. */
static const struct queue_stats *queue_stats(const char *qdir)
{
    static struct queue_stats cache;
    static char *cached_dir;
    static struct timespec cached_at;
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    if (cached_dir && strcmp(cached_dir, qdir) == 0 && now.tv_sec == cached_at.tv_sec)
        return &cache;
    for (size_t i = 0; i < NQUEUES; i++)
        scan_queue(qdir, gauge_queues[i], &cache.count[i], &cache.oldest_age[i]);
    free(cached_dir);
    cached_dir = xstrdup(qdir);
    cached_at = now;
    return &cache;
}

static void render_queues(str *out, const char *qdir)
{
    const struct queue_stats *q = queue_stats(qdir);

    header(out, "postern_queue_messages", "Messages in each queue directory.", "gauge");
    for (size_t i = 0; i < NQUEUES; i++)
        str_appendf(out, "postern_queue_messages{queue=\"%s\"} %ld\n", gauge_queues[i],
                    q->count[i]);
    header(out, "postern_queue_oldest_age_seconds",
           "Age of the oldest message in each queue (0 when empty).", "gauge");
    for (size_t i = 0; i < NQUEUES; i++)
        str_appendf(out, "postern_queue_oldest_age_seconds{queue=\"%s\"} %.0f\n",
                    gauge_queues[i], q->oldest_age[i]);
}

static uint64_t load(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static void render_counters(str *out, const struct metrics_file *f)
{
    for (int fam = 0; fam < METRIC_NFAMILIES; fam++) {
        const struct metrics_family_def *d = &metrics_families[fam];
        header(out, d->name, d->help, "counter");
        for (int l = 0; l < d->nlabels; l++) {
            int slot = metrics_slot(fam, l);
            if (slot < 0)
                break;
            str_appends(out, d->name);
            if (fam == METRIC_REJECTED)
                str_appendf(out, "{class=\"%s\",reason=\"%s\"}", l % 2 ? "5xx" : "4xx",
                            metrics_reject_names[l / 2]);
            else if (d->label)
                str_appendf(out, "{%s=\"%s\"}", d->label, d->values[l]);
            str_appendf(out, " %llu\n", (unsigned long long) load(&f->counters[slot]));
        }
    }
}

static void render_histogram(str *out, const struct metrics_file *f)
{
    const char *name = "postern_delivery_delay_seconds";
    uint64_t cum = 0;

    header(out, name, "Delay from arrival to successful delivery, per recipient.",
           "histogram");
    for (int b = 0; b <= METRICS_NBUCKETS; b++) {
        cum += load(&f->buckets[b]);
        if (b < METRICS_NBUCKETS)
            str_appendf(out, "%s_bucket{le=\"%g\"} %llu\n", name, metrics_bucket_bounds[b],
                        (unsigned long long) cum);
        else
            str_appendf(out, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long) cum);
    }
    str_appendf(out, "%s_sum %.3f\n%s_count %llu\n", name,
                (double) load(&f->delay_sum_ms) / 1000.0, name, (unsigned long long) cum);
}

/* The two flock'ed tables, copied out under a shared lock. */
static void render_tables(str *out, struct metrics_file *f)
{
    struct metrics_dest dest[METRICS_TOP_DESTINATIONS];
    struct metrics_proc procs[METRICS_SERVICES];
    uint32_t nprocs;
    int fd = metrics_fd();

    if (fd < 0 || flock(fd, LOCK_SH) != 0)
        return;
    memcpy(dest, f->dest, sizeof dest);
    memcpy(procs, f->procs, sizeof procs);
    nprocs = f->nprocs;
    flock(fd, LOCK_UN);
    if (nprocs > METRICS_SERVICES)
        nprocs = METRICS_SERVICES;

    header(out, "postern_destination_deferrals_total",
           "Deferred recipients per next-hop destination (top destinations only).",
           "counter");
    for (int i = 0; i < METRICS_TOP_DESTINATIONS; i++) {
        if (dest[i].count == 0 || !dest[i].name[0])
            continue;
        int dup = 0;                    /* a corrupt table must not yield duplicate series */
        for (int j = 0; j < i && !dup; j++)
            dup = dest[j].count && strncmp(dest[j].name, dest[i].name, METRICS_DEST_MAX) == 0;
        if (dup)
            continue;
        str_appends(out, "postern_destination_deferrals_total{destination=\"");
        append_label_value(out, dest[i].name, sizeof dest[i].name);
        str_appendf(out, "\"} %llu\n", (unsigned long long) dest[i].count);
    }
    header(out, "postern_processes", "Child processes per master.cf service.", "gauge");
    for (uint32_t i = 0; i < nprocs; i++) {
        if (!procs[i].name[0])
            continue;
        int dup = 0;
        for (uint32_t j = 0; j < i && !dup; j++)
            dup = strncmp(procs[j].name, procs[i].name, METRICS_SERVICE_MAX) == 0;
        if (dup)
            continue;
        str_appends(out, "postern_processes{service=\"");
        append_label_value(out, procs[i].name, sizeof procs[i].name);
        str_appendf(out, "\"} %u\n", procs[i].nproc);
    }
}

int metrics_render(str *out, const char *qdir, char **err)
{
    struct metrics_file *f = metrics_map();

    render_queues(out, qdir);
    if (!f) {
        *err = xasprintf("counter file %s/pid/metrics is missing or invalid", qdir);
        return -1;
    }
    render_counters(out, f);
    render_histogram(out, f);
    render_tables(out, f);
    return 0;
}
