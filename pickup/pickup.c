/* pickup.c: the pickup daemon's entry point and the sequence of one local submission
 * (protocol in pickup.h). Runs under lib/server.h as a single-client server, normally
 * unprivileged (-u, $mail_owner): learn the peer's uid, greet with protocol=pickup, read
 * and check the envelope, open a cleanup transaction with protocol=LOCAL and uid=<peer>,
 * relay the content, and pass cleanup's verdict back to the client. */
#define _GNU_SOURCE 1
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "attr.h"
#include "config.h"
#include "log.h"
#include "pickup.h"
#include "server.h"

static int client_timeout_ms(void)
{
    long t = config_time("pickup_timeout");

    return (t <= 0 || t > 86400) ? 86400 * 1000 : (int)(t * 1000);
}

/* Send the verdict; best effort (the client may be gone). */
static void reply(bio *client, int status, const char *queue_id, const char *dsn,
                  const char *reason)
{
    attr_list l;

    attr_init(&l);
    attr_add_long(&l, "status", status);
    if (status == 0) {
        attr_add(&l, "queue_id", queue_id);
    } else {
        attr_add(&l, "dsn", dsn);
        attr_add(&l, "reason", reason);
    }
    if (attr_write(client, &l) < 0)
        msg_info("could not send the reply to the client: %s", bio_strerror(client));
    attr_free(&l);
}

static void reject_protocol(bio *client, const struct pickup_request *rq, int rc, const str *why)
{
    if (rc == PICKUP_LOST) {
        msg_info("uid=%ld: lost connection: %s", (long)rq->uid, why->data);
        return;
    }
    if (rc == PICKUP_TOO_BIG) {
        msg_warn("uid=%ld: rejected: %s", (long)rq->uid, why->data);
        reply(client, 5, NULL, "5.3.4", "message file too big");
        return;
    }
    msg_warn("uid=%ld pid=%ld: protocol error: %s", (long)rq->uid, (long)rq->pid, why->data);
    str msg;
    str_init(&msg);
    str_printf(&msg, "pickup protocol error: %s", why->data);
    reply(client, 5, NULL, "5.5.0", msg.data);
    str_free(&msg);
}

static void pickup_service(int fd)
{
    struct pickup_request rq;
    struct ucred cred;
    socklen_t clen = sizeof(cred);
    struct submit_result result;
    const char *err = NULL;
    char uidbuf[32];
    str why;
    long size = 0;
    int rc;

    pickup_request_init(&rq);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0 || clen != sizeof(cred)) {
        msg_warn("cannot get the client's credentials (SO_PEERCRED): %s; dropping it",
                 strerror(errno));
        return;
    }
    rq.uid = cred.uid;
    rq.pid = cred.pid;
    str_init(&why);
    bio *client = bio_open(fd, client_timeout_ms());
    if (attr_send_protocol(client, "pickup") < 0) {
        msg_info("uid=%ld: lost connection before greeting", (long)rq.uid);
        goto out;
    }
    if ((rc = pickup_read_envelope(client, &rq, &why)) != PICKUP_OK) {
        reject_protocol(client, &rq, rc, &why);
        goto out;
    }
    submit *s = submit_open(SUBMIT_FLAG_LOCAL, &err);
    if (s == NULL) {
        msg_warn("uid=%ld: %s", (long)rq.uid, err);
        reply(client, 4, NULL, "4.3.0", "cleanup service unavailable, try again later");
        goto out;
    }
    /* The facts about the submitter come from us, never from the client. */
    snprintf(uidbuf, sizeof(uidbuf), "%ld", (long)rq.uid);
    submit_attr(s, "protocol", "LOCAL");
    submit_attr(s, "uid", uidbuf);
    if (rq.full_name)                     /* sendmail -F: cleanup's added From: */
        submit_attr(s, "full_name", rq.full_name);
    submit_sender(s, rq.sender);
    for (int i = 0; i < rq.rcpt_count; i++)
        submit_rcpt(s, rq.rcpts[i], rq.orcpts[i]);
    submit_begin_content(s);
    msg_info("%s: uid=%ld from=<%s>", submit_queue_id(s), (long)rq.uid, rq.sender);
    if ((rc = pickup_relay_content(client, s, &size, &why)) != PICKUP_OK) {
        msg_info("%s: aborted", submit_queue_id(s));
        submit_abort(s);
        reject_protocol(client, &rq, rc, &why);
        goto out;
    }
    char queue_id[64];
    snprintf(queue_id, sizeof(queue_id), "%s", submit_queue_id(s));
    rc = submit_finish(s, &result);
    if (rc == 0)
        reply(client, 0, queue_id, NULL, NULL);
    else {
        msg_info("%s: uid=%ld: not queued: %s %s", queue_id, (long)rq.uid, result.dsn,
                 result.reason.data);
        reply(client, rc, NULL, result.dsn, result.reason.data);
    }
    submit_result_free(&result);
out:
    bio_free(client);
    str_free(&why);
    pickup_request_free(&rq);
}

int main(int argc, char **argv)
{
    static const struct server_ops ops = {
        .name = "pickup",
        .service = pickup_service,
    };
    server_main(argc, argv, &ops);
}
