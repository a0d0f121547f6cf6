/* events.c: a small poll(2) event loop for daemons that juggle many descriptors
 * (master, qmgr): read/write watches, one-shot timers, and signals delivered through a
 * self-pipe so callbacks never run inside a signal handler. One loop per process.
 * Callbacks may add or remove watches and timers (including their own) freely. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "events.h"
#include "mem.h"
#include "log.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EVENT_MAX_SIGNAL 65
#define EVENT_TIMER_MAX_MS (100LL * 365 * 86400 * 1000)

struct watch {
    int fd;
    event_fd_cb rcb, wcb;
    void *rctx, *wctx;
    unsigned long rserial, wserial;   /* changed by every add/del: detects replaced watches */
};

struct timer {
    long id;
    long long due;
    event_timer_cb cb;
    void *ctx;
};

static struct watch *watches;
static size_t nwatches, watches_cap;
static struct timer *timers;
static size_t ntimers, timers_cap;
static long next_timer_id = 1;
static unsigned long next_serial = 1;

static int sig_pipe[2] = { -1, -1 };
static struct { event_signal_cb cb; void *ctx; } sig_handlers[EVENT_MAX_SIGNAL];

long long event_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- descriptor watches ------------------------------------------------------------ */

static struct watch *find_watch(int fd)
{
    for (size_t i = 0; i < nwatches; i++)
        if (watches[i].fd == fd)
            return &watches[i];
    return NULL;
}

static struct watch *get_watch(int fd)
{
    struct watch *w = find_watch(fd);
    if (w)
        return w;
    if (nwatches == watches_cap) {
        watches_cap = watches_cap ? watches_cap * 2 : 16;
        watches = xrealloc(watches, watches_cap * sizeof *watches);
    }
    w = &watches[nwatches++];
    memset(w, 0, sizeof *w);
    w->fd = fd;
    return w;
}

static void drop_if_empty(int fd)
{
    for (size_t i = 0; i < nwatches; i++)
        if (watches[i].fd == fd && !watches[i].rcb && !watches[i].wcb) {
            watches[i] = watches[--nwatches];
            return;
        }
}

void event_add_read(int fd, event_fd_cb cb, void *ctx)
{
    if (fd < 0)
        msg_panic("event_add_read: bad descriptor %d", fd);
    struct watch *w = get_watch(fd);
    w->rcb = cb;
    w->rctx = ctx;
    w->rserial = next_serial++;
}

void event_add_write(int fd, event_fd_cb cb, void *ctx)
{
    if (fd < 0)
        msg_panic("event_add_write: bad descriptor %d", fd);
    struct watch *w = get_watch(fd);
    w->wcb = cb;
    w->wctx = ctx;
    w->wserial = next_serial++;
}

void event_del_read(int fd)
{
    struct watch *w = find_watch(fd);
    if (w) {
        w->rcb = NULL;
        w->rserial = next_serial++;
        drop_if_empty(fd);
    }
}

void event_del_write(int fd)
{
    struct watch *w = find_watch(fd);
    if (w) {
        w->wcb = NULL;
        w->wserial = next_serial++;
        drop_if_empty(fd);
    }
}

/* --- timers ------------------------------------------------------------------------ */

long event_timer(long ms, event_timer_cb cb, void *ctx)
{
    if (ntimers == timers_cap) {
        timers_cap = timers_cap ? timers_cap * 2 : 16;
        timers = xrealloc(timers, timers_cap * sizeof *timers);
    }
    struct timer *t = &timers[ntimers++];
    t->id = next_timer_id++;
    long long delay = ms > 0 ? ms : 0;
    if (delay > EVENT_TIMER_MAX_MS)
        delay = EVENT_TIMER_MAX_MS;     /* no overflow of the due time */
    t->due = event_now_ms() + delay;
    t->cb = cb;
    t->ctx = ctx;
    return t->id;
}

void event_cancel_timer(long id)
{
    for (size_t i = 0; i < ntimers; i++)
        if (timers[i].id == id) {
            timers[i] = timers[--ntimers];
            return;
        }
}

/* Run timers that are due (each at most once per call, in due order). */
static void run_due_timers(void)
{
    long long now = event_now_ms();
    long limit_id = next_timer_id;      /* timers added by callbacks wait for the next round */
    for (;;) {
        size_t best = ntimers;
        for (size_t i = 0; i < ntimers; i++)
            if (timers[i].due <= now && timers[i].id < limit_id
                && (best == ntimers || timers[i].due < timers[best].due))
                best = i;
        if (best == ntimers)
            return;
        struct timer t = timers[best];
        timers[best] = timers[--ntimers];
        t.cb(t.ctx);
    }
}

/* --- signals ----------------------------------------------------------------------- */

static void on_signal(int signo)
{
    int saved = errno;
    unsigned char b = (unsigned char)signo;
    ssize_t r = write(sig_pipe[1], &b, 1);
    (void)r;
    errno = saved;
}

void event_signal(int signo, event_signal_cb cb, void *ctx)
{
    if (signo <= 0 || signo >= EVENT_MAX_SIGNAL)
        msg_panic("event_signal: bad signal %d", signo);
    if (sig_pipe[0] < 0 && pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
        msg_fatal("event_signal: pipe: %s", strerror(errno));
    sig_handlers[signo].cb = cb;
    sig_handlers[signo].ctx = ctx;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(signo, &sa, NULL) != 0)
        msg_fatal("event_signal: sigaction(%d): %s", signo, strerror(errno));
}

static void dispatch_signals(void)
{
    unsigned char buf[64];
    ssize_t n;
    int guard = 0;
    while (guard++ < 64 && (n = read(sig_pipe[0], buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < n; i++) {
            int s = buf[i];
            if (s > 0 && s < EVENT_MAX_SIGNAL && sig_handlers[s].cb)
                sig_handlers[s].cb(s, sig_handlers[s].ctx);
        }
}

/* --- the loop ---------------------------------------------------------------------- */

void event_loop_once(long max_wait_ms)
{
    size_t n = nwatches + 1;
    struct pollfd *pfd = xcalloc(n, sizeof *pfd);
    /* the watch each entry was built from: a callback may delete a watch and create
     * another on the same fd number, which must not get the old descriptor's events */
    unsigned long *rser = xcalloc(n, sizeof *rser), *wser = xcalloc(n, sizeof *wser);
    size_t k = 0;
    if (sig_pipe[0] >= 0)
        pfd[k++] = (struct pollfd){ .fd = sig_pipe[0], .events = POLLIN };
    size_t first_watch = k;
    for (size_t i = 0; i < nwatches; i++) {
        pfd[k].fd = watches[i].fd;
        pfd[k].events = (short)((watches[i].rcb ? POLLIN : 0) | (watches[i].wcb ? POLLOUT : 0));
        rser[k] = watches[i].rserial;
        wser[k] = watches[i].wserial;
        k++;
    }

    long long timeout = max_wait_ms < 0 ? -1 : max_wait_ms;
    if (ntimers > 0) {
        long long now = event_now_ms(), soonest = timers[0].due;
        for (size_t i = 1; i < ntimers; i++)
            if (timers[i].due < soonest)
                soonest = timers[i].due;
        long long left = soonest > now ? soonest - now : 0;
        if (timeout < 0 || left < timeout)
            timeout = left;
    }
    if (timeout > 24LL * 3600 * 1000)
        timeout = 24LL * 3600 * 1000;

    int rc = poll(pfd, k, (int)timeout);
    if (rc < 0 && errno != EINTR)
        msg_fatal("event loop: poll: %s", strerror(errno));

    if (sig_pipe[0] >= 0 && first_watch == 1 && rc > 0 && (pfd[0].revents & POLLIN))
        dispatch_signals();
    else if (sig_pipe[0] >= 0 && rc < 0)
        dispatch_signals();                 /* EINTR: a signal may be pending in the pipe */

    if (rc > 0) {
        for (size_t i = first_watch; i < k; i++) {
            short re = pfd[i].revents;
            if (!re)
                continue;
            /* look the watch up again: an earlier callback may have changed it */
            struct watch *w = find_watch(pfd[i].fd);
            if (w && w->rcb && w->rserial == rser[i]
                && (re & (POLLIN | POLLHUP | POLLERR | POLLNVAL)))
                w->rcb(pfd[i].fd, w->rctx);
            w = find_watch(pfd[i].fd);
            if (w && w->wcb && w->wserial == wser[i]
                && (re & (POLLOUT | POLLHUP | POLLERR | POLLNVAL)))
                w->wcb(pfd[i].fd, w->wctx);
        }
    }
    free(pfd);
    free(rser);
    free(wser);
    run_due_timers();
}
