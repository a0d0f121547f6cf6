/* queue_defer_log.c: reads the per-message defer log defer/ID (contract and format in
 * queue_defer_log.h) with the lib/attr.h decoder, bounded in size and entry count. */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attr.h"
#include "mem.h"
#include "queue.h"
#include "queue_defer_log.h"
#include "str.h"

/* Slurp at most DEFER_LOG_MAX_BYTES of the file into buf. 1 read, 0 no file, -1 error. */
static int read_file(const char *path, str *buf)
{
    char chunk[8192];
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;

    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -1;
    }
    while (buf->len < DEFER_LOG_MAX_BYTES) {
        size_t want = DEFER_LOG_MAX_BYTES - buf->len;
        ssize_t n = read(fd, chunk, want < sizeof(chunk) ? want : sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            close(fd);
            return -1;
        }
        if (n == 0)
            break;
        str_append(buf, chunk, (size_t)n);
    }
    close(fd);
    return 1;
}

static void remember(struct defer_log *log, const char *rcpt, const char *dsn,
                     const char *reason)
{
    for (int i = 0; i < log->count; i++)
        if (strcmp(log->entries[i].rcpt, rcpt) == 0) {
            free(log->entries[i].dsn);
            free(log->entries[i].reason);
            log->entries[i].dsn = xstrdup(dsn);
            log->entries[i].reason = xstrdup(reason);
            return;
        }
    if (log->count >= DEFER_LOG_MAX_ENTRIES)
        return;
    log->entries = xrealloc(log->entries, ((size_t)log->count + 1) * sizeof(*log->entries));
    log->entries[log->count].rcpt = xstrdup(rcpt);
    log->entries[log->count].dsn = xstrdup(dsn);
    log->entries[log->count].reason = xstrdup(reason);
    log->count++;
}

int defer_log_read(const char *qdir, const char *id, struct defer_log *log)
{
    char path[4096];
    str buf;
    attr_list l;
    int rc = 0, got;
    size_t pos = 0;

    log->entries = NULL;
    log->count = 0;
    if (!queue_id_valid(id) || queue_path(path, sizeof(path), qdir, "defer", id)[0] == 0)
        return -1;
    str_init(&buf);
    got = read_file(path, &buf);
    if (got <= 0) {
        str_free(&buf);
        return got;
    }
    attr_init(&l);
    while (pos < buf.len) {
        const char *err = NULL;
        long used = attr_decode(buf.data + pos, buf.len - pos, &l, &err);
        if (used <= 0) {                 /* malformed, or a list cut short (writer busy) */
            rc = used < 0 ? -1 : 0;
            break;
        }
        pos += (size_t)used;
        const char *rcpt = attr_get(&l, "recipient"), *reason = attr_get(&l, "reason");
        const char *dsn = attr_get(&l, "dsn");
        if (rcpt && reason)
            remember(log, rcpt, dsn ? dsn : "", reason);
        attr_clear(&l);
    }
    attr_free(&l);
    str_free(&buf);
    return rc;
}

const struct defer_log_entry *defer_log_find(const struct defer_log *log, const char *rcpt)
{
    for (int i = 0; i < log->count; i++)
        if (strcmp(log->entries[i].rcpt, rcpt) == 0)
            return &log->entries[i];
    return NULL;
}

void defer_log_free(struct defer_log *log)
{
    for (int i = 0; i < log->count; i++) {
        free(log->entries[i].rcpt);
        free(log->entries[i].dsn);
        free(log->entries[i].reason);
    }
    free(log->entries);
    log->entries = NULL;
    log->count = 0;
}
