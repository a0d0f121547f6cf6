/* qmgr_entry.c: transports, destinations and the scheduling of delivery jobs.
 *
 * A transport is a master.cf delivery service ("local", "smtp"). Its limits:
 *   max_conns       agent connections at once: the service's master.cf maxproc
 *                   (default $default_process_limit, 0 = unlimited)
 *   rcpt_limit      recipients per request: $<transport>_destination_recipient_limit,
 *                   else $default_destination_recipient_limit
 *   dest_conc_limit $<transport>_destination_concurrency_limit, else
 *                   $default_destination_concurrency_limit
 * A destination is (transport, nexthop). It owns a FIFO of jobs and a concurrency window
 * that starts at $initial_destination_concurrency, grows by one per properly answered
 * request up to the limit and shrinks by one per failed one; at zero the destination is
 * "dead" for $minimal_backoff_time and its jobs are deferred. A transport whose agent
 * cannot be reached is suspended for a short while the same way.
 * qmgr_entry_dispatch() starts jobs round-robin over the destinations with work. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "attr.h"
#include "config.h"
#include "events.h"
#include "log.h"
#include "mastercf.h"
#include "mem.h"
#include "params.h"
#include "qmgr.h"

/* A request carries 3 attributes per recipient plus 6; a reply 3 per recipient plus 1;
 * both must fit in ATTR_MAX_COUNT. */
#define RCPT_LIMIT_MAX ((ATTR_MAX_COUNT - 8) / 3)
#define TRANSPORT_RETRY_MAX_S 60
#define SWEEP_INTERVAL_MS 60000

static struct qmgr_transport *transports;
static struct mastercf master_cf;
static int master_cf_loaded;
static int initial_window;
static long dead_time_s;                 /* how long a dead destination stays dead */
static long long last_sweep_ms;

/* Dests whose `filling` pointer was set while filing the current message. */
static struct qmgr_dest **filling_dests;
static size_t filling_count, filling_cap;

void qmgr_entry_init(void)
{
    char path[4096];
    char *err = NULL;
    snprintf(path, sizeof(path), "%s/master.cf", config_dir() ? config_dir() : ".");
    if (mastercf_load(path, &master_cf, &err) == 0) {
        master_cf_loaded = 1;
    } else {
        msg_warn("%s; using $default_process_limit for every transport", err ? err : path);
        free(err);
    }
    long init = config_int("initial_destination_concurrency");
    initial_window = init < 1 ? 1 : init > 100000 ? 100000 : (int)init;
    dead_time_s = config_time("minimal_backoff_time");
    if (dead_time_s < 1)
        dead_time_s = 1;
    last_sweep_ms = event_now_ms();
}

/* $<transport>_<suffix> when that parameter exists or is set, else $<fallback>. */
static long transport_param(const char *transport, const char *suffix, const char *fallback)
{
    char name[160];
    snprintf(name, sizeof(name), "%s_%s", transport, suffix);
    if (param_find(name) || config_is_set(name))
        return config_int(name);
    return config_int(fallback);
}

/* $<transport>_connection_cache_time_limit in ms when that parameter exists or is set
 * (smtp has it built in), else 0: agent connections of the transport are not parked. */
static long transport_park_ms(const char *transport)
{
    char name[160];
    long secs;

    snprintf(name, sizeof(name), "%s_connection_cache_time_limit", transport);
    if (!param_find(name) && !config_is_set(name))
        return 0;
    secs = config_time(name);
    return secs <= 0 ? 0 : secs > 300 ? 300000 : secs * 1000;
}

static int transport_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 63 || name[0] == '.' || name[0] == '-')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '_' && name[i] != '-'
            && name[i] != '.')
            return 0;
    return 1;
}

static int transport_maxproc(const char *name)
{
    long def = config_int("default_process_limit");
    if (master_cf_loaded) {
        for (int i = 0; i < master_cf.count; i++) {
            const struct mastercf_entry *e = &master_cf.entries[i];
            if (e->type != SVC_UNIX || strcmp(e->service, name) != 0)
                continue;
            if (e->maxproc == 0)
                return 0;
            if (e->maxproc > 0)
                return e->maxproc;
            break;
        }
    }
    return def < 0 ? 0 : def > 1000000 ? 1000000 : (int)def;
}

struct qmgr_transport *qmgr_transport_find(const char *name)
{
    for (struct qmgr_transport *t = transports; t; t = t->next)
        if (strcmp(t->name, name) == 0)
            return t;
    if (!transport_name_valid(name)) {
        msg_warn("invalid transport name \"%.64s\" from address resolution", name);
        return NULL;
    }
    struct qmgr_transport *t = xcalloc(1, sizeof(*t));
    t->name = xstrdup(name);
    t->max_conns = transport_maxproc(name);
    long rl = transport_param(name, "destination_recipient_limit",
                              "default_destination_recipient_limit");
    t->rcpt_limit = rl < 1 ? 1 : rl > RCPT_LIMIT_MAX ? RCPT_LIMIT_MAX : (int)rl;
    long cl = transport_param(name, "destination_concurrency_limit",
                              "default_destination_concurrency_limit");
    t->dest_conc_limit = cl < 1 ? 1 : cl > 100000 ? 100000 : (int)cl;
    t->park_ms = transport_park_ms(name);
    t->nbuckets = 256;
    t->buckets = xcalloc(t->nbuckets, sizeof(*t->buckets));
    t->next = transports;
    transports = t;
    msg_debug("transport %s: max_conns=%d rcpt_limit=%d dest_concurrency=%d",
              t->name, t->max_conns, t->rcpt_limit, t->dest_conc_limit);
    return t;
}

static size_t hash_nexthop(const char *s, size_t nbuckets)
{
    unsigned long h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)tolower((unsigned char)*s)) * 16777619u;
    return h % nbuckets;
}

static int dest_window_start(const struct qmgr_transport *t)
{
    return initial_window < t->dest_conc_limit ? initial_window : t->dest_conc_limit;
}

struct qmgr_dest *qmgr_dest_find(struct qmgr_transport *t, const char *nexthop)
{
    size_t b = hash_nexthop(nexthop, t->nbuckets);
    for (struct qmgr_dest *d = t->buckets[b]; d; d = d->hash_next)
        if (strcasecmp(d->nexthop, nexthop) == 0)
            return d;
    struct qmgr_dest *d = xcalloc(1, sizeof(*d));
    d->transport = t;
    d->nexthop = xstrdup(nexthop);
    d->window = dest_window_start(t);
    d->hash_next = t->buckets[b];
    t->buckets[b] = d;
    return d;
}

static void dest_free(struct qmgr_dest *d)
{
    struct qmgr_transport *t = d->transport;
    struct qmgr_dest **pp = &t->buckets[hash_nexthop(d->nexthop, t->nbuckets)];
    while (*pp && *pp != d)
        pp = &(*pp)->hash_next;
    if (*pp)
        *pp = d->hash_next;
    free(d->dead_reason);
    free(d->nexthop);
    free(d);
}

/* Free a destination that holds nothing worth remembering. */
static void dest_maybe_free(struct qmgr_dest *d, long long now)
{
    if (!d->queue_head && d->active == 0 && !d->on_ready_list && !d->filling
        && !d->parked && d->dead_until_ms <= now)
        dest_free(d);
}

static void ready_add(struct qmgr_dest *d)
{
    struct qmgr_transport *t = d->transport;
    if (d->on_ready_list)
        return;
    d->on_ready_list = 1;
    d->ready_next = NULL;
    d->ready_prev = t->ready_tail;
    if (t->ready_tail)
        t->ready_tail->ready_next = d;
    else
        t->ready_head = d;
    t->ready_tail = d;
}

static void ready_remove(struct qmgr_dest *d)
{
    struct qmgr_transport *t = d->transport;
    if (!d->on_ready_list)
        return;
    if (d->ready_prev)
        d->ready_prev->ready_next = d->ready_next;
    else
        t->ready_head = d->ready_next;
    if (d->ready_next)
        d->ready_next->ready_prev = d->ready_prev;
    else
        t->ready_tail = d->ready_prev;
    d->ready_prev = d->ready_next = NULL;
    d->on_ready_list = 0;
}

void qmgr_entry_add_rcpt(struct qmgr_message *msg, struct qmgr_dest *d, int ri)
{
    struct qmgr_job *job = d->filling;
    if (!job || job->msg != msg || job->nrcpt >= d->transport->rcpt_limit) {
        if (!d->filling) {
            if (filling_count == filling_cap) {
                filling_cap = filling_cap ? filling_cap * 2 : 16;
                filling_dests = xrealloc(filling_dests, filling_cap * sizeof(*filling_dests));
            }
            filling_dests[filling_count++] = d;
        }
        job = xcalloc(1, sizeof(*job));
        job->msg = msg;
        job->dest = d;
        msg->jobs_pending++;
        if (d->queue_tail)
            d->queue_tail->next = job;
        else
            d->queue_head = job;
        d->queue_tail = job;
        d->filling = job;
        ready_add(d);
    }
    /* grow the index array at powers of two */
    if ((job->nrcpt & (job->nrcpt - 1)) == 0)
        job->rcpt_index = xrealloc(job->rcpt_index,
                                   (size_t)(job->nrcpt ? job->nrcpt * 2 : 1) * sizeof(int));
    job->rcpt_index[job->nrcpt++] = ri;
}

void qmgr_entry_message_filed(struct qmgr_message *msg)
{
    (void)msg;
    for (size_t i = 0; i < filling_count; i++)
        filling_dests[i]->filling = NULL;
    filling_count = 0;
}

static struct qmgr_job *dest_pop(struct qmgr_dest *d)
{
    struct qmgr_job *job = d->queue_head;
    if (job) {
        d->queue_head = job->next;
        if (!d->queue_head)
            d->queue_tail = NULL;
        job->next = NULL;
    }
    return job;
}

/* Defer every queued job of d with `reason`. */
static void dest_defer_queued(struct qmgr_dest *d, const char *reason)
{
    struct qmgr_job *job;
    ready_remove(d);
    while ((job = dest_pop(d)) != NULL) {
        job->started_ms = event_now_ms();
        qmgr_message_defer_job(job, "4.3.0", reason);
        qmgr_message_job_done(job);
    }
}

void qmgr_entry_transport_dead(struct qmgr_transport *t, const char *why)
{
    long secs = dead_time_s < TRANSPORT_RETRY_MAX_S ? dead_time_s : TRANSPORT_RETRY_MAX_S;
    t->dead_until_ms = event_now_ms() + secs * 1000LL;
    free(t->dead_reason);
    t->dead_reason = xasprintf("delivery temporarily suspended: %s", why);
    msg_warn("transport %s: %s; suspended for %lds", t->name, why, secs);
}

void qmgr_entry_job_finished(struct qmgr_job *job, int ok, const char *why)
{
    struct qmgr_dest *d = job->dest;
    struct qmgr_transport *t = d->transport;
    d->active--;
    t->active_conns--;
    qmgr_conns_total--;
    if (ok) {
        if (d->window < t->dest_conc_limit)
            d->window++;
        return;
    }
    if (--d->window <= 0) {
        d->window = dest_window_start(t);
        d->dead_until_ms = event_now_ms() + dead_time_s * 1000LL;
        free(d->dead_reason);
        d->dead_reason = xasprintf("delivery temporarily suspended: %s", why);
        msg_warn("%s destination %s: %s; suspended for %lds",
                 t->name, d->nexthop, why, dead_time_s);
    }
}

/* Another dest of t is waiting for a connection slot that only a finishing job frees. */
static int others_waiting(const struct qmgr_transport *t, const struct qmgr_dest *d)
{
    if ((t->max_conns == 0 || t->active_conns < t->max_conns - 1)
        && qmgr_conns_total < qmgr_conns_max - 1)
        return 0;                           /* spare slots: the dispatcher serves them */
    for (const struct qmgr_dest *o = t->ready_head; o; o = o->ready_next)
        if (o != d && o->active < o->window)
            return 1;
    return 0;
}

int qmgr_entry_may_park(struct qmgr_dest *d)
{
    struct qmgr_transport *t = d->transport;
    long long now = event_now_ms();

    return t->park_ms > 0 && d->dead_until_ms <= now && t->dead_until_ms <= now
           && !others_waiting(t, d);
}

struct qmgr_job *qmgr_entry_take_next(struct qmgr_dest *d)
{
    struct qmgr_transport *t = d->transport;
    long long now = event_now_ms();
    struct qmgr_job *job;

    if (!d->queue_head || d->active >= d->window || d->dead_until_ms > now
        || t->dead_until_ms > now || d->queue_head == d->filling || others_waiting(t, d))
        return NULL;
    job = dest_pop(d);
    if (!d->queue_head)
        ready_remove(d);
    job->started_ms = now;
    d->active++;
    t->active_conns++;
    qmgr_conns_total++;
    return job;
}

/* Start one job of d. Returns 1 if started, 0 if the connect failed (job deferred and
 * the transport suspended), -1 if the agent is momentarily overloaded (job requeued). */
static int start_job(struct qmgr_dest *d, long long now)
{
    struct qmgr_transport *t = d->transport;
    struct qmgr_job *job = dest_pop(d);
    job->started_ms = now;
    d->active++;
    t->active_conns++;
    qmgr_conns_total++;
    char why[512];
    int rc = qmgr_deliver_start(job, why, sizeof(why));
    if (rc == 0)
        return 1;
    d->active--;
    t->active_conns--;
    qmgr_conns_total--;
    if (rc == -2) {                         /* put it back in front; retry next round */
        job->next = d->queue_head;
        d->queue_head = job;
        if (!d->queue_tail)
            d->queue_tail = job;
        msg_warn("%s; will retry", why);
        return -1;
    }
    qmgr_entry_transport_dead(t, why);
    qmgr_message_defer_job(job, "4.3.0", t->dead_reason);
    qmgr_message_job_done(job);
    return 0;
}

static void sweep_idle_dests(long long now)
{
    for (struct qmgr_transport *t = transports; t; t = t->next)
        for (size_t b = 0; b < t->nbuckets; b++) {
            struct qmgr_dest *d = t->buckets[b];
            while (d) {
                struct qmgr_dest *next = d->hash_next;
                dest_maybe_free(d, now);
                d = next;
            }
        }
}

/* Room for another job of d: a free slot of the transport (and a descriptor), d's own
 * parked connection, or a slot freed by closing another destination's parked one. */
static int slot_for(struct qmgr_transport *t, struct qmgr_dest *d, long long now)
{
    int transport_full = t->max_conns > 0 && t->active_conns >= t->max_conns;
    int fds_full = qmgr_conns_total >= qmgr_conns_max;

    if (d->parked || (!transport_full && !fds_full))
        return 1;
    if (d->active >= d->window || d->dead_until_ms > now)
        return 1;                           /* it will not start now: let it pass */
    if (transport_full && !qmgr_deliver_close_parked(t))
        return 0;
    if (fds_full && !qmgr_deliver_close_parked(NULL))
        return 0;
    return 1;
}

static void dispatch_transport(struct qmgr_transport *t, long long now)
{
    if (t->dead_until_ms > now) {
        while (t->ready_head)
            dest_defer_queued(t->ready_head, t->dead_reason);
        return;
    }
    int progress = 1;
    while (progress && t->ready_head) {
        progress = 0;
        /* one round: every dest that has work gets at most one new job */
        struct qmgr_dest *stop = t->ready_tail;
        for (;;) {
            struct qmgr_dest *d = t->ready_head;
            if (!d)
                break;
            if (!slot_for(t, d, now))
                return;
            int last = d == stop;
            ready_remove(d);
            if (d->dead_until_ms > now) {
                dest_defer_queued(d, d->dead_reason);
            } else if (d->active < d->window) {
                int started = start_job(d, now);
                if (started < 0) {             /* agent overloaded: later */
                    ready_add(d);
                    return;
                }
                if (started == 0) {            /* transport suspended */
                    if (d->queue_head)
                        ready_add(d);
                    while (t->ready_head)
                        dest_defer_queued(t->ready_head, t->dead_reason);
                    return;
                }
                progress = 1;
                if (d->queue_head)
                    ready_add(d);
            } else {
                ready_add(d);                   /* window full: try next round */
            }
            if (last)
                break;
        }
    }
}

void qmgr_entry_dispatch(void)
{
    long long now = event_now_ms();
    for (struct qmgr_transport *t = transports; t; t = t->next)
        if (t->ready_head)
            dispatch_transport(t, now);
    if (now - last_sweep_ms >= SWEEP_INTERVAL_MS) {
        last_sweep_ms = now;
        sweep_idle_dests(now);
    }
}

void qmgr_entry_free_all(void)
{
    while (transports) {
        struct qmgr_transport *t = transports;
        transports = t->next;
        for (size_t b = 0; b < t->nbuckets; b++)
            while (t->buckets[b]) {
                struct qmgr_dest *d = t->buckets[b];
                struct qmgr_job *job;
                while ((job = dest_pop(d)) != NULL) {   /* messages are already freed */
                    free(job->rcpt_index);
                    free(job);
                }
                t->buckets[b] = d->hash_next;
                free(d->dead_reason);
                free(d->nexthop);
                free(d);
            }
        free(t->buckets);
        free(t->dead_reason);
        free(t->name);
        free(t);
    }
    free(filling_dests);
    filling_dests = NULL;
    filling_count = filling_cap = 0;
    if (master_cf_loaded)
        mastercf_free(&master_cf);
    master_cf_loaded = 0;
}
