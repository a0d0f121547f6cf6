/* server.c: the skeleton every daemon started by master runs in (see server.h).
 * Parses the master's command line, loads main.cf, opens the log, drops privileges,
 * then either accepts one client at a time on the shared listening socket (reporting
 * busy/idle on the status pipe, exiting after max_use clients, max_idle idle seconds,
 * SIGTERM or when the master goes away) or hands the socket to a multi-client loop. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "server.h"
#include "config.h"
#include "flow.h"
#include "log.h"
#include "mem.h"
#include "privs.h"
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SERVER_MAX_OVERRIDES 256
#define SERVER_MAX_IDLE_MAX (10L * 365 * 86400)   /* seconds */

static char *service_name = "";
static char **extra_args;
static char *empty_args[] = { NULL };
static volatile sig_atomic_t got_sigterm;
static int master_gone;
static int status_fd_ok;
static unsigned generation;
static int term_pipe[2] = { -1, -1 };  /* self-pipe: wakes the accept wait on SIGTERM */

const char *server_service_name(void)
{
    return service_name;
}

char **server_args(void)
{
    return extra_args ? extra_args : empty_args;
}

static void on_sigterm(int sig)
{
    (void)sig;
    int saved = errno;
    got_sigterm = 1;
    if (term_pipe[1] >= 0) {
        ssize_t r = write(term_pipe[1], "T", 1);
        (void)r;
    }
    errno = saved;
}

/* Check the status pipe without waiting: 1 if the master closed its end. Looked at
 * no more than every STATUS_CHECK_MS (event loops ask on every turn; the accept wait
 * watches the pipe itself). */
#define STATUS_CHECK_MS 200
static long long now_ms(void);

static int status_pipe_closed(void)
{
    static long long last_check_ms;
    long long now = now_ms();

    if (!status_fd_ok || (now - last_check_ms < STATUS_CHECK_MS && now >= last_check_ms))
        return 0;
    last_check_ms = now;
    struct pollfd pfd = { .fd = SERVER_STATUS_FD, .events = 0 };
    if (poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)))
        return 1;
    return 0;
}

int server_master_gone(void)
{
    if (!master_gone && (got_sigterm || status_pipe_closed()))
        master_gone = 1;
    return master_gone;
}

void server_report(int avail)
{
    if (!status_fd_ok)
        return;
    struct server_status st = { .pid = (int)getpid(), .avail = avail ? 1 : 0, .generation = generation };
    ssize_t n;
    do
        n = write(SERVER_STATUS_FD, &st, sizeof st);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EPIPE)
        master_gone = 1;
    else if (n >= 0 && n != (ssize_t)sizeof st)
        msg_warn("short write to master status pipe");
}

/* Descriptors 0-2 must be open before anything else is: otherwise the next socket, pipe
 * or queue file gets one of them and stderr logging (or a library) writes into it. */
static void sane_stdio(void)
{
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) >= 0)
            continue;
        int nfd = open("/dev/null", O_RDWR);
        if (nfd < 0)
            _exit(1);                       /* cannot even log: nothing else is safe */
        if (nfd != fd) {                    /* a lower one was free after all */
            close(nfd);
            if (fcntl(fd, F_GETFD) < 0)
                _exit(1);
        }
    }
}

static void usage(const char *prog)
{
    msg_fatal("usage: %s -c CONFDIR -n SERVICE -t TYPE [-u] [-v] [-o name=value]... [args]", prog);
}

static void setup_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, NULL);

    if (pipe2(term_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
        msg_fatal("pipe: %s", strerror(errno));
    sa.sa_handler = on_sigterm;     /* no SA_RESTART: poll() returns EINTR */
    sigaction(SIGTERM, &sa, NULL);
}

static void check_listen_fd(const char *prog)
{
    struct stat st;
    if (fstat(SERVER_LISTEN_FD, &st) != 0 || !S_ISSOCK(st.st_mode))
        msg_fatal("%s: descriptor %d is not a socket: this program is started by the postern "
                  "master (see master.cf), not by hand", prog, SERVER_LISTEN_FD);
    int fl = fcntl(SERVER_LISTEN_FD, F_GETFL);
    if (fl < 0 || fcntl(SERVER_LISTEN_FD, F_SETFL, fl | O_NONBLOCK) != 0)
        msg_fatal("cannot make the listening socket non-blocking: %s", strerror(errno));
    fcntl(SERVER_LISTEN_FD, F_SETFD, FD_CLOEXEC);
    if (fcntl(SERVER_STATUS_FD, F_GETFD) >= 0) {
        status_fd_ok = 1;
        fcntl(SERVER_STATUS_FD, F_SETFD, FD_CLOEXEC);
    } else {
        msg_warn("no master status pipe on descriptor %d: running without busy/idle reports",
                 SERVER_STATUS_FD);
    }
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void drain_term_pipe(void)
{
    char buf[16];
    while (read(term_pipe[0], buf, sizeof buf) > 0)
        ;
}

/* The idle processes of a service all wait on the one listening socket. With poll()
 * every one of them would wake (and fail its accept) for each new connection; an epoll
 * set with EPOLLEXCLUSIVE on the listening socket wakes just one. A busy process takes
 * the socket out of its set while it serves a client: its entry would otherwise swallow
 * wake-ups meant for an idle process (re-adding also puts it at the end of the line).
 * Also watched: the SIGTERM self-pipe and the status pipe (error/hangup: master gone). */
enum { WAKE_LISTEN = 1, WAKE_TERM = 2, WAKE_STATUS = 3 };

static void watch_listener(int ep, int on)
{
    struct epoll_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN | EPOLLEXCLUSIVE;
    ev.data.u32 = WAKE_LISTEN;
    if (epoll_ctl(ep, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, SERVER_LISTEN_FD, &ev) < 0)
        msg_fatal("epoll_ctl(listening socket): %s", strerror(errno));
}

static int accept_wait_set(void)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev;

    if (ep < 0)
        msg_fatal("epoll_create1: %s", strerror(errno));
    watch_listener(ep, 1);
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.u32 = WAKE_TERM;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, term_pipe[0], &ev) < 0)
        msg_fatal("epoll_ctl(term pipe): %s", strerror(errno));
    if (status_fd_ok) {
        ev.events = 0;                      /* EPOLLERR and EPOLLHUP are always reported */
        ev.data.u32 = WAKE_STATUS;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, SERVER_STATUS_FD, &ev) < 0)
            msg_fatal("epoll_ctl(status pipe): %s", strerror(errno));
    }
    return ep;
}

/* Single-client accept loop; returns when it is time to exit. */
static void accept_loop(const struct server_ops *ops)
{
    long max_use = config_int("max_use");
    long max_idle = config_time("max_idle");
    if (max_idle > SERVER_MAX_IDLE_MAX)
        max_idle = SERVER_MAX_IDLE_MAX;     /* max_idle * 1000 must not overflow */
    long served = 0;
    long long idle_since = now_ms();
    int ep = accept_wait_set();

    while (!server_master_gone() && (max_use == 0 || served < max_use)) {
        struct epoll_event evs[3];
        int timeout = -1, listen_ready = 0, term = 0, gone = 0;
        if (max_idle > 0) {
            long long left = idle_since + max_idle * 1000LL - now_ms();
            if (left <= 0) {
                msg_debug("idle for %ld seconds, exiting", max_idle);
                break;
            }
            timeout = left > 3600000 ? 3600000 : (int)left;
        }
        int n = epoll_wait(ep, evs, 3, timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            msg_fatal("epoll_wait: %s", strerror(errno));
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u32 == WAKE_TERM)
                term = 1;
            else if (evs[i].data.u32 == WAKE_STATUS)
                gone = 1;
            else if (evs[i].events & EPOLLIN)
                listen_ready = 1;
            else if (evs[i].events & EPOLLERR)
                msg_fatal("listening socket failed");
        }
        if (term) {
            drain_term_pipe();
            continue;                       /* got_sigterm makes the loop exit */
        }
        if (gone) {
            master_gone = 1;
            break;
        }
        if (!listen_ready)
            continue;                       /* timeout: idle check at the top */
        int fd = accept4(SERVER_LISTEN_FD, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR
                || errno == ECONNABORTED || errno == EPROTO)
                continue;                   /* another child took it */
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                msg_warn("accept: %s", strerror(errno));
                poll(NULL, 0, 1000);
                continue;
            }
            msg_fatal("accept: %s", strerror(errno));
        }
        server_report(0);
        watch_listener(ep, 0);
        ops->service(fd);
        close(fd);
        served++;
        server_report(1);
        idle_since = now_ms();
        if (!server_master_gone() && (max_use == 0 || served < max_use))
            watch_listener(ep, 1);
    }
    close(ep);
}

void server_main(int argc, char **argv, const struct server_ops *ops)
{
    const char *prog = ops && ops->name ? ops->name : "server";
    const char *confdir = getenv("MAIL_CONFIG");
    char *overrides[SERVER_MAX_OVERRIDES];
    int n_over = 0, unpriv = 0, verbose = 0, c;

    sane_stdio();
    flow_init();                            /* before anything can open fds 5 and 6 */
    log_open("postern", prog, "-");         /* until main.cf says where */
    if (!ops || (!ops->service == !ops->loop))
        msg_panic("server_main: exactly one of service and loop must be set");
    opterr = 0;
    while ((c = getopt(argc, argv, "+c:n:t:uvo:")) != -1) {
        switch (c) {
        case 'c': confdir = optarg; break;
        case 'n': service_name = optarg; break;
        case 't': break;                    /* type is master's business */
        case 'u': unpriv = 1; break;
        case 'v': verbose++; break;
        case 'o':
            if (n_over >= SERVER_MAX_OVERRIDES)
                msg_fatal("too many -o options");
            overrides[n_over++] = optarg;
            break;
        default:
            usage(prog);
        }
    }
    extra_args = argv + optind;
    const char *gen = getenv("POSTERN_GENERATION");
    if (gen)
        generation = (unsigned)strtoul(gen, NULL, 10);

    char *err = NULL;
    if (config_load(confdir, &err) != 0)
        msg_fatal("%s", err);
    for (int i = 0; i < n_over; i++)
        if (config_override(overrides[i]) != 0)
            msg_fatal("bad -o option \"%s\": expected name=value", overrides[i]);
    log_open(config_str("syslog_name"), prog, config_str("maillog_file"));
    if (verbose)
        log_set_verbose(verbose);
    config_warn_unknown();

    setup_signals();
    check_listen_fd(prog);

    if (ops->pre_init)
        ops->pre_init();
    if (unpriv && privs_is_root())
        privs_drop_to(config_str("mail_owner"));
    if (ops->post_init)
        ops->post_init();

    if (ops->loop) {
        ops->loop(SERVER_LISTEN_FD);
    } else {
        accept_loop(ops);                   /* master counts a new child as idle */
    }
    exit(0);
}
