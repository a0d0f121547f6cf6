/* cmd_queue_show.c: `postern queue show ID`: prints one message: its envelope (queue,
 * arrival, size, sender, attributes, each recipient with done/pending/deferred and the
 * defer reason when known), then the headers and body as stored. Envelope strings are
 * made printable; the content is written as it is in the queue file (like postcat). The
 * file is opened once, so a message that qmgr moves meanwhile is still read whole. */
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
#include "qfile.h"
#include "queue.h"
#include "queue_defer_log.h"
#include "queue_list.h"
#include "str.h"

/* Open the message wherever it is now (it may move between lookup and open). */
static int open_message(const char *id, const char **queue)
{
    static const char *const queues[] = { "incoming", "active", "deferred", "hold",
                                          "corrupt", NULL };
    char path[4096];
    struct qcmd_loc loc;

    for (int tries = 0; tries < QCMD_LOCATE_TRIES; tries++) {
        int rc = qcmd_locate(id, queues, &loc);
        if (rc < 0)
            return -1;
        if (rc == 0)
            break;
        if (!loc.ready) {
            cmd_error("%s: the queue file is still being written", id);
            return -1;
        }
        queue_path(path, sizeof(path), qcmd_qdir, loc.queue, id);
        int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd >= 0) {
            *queue = loc.queue;
            return fd;
        }
        if (errno != ENOENT) {
            cmd_error("%s: %s", path, strerror(errno));
            return -1;
        }
    }
    cmd_error("%s: no such message in the queue", id);
    return -2;
}

static void print_envelope(const char *id, const char *queue, const struct qfile_env *env,
                           const struct defer_log *dlog)
{
    char when[64] = "";
    struct tm tm;
    time_t t = (time_t)env->arrival_sec;

    if (localtime_r(&t, &tm))
        strftime(when, sizeof(when), "%a %b %e %H:%M:%S %Y", &tm);
    printf("*** ENVELOPE %s ***\n", id);
    printf("queue: %s\n", queue);
    printf("arrival_time: %s (%ld.%06ld)\n", when, env->arrival_sec, env->arrival_usec);
    printf("message_size: %ld\n", env->message_size);
    fputs("sender: ", stdout);
    queue_put_safe(stdout, *env->sender ? env->sender : "<> (null sender)");
    putchar('\n');
    for (int i = 0; i < env->attr_count; i++) {
        fputs("attribute: ", stdout);
        queue_put_safe(stdout, env->attr_names[i]);
        putchar('=');
        queue_put_safe(stdout, env->attr_values[i]);
        putchar('\n');
    }
    for (int i = 0; i < env->rcpt_count; i++) {
        const struct qfile_rcpt *r = &env->rcpts[i];
        const struct defer_log_entry *d = r->done ? NULL : defer_log_find(dlog, r->address);
        fputs("recipient: ", stdout);
        queue_put_safe(stdout, r->address);
        printf(" (%s", r->done ? "done" : d ? "deferred" : "pending");
        if (d) {
            fputs(": ", stdout);
            if (*d->dsn) {
                queue_put_safe(stdout, d->dsn);
                putchar(' ');
            }
            queue_put_safe(stdout, d->reason);
        }
        fputs(")\n", stdout);
        if (r->orig) {
            fputs("  original_recipient: ", stdout);
            queue_put_safe(stdout, r->orig);
            putchar('\n');
        }
    }
}

/* Write the content lines; 0 or -1 (message printed). */
static int print_content(const char *id, int fd, const struct qfile_env *env)
{
    qfile_reader rd;
    str line;
    const char *err = "malformed content";
    int rc;

    if (qfile_content_open(&rd, fd, env->content_offset) < 0) {
        cmd_error("%s: cannot read the message content", id);
        return -1;
    }
    str_init(&line);
    printf("*** MESSAGE CONTENTS %s ***\n", id);
    while ((rc = qfile_next_line(&rd, &line, (size_t)env->message_size + 1, &err)) == 1) {
        fwrite(line.data, 1, line.len, stdout);
        putchar('\n');
    }
    qfile_content_close(&rd);
    str_free(&line);
    if (rc < 0) {
        cmd_error("%s: %s", id, err ? err : "malformed content");
        return -1;
    }
    printf("*** END OF MESSAGE %s ***\n", id);
    return 0;
}

int qcmd_show(int argc, char **argv)
{
    char errbuf[256] = "";
    struct qfile_env env;
    struct defer_log dlog;
    const char *queue = NULL;
    int fd, rc, all;

    if (argc != 2 || qcmd_parse_ids(argc - 1, argv + 1, &all) != 0 || all) {
        cmd_error("usage: postern queue show ID");
        return CMD_ERROR;
    }
    const char *id = argv[1];
    if ((fd = open_message(id, &queue)) < 0)
        return fd == -2 ? CMD_FAIL : CMD_ERROR;
    memset(&env, 0, sizeof(env));
    rc = qfile_read_env(fd, &env, errbuf);
    if (rc != 0) {
        cmd_error("%s: %s", id, rc == -1 ? "read error" : errbuf[0] ? errbuf : "malformed queue file");
        qfile_env_free(&env);
        close(fd);
        return CMD_ERROR;
    }
    (void)defer_log_read(qcmd_qdir, id, &dlog);
    print_envelope(id, queue, &env, &dlog);
    rc = print_content(id, fd, &env);
    defer_log_free(&dlog);
    qfile_env_free(&env);
    close(fd);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cmd_error("write error on standard output");
        return CMD_ERROR;
    }
    return rc == 0 ? CMD_OK : CMD_ERROR;
}
