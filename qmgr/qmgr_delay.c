/* qmgr_delay.c: when a deferred message gets its one delay warning (man/bounce.8).
 *
 * With $delay_warning_time > 0 (0 = off), a message that finishes a delivery pass with
 * deferred recipients, is at least that old and has a non-null sender gets a warning:
 * qmgr_message.c asks the bounce service for "kind=delay" (qmgr_bounce.c), which reports
 * the still-pending recipients of defer/ID. "Sent once" is remembered by appending the
 * attribute list "warned=1" to defer/ID (fsynced) after the service said status=0; the
 * defer log lives as long as the message, so this survives qmgr restarts, and its
 * readers skip lists without a recipient. A failed warning leaves no marker and is
 * retried at the next deferral. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "attr.h"
#include "config.h"
#include "log.h"
#include "queue.h"
#include "str.h"
#include "qmgr.h"

#define DEFER_LOG_SCAN_MAX (32L * 1024 * 1024)   /* larger defer/ID: no warning */
#define WARNED_MARK "warned"

/* Read defer/ID into buf, bounded. 0 ok, -1 missing, unreadable or too large. */
static int read_defer_log(const char *id, str *buf)
{
    char path[4096], chunk[65536];
    if (!queue_path(path, sizeof(path), qmgr_qdir, "defer", id))
        return -1;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > DEFER_LOG_SCAN_MAX) {
        msg_warn("%s: defer log is not a regular file or too large: no delay warning", id);
        close(fd);
        return -1;
    }
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || buf->len + (size_t)n > (size_t)DEFER_LOG_SCAN_MAX) {
            close(fd);
            return n == 0 ? 0 : -1;
        }
        str_append(buf, chunk, (size_t)n);
    }
}

/* 1 if the defer log carries the warned marker (or cannot be checked), else 0. */
static int already_warned(const char *id)
{
    str buf;
    str_init(&buf);
    if (read_defer_log(id, &buf) < 0) {
        str_free(&buf);
        return 1;                        /* nothing to report, or unusable: skip */
    }
    int found = 0;
    attr_list l;
    attr_init(&l);
    for (size_t pos = 0; pos < buf.len && !found;) {
        const char *err = NULL;
        long used = attr_decode(buf.data + pos, buf.len - pos, &l, &err);
        if (used <= 0)
            break;                       /* malformed or cut short: rest ignored */
        pos += (size_t)used;
        if (attr_find(&l, WARNED_MARK) && !attr_find(&l, "recipient"))
            found = 1;
        attr_clear(&l);
    }
    attr_free(&l);
    str_free(&buf);
    return found;
}

int qmgr_delay_warning_due(const struct qmgr_message *m)
{
    long warn_after = config_time("delay_warning_time");
    if (warn_after <= 0 || m->env.sender[0] == 0)
        return 0;
    long age = (long)(time(NULL) - m->env.arrival_sec);
    if (age < warn_after)
        return 0;
    return !already_warned(m->id);
}

void qmgr_delay_mark_warned(const struct qmgr_message *m)
{
    char path[4096];
    if (!queue_path(path, sizeof(path), qmgr_qdir, "defer", m->id))
        return;
    attr_list l;
    attr_init(&l);
    attr_add(&l, WARNED_MARK, "1");
    str buf;
    str_init(&buf);
    attr_encode(&l, &buf);
    attr_free(&l);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, buf.data, buf.len) != (ssize_t)buf.len || fsync(fd) < 0)
        msg_warn("%s: record delay warning in %s: %s (the sender may be warned again)",
                 m->id, path, strerror(errno));
    if (fd >= 0)
        close(fd);
    str_free(&buf);
}
