/* queue_list.h: walking the message queues and printing a mailq-style listing. Used by
 * `sendmail -bp` / `mailq` now, meant to be reused by `postern queue list`. Queue files
 * are read with lib/qfile.h and trusted no more than any other input: files that are not
 * complete (still being written) are skipped, malformed ones are reported and skipped. */
#ifndef POSTERN_QUEUE_LIST_H
#define POSTERN_QUEUE_LIST_H
#include <stdio.h>
#include <time.h>

#define QUEUE_LIST_MAX_FILES 1000000     /* per queue directory */

struct queue_entry {
    const char *queue;          /* "incoming", "active", "deferred", "hold" */
    const char *id;
    long size;                  /* message size from the C record */
    time_t arrival;
    const char *sender;         /* "" = null sender */
    char **rcpts;               /* recipients still to do (D records left out) */
    int rcpt_count;
};

/* Called once per readable complete queue file, in queue order then queue ID order.
 * Return nonzero to stop the walk. */
typedef int (*queue_list_fn)(const struct queue_entry *e, void *ctx);
/* Called for a file that cannot be listed (I/O error or malformed). */
typedef void (*queue_list_err_fn)(const char *queue, const char *id, const char *why, void *ctx);

/* Walk incoming, active, deferred and hold under qdir. Returns the number of entries
 * passed to fn, or -1 if a queue directory cannot be read (errno set; *failed_queue
 * names it). */
long queue_list_walk(const char *qdir, queue_list_fn fn, queue_list_err_fn efn, void *ctx,
                     const char **failed_queue);

/* Print the Postfix-mailq-like listing to fp ("Mail queue is empty" when empty):
 *   -Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------
 *   ID[*!]      SIZE     Www Mmm dd hh:mm:ss  sender
 *                                             recipient...
 * '*' marks active, '!' hold. Problems go to err. Returns 0, or -1 on a queue
 * directory that cannot be read (message printed to err). */
int queue_list_print(FILE *fp, FILE *err, const char *qdir);

#endif
