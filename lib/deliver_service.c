/* deliver_service.c: the delivery requests of one qmgr connection, each from request to
 * reply (see deliver_service.h). */
#include "deliver_service.h"
#include <stdio.h>
#include <unistd.h>
#include "attr.h"
#include "config.h"
#include "log.h"

static int send_reply(bio *b, const char *qid, const struct deliver_rcpt *rcpts, int n)
{
    int rc = 0;

    attr_list reply;
    char name[64];

    attr_init(&reply);
    attr_add_long(&reply, "rcpt_count", n);
    for (int i = 0; i < n; i++) {
        const struct deliver_result *r = &rcpts[i].result;
        snprintf(name, sizeof(name), "rcpt_%d_status", i);
        attr_add(&reply, name, deliver_status_name(r->status));
        snprintf(name, sizeof(name), "rcpt_%d_dsn", i);
        attr_add(&reply, name, r->dsn);
        snprintf(name, sizeof(name), "rcpt_%d_reason", i);
        attr_add(&reply, name, r->reason.data);
    }
    if (attr_write(b, &reply) < 0) {
        msg_warn("%s: cannot send delivery reply to qmgr: %s", qid, bio_strerror(b));
        rc = -1;
    }
    attr_free(&reply);
    return rc;
}

/* Give a recipient the agent will not see its result, and log it. */
static void fail_rcpt(const struct deliver_agent *agent, const struct deliver_msg *m,
                      struct deliver_rcpt *rc, const struct deliver_result *fail)
{
    deliver_result_copy(&rc->result, fail);
    deliver_log_result(m, rc->address, rc->orig, agent->relay,
                       deliver_now() - m->request_time, 0, &rc->result);
}

/* Verify the request and run the agent; the reply goes out unless it was malformed.
 * 0, or -1 when the connection cannot carry another request. */
static int handle_request(bio *b, const attr_list *req, const struct deliver_agent *agent)
{
    struct deliver_msg msg;
    struct deliver_rcpt *rcpts = NULL;
    struct deliver_result fail, mismatch;
    str why;
    int n = 0, rc, nvalid = 0;

    str_init(&why);
    deliver_result_init(&fail);
    deliver_result_init(&mismatch);
    deliver_result_set(&mismatch, DELIVER_DEFER, "4.3.0",
                       "delivery request does not match the queue file");
    if (agent->watchdog)
        alarm(agent->watchdog);
    rc = deliver_request_load(req, agent->max_rcpts, &msg, &rcpts, &n, &why, &fail);
    if (rc == -1) {
        msg_warn("malformed delivery request: %s", why.data);
    } else {
        for (int i = 0; i < n; i++) {
            if (rc == -2)
                fail_rcpt(agent, &msg, &rcpts[i], &fail);
            else if (!rcpts[i].valid)
                fail_rcpt(agent, &msg, &rcpts[i], &mismatch);
            else
                nvalid++;
        }
        if (nvalid > 0)
            agent->deliver(&msg, rcpts, n);
    }
    if (agent->watchdog)
        alarm(0);
    if (rc != -1 && send_reply(b, msg.queue_id, rcpts, n) < 0)
        rc = -1;
    deliver_rcpts_free(rcpts, n);
    deliver_msg_free(&msg);
    deliver_result_free(&mismatch);
    deliver_result_free(&fail);
    str_free(&why);
    return rc == -1 ? -1 : 0;
}

void deliver_service(int fd, const struct deliver_agent *agent)
{
    long timeout = config_time("ipc_timeout");
    bio *b = bio_open(fd, timeout > 0 && timeout < 86400 ? (int) timeout * 1000 : 3600000);
    attr_list req;
    const char *err = NULL;

    attr_init(&req);
    if (attr_send_protocol(b, "delivery") < 0) {
        msg_warn("cannot greet qmgr: %s", bio_strerror(b));
    } else {
        /* one request after the other until qmgr closes the connection; a request that
         * cannot be read ends it (qmgr defers what it had sent) */
        for (unsigned long served = 0;; served++) {
            if (attr_read(b, &req, &err) < 0) {
                if (!(served > 0 && bio_error(b) == BIO_EOF))
                    msg_warn("malformed delivery request: %s", err ? err : "read error");
                break;
            }
            if (handle_request(b, &req, agent) < 0)
                break;
        }
    }
    if (agent->done)
        agent->done();
    attr_free(&req);
    bio_free(b);
}
