/* qmgr.c: the queue manager's entry point and main loop.
 *
 * Runs under lib/server.h as a multi server (one process). It takes the queue lock
 * ($queue_directory/pid/qmgr.lock) so two qmgrs never share a queue, moves files left in
 * active/ back to incoming/, then loops: accept wake-ups on the listening socket
 * (docs/PROTOCOLS.md section 2), scan incoming/ and deferred/ (qmgr_scan.c), start
 * deliveries (qmgr_entry.c) and handle agent replies (qmgr_deliver.c), all from one
 * lib/events.h loop. It returns as soon as the master is gone or SIGTERM arrived;
 * whatever was in flight is redone by the next qmgr (at-least-once). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1               /* accept4 */
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "attr.h"
#include "config.h"
#include "events.h"
#include "log.h"
#include "mem.h"
#include "resolve.h"
#include "server.h"
#include "str.h"
#include "qmgr.h"

const char *qmgr_qdir;
int qmgr_active_limit;
int qmgr_message_count;
int qmgr_conns_total;
int qmgr_conns_max;

static long long run_delay_ms;          /* $queue_run_delay */
static long long deferred_min_gap_ms;   /* never rescan deferred/ more often than this */
static int scan_wanted;                 /* a wake-up arrived */
static long long next_incoming_ms, next_deferred_ms, last_deferred_ms;
static int deferred_backlog;            /* due files left in deferred/ (limit reached) */
static int lock_fd = -1;

#define INCOMING_RESCAN_MS 1000         /* while anything in incoming/ is pending */
#define WAKEUP_MAX_CLIENTS 64
#define WAKEUP_MAX_BYTES 1024
#define WAKEUP_TIMEOUT_MS 5000
#define LOCK_WAIT_MAX_MS (3600LL * 1000)

void qmgr_request_scan(void)
{
    scan_wanted = 1;
}

/* request=flush: scan deferred/ now, not at the next retry time. */
static void qmgr_request_flush(void)
{
    scan_wanted = 1;
    next_deferred_ms = 0;
    last_deferred_ms = event_now_ms() - deferred_min_gap_ms;
}

void qmgr_note_retry_time(long long when_ms)
{
    if (when_ms < next_deferred_ms)
        next_deferred_ms = when_ms;
}

/* ---- wake-up clients on private/qmgr ---- */

struct wakeup_client {
    int fd;
    long timer;
    size_t len;
    char buf[WAKEUP_MAX_BYTES];
};
static int wakeup_clients;

static void wakeup_close(struct wakeup_client *c)
{
    event_del_read(c->fd);
    if (c->timer)
        event_cancel_timer(c->timer);
    close(c->fd);
    free(c);
    wakeup_clients--;
}

static void wakeup_timeout(void *ctx)
{
    struct wakeup_client *c = ctx;
    c->timer = 0;
    msg_warn("wakeup: timeout reading request");
    wakeup_close(c);
}

static void wakeup_readable(int fd, void *ctx)
{
    struct wakeup_client *c = ctx;
    ssize_t n = read(fd, c->buf + c->len, sizeof(c->buf) - c->len);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return;
        msg_warn("wakeup: read: %s", strerror(errno));
        wakeup_close(c);
        return;
    }
    c->len += (size_t)n;
    attr_list req;
    attr_init(&req);
    const char *err = NULL;
    long used = attr_decode(c->buf, c->len, &req, &err);
    if (used > 0) {
        const char *what = attr_get(&req, "request");
        if (req.count == 1 && what && strcmp(what, "wakeup") == 0)
            qmgr_request_scan();
        else if (req.count == 1 && what && strcmp(what, "flush") == 0)
            qmgr_request_flush();
        else
            msg_warn("wakeup: unexpected request (expected request=wakeup or request=flush)");
        attr_free(&req);
        wakeup_close(c);
        return;
    }
    attr_free(&req);
    if (used < 0) {
        msg_warn("wakeup: malformed request: %s", err ? err : "?");
        wakeup_close(c);
    } else if (n == 0 && c->len == 0) {
        qmgr_request_scan();               /* a bare connect is a wake-up too (harmless) */
        wakeup_close(c);
    } else if (n == 0) {
        msg_warn("wakeup: connection closed before a complete request");
        wakeup_close(c);
    } else if (c->len == sizeof(c->buf)) {
        msg_warn("wakeup: request too long");
        wakeup_close(c);
    }
}

static void wakeup_accept(int listen_fd, void *ctx)
{
    (void)ctx;
    for (int i = 0; i < 16; i++) {                 /* bounded per loop iteration */
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR
                && errno != ECONNABORTED)
                msg_warn("accept on wakeup socket: %s", strerror(errno));
            return;
        }
        if (wakeup_clients >= WAKEUP_MAX_CLIENTS) {
            close(fd);                             /* overloaded: a scan covers it anyway */
            qmgr_request_scan();
            continue;
        }
        struct wakeup_client *c = xcalloc(1, sizeof(*c));
        c->fd = fd;
        wakeup_clients++;
        c->timer = event_timer(WAKEUP_TIMEOUT_MS, wakeup_timeout, c);
        event_add_read(fd, wakeup_readable, c);
    }
}

/* ---- start-up ---- */

static void take_queue_lock(void)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/pid/qmgr.lock", qmgr_qdir);
    lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (lock_fd < 0)
        msg_fatal("open %s: %s", path, strerror(errno));
    long long start = event_now_ms();
    int warned = 0;
    for (;;) {
        if (flock(lock_fd, LOCK_EX | LOCK_NB) == 0)
            break;
        if (errno != EWOULDBLOCK && errno != EINTR)
            msg_fatal("lock %s: %s", path, strerror(errno));
        if (!warned) {
            msg_info("waiting for another qmgr to release %s", path);
            warned = 1;
        }
        if (server_master_gone())
            exit(0);
        if (event_now_ms() - start > LOCK_WAIT_MAX_MS)
            msg_fatal("gave up waiting for %s", path);
        struct timespec ts = { 0, 100 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    char pid[32];
    int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(lock_fd, 0) == 0 && pwrite(lock_fd, pid, (size_t)n, 0) != n)
        msg_warn("write %s: %s", path, strerror(errno));
}

static void read_settings(void)
{
    qmgr_qdir = config_str("queue_directory");
    long limit = config_int("qmgr_message_active_limit");
    qmgr_active_limit = limit < 1 ? 1 : limit > 1000000 ? 1000000 : (int)limit;
    long delay = config_time("queue_run_delay");
    if (delay < 1)
        delay = 1;
    if (delay > 86400)
        delay = 86400;
    run_delay_ms = delay * 1000LL;
    deferred_min_gap_ms = run_delay_ms / 10 < 1000 ? 1000 : run_delay_ms / 10;

    /* Keep enough descriptors for queue files, wake-ups and the log. */
    struct rlimit rl;
    long fds = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        fds = (long)rl.rlim_cur;
    else if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        fds = 65536;
    qmgr_conns_max = (int)(fds - 32 - WAKEUP_MAX_CLIENTS);
    if (qmgr_conns_max < 4)
        qmgr_conns_max = 4;
}

static void qmgr_pre_init(void)
{
}

static void qmgr_post_init(void)
{
    signal(SIGPIPE, SIG_IGN);
    read_settings();
    resolve_init();
    qmgr_entry_init();
}

/* ---- the loop ---- */

static void qmgr_loop(int listen_fd)
{
    take_queue_lock();
    qmgr_scan_recover_active();

    int fl = fcntl(listen_fd, F_GETFL);
    if (fl >= 0)
        fcntl(listen_fd, F_SETFL, fl | O_NONBLOCK);
    event_add_read(listen_fd, wakeup_accept, NULL);

    long long now = event_now_ms();
    next_incoming_ms = now;
    next_deferred_ms = now;
    last_deferred_ms = now - deferred_min_gap_ms;
    scan_wanted = 1;

    while (!server_master_gone()) {
        now = event_now_ms();
        if (scan_wanted || now >= next_incoming_ms) {
            scan_wanted = 0;
            int left = qmgr_scan_incoming();
            next_incoming_ms = now + (left ? INCOMING_RESCAN_MS : run_delay_ms);
        }
        if ((now >= next_deferred_ms || (deferred_backlog && qmgr_message_count < qmgr_active_limit))
            && now - last_deferred_ms >= deferred_min_gap_ms) {
            last_deferred_ms = now;
            long long next_retry = qmgr_scan_deferred(&deferred_backlog);
            next_deferred_ms = now + run_delay_ms;
            if (next_retry > 0 && next_retry < next_deferred_ms)
                next_deferred_ms = next_retry;
        }
        qmgr_entry_dispatch();

        long long wake = next_incoming_ms;
        long long dwake = next_deferred_ms;
        if (dwake < last_deferred_ms + deferred_min_gap_ms)
            dwake = last_deferred_ms + deferred_min_gap_ms;
        if (dwake < wake)
            wake = dwake;
        long long wait = scan_wanted ? 0 : wake - event_now_ms();
        if (wait < 0)
            wait = 0;
        if (wait > 1000)
            wait = 1000;                    /* notice server_master_gone() promptly */
        event_loop_once((long)wait);
    }
    msg_info("master gone or stop requested: exiting (%d messages in flight)",
             qmgr_message_count);
    qmgr_deliver_abort_all();
    qmgr_message_free_all();
    qmgr_entry_free_all();
}

int main(int argc, char **argv)
{
    static const struct server_ops ops = {
        .name = "qmgr",
        .pre_init = qmgr_pre_init,
        .post_init = qmgr_post_init,
        .service = NULL,
        .loop = qmgr_loop,
    };
    server_main(argc, argv, &ops);
}
