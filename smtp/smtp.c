/* smtp.c: the SMTP client delivery agent's entry point. Runs under lib/server.h as a
 * single-client server (master.cf: "smtp unix - - n - - smtp", unprivileged): each
 * connection from qmgr carries one or more delivery requests (docs/PROTOCOLS.md
 * section 3), served by lib/deliver_service.h (request, reply, log line). Here we use the session kept from
 * the previous request for the same nexthop (smtp_cache.c), or find the servers for the
 * nexthop (smtp_route.c) and relay the message (smtp_connect.c, smtp_proto.c), and log
 * one line per recipient. As the service "lmtp" (master.cf "lmtp unix - - n - - smtp") the
 * same program speaks LMTP to the nexthop instead (smtp_is_lmtp()). */
#include "smtp.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "deliver_service.h"
#include "mem.h"
#include "server.h"

int smtp_is_lmtp(void)
{
    return strcmp(server_service_name(), "lmtp") == 0;
}

static void smtp_post_init(void)
{
    dns_init();
}

/* Give every recipient still open the same (message- or route-level) result. */
static void fail_all(const struct deliver_msg *m, struct smtp_rcpt *rcpts, int n,
                     const struct deliver_result *fail)
{
    for (int i = 0; i < n; i++) {
        if (rcpts[i].done)
            continue;
        deliver_result_copy(&rcpts[i].req->result, fail);
        rcpts[i].done = 1;
        snprintf(rcpts[i].relay, sizeof(rcpts[i].relay), "none");
        rcpts[i].conn_setup = deliver_now() - m->request_time;
    }
}

/* Relay the message for the recipients that matched the queue file, then log them. */
static void deliver_all(struct deliver_msg *m, struct deliver_rcpt *reqs, int nreq)
{
    struct smtp_rcpt *rcpts = xcalloc((size_t) nreq, sizeof(*rcpts));
    struct deliver_result fail;
    struct smtp_route route;
    int n = 0, has_8bit;

    for (int i = 0; i < nreq; i++)
        if (reqs[i].valid)
            rcpts[n++].req = &reqs[i];
    deliver_result_init(&fail);
    memset(&route, 0, sizeof(route));
    if ((has_8bit = smtp_scan_8bit(m)) < 0) {
        deliver_result_set(&fail, DELIVER_DEFER, "4.3.0", "error reading queue file %s",
                           m->queue_id);
        fail_all(m, rcpts, n, &fail);
    } else if (smtp_cache_deliver(m, has_8bit, rcpts, n)) {
        ;                               /* delivered over the session kept for nexthop */
    } else if (smtp_route_find(m->nexthop, &route, &fail) < 0
               || (!smtp_is_lmtp()            /* LMTP: no STARTTLS (level none) */
                   && smtp_tls_policy_find(m->nexthop, &route.tls, &fail) < 0)) {
        fail_all(m, rcpts, n, &fail);
    } else {
        smtp_deliver(m, has_8bit, &route, rcpts, n);
    }
    for (int i = 0; i < n; i++) {
        m->conn_use = rcpts[i].conn_use;
        deliver_log_result(m, rcpts[i].req->address, rcpts[i].req->orig, rcpts[i].relay,
                           rcpts[i].conn_setup, rcpts[i].xfer, &rcpts[i].req->result);
    }
    smtp_route_free(&route);
    deliver_result_free(&fail);
    free(rcpts);
}

static void smtp_service(int fd)
{
    static const struct deliver_agent agent = {
        .max_rcpts = SMTP_MAX_RCPTS,
        .relay = NULL,
        .watchdog = 0,                 /* every network step has its own timeout */
        .deliver = deliver_all,
        .done = smtp_cache_close,
    };

    deliver_service(fd, &agent);
}

int main(int argc, char **argv)
{
    static const struct server_ops ops = {
        .name = "smtp",
        .pre_init = smtp_tls_pre_init,
        .post_init = smtp_post_init,
        .service = smtp_service,
    };

    signal(SIGPIPE, SIG_IGN);
    server_main(argc, argv, &ops);
}
