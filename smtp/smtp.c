/* smtp.c: the SMTP client delivery agent's entry point. Runs under lib/server.h as a
 * single-client server (master.cf: "smtp unix - - n - - smtp", unprivileged): each
 * connection from qmgr is one delivery request (docs/PROTOCOLS.md section 3). We announce
 * protocol=delivery, read and verify the request (smtp_request.c), find the servers for
 * the nexthop (smtp_route.c), relay the message (smtp_connect.c, smtp_proto.c), log one
 * line per recipient and send one reply list with a status per recipient. */
#include "smtp.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "attr.h"
#include "../lib/config.h"  /* not "config.h": -I. (build dir) holds autoconf's config.h */
#include "log.h"
#include "mem.h"
#include "server.h"

static void smtp_post_init(void)
{
    dns_init();
}

static void send_reply(bio *b, const char *qid, const struct smtp_rcpt *rcpts, int n)
{
    attr_list reply;
    char name[64];

    attr_init(&reply);
    attr_add_long(&reply, "rcpt_count", n);
    for (int i = 0; i < n; i++) {
        const struct smtp_result *r = &rcpts[i].result;
        const char *st = r->status == SMTP_SENT ? "sent"
                         : r->status == SMTP_DEFER ? "deferred" : "bounced";
        snprintf(name, sizeof(name), "rcpt_%d_status", i);
        attr_add(&reply, name, st);
        snprintf(name, sizeof(name), "rcpt_%d_dsn", i);
        attr_add(&reply, name, r->dsn);
        snprintf(name, sizeof(name), "rcpt_%d_reason", i);
        attr_add(&reply, name, r->reason.data);
    }
    if (attr_write(b, &reply) < 0)
        msg_warn("%s: cannot send delivery reply to qmgr: %s", qid, bio_strerror(b));
    attr_free(&reply);
}

/* Give every open recipient the same result (request-level failure). */
static void fail_all(struct smtp_msg *m, struct smtp_rcpt *rcpts, int n,
                     const struct smtp_result *fail)
{
    for (int i = 0; i < n; i++) {
        if (rcpts[i].done)
            continue;
        smtp_result_set(&rcpts[i].result, fail->status, fail->dsn, "%s", fail->reason.data);
        rcpts[i].done = 1;
        snprintf(rcpts[i].relay, sizeof(rcpts[i].relay), "none");
        rcpts[i].conn_setup = smtp_now() - m->request_time;
    }
}

static void smtp_service(int fd)
{
    long timeout = config_time("ipc_timeout");
    bio *b = bio_open(fd, timeout > 0 && timeout < 86400 ? (int) timeout * 1000 : 3600000);
    struct smtp_msg msg;
    struct smtp_rcpt *rcpts = NULL;
    struct smtp_result fail;
    struct smtp_route route;
    attr_list req;
    const char *err = NULL;
    str why;
    int n = 0, rc;

    attr_init(&req);
    str_init(&why);
    smtp_result_init(&fail);
    memset(&route, 0, sizeof(route));
    if (attr_send_protocol(b, "delivery") < 0 || attr_read(b, &req, &err) < 0) {
        if (err)
            msg_warn("malformed delivery request: %s", err);
        goto out;
    }
    rc = smtp_request_load(&req, &msg, &rcpts, &n, &why, &fail);
    if (rc == -1) {
        msg_warn("malformed delivery request: %s", why.data);
        smtp_msg_free(&msg);
        goto out;
    }
    for (int i = 0; i < n; i++) {
        smtp_result_init(&rcpts[i].result);
        if (rc == 0 && !rcpts[i].valid) {
            smtp_result_set(&rcpts[i].result, SMTP_DEFER, "4.3.0",
                            "delivery request does not match the queue file");
            rcpts[i].done = 1;
            snprintf(rcpts[i].relay, sizeof(rcpts[i].relay), "none");
        }
    }
    if (rc == -2) {
        fail_all(&msg, rcpts, n, &fail);
    } else if (smtp_scan_8bit(&msg) < 0) {
        smtp_result_set(&fail, SMTP_DEFER, "4.3.0", "error reading queue file %s",
                        msg.queue_id);
        fail_all(&msg, rcpts, n, &fail);
    } else if (smtp_route_find(msg.nexthop, &route, &fail) < 0) {
        fail_all(&msg, rcpts, n, &fail);
    } else {
        smtp_deliver(&msg, &route, rcpts, n);
    }
    for (int i = 0; i < n; i++)
        smtp_log_result(&msg, &rcpts[i]);
    send_reply(b, msg.queue_id, rcpts, n);
    for (int i = 0; i < n; i++)
        smtp_result_free(&rcpts[i].result);
    smtp_route_free(&route);
    smtp_msg_free(&msg);
out:
    free(rcpts);
    smtp_result_free(&fail);
    str_free(&why);
    attr_free(&req);
    bio_free(b);
}

int main(int argc, char **argv)
{
    static const struct server_ops ops = {
        .name = "smtp",
        .post_init = smtp_post_init,
        .service = smtp_service,
    };

    signal(SIGPIPE, SIG_IGN);
    server_main(argc, argv, &ops);
}
