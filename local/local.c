/* local.c: the local delivery agent's entry point. Runs under lib/server.h as a
 * single-client server: each connection from qmgr is one delivery request
 * (docs/PROTOCOLS.md section 3). We announce protocol=delivery, read and verify the
 * request (local_request.c), deliver each recipient (local_recipient.c) and send one
 * reply list with a status per recipient. Not started with -u: as root we switch
 * effective ids per delivery (local_status.c). */
#include "local.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "attr.h"
#include "config.h"
#include "log.h"
#include "mem.h"
#include "resolve.h"
#include "server.h"

_Static_assert(1 + 3 * LOCAL_MAX_RCPTS <= ATTR_MAX_COUNT,
               "a reply for LOCAL_MAX_RCPTS recipients must fit one attribute list");

static void local_pre_init(void)
{
    resolve_init();
}

static void send_reply(bio *b, const char *qid, struct local_result *results, int n)
{
    attr_list reply;
    char name[64];

    attr_init(&reply);
    attr_add_long(&reply, "rcpt_count", n);
    for (int i = 0; i < n; i++) {
        const char *st = results[i].status == LOCAL_SENT ? "sent"
                         : results[i].status == LOCAL_DEFER ? "deferred" : "bounced";
        snprintf(name, sizeof(name), "rcpt_%d_status", i);
        attr_add(&reply, name, st);
        snprintf(name, sizeof(name), "rcpt_%d_dsn", i);
        attr_add(&reply, name, results[i].dsn);
        snprintf(name, sizeof(name), "rcpt_%d_reason", i);
        attr_add(&reply, name, results[i].reason.data);
    }
    if (attr_write(b, &reply) < 0)
        msg_warn("%s: cannot send delivery reply to qmgr: %s", qid, bio_strerror(b));
    attr_free(&reply);
}

static void local_service(int fd)
{
    long timeout = config_time("ipc_timeout");
    long deadline = config_time("local_delivery_timeout");
    bio *b = bio_open(fd, timeout > 0 && timeout < 86400 ? (int) timeout * 1000 : 3600000);
    struct local_msg msg;
    struct local_rcpt *rcpts = NULL;
    struct local_result fail, *results;
    attr_list req;
    const char *err = NULL;
    str why;
    int n = 0, rc;

    attr_init(&req);
    str_init(&why);
    local_result_init(&fail);
    if (attr_send_protocol(b, "delivery") < 0 || attr_read(b, &req, &err) < 0) {
        if (err)
            msg_warn("malformed delivery request: %s", err);
        goto out;
    }
    /* A delivery that hangs (NFS, a stuck lock holder) must not hold the agent forever;
     * qmgr treats our death as "deferred" for every recipient. */
    alarm(deadline > 0 && deadline < 86400 ? (unsigned) deadline : 1000);
    rc = local_request_load(&req, &msg, &rcpts, &n, &why, &fail);
    if (rc == -1) {
        msg_warn("malformed delivery request: %s", why.data);
        local_msg_free(&msg);
        alarm(0);
        goto out;
    }
    results = xcalloc((size_t) n, sizeof(*results));
    for (int i = 0; i < n; i++) {
        local_result_init(&results[i]);
        if (rc == -2) {
            local_result_copy(&results[i], &fail);
            local_log_result(&msg, rcpts[i].address, rcpts[i].orig, local_now(), &fail);
        } else if (!rcpts[i].valid) {
            local_result_set(&results[i], LOCAL_DEFER, "4.3.0",
                             "delivery request does not match the queue file");
            local_log_result(&msg, rcpts[i].address, rcpts[i].orig, local_now(), &results[i]);
        } else {
            local_deliver_rcpt(&msg, &rcpts[i], &results[i]);
        }
    }
    alarm(0);
    send_reply(b, msg.queue_id, results, n);
    for (int i = 0; i < n; i++)
        local_result_free(&results[i]);
    free(results);
    local_msg_free(&msg);
out:
    free(rcpts);
    local_result_free(&fail);
    str_free(&why);
    attr_free(&req);
    bio_free(b);
}

int main(int argc, char **argv)
{
    static const struct server_ops ops = {
        .name = "local",
        .pre_init = local_pre_init,
        .service = local_service,
    };

    signal(SIGPIPE, SIG_IGN);
    /* a file size limit must give EFBIG (deferred, mailbox truncated), not kill us
     * half-way through an mbox append */
    signal(SIGXFSZ, SIG_IGN);
    local_abort_install();
    server_main(argc, argv, &ops);
}
