/* local.c: the local delivery agent's entry point. Runs under lib/server.h as a
 * single-client server: each connection from qmgr is one delivery request
 * (docs/PROTOCOLS.md section 3), served by lib/deliver_service.h (request, reply, log
 * line); here we deliver each verified recipient (local_recipient.c) under a watchdog
 * ($local_delivery_timeout, local_abort.c). Not started with -u: as root we switch
 * effective ids per delivery (local_privs.c). */
#include "local.h"
#include <signal.h>
#include "attr.h"
#include "config.h"
#include "deliver_service.h"
#include "resolve.h"
#include "server.h"

_Static_assert(1 + 3 * LOCAL_MAX_RCPTS <= ATTR_MAX_COUNT,
               "a reply for LOCAL_MAX_RCPTS recipients must fit one attribute list");

static void local_pre_init(void)
{
    resolve_init();
}

static void deliver_all(struct deliver_msg *m, struct deliver_rcpt *rcpts, int n)
{
    for (int i = 0; i < n; i++)
        if (rcpts[i].valid)
            local_deliver_rcpt(m, &rcpts[i]);
}

static void local_service(int fd)
{
    long deadline = config_time("local_delivery_timeout");
    /* A delivery that hangs (NFS, a stuck lock holder) must not hold the agent forever;
     * qmgr treats our death as "deferred" for every recipient. */
    const struct deliver_agent agent = {
        .max_rcpts = LOCAL_MAX_RCPTS,
        .relay = "local",
        .watchdog = deadline > 0 && deadline < 86400 ? (unsigned) deadline : 1000,
        .deliver = deliver_all,
    };

    deliver_service(fd, &agent);
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
