/* flow.c: the in_flow_delay token pipe (see flow.h): master creates and primes it, qmgr
 * puts tokens as messages leave incoming/ (and tops it up when idle), cleanup takes one
 * per new message with a bounded wait. All I/O on the pipe is non-blocking; nothing here
 * can block a daemon longer than the wait it asked for. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "flow.h"
#include "log.h"
#include "server.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FLOW_GET_MAX_ROUNDS 100000   /* poll/read rounds per flow_get (losing races) */

static int flow_on;                  /* child: descriptors checked and usable */
static int master_rd = -1, master_wr = -1;

/* Is fd an open pipe end with the given access mode (O_RDONLY/O_WRONLY)? */
static int flow_fd_usable(int fd, int accmode, struct stat *st)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || (fl & O_ACCMODE) != accmode)
        return 0;
    if (fstat(fd, st) != 0 || !S_ISFIFO(st->st_mode))
        return 0;
    return 1;
}

void flow_init(void)
{
    struct stat rst, wst;

    flow_on = 0;
    if (!flow_fd_usable(SERVER_FLOW_READ_FD, O_RDONLY, &rst)
        || !flow_fd_usable(SERVER_FLOW_WRITE_FD, O_WRONLY, &wst)
        || rst.st_dev != wst.st_dev || rst.st_ino != wst.st_ino)
        return;                      /* not from master: no flow control */
    for (int fd = SERVER_FLOW_READ_FD; fd <= SERVER_FLOW_WRITE_FD; fd++) {
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || ((fl & O_NONBLOCK) == 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0))
            return;
        if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
            return;
    }
    flow_on = 1;
}

int flow_enabled(void)
{
    return flow_on;
}

static long long flow_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int flow_get(long timeout_ms)
{
    if (!flow_on || timeout_ms <= 0)
        return 0;
    if (timeout_ms > FLOW_MAX_WAIT_MS)
        timeout_ms = FLOW_MAX_WAIT_MS;
    long long deadline = flow_now_ms() + timeout_ms;

    for (int round = 0; round < FLOW_GET_MAX_ROUNDS; round++) {
        char token;
        ssize_t n = read(SERVER_FLOW_READ_FD, &token, 1);
        if (n == 1)
            return 1;
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            /* cannot happen with a healthy pipe (we hold a write end ourselves) */
            msg_warn("flow control pipe: %s; in_flow_delay disabled in this process",
                     n == 0 ? "unexpected end of file" : strerror(errno));
            flow_on = 0;
            return 0;
        }
        long long left = deadline - flow_now_ms();
        if (left <= 0)
            return 0;
        struct pollfd pfd = { .fd = SERVER_FLOW_READ_FD, .events = POLLIN };
        if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR) {
            msg_warn("poll on the flow control pipe: %s", strerror(errno));
            return 0;
        }
        /* readable, timed out or interrupted: the read above decides; another cleanup
         * may have taken the token first, then we wait again until the deadline */
    }
    return 0;
}

/* Tokens now in the pipe, or -1 when that cannot be read. */
static int flow_count(int rd)
{
    int queued = 0;
    if (ioctl(rd, FIONREAD, &queued) != 0 || queued < 0)
        return -1;
    return queued;
}

/* Add up to n tokens to the pipe (fds given), keeping it at or below FLOW_MAX_TOKENS. */
static int flow_fill(int rd, int wr, int n)
{
    int queued = flow_count(rd);
    char tokens[FLOW_MAX_TOKENS];

    if (n <= 0)
        return 0;
    if (queued < 0)
        queued = 0;                  /* unknown: the cap below still bounds one call */
    if (queued >= FLOW_MAX_TOKENS)
        return 0;
    if (n > FLOW_MAX_TOKENS - queued)
        n = FLOW_MAX_TOKENS - queued;
    memset(tokens, 'T', (size_t)n);
    ssize_t w;
    do
        w = write(wr, tokens, (size_t)n);
    while (w < 0 && errno == EINTR);
    return w > 0 ? (int)w : 0;       /* EAGAIN (pipe full): nobody needs more tokens */
}

int flow_put(int n)
{
    if (!flow_on)
        return 0;
    return flow_fill(SERVER_FLOW_READ_FD, SERVER_FLOW_WRITE_FD, n);
}

int flow_top_up(int level)
{
    if (!flow_on)
        return 0;
    if (level > FLOW_MAX_TOKENS)
        level = FLOW_MAX_TOKENS;
    int queued = flow_count(SERVER_FLOW_READ_FD);
    if (queued < 0 || queued >= level)
        return 0;
    return flow_fill(SERVER_FLOW_READ_FD, SERVER_FLOW_WRITE_FD, level - queued);
}

int flow_master_init(int tokens)
{
    int fds[2];

    if (master_rd >= 0)
        return 0;
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0)
        return -1;
    master_rd = fds[0];
    master_wr = fds[1];
    (void)flow_fill(master_rd, master_wr, tokens);
    return 0;
}

void flow_master_fds(int *read_fd, int *write_fd)
{
    *read_fd = master_rd;
    *write_fd = master_wr;
}
