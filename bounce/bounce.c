/* bounce.c: the bounce daemon, which sends non-delivery notifications for qmgr.
 * Runs under lib/server.h as a single-client server (master.cf "bounce unix ... bounce",
 * unprivileged). One connection is one request (man/bounce.8):
 *
 *   bounce -> qmgr : protocol=bounce
 *   qmgr -> bounce : queue_name=active  queue_id=<ID>  [kind=failure|delay]
 *   bounce -> qmgr : status=0  queue_id=<new ID, or empty: nothing sent>
 *               or : status=4  reason=<text>      (try again later)
 *
 * The request is checked exactly (only those attributes, queue_name "active", a valid
 * queue ID, kind absent = failure); the queue file active/ID is opened read-only and its
 * envelope read with qfile_read_env(); bounce/ID (failure) or defer/ID (delay warning)
 * is read by bounce_log.c; the report is built and submitted by bounce_notify.c. A
 * malformed request gets no reply (qmgr treats that as a failure and retries later). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attr.h"
#include "bio.h"
#include "config.h"
#include "log.h"
#include "queue.h"
#include "server.h"
#include "str.h"
#include "bounce.h"

static void reply(bio *b, const char *id, int status, const char *text)
{
    attr_list l;
    attr_init(&l);
    attr_add_long(&l, "status", status);
    attr_add(&l, status == 0 ? "queue_id" : "reason", text);
    if (attr_write(b, &l) < 0)
        msg_warn("%s: cannot reply to qmgr: %s", id, bio_strerror(b));
    attr_free(&l);
}

/* Open active/ID and read its envelope. fd or -1 with why. */
static int open_message(const char *qdir, const char *id, struct qfile_env *env, str *why)
{
    char path[4096], errbuf[256] = "";
    if (!queue_path(path, sizeof(path), qdir, "active", id)) {
        str_printf(why, "queue file path too long");
        return -1;
    }
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        str_printf(why, "open %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        str_printf(why, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    memset(env, 0, sizeof(*env));
    int rc = qfile_read_env(fd, env, errbuf);
    if (rc != 0) {
        str_printf(why, "%s: %s", path, rc == -2 ? (errbuf[0] ? errbuf : "malformed")
                                                 : strerror(errno));
        qfile_env_free(env);
        close(fd);
        return -1;
    }
    return fd;
}

static void handle(bio *b, const attr_list *req)
{
    const char *qname = attr_get(req, "queue_name");
    const struct attr *qid = attr_find(req, "queue_id");
    const char *kind_name = attr_get(req, "kind");
    enum bounce_kind kind = BOUNCE_FAILURE;
    if (kind_name && strcmp(kind_name, "delay") == 0)
        kind = BOUNCE_DELAY;
    else if (kind_name && strcmp(kind_name, "failure") != 0)
        kind_name = NULL, qname = NULL;       /* unknown kind: malformed */
    if (req->count != (kind_name ? 3 : 2) || !qname || !qid || strcmp(qname, "active") != 0
        || strlen(qid->value) != qid->vlen || !queue_id_valid(qid->value)) {
        msg_warn("malformed bounce request from qmgr: expected queue_name=active, a "
                 "valid queue_id and optionally kind=failure|delay only");
        return;
    }
    const char *id = qid->value;
    const char *qdir = config_str("queue_directory");
    str why, new_id;
    str_init(&why);
    str_init(&new_id);
    struct qfile_env env;
    struct bounce_list list = { NULL, 0 };
    int fd = open_message(qdir, id, &env, &why);
    if (fd < 0) {
        msg_warn("%s: cannot send notification: %s", id, why.data);
        reply(b, id, 4, why.data);
    } else {
        if (bounce_log_read(qdir, id, &env, kind, &list, &why) < 0
            || bounce_notify(id, fd, &env, kind, &list, &new_id, &why) < 0) {
            msg_warn("%s: cannot send notification: %s", id, why.data);
            reply(b, id, 4, why.data);
        } else {
            reply(b, id, 0, new_id.data);
        }
        bounce_list_free(&list);
        qfile_env_free(&env);
        close(fd);
    }
    str_free(&why);
    str_free(&new_id);
}

static void bounce_service(int fd)
{
    long timeout = config_time("ipc_timeout");
    bio *b = bio_open(fd, timeout > 0 && timeout < 86400 ? (int)timeout * 1000 : 3600000);
    attr_list req;
    const char *err = NULL;
    attr_init(&req);
    if (attr_send_protocol(b, "bounce") == 0 && attr_read(b, &req, &err) == 0)
        handle(b, &req);
    else if (err)
        msg_warn("bounce request from qmgr: %s", err);
    attr_free(&req);
    bio_free(b);
}

int main(int argc, char **argv)
{
    static const struct server_ops ops = {
        .name = "bounce",
        .service = bounce_service,
    };

    signal(SIGPIPE, SIG_IGN);
    server_main(argc, argv, &ops);
}
