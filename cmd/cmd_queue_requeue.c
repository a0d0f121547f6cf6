/* cmd_queue_requeue.c: `postern queue requeue ID...|ALL`: runs a message through cleanup
 * again (new queue ID, header processing redone), e.g. after a configuration change.
 *
 * Safe against qmgr and crashes: the message is first claimed by an atomic rename into
 * hold/ (qmgr never takes files from there, and a message in active/ is waited for or, for
 * ALL, skipped). It is then read with lib/qfile.h and submitted with lib/submit.h: the
 * attributes cleanup accepts, the sender, the recipients not yet done (with their original
 * addresses) and the content lines. Only after cleanup reports the new file committed is
 * the old one unlinked. On any failure the old file goes back to the queue it came from.
 * A crash between commit and unlink leaves the old copy on hold, never a second live copy. */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "cmd_queue.h"
#include "log.h"
#include "qfile.h"
#include "queue.h"
#include "queue_list.h"
#include "str.h"
#include "submit.h"

/* Attributes cleanup accepts from a submitter (docs/PROTOCOLS.md section 1). */
static const char *const passed_attrs[] = {
    "client_name", "client_addr", "client_port", "helo_name", "protocol", "sasl_username",
    "tls_info", "log_ident", "uid", "full_name", NULL
};

static int passed_attr(const char *name)
{
    for (int i = 0; passed_attrs[i]; i++)
        if (strcmp(passed_attrs[i], name) == 0)
            return 1;
    return 0;
}

/* Submit the claimed file hold/ID to cleanup. 0 ok (new ID in newid), -1 failed (printed). */
static int resubmit(const char *id, char newid[QUEUE_ID_MAX])
{
    char path[4096], errbuf[256] = "";
    struct qfile_env env;
    struct submit_result res;
    const char *err = NULL;
    int fd, rc = -1;

    queue_path(path, sizeof(path), qcmd_qdir, "hold", id);
    if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) < 0) {
        cmd_error("%s: open %s: %s", id, path, strerror(errno));
        return -1;
    }
    memset(&env, 0, sizeof(env));
    int r = qfile_read_env(fd, &env, errbuf);
    if (r != 0) {
        cmd_error("%s: %s", id, r == -1 ? "read error" : errbuf[0] ? errbuf : "malformed queue file");
        goto out;
    }
    int pending = 0;
    for (int i = 0; i < env.rcpt_count; i++)
        pending += !env.rcpts[i].done;
    if (pending == 0) {
        cmd_error("%s: every recipient is done already; nothing to requeue", id);
        goto out;
    }
    submit *s = submit_open(SUBMIT_FLAG_REQUEUE, &err);
    if (s == NULL) {
        cmd_error("%s: cannot reach the cleanup service: %s", id, err ? err : "unknown error");
        goto out;
    }
    for (int i = 0; i < env.attr_count; i++)
        if (passed_attr(env.attr_names[i]))
            submit_attr(s, env.attr_names[i], env.attr_values[i]);
    submit_sender(s, env.sender);
    for (int i = 0; i < env.rcpt_count; i++)
        if (!env.rcpts[i].done)
            submit_rcpt(s, env.rcpts[i].address, env.rcpts[i].orig);
    submit_begin_content(s);

    qfile_reader rd;
    str line;
    if (qfile_content_open(&rd, fd, env.content_offset) < 0) {
        submit_abort(s);
        cmd_error("%s: cannot read the message content", id);
        goto out;
    }
    str_init(&line);
    int lr;
    err = NULL;
    while ((lr = qfile_next_line(&rd, &line, (size_t)env.message_size + 1, &err)) == 1)
        submit_line(s, line.data, line.len, 1);
    qfile_content_close(&rd);
    str_free(&line);
    if (lr < 0) {
        submit_abort(s);
        cmd_error("%s: %s", id, err ? err : "malformed content");
        goto out;
    }
    snprintf(newid, QUEUE_ID_MAX, "%s", submit_queue_id(s));
    int status = submit_finish(s, &res);
    if (status == 0) {
        rc = 0;
    } else {
        fprintf(stderr, "postern: %s: cleanup refused the message: %s ", id, res.dsn);
        queue_put_safe(stderr, res.reason.data ? res.reason.data : "");
        fputc('\n', stderr);
    }
    submit_result_free(&res);
out:
    qfile_env_free(&env);
    close(fd);
    return rc;
}

static int requeue_one(const char *id, int all, void *ctx)
{
    struct qcmd_loc loc;
    char newid[QUEUE_ID_MAX] = "";
    (void)ctx;

    int rc = qcmd_claim_hold(id, all, "requeued", &loc);
    if (rc <= 0)
        return rc < 0 || !all;
    if (resubmit(id, newid) != 0) {
        if (strcmp(loc.queue, "hold") != 0 && queue_move(qcmd_qdir, "hold", loc.queue, id) < 0)
            cmd_error("%s: cannot move it back to %s/ (it stays on hold): %s", id, loc.queue,
                      strerror(errno));
        return 1;
    }
    if (queue_remove(qcmd_qdir, "hold", id) < 0) {
        cmd_error("%s: requeued as %s, but the old file hold/%s could not be removed: %s "
                  "(delete it with postern queue delete %s)", id, newid, id, strerror(errno), id);
        msg_warn("%s: requeued as %s; old copy left in hold/", id, newid);
        return 1;
    }
    qcmd_remove_logs(id);
    msg_info("%s: requeued as %s (by postern queue requeue)", id, newid);
    msg_info("%s: removed", id);
    return 0;
}

int qcmd_requeue(int argc, char **argv)
{
    static const char *const requeueable[] = { "incoming", "deferred", "hold", NULL };
    int failed = qcmd_each_id(argc, argv, "postern queue requeue ID...|ALL", requeueable,
                              requeue_one, NULL);
    return failed < 0 ? CMD_ERROR : failed ? CMD_FAIL : CMD_OK;
}
