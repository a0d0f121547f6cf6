/* cmd_queue.c: `postern queue SUBCOMMAND ...`: checks that the caller may touch the
 * queue (root, or the owner of $queue_directory for a test instance), points the log at
 * $maillog_file so actions are recorded with the daemons' lines, dispatches to the
 * subcommands and provides the helpers they share (cmd_queue.h). `list` lives here too:
 * it is a thin front end to queue_list.c. */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "cmd_queue.h"
#include "config.h"
#include "log.h"
#include "mem.h"
#include "queue.h"
#include "queue_list.h"
#include "str.h"

const char *qcmd_qdir;

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

int qcmd_locate(const char *id, const char *const *queues, struct qcmd_loc *loc)
{
    char path[4096];
    struct stat st;

    for (int pass = 0; pass < QCMD_LOCATE_TRIES; pass++) {
        if (pass)
            sleep_ms(20L * pass);
        for (int q = 0; queues[q]; q++) {
            if (queue_path(path, sizeof(path), qcmd_qdir, queues[q], id)[0] == 0) {
                cmd_error("%s: queue file path too long", id);
                return -1;
            }
            if (lstat(path, &st) != 0) {
                if (errno == ENOENT)
                    continue;
                cmd_error("%s: %s", path, strerror(errno));
                return -1;
            }
            if (!S_ISREG(st.st_mode))
                continue;
            loc->queue = queues[q];
            loc->ready = queue_file_ready(&st);
            return 1;
        }
    }
    return 0;
}

int qcmd_locate_idle(const char *id, struct qcmd_loc *loc)
{
    static const char *const queues[] = { "incoming", "active", "deferred", "hold", NULL };
    long waited = 0;

    for (;;) {
        int rc = qcmd_locate(id, queues, loc);
        if (rc <= 0)
            return rc;
        if (strcmp(loc->queue, "active") != 0)
            return 1;
        if (waited >= QCMD_ACTIVE_WAIT_MS)
            return -2;
        sleep_ms(50);
        waited += 50;
    }
}

int qcmd_parse_ids(int argc, char **argv, int *all)
{
    *all = 0;
    if (argc < 1) {
        cmd_error("no queue IDs given (or ALL)");
        return -1;
    }
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "ALL") == 0) {
            if (argc != 1) {
                cmd_error("ALL cannot be combined with queue IDs");
                return -1;
            }
            *all = 1;
            return 0;
        }
        if (strlen(argv[i]) >= QUEUE_ID_MAX || !queue_id_valid(argv[i])) {
            fputs("postern: malformed queue ID \"", stderr);
            queue_put_safe(stderr, argv[i]);
            fputs("\"\n", stderr);
            return -1;
        }
    }
    return 0;
}

char **qcmd_ready_ids(const char *queue)
{
    size_t n = 0, keep = 0;
    char **ids = queue_list_ids(qcmd_qdir, queue, &n);
    char path[4096];
    struct stat st;

    if (ids == NULL) {
        cmd_error("cannot read %s/%s: %s", qcmd_qdir, queue, strerror(errno));
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (queue_path(path, sizeof(path), qcmd_qdir, queue, ids[i])[0] != 0
            && lstat(path, &st) == 0 && S_ISREG(st.st_mode) && queue_file_ready(&st)) {
            ids[keep++] = ids[i];
        } else {
            free(ids[i]);
        }
    }
    ids[keep] = NULL;
    return ids;
}

int qcmd_claim_hold(const char *id, int all, const char *verb, struct qcmd_loc *loc)
{
    static const char *const claimable[] = { "incoming", "deferred", "hold", NULL };

    for (int tries = 0; tries < QCMD_LOCATE_TRIES; tries++) {
        int rc = all ? qcmd_locate(id, claimable, loc) : qcmd_locate_idle(id, loc);
        if (rc == -2) {
            cmd_error("%s: still being delivered (active queue) after %d s; not %s", id,
                      QCMD_ACTIVE_WAIT_MS / 1000, verb);
            return -1;
        }
        if (rc < 0)
            return -1;
        if (rc == 0)
            break;
        if (!loc->ready) {
            cmd_error("%s: the queue file is still being written; not %s", id, verb);
            return -1;
        }
        if (strcmp(loc->queue, "hold") == 0 || queue_move(qcmd_qdir, loc->queue, "hold", id) == 0)
            return 1;
        if (errno != ENOENT) {
            cmd_error("%s: cannot move %s/%s to hold/: %s", id, loc->queue, id, strerror(errno));
            return -1;
        }
    }
    if (!all)
        cmd_error("%s: no such message in the queue", id);
    return 0;
}

int qcmd_each_ready(const char *const *queues, int (*fn)(const char *id, int all, void *ctx),
                    void *ctx)
{
    int failed = 0;

    for (int q = 0; queues[q]; q++) {
        char **ids = qcmd_ready_ids(queues[q]);
        if (ids == NULL) {
            failed++;
            continue;
        }
        for (int i = 0; ids[i]; i++)
            failed += fn(ids[i], 1, ctx);
        strv_free(ids);
    }
    return failed;
}

int qcmd_each_id(int argc, char **argv, const char *usage, const char *const *all_queues,
                 int (*fn)(const char *id, int all, void *ctx), void *ctx)
{
    int all, failed = 0;
    int skip = argc > 1 && strcmp(argv[1], "--") == 0;

    if (qcmd_parse_ids(argc - 1 - skip, argv + 1 + skip, &all) != 0) {
        cmd_error("usage: %s", usage);
        return -1;
    }
    if (all)
        return qcmd_each_ready(all_queues, fn, ctx);
    for (int i = 1 + skip; i < argc; i++)
        failed += fn(argv[i], 0, ctx);
    return failed;
}

void qcmd_remove_logs(const char *id)
{
    static const char *const logs[] = { "defer", "bounce", NULL };
    for (int i = 0; logs[i]; i++)
        if (queue_remove(qcmd_qdir, logs[i], id) < 0 && errno != ENOENT)
            msg_warn("%s: remove %s log: %s", id, logs[i], strerror(errno));
}

int qcmd_touch(const char *queue, const char *id)
{
    char path[4096];
    if (queue_path(path, sizeof(path), qcmd_qdir, queue, id)[0] == 0) {
        errno = ENAMETOOLONG;
        return -1;
    }
    struct timespec now[2] = { { 0, UTIME_NOW }, { 0, UTIME_NOW } };
    return utimensat(AT_FDCWD, path, now, AT_SYMLINK_NOFOLLOW);
}

int qcmd_list(int argc, char **argv)
{
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else {
            cmd_error("usage: postern queue list [--json]");
            return CMD_ERROR;
        }
    }
    int rc = json ? queue_list_print_json(stdout, stderr, qcmd_qdir, "postern")
                  : queue_list_print_as(stdout, stderr, qcmd_qdir, "postern");
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cmd_error("write error on standard output");
        return CMD_ERROR;
    }
    return rc == 0 ? CMD_OK : CMD_ERROR;
}

static void queue_usage(FILE *fp)
{
    fprintf(fp,
        "usage: postern queue list [--json]\n"
        "       postern queue show ID\n"
        "       postern queue delete [--deferred] ID...|ALL\n"
        "       postern queue hold ID...|ALL\n"
        "       postern queue release ID...|ALL\n"
        "       postern queue requeue ID...|ALL\n"
        "       postern queue flush\n"
        "exit status: 0 done; 1 unknown queue ID or action failed; 2 usage error,\n"
        "             configuration error or no access to the queue.\n");
}

/* Root may act on any queue; anyone else only on a queue directory they own. */
static int check_access(void)
{
    struct stat st;
    if (stat(qcmd_qdir, &st) != 0) {
        cmd_error("queue directory %s: %s", qcmd_qdir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        cmd_error("queue directory %s: not a directory", qcmd_qdir);
        return -1;
    }
    if (getuid() != 0 && geteuid() != 0 && st.st_uid != geteuid()) {
        cmd_error("permission denied: the queue in %s belongs to uid %ld; run this as root "
                  "or as the owner of the queue directory", qcmd_qdir, (long)st.st_uid);
        return -1;
    }
    return 0;
}

int cmd_queue(int argc, char **argv)
{
    static const struct { const char *name; int (*fn)(int, char **); } subs[] = {
        { "list", qcmd_list }, { "show", qcmd_show }, { "delete", qcmd_delete },
        { "hold", qcmd_hold }, { "release", qcmd_release }, { "flush", qcmd_flush },
        { "requeue", qcmd_requeue },
    };
    if (argc < 2) {
        queue_usage(stderr);
        return CMD_ERROR;
    }
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0) {
        queue_usage(stdout);
        return CMD_OK;
    }
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        if (strcmp(subs[i].name, argv[1]) != 0)
            continue;
        if (cmd_load_config() != 0)
            return CMD_ERROR;
        qcmd_qdir = config_str("queue_directory");
        if (*qcmd_qdir != '/') {
            cmd_error("queue_directory must be an absolute path (is \"%s\")", qcmd_qdir);
            return CMD_ERROR;
        }
        if (check_access() != 0)
            return CMD_ERROR;
        /* actions are logged with the daemons' lines; errors for the user go to stderr */
        log_open(config_str("syslog_name"), "postern", config_str("maillog_file"));
        return subs[i].fn(argc - 1, argv + 1);
    }
    cmd_error("unknown queue command \"%s\"", argv[1]);
    queue_usage(stderr);
    return CMD_ERROR;
}
