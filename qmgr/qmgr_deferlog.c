/* qmgr_deferlog.c: the per-message defer log $queue_directory/defer/ID. For every
 * recipient that is deferred, qmgr appends one attribute list (lib/attr.h encoding):
 *     recipient=<address>  dsn=<x.y.z>  reason=<text>
 * The queue commands (`postern queue list/show`, mailq) show the last reason per
 * recipient. The log is removed together with the message. qmgr_rcpt_log_append() also
 * writes the bounce log (qmgr_bounce.c), which has the same form. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "attr.h"
#include "log.h"
#include "queue.h"
#include "str.h"
#include "qmgr.h"

void qmgr_rcpt_log_append(const char *log, const char *id, const char *rcpt, const char *dsn,
                          const char *reason, const char *action, const char *consequence)
{
    char path[4096];
    if (!queue_path(path, sizeof(path), qmgr_qdir, log, id)) {
        msg_warn("%s: %s log path too long%s", id, log, consequence);
        return;
    }
    attr_list l;
    attr_init(&l);
    attr_add(&l, "recipient", rcpt);
    attr_add(&l, "dsn", dsn);
    attr_add(&l, "reason", reason ? reason : "");
    if (action)
        attr_add(&l, "action", action);
    str buf;
    str_init(&buf);
    attr_encode(&l, &buf);
    attr_free(&l);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, buf.data, buf.len) != (ssize_t)buf.len)
        msg_warn("%s: append to %s log %s: %s%s", id, log, path, strerror(errno), consequence);
    if (fd >= 0)
        close(fd);
    str_free(&buf);
}

void qmgr_defer_log_add(const char *id, const char *rcpt, const char *dsn, const char *reason)
{
    qmgr_rcpt_log_append("defer", id, rcpt, dsn ? dsn : "4.0.0", reason, NULL, "");
}

void qmgr_defer_log_remove(const char *id)
{
    if (queue_remove(qmgr_qdir, "defer", id) < 0 && errno != ENOENT)
        msg_warn("%s: remove defer log: %s", id, strerror(errno));
}
