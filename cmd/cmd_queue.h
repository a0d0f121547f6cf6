/* cmd_queue.h: shared pieces of `postern queue ...` (cmd_queue.c dispatches and holds the
 * helpers below; cmd_queue_show.c show; cmd_queue_ops.c delete/hold/release/flush;
 * cmd_queue_requeue.c requeue; listing is queue_list.c / queue_json.c, shared with mailq).
 *
 * Safety rules every subcommand follows, so it can run while the daemons deliver:
 *  - only atomic renames, unlinks and utimes on queue files; no file is rewritten;
 *  - a file that is not complete (queue_file_ready) is never touched;
 *  - a message in active/ belongs to qmgr: hold and requeue wait (bounded) for it to leave
 *    active/ when named explicitly and skip it for ALL; delete may remove it (qmgr then
 *    finds it gone; recipients in flight may still be delivered, never twice);
 *  - a lookup that races with qmgr moving the file is retried a bounded number of times. */
#ifndef POSTERN_CMD_QUEUE_H
#define POSTERN_CMD_QUEUE_H
#include <stddef.h>

#define QCMD_LOCATE_TRIES 5            /* passes over the queues before "not found" */
#define QCMD_ACTIVE_WAIT_MS 15000      /* how long hold/requeue wait for active/ to drain */

extern const char *qcmd_qdir;           /* $queue_directory */

/* Where a message lives. queue is one of incoming active deferred hold corrupt. */
struct qcmd_loc {
    const char *queue;
    int ready;                          /* complete file (mode 0700) */
};

/* Look for id in the given NULL-terminated list of queues, retrying a few passes in case
 * the file was being moved. 1 found (*loc set), 0 not found, -1 error (message printed). */
int qcmd_locate(const char *id, const char *const *queues, struct qcmd_loc *loc);
/* Like qcmd_locate over incoming/deferred/hold, but when the message is in active/ wait
 * up to QCMD_ACTIVE_WAIT_MS for qmgr to let go of it. 1 found outside active/, 0 not
 * found, -2 still in active/ after the wait, -1 error. */
int qcmd_locate_idle(const char *id, struct qcmd_loc *loc);

/* Parse the operands of an ID...|ALL command: *all = 1 for exactly "ALL". Every other
 * operand must be a valid queue ID; otherwise prints an error and returns -1 (usage). */
int qcmd_parse_ids(int argc, char **argv, int *all);
/* Queue IDs of complete files currently in qdir/queue (strv); NULL on error (printed). */
char **qcmd_ready_ids(const char *queue);

/* Claim a message for hold or requeue by moving it into hold/. ALL (all = 1): look in
 * incoming/deferred/hold and skip active/; a named message: wait for qmgr to let go of it
 * (qcmd_locate_idle). `verb` completes the error texts ("not held", "not requeued").
 * 1 the message is in hold/ now (loc->queue: where it was, "hold" if it was there
 * already), 0 not found (an error is printed unless all), -1 failed (printed). */
int qcmd_claim_hold(const char *id, int all, const char *verb, struct qcmd_loc *loc);

/* Run fn(id, all, ctx) for the operands of an ID...|ALL command (argv[0] is the command;
 * an optional leading "--"): ALL means every complete file in all_queues. Returns the
 * number of failures (fn's returns plus unreadable queues), or -1 after printing
 * "usage: USAGE" for bad operands. */
int qcmd_each_id(int argc, char **argv, const char *usage, const char *const *all_queues,
                 int (*fn)(const char *id, int all, void *ctx), void *ctx);
/* The ALL part alone: fn for every complete file in queues; returns the failures. */
int qcmd_each_ready(const char *const *queues, int (*fn)(const char *id, int all, void *ctx),
                    void *ctx);

/* Remove the per-message logs defer/ID and bounce/ID (missing is fine). */
void qcmd_remove_logs(const char *id);
/* Set the mtime (and atime) of QDIR/QUEUE/ID to now. 0 or -1 (errno). */
int qcmd_touch(const char *queue, const char *id);

int qcmd_list(int argc, char **argv);
int qcmd_show(int argc, char **argv);
int qcmd_delete(int argc, char **argv);
int qcmd_hold(int argc, char **argv);
int qcmd_release(int argc, char **argv);
int qcmd_flush(int argc, char **argv);
int qcmd_requeue(int argc, char **argv);

#endif
