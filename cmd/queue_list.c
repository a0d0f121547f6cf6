/* queue_list.c: the queue walk and the mailq-style listing (contract in queue_list.h).
 * Reads directory names, keeps only valid queue IDs (so no path is ever built from
 * a strange name), opens each file read-only without following links, skips files
 * that are not complete (queue_file_ready), reads the envelope with qfile_read_env and
 * the defer reasons with defer_log_read. The JSON form is in queue_json.c. */
#define _GNU_SOURCE 1
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem.h"
#include "qfile.h"
#include "queue.h"
#include "queue_defer_log.h"
#include "queue_list.h"
#include "str.h"

const char *const queue_list_queues[] = { "incoming", "active", "deferred", "hold", NULL };

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **queue_list_ids(const char *qdir, const char *queue, size_t *count)
{
    char path[4096];
    struct dirent *de;
    char **ids = NULL;
    size_t n = 0, cap = 0;
    DIR *d;

    if ((size_t)snprintf(path, sizeof(path), "%s/%s", qdir, queue) >= sizeof(path)) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    if ((d = opendir(path)) == NULL)
        return NULL;
    while ((de = readdir(d)) != NULL && n < QUEUE_LIST_MAX_FILES) {
        if (strlen(de->d_name) >= QUEUE_ID_MAX || !queue_id_valid(de->d_name))
            continue;
        if (n + 1 >= cap) {
            cap = cap ? cap * 2 : 64;
            ids = xrealloc(ids, cap * sizeof(char *));
        }
        ids[n++] = xstrdup(de->d_name);
    }
    closedir(d);
    if (ids)
        qsort(ids, n, sizeof(char *), cmp_str);
    else
        ids = xcalloc(1, sizeof(char *));
    ids[n] = NULL;
    *count = n;
    return ids;
}

/* List one file; 1 if passed to fn and fn asked to stop, 0 otherwise. */
static int list_one(const char *qdir, const char *queue, const char *id, queue_list_fn fn,
                    queue_list_err_fn efn, void *ctx, long *listed)
{
    char path[4096], errbuf[256];
    struct qfile_env env;
    struct defer_log dlog;
    struct stat st;
    int fd, rc, stop = 0;

    if (queue_path(path, sizeof(path), qdir, queue, id)[0] == 0)
        return 0;
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT && efn)          /* ENOENT: delivered or moved meanwhile */
            efn(queue, id, strerror(errno), ctx);
        return 0;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || !queue_file_ready(&st)) {
        close(fd);
        return 0;
    }
    memset(&env, 0, sizeof(env));
    errbuf[0] = 0;
    rc = qfile_read_env(fd, &env, errbuf);
    close(fd);
    if (rc != 0) {
        if (efn)
            efn(queue, id, rc == -1 ? "read error" : errbuf[0] ? errbuf : "malformed queue file",
                ctx);
        qfile_env_free(&env);
        return 0;
    }
    (void)defer_log_read(qdir, id, &dlog);     /* a bad log only loses the reasons */
    struct queue_entry e = { .queue = queue, .id = id, .size = env.message_size,
                             .arrival = (time_t)env.arrival_sec, .sender = env.sender,
                             .rcpt_count = env.rcpt_count };
    struct queue_list_rcpt *rcpts = xcalloc((size_t)env.rcpt_count + 1, sizeof(*rcpts));
    for (int i = 0; i < env.rcpt_count; i++) {
        rcpts[i].address = env.rcpts[i].address;
        rcpts[i].done = env.rcpts[i].done;
        if (!rcpts[i].done) {
            const struct defer_log_entry *d = defer_log_find(&dlog, env.rcpts[i].address);
            if (d) {
                rcpts[i].dsn = d->dsn;
                rcpts[i].reason = d->reason;
            }
            e.pending_count++;
        }
    }
    e.rcpts = rcpts;
    (*listed)++;
    stop = fn(&e, ctx) != 0;
    free(rcpts);
    defer_log_free(&dlog);
    qfile_env_free(&env);
    return stop;
}

long queue_list_walk(const char *qdir, queue_list_fn fn, queue_list_err_fn efn, void *ctx,
                     const char **failed_queue)
{
    long listed = 0;

    for (int q = 0; queue_list_queues[q]; q++) {
        size_t n = 0;
        char **ids = queue_list_ids(qdir, queue_list_queues[q], &n);
        int stop = 0;
        if (ids == NULL) {
            if (failed_queue)
                *failed_queue = queue_list_queues[q];
            return -1;
        }
        for (size_t i = 0; i < n && !stop; i++)
            stop = list_one(qdir, queue_list_queues[q], ids[i], fn, efn, ctx, &listed);
        strv_free(ids);
        if (stop)
            break;
    }
    return listed;
}

struct print_ctx {
    FILE *fp, *err;
    const char *prog;
    long count;
    long long bytes;
};

void queue_put_safe(FILE *fp, const char *s)
{
    for (; *s; s++)
        fputc((unsigned char)*s >= 0x20 && (unsigned char)*s < 0x7f ? *s : '?', fp);
}

static int print_entry(const struct queue_entry *e, void *vctx)
{
    struct print_ctx *c = vctx;
    char when[64] = "";
    struct tm tm;
    char mark = strcmp(e->queue, "active") == 0 ? '*' : strcmp(e->queue, "hold") == 0 ? '!' : ' ';
    const char *last_reason = NULL;

    if (c->count == 0)
        fprintf(c->fp, "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------\n");
    if (localtime_r(&e->arrival, &tm))
        strftime(when, sizeof(when), "%a %b %e %H:%M:%S", &tm);
    fprintf(c->fp, "%-11s%c %8ld %-20s  ", e->id, mark, e->size, when);
    queue_put_safe(c->fp, *e->sender ? e->sender : "MAILER-DAEMON");
    fputc('\n', c->fp);
    for (int i = 0; i < e->rcpt_count; i++) {
        const struct queue_list_rcpt *r = &e->rcpts[i];
        if (r->done)
            continue;
        /* as mailq: a reason is printed once above the recipients that share it */
        if (r->reason && (!last_reason || strcmp(last_reason, r->reason) != 0)) {
            fprintf(c->fp, "%43s(", "");
            queue_put_safe(c->fp, r->reason);
            fputs(")\n", c->fp);
        }
        last_reason = r->reason;
        fprintf(c->fp, "%43s", "");
        queue_put_safe(c->fp, r->address);
        fputc('\n', c->fp);
    }
    fputc('\n', c->fp);
    c->count++;
    c->bytes += e->size;
    return 0;
}

void queue_list_report_problem(FILE *err, const char *prog, const char *queue, const char *id,
                               const char *why)
{
    fprintf(err, "%s: %s/%s: cannot list: ", prog, queue, id);
    queue_put_safe(err, why);
    fputc('\n', err);
}

static void print_problem(const char *queue, const char *id, const char *why, void *vctx)
{
    struct print_ctx *c = vctx;

    queue_list_report_problem(c->err, c->prog, queue, id, why);
}

int queue_list_print_as(FILE *fp, FILE *err, const char *qdir, const char *prog)
{
    struct print_ctx c = { fp, err, prog, 0, 0 };
    const char *failed = NULL;

    if (queue_list_walk(qdir, print_entry, print_problem, &c, &failed) < 0) {
        fprintf(err, "%s: cannot read the %s queue in %s: %s\n", prog, failed ? failed : "?",
                qdir, strerror(errno));
        return -1;
    }
    if (c.count == 0)
        fprintf(fp, "Mail queue is empty\n");
    else
        fprintf(fp, "-- %lld Kbytes in %ld Request%s.\n", (c.bytes + 1023) / 1024, c.count,
                c.count == 1 ? "" : "s");
    return 0;
}

int queue_list_print(FILE *fp, FILE *err, const char *qdir)
{
    return queue_list_print_as(fp, err, qdir, "mailq");
}
