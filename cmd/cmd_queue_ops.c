/* cmd_queue_ops.c: `postern queue delete|hold|release|flush`: moving and removing queue
 * files by name with atomic renames and unlinks only (safety rules in cmd_queue.h).
 *   delete [--deferred] ID...|ALL  unlink from incoming/active/deferred/hold (--deferred:
 *                                  deferred only) plus the defer/ and bounce/ logs
 *   hold ID...|ALL                 incoming|deferred -> hold (qmgr never scans hold/)
 *   release ID...|ALL              hold -> deferred with mtime = now, then ask qmgr to
 *                                  scan deferred/ (request=flush)
 *   flush                          every deferred file: mtime (the retry time) = now,
 *                                  then request=flush: qmgr scans deferred/ at once
 * Each action on a message is logged "ID: ... (by postern queue CMD)". Exit status: 0, 1 if
 * any named message was unknown or could not be handled, 2 for usage errors. */
#define _GNU_SOURCE 1
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "cmd_queue.h"
#include "ipc.h"
#include "log.h"
#include "mem.h"
#include "queue.h"
#include "str.h"

static const char *const every_queue[] = { "incoming", "active", "deferred", "hold", NULL };
static const char *const deferred_queue[] = { "deferred", NULL };
static const char *const hold_queue[] = { "hold", NULL };

/* ---- delete ---- */

/* Remove one message from the queues it may be in. all = 1: not finding it is fine (it
 * was delivered or removed since the directory was read). Returns 0 or 1 (failure). */
static int delete_one(const char *id, int all, void *ctx)
{
    const char *const *queues = ctx;
    struct qcmd_loc loc;

    for (int tries = 0; tries < QCMD_LOCATE_TRIES; tries++) {
        int rc = qcmd_locate(id, queues, &loc);
        if (rc < 0)
            return 1;
        if (rc == 0)
            break;
        if (!loc.ready) {
            cmd_error("%s: the queue file is still being written; not deleted", id);
            return 1;
        }
        if (queue_remove(qcmd_qdir, loc.queue, id) == 0) {
            qcmd_remove_logs(id);
            msg_info("%s: removed (by postern queue delete)", id);
            return 0;
        }
        if (errno != ENOENT) {
            cmd_error("%s: cannot remove %s/%s: %s", id, loc.queue, id, strerror(errno));
            return 1;
        }
    }
    if (all)
        return 0;
    cmd_error("%s: no such message in the %s", id,
              queues == deferred_queue ? "deferred queue" : "queue");
    return 1;
}

int qcmd_delete(int argc, char **argv)
{
    const char *const *queues = every_queue;
    char **ops = xcalloc((size_t)argc + 1, sizeof(char *));
    int nops = 0, all, failed = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--deferred") == 0)
            queues = deferred_queue;
        else if (strcmp(argv[i], "--") != 0 || nops > 0)
            ops[nops++] = argv[i];
    }
    if (qcmd_parse_ids(nops, ops, &all) != 0) {
        free(ops);
        cmd_error("usage: postern queue delete [--deferred] ID...|ALL");
        return CMD_ERROR;
    }
    if (all)
        failed = qcmd_each_ready(queues, delete_one, (void *)queues);
    else
        for (int i = 0; i < nops; i++)
            failed += delete_one(ops[i], 0, (void *)queues);
    free(ops);
    return failed ? CMD_FAIL : CMD_OK;
}

/* ---- hold ---- */

static int hold_one(const char *id, int all, void *ctx)
{
    struct qcmd_loc loc;
    (void)ctx;

    int rc = qcmd_claim_hold(id, all, "held", &loc);
    if (rc == 1 && strcmp(loc.queue, "hold") != 0)
        msg_info("%s: placed on hold (by postern queue hold)", id);
    return rc < 0 || (rc == 0 && !all);
}

/* ---- release ---- */

static int release_one(const char *id, int all, void *ctx)
{
    struct qcmd_loc loc;
    int *released = ctx;

    int rc = qcmd_locate(id, hold_queue, &loc);
    if (rc < 0)
        return 1;
    if (rc == 0) {
        if (all)
            return 0;
        if (qcmd_locate(id, every_queue, &loc) == 1)
            cmd_error("%s: not on hold (it is in the %s queue)", id, loc.queue);
        else
            cmd_error("%s: no such message in the queue", id);
        return 1;
    }
    /* the retry time is the mtime: due now. Set it before the rename so qmgr never sees
     * the file in deferred/ with an old hold-time mtime in the future. */
    if (qcmd_touch("hold", id) < 0 && errno != ENOENT)
        msg_warn("%s: set retry time: %s", id, strerror(errno));
    if (queue_move(qcmd_qdir, "hold", "deferred", id) < 0) {
        if (errno == ENOENT && all)
            return 0;
        cmd_error("%s: cannot move hold/%s to deferred/: %s", id, id, strerror(errno));
        return 1;
    }
    msg_info("%s: released from hold (by postern queue release)", id);
    (*released)++;
    return 0;
}

int qcmd_hold(int argc, char **argv)
{
    static const char *const holdable[] = { "incoming", "deferred", NULL };
    int failed = qcmd_each_id(argc, argv, "postern queue hold ID...|ALL", holdable, hold_one, NULL);
    return failed < 0 ? CMD_ERROR : failed ? CMD_FAIL : CMD_OK;
}

int qcmd_release(int argc, char **argv)
{
    int released = 0;
    int failed = qcmd_each_id(argc, argv, "postern queue release ID...|ALL", hold_queue,
                            release_one, &released);
    if (released)
        ipc_flush_qmgr();                /* released files are due now: scan deferred/ */
    return failed < 0 ? CMD_ERROR : failed ? CMD_FAIL : CMD_OK;
}

/* ---- flush ---- */

int qcmd_flush(int argc, char **argv)
{
    int moved = 0, failed = 0;
    (void)argv;

    if (argc != 1) {
        cmd_error("usage: postern queue flush");
        return CMD_ERROR;
    }
    char **ids = qcmd_ready_ids("deferred");
    if (ids == NULL)
        return CMD_FAIL;
    /* Due now: mtime = now (the retry time qmgr's deferred scan compares), then ask qmgr
     * to scan deferred/ at once (request=flush). A file qmgr took meanwhile gives ENOENT. */
    for (int i = 0; ids[i]; i++) {
        if (qcmd_touch("deferred", ids[i]) == 0)
            moved++;
        else if (errno != ENOENT) {
            cmd_error("%s: cannot set the retry time: %s", ids[i], strerror(errno));
            failed++;
        }
    }
    strv_free(ids);
    if (moved)
        msg_info("flush: %d deferred message%s scheduled for delivery now "
                 "(by postern queue flush)", moved, moved == 1 ? "" : "s");
    ipc_flush_qmgr();
    return failed ? CMD_FAIL : CMD_OK;
}
