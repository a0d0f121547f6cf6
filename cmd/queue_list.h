/* queue_list.h: walking the message queues and printing them, mailq-style or as JSON.
 * Used by `sendmail -bp` / `mailq` and by `postern queue list [--json]`. Queue files
 * are read with lib/qfile.h and trusted no more than any other input: files that are not
 * complete (still being written) are skipped, malformed ones are reported and skipped.
 * Defer reasons come from the per-message defer log (queue_defer_log.h) when there is one. */
#ifndef POSTERN_QUEUE_LIST_H
#define POSTERN_QUEUE_LIST_H
#include <stdio.h>
#include <time.h>

#define QUEUE_LIST_MAX_FILES 1000000     /* per queue directory */

struct queue_list_rcpt {
    const char *address;
    int done;                   /* D record: delivered or bounced already */
    const char *dsn;            /* from the defer log, or NULL */
    const char *reason;         /* from the defer log, or NULL */
};

struct queue_entry {
    const char *queue;          /* "incoming", "active", "deferred", "hold" */
    const char *id;
    long size;                  /* message size from the C record */
    time_t arrival;
    const char *sender;         /* "" = null sender */
    const struct queue_list_rcpt *rcpts;   /* every recipient, in queue-file order */
    int rcpt_count;
    int pending_count;          /* recipients not done */
};

/* Called once per readable complete queue file, in queue order then queue ID order.
 * Return nonzero to stop the walk. */
typedef int (*queue_list_fn)(const struct queue_entry *e, void *ctx);
/* Called for a file that cannot be listed (I/O error or malformed). */
typedef void (*queue_list_err_fn)(const char *queue, const char *id, const char *why, void *ctx);

/* The queues that are walked, in order: incoming, active, deferred, hold, NULL. */
extern const char *const queue_list_queues[];

/* Sorted valid queue IDs in qdir/queue (strv, free with strv_free); NULL with errno on
 * failure. At most QUEUE_LIST_MAX_FILES names. */
char **queue_list_ids(const char *qdir, const char *queue, size_t *count);

/* The error line for a file that cannot be listed: "PROG: QUEUE/ID: cannot list: WHY",
 * with why made safe for a terminal. For the printers' queue_list_err_fn callbacks. */
void queue_list_report_problem(FILE *err, const char *prog, const char *queue, const char *id,
                               const char *why);

/* Walk incoming, active, deferred and hold under qdir. Returns the number of entries
 * passed to fn, or -1 if a queue directory cannot be read (errno set; *failed_queue
 * names it). */
long queue_list_walk(const char *qdir, queue_list_fn fn, queue_list_err_fn efn, void *ctx,
                     const char **failed_queue);

/* Print the Postfix-mailq-like listing to fp ("Mail queue is empty" when empty):
 *   -Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------
 *   ID[*!]      SIZE     Www Mmm dd hh:mm:ss  sender
 *                                             (defer reason, when known)
 *                                             recipient...
 * '*' marks active, '!' hold; only recipients not yet done are shown. Problems go to err,
 * prefixed with `prog`. Returns 0, or -1 on a queue directory that cannot be read. */
int queue_list_print(FILE *fp, FILE *err, const char *qdir);
int queue_list_print_as(FILE *fp, FILE *err, const char *qdir, const char *prog);

/* Print a JSON array with one object per message:
 *   {"id":..,"queue":..,"size":N,"arrival":SECONDS,"sender":..,
 *    "recipients":[{"address":..,"status":"done"|"deferred"|"pending",
 *                   "dsn":..|null,"reason":..|null}]}
 * Strings are escaped; bytes that are not valid UTF-8 become U+FFFD. Same return
 * convention as queue_list_print. */
int queue_list_print_json(FILE *fp, FILE *err, const char *qdir, const char *prog);

/* Write s as a JSON string literal (quotes included). */
void queue_json_string(FILE *fp, const char *s);
/* Print an untrusted string for a terminal: anything outside printable ASCII -> '?'. */
void queue_put_safe(FILE *fp, const char *s);

#endif
