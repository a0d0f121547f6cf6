/* qmgr_bounce.c: qmgr's half of non-delivery notifications (man/bounce.8).
 *
 * Every recipient that bounced (the agent said "bounced") or expired is appended to the
 * per-message bounce log $queue_directory/bounce/ID, one attribute list each (lib/attr.h
 * encoding, like the defer log in qmgr_deferlog.c):
 *     recipient=<address>  dsn=<x.y.z>  reason=<text>  action=failed
 * before the recipient is marked done in the queue file, so a crash cannot lose it.
 * When the message is finished and bounce/ID exists, qmgr_bounce_notify() asks the
 * bounce service (private/$bounce_service_name) over qmgr_request_start(), in the event
 * loop, with "queue_name=active queue_id=ID". The service replies "status=0" with the
 * notification's queue_id (empty when it discarded a failed double bounce) or "status=4"
 * with a reason; only after status=0 is bounce/ID removed.
 *
 * Delay warnings (qmgr_delay.c decides when) use the same request with "kind=delay";
 * the service reads defer/ID instead, and the answer goes to qmgr_delay_notified(). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attr.h"
#include "config.h"
#include "log.h"
#include "queue.h"
#include "str.h"
#include "qmgr.h"

#define BOUNCE_TIMEOUT_MAX_S 3600

void bounce_add(const char *queue_id, const char *rcpt, const char *dsn, const char *reason)
{
    qmgr_rcpt_log_append("bounce", queue_id, rcpt, dsn ? dsn : "5.0.0", reason, "failed",
                         " (the sender may not be notified)");
}

int qmgr_bounce_pending(const char *queue_id)
{
    char path[4096];
    struct stat st;
    if (!queue_path(path, sizeof(path), qmgr_qdir, "bounce", queue_id))
        return 0;
    return lstat(path, &st) == 0;
}

void qmgr_bounce_log_remove(const char *queue_id)
{
    if (queue_remove(qmgr_qdir, "bounce", queue_id) < 0 && errno != ENOENT)
        msg_warn("%s: remove bounce log: %s", queue_id, strerror(errno));
}

/* The bounce service answered (reply) or failed (failure): 1 if it sent (status=0). */
static int reply_ok(const struct qmgr_message *m, const attr_list *reply, const char *failure,
                    const char *what)
{
    long status = -1;
    if (reply) {
        const char *id = attr_get(reply, "queue_id");
        const char *reason = attr_get(reply, "reason");
        if (attr_get_long(reply, "status", &status) < 0 || (status != 0 && status != 4)
            || reply->count != 2 || (status == 0 && !id) || (status == 4 && !reason)) {
            msg_warn("%s: private/%s: malformed reply from the bounce service",
                     m->id, config_str("bounce_service_name"));
            status = -1;
            failure = "bounce service protocol error";
        } else if (status == 4) {
            str why;
            str_init(&why);
            qmgr_printable(&why, reason);
            msg_warn("%s: sender %s failed: %s", m->id, what, why.data);
            str_free(&why);
        }
    }
    if (failure)
        msg_warn("%s: sender %s failed: %s", m->id, what, failure);
    return status == 0;
}

static void notify_done(void *ctx, const attr_list *reply, const char *failure)
{
    struct qmgr_message *m = ctx;
    qmgr_message_notified(m, reply_ok(m, reply, failure, "notification"));
}

static void delay_done(void *ctx, const attr_list *reply, const char *failure)
{
    struct qmgr_message *m = ctx;
    qmgr_delay_notified(m, reply_ok(m, reply, failure, "delay warning"));
}

static long bounce_timeout_ms(void)
{
    long secs = config_time("daemon_timeout");
    if (secs < 1)
        secs = 1;
    if (secs > BOUNCE_TIMEOUT_MAX_S)
        secs = BOUNCE_TIMEOUT_MAX_S;
    return secs * 1000;
}

static int request(struct qmgr_message *m, int delay)
{
    const char *service = config_str("bounce_service_name");
    char why[512];
    attr_list req;
    attr_init(&req);
    attr_add(&req, "queue_name", "active");
    attr_add(&req, "queue_id", m->id);
    if (delay)
        attr_add(&req, "kind", "delay");
    int rc = qmgr_request_start(service, "bounce", m->id, &req, bounce_timeout_ms(),
                                delay ? delay_done : notify_done, m, why, sizeof(why));
    attr_free(&req);
    if (rc < 0)
        msg_warn("%s: sender %s failed: %s", m->id, delay ? "delay warning" : "notification",
                 why);
    return rc;
}

int qmgr_bounce_notify(struct qmgr_message *m)
{
    return request(m, 0);
}

int qmgr_delay_notify(struct qmgr_message *m)
{
    return request(m, 1);
}
