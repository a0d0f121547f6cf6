/* cleanup.c: the cleanup daemon's entry point and the sequence of one submission
 * (docs/PROTOCOLS.md section 1). Runs under lib/server.h as a single-client server:
 * each connection is one message. Takes an in_flow_delay token (lib/flow.h, waiting at
 * most $in_flow_delay for one), creates the queue file, greets the client with
 * protocol=cleanup and the queue ID, reads flags, envelope and content
 * (cleanup_envelope.c, cleanup_content.c), then, after the client's E record, commits
 * the file (one fsync) and only then replies status=0, and wakes qmgr. Anything
 * malformed or a lost client removes the file; a rejection removes it and replies
 * status=4/5 with dsn and reason. */
#define _GNU_SOURCE 1
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "attr.h"
#include "cleanup.h"
#include "cleanup_auth.h"
#include "cleanup_checks.h"
#include "config.h"
#include "flow.h"
#include "ipc.h"
#include "log.h"
#include "record.h"
#include "server.h"

/* The submission in progress, so that an exit in the middle of it (msg_fatal, out of
 * memory) still removes the incomplete queue file. */
static struct cleanup_state *current;

static void remove_incomplete_at_exit(void)
{
    /* qfd >= 0 means "created but neither committed nor removed yet" */
    if (current && current->qfd >= 0)
        (void)queue_remove(current->qdir, current->in_hold ? "hold" : "incoming",
                           current->queue_id);
}

/* Look every per-message parameter up once at start-up: a bad value is then a fatal
 * error before any client is accepted, not in the middle of a message. */
static void cleanup_post_init(void)
{
    (void)config_str("queue_directory");
    (void)config_str("myhostname");
    (void)config_time("ipc_timeout");
    (void)config_size("message_size_limit");
    (void)config_size("header_size_limit");
    (void)config_int("hopcount_limit");
    (void)config_bool("always_add_missing_headers");
    (void)config_time("in_flow_delay");
    cleanup_checks_init();                   /* header_checks, body_checks tables */
    cleanup_auth_init();                     /* mailauth */
    if (atexit(remove_incomplete_at_exit) != 0)
        msg_fatal("atexit: cannot register the queue file clean-up");
}

void cleanup_reject(struct cleanup_state *st, int status, const char *dsn, const char *reason)
{
    if (st->status != 0)
        return;                                  /* the first rejection wins */
    st->status = status;
    snprintf(st->dsn, sizeof(st->dsn), "%s", dsn);
    snprintf(st->reason, sizeof(st->reason), "%s", reason);
}

void cleanup_protocol_error(struct cleanup_state *st, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(st->why, sizeof(st->why), fmt, ap);
    va_end(ap);
}

static uid_t peer_uid(int fd)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && len == sizeof(cred))
        return cred.uid;
    return (uid_t)-1;
}

static void state_init(struct cleanup_state *st, int fd)
{
    memset(st, 0, sizeof(*st));
    st->qfd = -1;
    st->qdir = config_str("queue_directory");
    st->peer_uid = peer_uid(fd);
    gettimeofday(&st->arrival, NULL);
    str_init(&st->rec);
    cleanup_checks_start(st);
}

static void state_free(struct cleanup_state *st)
{
    for (int a = 0; a < CA_COUNT; a++)
        free(st->attrs[a]);
    free(st->sender);
    free(st->first_rcpt);
    str_free(&st->rec);
    cleanup_checks_free(st);
    if (st->client)
        bio_free(st->client);
}

/* After E: decide, commit or remove, reply. */
static void finish(struct cleanup_state *st)
{
    attr_list reply;

    if (st->status == 0 && st->rcpt_count == 0)
        cleanup_reject(st, 5, "5.5.1", "no recipients specified");
    if (st->status == 0 && st->discard) {
        /* DISCARD (header/body checks): the client hears "queued", nothing is kept. */
        cleanup_out_remove(st);
        attr_init(&reply);
        attr_add(&reply, "status", "0");
        attr_add(&reply, "queue_id", st->queue_id);
        if (attr_write(st->client, &reply) < 0)
            msg_warn("%s: cannot send the verdict to the client: %s", st->queue_id,
                     bio_strerror(st->client));
        attr_free(&reply);
        return;
    }
    cleanup_auth_finish(st);                 /* mailauth: DKIM, DMARC, A-R (may reject) */
    if (st->status == 0 && cleanup_out_commit(st) < 0)      /* logs the cause */
        cleanup_reject(st, 4, "4.3.0", "queue file write error");

    attr_init(&reply);
    if (st->status == 0) {
        cleanup_out_close(st);
        cleanup_auth_committed(st);          /* mailauth: DMARC quarantine -> hold */
        attr_add(&reply, "status", "0");
        attr_add(&reply, "queue_id", st->queue_id);
    } else {
        cleanup_out_remove(st);
        msg_info("%s: reject: %s %s; from=<%s> nrcpt=%ld", st->queue_id, st->dsn,
                 st->reason, st->sender ? st->sender : "", st->rcpt_count);
        attr_add_long(&reply, "status", st->status);
        attr_add(&reply, "dsn", st->dsn);
        attr_add(&reply, "reason", st->reason);
    }
    if (attr_write(st->client, &reply) < 0)
        msg_warn("%s: cannot send the verdict to the client: %s", st->queue_id,
                 bio_strerror(st->client));
    attr_free(&reply);
    if (st->status == 0)
        ipc_wakeup_qmgr();
}

/* in_flow_delay (lib/flow.h): before a new message, take a token that qmgr put when it
 * moved an earlier message out of incoming/; when there is none, wait at most
 * $in_flow_delay for one and then go ahead anyway. */
static void take_flow_token(void)
{
    long delay = config_time("in_flow_delay");

    if (delay <= 0 || !flow_enabled())
        return;
    if (delay > FLOW_MAX_WAIT_MS / 1000)
        delay = FLOW_MAX_WAIT_MS / 1000;
    if (!flow_get(delay * 1000L))
        msg_debug("no flow token after %ld s (in_flow_delay): going ahead", delay);
}

static void cleanup_service(int fd)
{
    struct cleanup_state st;
    attr_list greeting;
    const char *err = NULL;
    int rc, type;

    take_flow_token();
    state_init(&st, fd);
    if (cleanup_out_open(&st) < 0) {
        state_free(&st);
        sleep(1);                    /* the client sees EOF and defers; don't spin */
        return;
    }
    current = &st;
    st.client = bio_open(fd, (int)(config_time("ipc_timeout") > 86400 ? 86400000
                                   : config_time("ipc_timeout") * 1000));
    attr_init(&greeting);
    attr_add(&greeting, "queue_id", st.queue_id);
    if (attr_send_protocol(st.client, "cleanup") < 0 || attr_write(st.client, &greeting) < 0) {
        snprintf(st.why, sizeof(st.why), "sending greeting: %s", bio_strerror(st.client));
        rc = CLEANUP_LOST;
    } else if ((rc = cleanup_read_flags(&st)) == CLEANUP_OK
               && (rc = cleanup_read_envelope(&st)) == CLEANUP_OK
               && (rc = cleanup_read_content(&st)) == CLEANUP_OK) {
        rc = rec_get(st.client, &type, &st.rec, 0, &err);
        if (rc == -1) {
            snprintf(st.why, sizeof(st.why), "waiting for end record: %s",
                     bio_strerror(st.client));
            rc = CLEANUP_LOST;
        } else if (rc < 0 || type != REC_END) {
            cleanup_protocol_error(&st, "expected E record after content");
            rc = CLEANUP_PROTO;
        } else {
            rc = CLEANUP_OK;
        }
    }
    attr_free(&greeting);

    if (rc == CLEANUP_OK) {
        finish(&st);
    } else {
        if (rc == CLEANUP_PROTO)
            msg_warn("%s: %s: protocol error", st.queue_id, st.why);
        else
            msg_info("%s: client went away before end of message (%s); queue file removed",
                     st.queue_id, st.why);
        cleanup_out_remove(&st);
    }
    current = NULL;
    state_free(&st);
}

int main(int argc, char **argv)
{
    static const struct server_ops ops = {
        .name = "cleanup",
        .pre_init = cleanup_auth_pre_init,   /* mailauth */
        .post_init = cleanup_post_init,
        .service = cleanup_service,
    };

    server_main(argc, argv, &ops);
}
