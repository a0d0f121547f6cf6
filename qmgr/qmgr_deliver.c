/* qmgr_deliver.c: qmgr's side of the delivery protocol (docs/PROTOCOLS.md section 3),
 * run inside the event loop so one slow agent never stalls the others.
 *
 * Per job: ipc_connect("private", transport) (one attempt, no waiting), then as events
 * arrive: read "protocol=delivery", write the request, read the one reply list, validate
 * it against the request (count, every index, status, DSN class, no extra attributes)
 * and hand the per-recipient results to qmgr_message.c. A refused connect, EOF, I/O
 * error or timeout defers every recipient of the job ("delivery temporarily suspended:
 * ..."), a reply that does not match the request defers them with "delivery agent
 * protocol error". After a good reply the connection carries the destination's next
 * job when qmgr_entry_take_next() offers one (at most QMGR_AGENT_REUSE_MAX requests):
 * the agent then delivers it over the session it still holds to that destination (the
 * smtp agent's connection reuse); otherwise it is parked for the destination's next job
 * (see "Parked connections" below) or closed.
 *
 * The same connection machinery runs qmgr's other one-shot requests (the bounce
 * service, qmgr_bounce.c): qmgr_request_start() sends any attribute list to any
 * private service and hands the one reply list, or the failure, to a callback. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "attr.h"
#include "config.h"
#include "events.h"
#include "ipc.h"
#include "log.h"
#include "mem.h"
#include "params.h"
#include "str.h"
#include "qmgr.h"

#define REPLY_BASE_BYTES (1024 * 1024)
#define REPLY_PER_RCPT_BYTES (64 * 1024)
#define REPLY_MAX_BYTES (ATTR_MAX_TOTAL + 1024 * 1024)
#define TIMEOUT_MAX_S 18000
#define QMGR_AGENT_REUSE_MAX 1000       /* requests on one agent connection */

enum deliver_state { STATE_PROTOCOL, STATE_SEND, STATE_REPLY, STATE_PARKED };

struct qmgr_deliver {
    int fd;
    enum deliver_state state;
    struct qmgr_job *job;               /* a delivery request, or NULL: */
    const char *protocol;               /* greeting expected: "delivery", "bounce" */
    qmgr_request_done_fn done;          /* ... a generic request's completion */
    void *done_ctx;
    char log_id[QUEUE_ID_MAX];          /* queue ID for log lines */
    char service[80];                   /* "private/local" for messages */
    str out;                            /* encoded request */
    size_t out_pos;
    char *in;                           /* bytes received, not yet decoded */
    size_t in_len, in_cap, in_max;
    long timer;
    int uses;                           /* requests sent on this connection before */
    struct qmgr_dest *parked_for;       /* STATE_PARKED: idle, kept for this dest */
    struct qmgr_deliver *park_next;     /* in parked_for->parked */
    struct qmgr_deliver *prev, *next;
};

static struct qmgr_deliver *conns;

static long transport_timeout_ms(const char *transport)
{
    char name[160];
    long secs;
    snprintf(name, sizeof(name), "%s_delivery_timeout", transport);
    if (param_find(name) || config_is_set(name))
        secs = config_time(name);
    else
        secs = config_time("daemon_timeout");
    if (secs < 1)
        secs = 1;
    if (secs > TIMEOUT_MAX_S)
        secs = TIMEOUT_MAX_S;
    return secs * 1000;
}

static size_t reply_max_bytes(const struct qmgr_job *job)
{
    size_t max = REPLY_BASE_BYTES + (size_t)job->nrcpt * REPLY_PER_RCPT_BYTES;
    return max > REPLY_MAX_BYTES ? REPLY_MAX_BYTES : max;
}

static void build_request(struct qmgr_job *job, str *out)
{
    const struct qmgr_message *m = job->msg;
    attr_list l;
    attr_init(&l);
    attr_add(&l, "queue_name", "active");
    attr_add(&l, "queue_id", m->id);
    attr_add(&l, "sender", m->env.sender);
    attr_add(&l, "nexthop", job->dest->nexthop);
    attr_add_long(&l, "arrival", m->env.arrival_sec);
    attr_add_long(&l, "rcpt_count", job->nrcpt);
    for (int j = 0; j < job->nrcpt; j++) {
        const struct qfile_rcpt *r = &m->env.rcpts[job->rcpt_index[j]];
        char name[64];
        snprintf(name, sizeof(name), "rcpt_%d", j);
        attr_add(&l, name, r->address);
        if (r->orig) {
            snprintf(name, sizeof(name), "rcpt_%d_orig", j);
            attr_add(&l, name, r->orig);
        }
        snprintf(name, sizeof(name), "rcpt_%d_offset", j);
        attr_add_long(&l, name, (long)r->offset);
    }
    str_reset(out);
    attr_encode(&l, out);
    attr_free(&l);
}

static void unpark(struct qmgr_deliver *c);

static void conn_close(struct qmgr_deliver *c)
{
    if (c->state == STATE_PARKED)
        unpark(c);
    event_del_read(c->fd);
    event_del_write(c->fd);
    if (c->timer)
        event_cancel_timer(c->timer);
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    str_free(&c->out);
    free(c->in);
    free(c);
}

/* A generic request ended: close, then tell its owner (which may free anything). */
static void request_finish(struct qmgr_deliver *c, const attr_list *reply, const char *failure)
{
    qmgr_request_done_fn done = c->done;
    void *ctx = c->done_ctx;
    conn_close(c);
    done(ctx, reply, failure);
}

/* The agent failed: defer the whole job. */
static void conn_fail(struct qmgr_deliver *c, const char *reason)
{
    struct qmgr_job *job = c->job;
    if (!job) {
        request_finish(c, NULL, reason);
        return;
    }
    conn_close(c);
    job->conn = NULL;
    qmgr_entry_job_finished(job, 0, reason);
    qmgr_message_defer_job(job, "4.3.0", reason);
    qmgr_message_job_done(job);
}

static void conn_suspended(struct qmgr_deliver *c, const char *what)
{
    char reason[512];
    snprintf(reason, sizeof(reason), "delivery temporarily suspended: %s: %s", c->service, what);
    conn_fail(c, reason);
}

static void conn_protocol_error(struct qmgr_deliver *c, const char *detail)
{
    if (!c->job) {
        msg_warn("%s: %s: protocol error: %s", c->log_id, c->service, detail);
        conn_fail(c, "service protocol error");
        return;
    }
    msg_warn("%s: %s: delivery agent protocol error: %s", c->job->msg->id, c->service, detail);
    conn_fail(c, "delivery agent protocol error");
}

static int dsn_valid_for(const char *dsn, size_t len, char cls)
{
    /* x.y.z with x the class digit, y and z 1-3 digits */
    if (len < 5 || len > 9 || dsn[0] != cls || dsn[1] != '.')
        return 0;
    size_t i = 2, digits = 0;
    for (; i < len && dsn[i] != '.'; i++, digits++)
        if (dsn[i] < '0' || dsn[i] > '9')
            return 0;
    if (digits < 1 || digits > 3 || i >= len)
        return 0;
    i++;
    digits = 0;
    for (; i < len; i++, digits++)
        if (dsn[i] < '0' || dsn[i] > '9')
            return 0;
    return digits >= 1 && digits <= 3;
}

static const struct attr *reply_get(const attr_list *l, int j, const char *what)
{
    char name[64];
    snprintf(name, sizeof(name), "rcpt_%d_%s", j, what);
    return attr_find(l, name);
}

/* Check the reply against the job; NULL if good, else what is wrong. */
static const char *reply_check(const attr_list *l, const struct qmgr_job *job)
{
    long n;
    if (attr_get_long(l, "rcpt_count", &n) < 0)
        return "missing or bad rcpt_count";
    if (n != job->nrcpt)
        return "rcpt_count does not match the request";
    if (l->count != 1 + 3 * job->nrcpt)
        return "unexpected attributes in reply";
    for (int j = 0; j < job->nrcpt; j++) {
        const struct attr *st = reply_get(l, j, "status");
        const struct attr *dsn = reply_get(l, j, "dsn");
        const struct attr *why = reply_get(l, j, "reason");
        if (!st || !dsn || !why)
            return "recipient status, dsn or reason missing";
        char cls;
        if (strcmp(st->value, "sent") == 0)
            cls = '2';
        else if (strcmp(st->value, "deferred") == 0)
            cls = '4';
        else if (strcmp(st->value, "bounced") == 0)
            cls = '5';
        else
            return "bad recipient status";
        if (strlen(st->value) != st->vlen)
            return "bad recipient status";
        if (strlen(dsn->value) != dsn->vlen || !dsn_valid_for(dsn->value, dsn->vlen, cls))
            return "bad dsn (syntax or class does not match status)";
        /* the reason is free text: long or odd ones are cut when logged, not fatal */
    }
    return NULL;
}

static int send_request(struct qmgr_deliver *c);
static void conn_timeout(void *ctx);

/* Hand the agent connection the next job of the same destination. */
static void conn_reuse(struct qmgr_deliver *c, struct qmgr_job *next)
{
    const char *transport = next->dest->transport->name;

    c->job = next;
    next->conn = c;
    c->uses++;
    build_request(next, &c->out);
    c->out_pos = 0;
    c->in_max = reply_max_bytes(next);
    if (c->timer)
        event_cancel_timer(c->timer);
    c->timer = event_timer(transport_timeout_ms(transport), conn_timeout, c);
    c->state = STATE_SEND;
    (void) send_request(c);             /* on failure the job is deferred, c closed */
}

/* Parked connections: an agent connection whose destination has nothing waiting right
 * now stays open, idle, for $<transport>_connection_cache_time_limit, in case more mail
 * for that destination comes (the smtp agent keeps its session to the server open
 * meanwhile). A parked connection holds an agent process, so it counts against the
 * transport's process limit and qmgr's descriptor bound (not against the destination's
 * concurrency); the dispatcher closes the oldest one when it needs the slot. */
static struct qmgr_deliver **park_fifo;     /* every parked connection, oldest first */
static size_t park_count, park_cap;

static void park_timeout(void *ctx);

static void park_fifo_remove(struct qmgr_deliver *c)
{
    for (size_t i = 0; i < park_count; i++)
        if (park_fifo[i] == c) {
            memmove(park_fifo + i, park_fifo + i + 1, (park_count - i - 1) * sizeof(*park_fifo));
            park_count--;
            return;
        }
}

static void unpark(struct qmgr_deliver *c)
{
    struct qmgr_dest *d = c->parked_for;
    struct qmgr_deliver **pp = &d->parked;

    while (*pp && *pp != c)
        pp = &(*pp)->park_next;
    if (*pp)
        *pp = c->park_next;
    c->park_next = NULL;
    c->parked_for = NULL;
    d->transport->parked--;
    d->transport->active_conns--;
    qmgr_conns_total--;
    park_fifo_remove(c);
    c->state = STATE_SEND;
}

static void park(struct qmgr_deliver *c, struct qmgr_dest *d)
{
    if (c->timer)
        event_cancel_timer(c->timer);
    c->timer = event_timer(d->transport->park_ms, park_timeout, c);
    c->state = STATE_PARKED;
    c->parked_for = d;
    c->park_next = d->parked;
    d->parked = c;
    d->transport->parked++;
    d->transport->active_conns++;
    qmgr_conns_total++;
    if (park_count == park_cap) {
        park_cap = park_cap ? park_cap * 2 : 16;
        park_fifo = xrealloc(park_fifo, park_cap * sizeof(*park_fifo));
    }
    park_fifo[park_count++] = c;
}

static void park_timeout(void *ctx)
{
    struct qmgr_deliver *c = ctx;
    c->timer = 0;
    conn_close(c);
}

int qmgr_deliver_close_parked(const struct qmgr_transport *t)
{
    for (size_t i = 0; i < park_count; i++)
        if (!t || park_fifo[i]->parked_for->transport == t) {
            conn_close(park_fifo[i]);
            return 1;
        }
    return 0;
}

/* A parked connection the agent has not closed meanwhile (EOF or stray bytes waiting:
 * it cannot take a request), taken out of the parking. NULL if none. */
static struct qmgr_deliver *unpark_for(struct qmgr_dest *d)
{
    while (d->parked) {
        struct qmgr_deliver *c = d->parked;
        struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
        if (poll(&pfd, 1, 0) != 0 || c->in_len > 0) {
            conn_close(c);
            continue;
        }
        unpark(c);
        return c;
    }
    return NULL;
}

static void apply_reply(struct qmgr_deliver *c, const attr_list *l)
{
    struct qmgr_job *job = c->job, *next = NULL;

    c->job = NULL;
    job->conn = NULL;
    qmgr_entry_job_finished(job, 1, NULL);
    for (int j = 0; j < job->nrcpt; j++) {
        const char *st = reply_get(l, j, "status")->value;
        if (strcmp(st, "deferred") == 0) {
            qmgr_message_rcpt_deferred(job, j, reply_get(l, j, "dsn")->value,
                                       reply_get(l, j, "reason")->value);
            continue;
        }
        if (strcmp(st, "bounced") == 0) {      /* logged before it is marked done */
            const struct qfile_rcpt *r = &job->msg->env.rcpts[job->rcpt_index[j]];
            bounce_add(job->msg->id, r->address, reply_get(l, j, "dsn")->value,
                       reply_get(l, j, "reason")->value);
        }
        qmgr_message_rcpt_done(job, j);
    }
    /* the same agent takes the destination's next job when one is waiting (the smtp
     * agent keeps its session to the server open for it); chosen before the finished
     * job is released, as that may run the scheduler */
    struct qmgr_dest *d = job->dest;
    int reusable = c->in_len == 0 && c->uses < QMGR_AGENT_REUSE_MAX;
    if (reusable)
        next = qmgr_entry_take_next(d);
    qmgr_message_job_done(job);
    if (next)
        conn_reuse(c, next);
    else if (reusable && qmgr_entry_may_park(d))
        park(c, d);
    else
        conn_close(c);
}

static void conn_writable(int fd, void *ctx);

/* Try to write the rest of the request; on completion wait for the reply. Returns 0 if
 * the connection is still alive. */
static int send_request(struct qmgr_deliver *c)
{
    while (c->out_pos < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + c->out_pos, c->out.len - c->out_pos,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                event_add_write(c->fd, conn_writable, c);
                return 0;
            }
            char what[160];
            snprintf(what, sizeof(what), "delivery agent crashed (write: %s)", strerror(errno));
            conn_suspended(c, what);
            return -1;
        }
        c->out_pos += (size_t)n;
    }
    event_del_write(c->fd);
    c->state = STATE_REPLY;
    return 0;
}

/* Decode whatever complete lists are buffered. Returns -1 if the connection is gone. */
static int process_input(struct qmgr_deliver *c)
{
    while (c->state != STATE_SEND && c->in_len > 0) {
        attr_list l;
        attr_init(&l);
        const char *err = NULL;
        long used = attr_decode(c->in, c->in_len, &l, &err);
        if (used == 0) {
            attr_free(&l);
            return 0;
        }
        if (used < 0) {
            attr_free(&l);
            conn_protocol_error(c, err ? err : "malformed attribute list");
            return -1;
        }
        memmove(c->in, c->in + used, c->in_len - (size_t)used);
        c->in_len -= (size_t)used;
        if (c->state == STATE_PROTOCOL) {
            const char *proto = attr_get(&l, "protocol");
            int good = l.count == 1 && proto && strcmp(proto, c->protocol) == 0;
            attr_free(&l);
            if (!good) {
                conn_protocol_error(c, c->job ? "expected protocol=delivery"
                                              : "unexpected protocol greeting");
                return -1;
            }
            c->state = STATE_SEND;
            if (send_request(c) < 0)
                return -1;
            continue;
        }
        if (!c->job) {
            if (c->in_len > 0)
                msg_warn("%s: %s: ignoring %zu bytes after the reply",
                         c->log_id, c->service, c->in_len);
            request_finish(c, &l, NULL);
            attr_free(&l);
            return -1;
        }
        const char *bad = reply_check(&l, c->job);
        if (bad) {
            attr_free(&l);
            conn_protocol_error(c, bad);
            return -1;
        }
        if (c->in_len > 0)                     /* and the connection is not reused */
            msg_warn("%s: %s: ignoring %zu bytes after the reply",
                     c->job->msg->id, c->service, c->in_len);
        apply_reply(c, &l);
        attr_free(&l);
        return -1;
    }
    return 0;
}

static void conn_writable(int fd, void *ctx)
{
    (void)fd;
    struct qmgr_deliver *c = ctx;
    if (send_request(c) == 0 && c->state == STATE_REPLY)
        process_input(c);
}

static void conn_readable(int fd, void *ctx)
{
    struct qmgr_deliver *c = ctx;
    if (c->state == STATE_PARKED) {         /* the agent went away (or talks out of turn) */
        conn_close(c);
        return;
    }
    if (c->in_cap - c->in_len < 4096) {
        if (c->in_cap >= c->in_max) {
            conn_protocol_error(c, "reply too large");
            return;
        }
        c->in_cap = c->in_cap ? c->in_cap * 2 : 8192;
        if (c->in_cap > c->in_max)
            c->in_cap = c->in_max;
        c->in = xrealloc(c->in, c->in_cap);
    }
    ssize_t n = read(fd, c->in + c->in_len, c->in_cap - c->in_len);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        char what[160];
        snprintf(what, sizeof(what), "delivery agent crashed (read: %s)", strerror(errno));
        conn_suspended(c, what);
        return;
    }
    if (n == 0) {
        conn_suspended(c, "delivery agent crashed (connection closed without a reply)");
        return;
    }
    c->in_len += (size_t)n;
    process_input(c);
}

static void conn_timeout(void *ctx)
{
    struct qmgr_deliver *c = ctx;
    c->timer = 0;
    if (!c->job) {
        conn_fail(c, c->state == STATE_PROTOCOL ? "timeout waiting for the service"
                                                : "service timed out");
        return;
    }
    conn_suspended(c, c->state == STATE_PROTOCOL ? "timeout waiting for the delivery agent"
                                                 : "delivery agent timed out");
}

int qmgr_deliver_start(struct qmgr_job *job, char *why, size_t whylen)
{
    const char *transport = job->dest->transport->name;
    struct qmgr_deliver *parked = unpark_for(job->dest);
    if (parked) {
        conn_reuse(parked, job);
        return 0;
    }
    int fd = ipc_connect("private", transport, 0);     /* one attempt, no sleeping */
    if (fd < 0) {
        int busy = errno == EAGAIN || errno == EMFILE || errno == ENFILE;
        snprintf(why, whylen, "connect to private/%s: %s", transport, strerror(errno));
        return busy ? -2 : -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        snprintf(why, whylen, "private/%s: fcntl: %s", transport, strerror(errno));
        close(fd);
        return -1;
    }
    struct qmgr_deliver *c = xcalloc(1, sizeof(*c));
    c->fd = fd;
    c->job = job;
    c->protocol = "delivery";
    c->state = STATE_PROTOCOL;
    snprintf(c->service, sizeof(c->service), "private/%s", transport);
    str_init(&c->out);
    build_request(job, &c->out);
    c->in_max = reply_max_bytes(job);
    c->timer = event_timer(transport_timeout_ms(transport), conn_timeout, c);
    c->next = conns;
    if (conns)
        conns->prev = c;
    conns = c;
    job->conn = c;
    event_add_read(fd, conn_readable, c);
    return 0;
}

int qmgr_request_start(const char *service, const char *protocol, const char *log_id,
                       const attr_list *request, long timeout_ms,
                       qmgr_request_done_fn done, void *ctx, char *why, size_t whylen)
{
    int fd = ipc_connect("private", service, 0);       /* one attempt, no sleeping */
    if (fd < 0) {
        snprintf(why, whylen, "connect to private/%s: %s", service, strerror(errno));
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        snprintf(why, whylen, "private/%s: fcntl: %s", service, strerror(errno));
        close(fd);
        return -1;
    }
    struct qmgr_deliver *c = xcalloc(1, sizeof(*c));
    c->fd = fd;
    c->protocol = protocol;
    c->done = done;
    c->done_ctx = ctx;
    c->state = STATE_PROTOCOL;
    snprintf(c->log_id, sizeof(c->log_id), "%s", log_id);
    snprintf(c->service, sizeof(c->service), "private/%s", service);
    str_init(&c->out);
    attr_encode(request, &c->out);
    c->in_max = REPLY_BASE_BYTES;
    c->timer = event_timer(timeout_ms, conn_timeout, c);
    c->next = conns;
    if (conns)
        conns->prev = c;
    conns = c;
    event_add_read(fd, conn_readable, c);
    return 0;
}

void qmgr_deliver_abort_all(void)
{
    while (conns) {
        struct qmgr_job *job = conns->job;
        conn_close(conns);
        if (job) {
            free(job->rcpt_index);
            free(job);
        }
    }
    free(park_fifo);
    park_fifo = NULL;
    park_count = park_cap = 0;
}
