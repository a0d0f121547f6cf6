/* qmgr.h: the queue manager's internal data model, shared by the qmgr_*.c files only.
 *
 *   message   one queue file in active/, its envelope in memory (qmgr_message.c)
 *   transport one master.cf delivery service ("local", "smtp") with its process limit
 *   dest      one (transport, nexthop) pair: a FIFO of jobs and a concurrency window
 *             (qmgr_entry.c)
 *   job       one delivery request: some recipients of one message for one dest;
 *             while it runs it owns one agent connection (qmgr_deliver.c)
 *
 * Flow: qmgr_scan.c moves files incoming|deferred -> active and calls
 * qmgr_message_activate(); that reads the envelope and files the recipients as jobs on
 * their dests; qmgr_entry_dispatch() starts jobs within the limits; each finished job
 * reports per-recipient results back to its message (qmgr_message_job_done()); when the
 * last job of a message is done the message is removed or deferred (qmgr_defer.c). */
#ifndef POSTERN_QMGR_H
#define POSTERN_QMGR_H
#include <stddef.h>
#include <time.h>
#include "attr.h"
#include "qfile.h"
#include "queue.h"
#include "str.h"

struct qmgr_job;
struct qmgr_dest;
struct qmgr_deliver;

/* Per-recipient outcome recorded while the message is in the active queue. */
enum qmgr_rcpt_state { RCPT_TODO = 0, RCPT_DONE, RCPT_DEFERRED };

struct qmgr_message {
    char id[QUEUE_ID_MAX];
    struct qfile_env env;
    unsigned char *rcpt_state;     /* enum qmgr_rcpt_state per env.rcpts[i] */
    long long active_since_ms;     /* event_now_ms() when it entered active/ */
    int jobs_pending;              /* jobs not finished yet */
    int deferred_count;            /* recipients deferred in this pass */
    int notifying;                 /* waiting for the bounce service (qmgr_bounce.c) */
    int notify_failed;             /* the non-delivery notification failed this pass */
    struct qmgr_message *prev, *next;
};

struct qmgr_transport {
    char *name;                    /* master.cf service name, validated */
    int max_conns;                 /* agent connections at once (master.cf maxproc) */
    int active_conns;
    int rcpt_limit;                /* recipients per delivery request */
    int dest_conc_limit;           /* per-destination concurrency limit */
    long long dead_until_ms;       /* connect failed: defer new jobs until then */
    char *dead_reason;
    struct qmgr_dest **buckets;    /* hash of dests by nexthop */
    size_t nbuckets;
    struct qmgr_dest *ready_head, *ready_tail;  /* dests that have queued jobs */
    long park_ms;                  /* $<name>_connection_cache_time_limit; 0: never park */
    int parked;                    /* parked agent connections (in active_conns too) */
    struct qmgr_transport *next;
};

struct qmgr_dest {
    struct qmgr_transport *transport;
    char *nexthop;
    int window;                    /* concurrency window (initial..limit) */
    int active;                    /* running jobs */
    long long dead_until_ms;       /* window collapsed: defer new jobs until then */
    char *dead_reason;
    struct qmgr_job *queue_head, *queue_tail;   /* jobs waiting to run */
    struct qmgr_job *filling;      /* job of the message being filed, may take more rcpts */
    int on_ready_list;
    struct qmgr_deliver *parked;   /* idle agent connections kept for this dest */
    struct qmgr_dest *ready_prev, *ready_next;
    struct qmgr_dest *hash_next;
};

struct qmgr_job {
    struct qmgr_message *msg;
    struct qmgr_dest *dest;
    int *rcpt_index;               /* indexes into msg->env.rcpts */
    int nrcpt;
    long long started_ms;
    struct qmgr_job *next;         /* in dest queue */
    struct qmgr_deliver *conn;     /* while running */
};

/* ---- qmgr.c: global state and settings ---- */
extern const char *qmgr_qdir;      /* $queue_directory */
extern int qmgr_active_limit;      /* $qmgr_message_active_limit */
extern int qmgr_message_count;     /* messages in memory */
extern int qmgr_conns_total;       /* agent connections open */
extern int qmgr_conns_max;         /* bound from RLIMIT_NOFILE */
void qmgr_request_scan(void);      /* scan incoming/ (and due deferred/) soon */
/* A message went to deferred/ with this retry time (event_now_ms() clock). */
void qmgr_note_retry_time(long long when_ms);

/* ---- qmgr_scan.c ---- */
void qmgr_scan_recover_active(void);           /* start-up: active/ -> incoming/ */
/* Scan incoming/; returns 1 if something there was left for later (limit, not ready). */
int qmgr_scan_incoming(void);
/* Scan deferred/ for due files; returns the ms time of the next known retry (or -1). */
long long qmgr_scan_deferred(int *left_behind);

/* ---- qmgr_message.c ---- */
/* `id` was just moved into active/: read it and file its recipients. */
void qmgr_message_activate(const char *id);
/* Record the outcome of job recipient j (index into job->rcpt_index). */
void qmgr_message_rcpt_done(struct qmgr_job *job, int j);          /* sent or bounced */
void qmgr_message_rcpt_deferred(struct qmgr_job *job, int j, const char *dsn,
                                const char *reason);
/* qmgr_deferlog.c: defer/ID, the reasons shown by the queue commands */
/* Append one recipient entry (recipient, dsn, reason, and action unless NULL) to
 * $queue_directory/LOG/ID (LOG "defer" or "bounce"); failures are logged with
 * `consequence` appended to the warning. */
void qmgr_rcpt_log_append(const char *log, const char *id, const char *rcpt, const char *dsn,
                          const char *reason, const char *action, const char *consequence);
void qmgr_defer_log_add(const char *id, const char *rcpt, const char *dsn, const char *reason);
void qmgr_defer_log_remove(const char *id);
/* Log + defer every recipient of a job that could not be delivered. */
void qmgr_message_defer_job(struct qmgr_job *job, const char *dsn, const char *reason);
/* Called once per job when it has finished; frees the job. */
void qmgr_message_job_done(struct qmgr_job *job);
void qmgr_message_free_all(void);

/* ---- qmgr_defer.c ---- */
long qmgr_backoff_seconds(long age);
/* Message finished with deferred recipients (or a notification still to send): set the
 * retry time and move it to deferred/. Logs what it did. */
void qmgr_defer_message(struct qmgr_message *msg);
/* If msg is older than its queue lifetime, turn its deferred recipients into bounces
 * ("expired", 4.4.7; bounce_add + marked done, deferred_count becomes 0). 1 if it did. */
int qmgr_expire_message(struct qmgr_message *msg);

/* ---- qmgr_entry.c ---- */
void qmgr_entry_init(void);
struct qmgr_transport *qmgr_transport_find(const char *name);
struct qmgr_dest *qmgr_dest_find(struct qmgr_transport *t, const char *nexthop);
/* Add recipient index `ri` of msg to its dest, creating a job as needed. */
void qmgr_entry_add_rcpt(struct qmgr_message *msg, struct qmgr_dest *d, int ri);
/* Close the jobs being filled for msg (after all its recipients were filed). */
void qmgr_entry_message_filed(struct qmgr_message *msg);
/* Start as many queued jobs as the limits allow. */
void qmgr_entry_dispatch(void);
/* An agent connection of d just finished a job properly: the next job of d it should
 * take over the same connection (counted as running), or NULL when d has none ready, is
 * suspended, or other destinations of the transport wait for a connection slot. */
struct qmgr_job *qmgr_entry_take_next(struct qmgr_dest *d);
/* 1 if an agent connection of d that has no next job may be parked (kept open, idle)
 * for d's next mail: the transport parks, d is not suspended, and no other destination
 * waits for the slot. */
int qmgr_entry_may_park(struct qmgr_dest *d);
/* A running job finished: adjust windows; ok = the agent answered properly. */
void qmgr_entry_job_finished(struct qmgr_job *job, int ok, const char *why);
/* The transport's agent could not be reached. */
void qmgr_entry_transport_dead(struct qmgr_transport *t, const char *why);
void qmgr_entry_free_all(void);

/* ---- qmgr_deliver.c ---- */
/* Connect to the job's agent and run the request in the event loop. On a connect
 * failure returns -1 with a reason in why (caller defers), -2 when the failure is
 * momentary overload (listen backlog full, out of descriptors: caller retries later);
 * otherwise 0 and the job completes later through qmgr_entry_job_finished() +
 * qmgr_message_job_done(). */
int qmgr_deliver_start(struct qmgr_job *job, char *why, size_t whylen);
void qmgr_deliver_abort_all(void);
/* Close the oldest parked agent connection of transport t (any transport when t is
 * NULL) to free its slot. 1 if one was closed. */
int qmgr_deliver_close_parked(const struct qmgr_transport *t);
/* A one-shot request to another private service over the same machinery: connect (one
 * attempt), expect "protocol=PROTOCOL", send `request`, read one reply list. Later calls
 * done(ctx, reply, NULL) or done(ctx, NULL, why) exactly once, unless qmgr shuts down
 * first (qmgr_deliver_abort_all drops it silently). Returns -1 (why set, done is not
 * called) when the connect fails at once. */
typedef void (*qmgr_request_done_fn)(void *ctx, const attr_list *reply, const char *failure);
int qmgr_request_start(const char *service, const char *protocol, const char *log_id,
                       const attr_list *request, long timeout_ms,
                       qmgr_request_done_fn done, void *ctx, char *why, size_t whylen);

/* ---- qmgr_bounce.c: non-delivery notifications (bounce/ID + the bounce service) ---- */
/* Append "recipient dsn reason action=failed" to $queue_directory/bounce/ID. Call
 * before the recipient is marked done. */
void bounce_add(const char *queue_id, const char *rcpt, const char *dsn, const char *reason);
/* 1 if bounce/ID exists (some recipient failed and nobody was told yet). */
int qmgr_bounce_pending(const char *queue_id);
/* Ask the bounce service to notify the sender about bounce/ID. Later calls
 * qmgr_message_notified(m, ok). Returns -1 (logged) if the request could not start. */
int qmgr_bounce_notify(struct qmgr_message *m);
void qmgr_bounce_log_remove(const char *queue_id);
/* qmgr_message.c: the notification for m ended (ok: bounce/ID can go). */
void qmgr_message_notified(struct qmgr_message *m, int ok);
/* Ask the bounce service for a delay warning about defer/ID ("kind=delay"). Later calls
 * qmgr_delay_notified(m, ok). Returns -1 (logged) if the request could not start. */
int qmgr_delay_notify(struct qmgr_message *m);

/* ---- qmgr_delay.c: delay warnings after $delay_warning_time ---- */
/* 1 if m (finishing with deferred recipients) should get a delay warning now: the
 * feature is on, the sender is not null, the message is old enough and defer/ID holds no
 * "warned" marker yet. */
int qmgr_delay_warning_due(const struct qmgr_message *m);
/* The warning was sent: append the "warned=1" marker to defer/ID (fsynced). */
void qmgr_delay_mark_warned(const struct qmgr_message *m);
/* qmgr_message.c: the delay warning request ended (ok: it was sent). */
void qmgr_delay_notified(struct qmgr_message *m, int ok);
/* qmgr_message.c: mark recipient ri of m done in its queue file. */
void qmgr_message_mark_done(struct qmgr_message *m, int ri);

/* ---- qmgr_log.c ---- */
/* Copy s into out with control characters and non-ASCII replaced by '?' (log safety). */
void qmgr_printable(str *out, const char *s);
/* Log a per-recipient line for a status decided by qmgr itself (deferred by qmgr,
 * expired): "ID: to=<..>, relay=none, delay=.., delays=.., dsn=.., status=STATUS (why)". */
void qmgr_log_rcpt(const struct qmgr_message *msg, int ri, long long started_ms,
                   const char *dsn, const char *status, const char *reason);

#endif
