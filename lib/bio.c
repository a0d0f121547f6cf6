/* bio.c: buffered I/O on a file descriptor with poll(2)-based per-operation timeouts.
 * Every network conversation (SMTP, daemon-to-daemon attribute lists) and queue-file
 * reader sits on top of this. Errors are sticky; writes survive partial writes and
 * EINTR. Sockets are written with MSG_NOSIGNAL, so a vanished peer is an EPIPE error
 * even where SIGPIPE is not ignored. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "bio.h"
#include "mem.h"
#include "log.h"
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BIO_RBUF_SIZE 16384
#define BIO_WBUF_SIZE 16384
#define BIO_MAX_ZERO_WRITES 100     /* write() returning 0 this often = I/O error */

static long long monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int n_again(int err)
{
    return err == EAGAIN || err == EWOULDBLOCK;
}

/* Wait until fd is ready for `events` or timeout; 1 ready, 0 timeout, -1 error.
 * Interrupted waits continue with the time that is left, so a steady stream of signals
 * cannot stretch the timeout. */
static int wait_ready(int fd, short events, int timeout_ms)
{
    struct pollfd pfd = { .fd = fd, .events = events };
    long long deadline = timeout_ms > 0 ? monotonic_ms() + timeout_ms : 0;
    int wait_ms = timeout_ms > 0 ? timeout_ms : -1;
    for (;;) {
        int n = poll(&pfd, 1, wait_ms);
        if (n > 0)
            return 1;               /* also on POLLERR/POLLHUP: read/write reports it */
        if (n == 0)
            return 0;
        if (errno != EINTR)
            return -1;
        if (timeout_ms > 0) {
            long long left = deadline - monotonic_ms();
            if (left <= 0)
                return 0;
            wait_ms = (int)left;
        }
    }
}

/* Wait before a read or write only when it has a timeout to enforce. Without one
 * (queue files, Maildir files, blocking pipes) the system call comes first and a wait
 * follows only if a non-blocking descriptor was not ready: one poll(2) fewer per call.
 * 1 go on, 0 timeout (errno ETIMEDOUT), -1 error. */
static int ready_for(bio *b, short events)
{
    if (b->timeout_ms <= 0)
        return 1;
    int r = wait_ready(b->fd, events, b->timeout_ms);
    if (r == 0)
        errno = ETIMEDOUT;
    return r;
}

/* After a failed call without a timeout: 1 if it was "not ready" and waiting helped. */
static int waited_for(bio *b, short events)
{
    return n_again(errno) && b->timeout_ms <= 0 && wait_ready(b->fd, events, -1) > 0;
}

static ssize_t default_read(bio *b, void *buf, size_t len)
{
    ssize_t n;

    if (ready_for(b, POLLIN) <= 0)
        return -1;
    do
        n = read(b->fd, buf, len);
    while ((n < 0 && errno == EINTR) || (n < 0 && waited_for(b, POLLIN)));
    return n;
}

/* write(2) for descriptors that are not sockets (queue files, pipes). */
static ssize_t plain_write(bio *b, const void *buf, size_t len)
{
    ssize_t n;

    if (ready_for(b, POLLOUT) <= 0)
        return -1;
    do
        n = write(b->fd, buf, len);
    while ((n < 0 && errno == EINTR) || (n < 0 && waited_for(b, POLLOUT)));
    return n;
}

/* Sockets are written with send(MSG_NOSIGNAL): a peer that went away is an EPIPE error,
 * never a SIGPIPE that kills a program which forgot to ignore it. The first ENOTSOCK
 * switches this bio to plain_write for good. */
static ssize_t default_write(bio *b, const void *buf, size_t len)
{
    ssize_t n;

    if (ready_for(b, POLLOUT) <= 0)
        return -1;
    do
        n = send(b->fd, buf, len, MSG_NOSIGNAL);
    while ((n < 0 && errno == EINTR) || (n < 0 && waited_for(b, POLLOUT)));
    if (n < 0 && errno == ENOTSOCK) {
        b->write_fn = plain_write;
        do
            n = write(b->fd, buf, len);
        while ((n < 0 && errno == EINTR) || (n < 0 && waited_for(b, POLLOUT)));
    }
    return n;
}

bio *bio_open(int fd, int timeout_ms)
{
    bio *b = xcalloc(1, sizeof *b);
    b->fd = fd;
    b->timeout_ms = timeout_ms;
    b->rcap = BIO_RBUF_SIZE;
    b->rbuf = xmalloc(b->rcap);
    b->wcap = BIO_WBUF_SIZE;
    b->wbuf = xmalloc(b->wcap);
    b->read_fn = default_read;
    b->write_fn = default_write;
    return b;
}

bio *bio_open_file(int fd)
{
    bio *b = bio_open(fd, 0);
    b->write_fn = plain_write;
    return b;
}

void bio_free(bio *b)
{
    if (!b)
        return;
    free(b->rbuf);
    free(b->wbuf);
    free(b);
}

int bio_close(bio *b)
{
    if (!b)
        return -1;
    int rc = bio_flush(b);
    if (close(b->fd) != 0)
        rc = -1;
    bio_free(b);
    return rc;
}

void bio_set_timeout(bio *b, int timeout_ms)
{
    b->timeout_ms = timeout_ms;
}

int bio_error(const bio *b)
{
    return b->err;
}

void bio_clear_timeout(bio *b)
{
    if (b->err == BIO_TIMEOUT)
        b->err = BIO_OK;
}

const char *bio_strerror(const bio *b)
{
    switch (b->err) {
    case BIO_OK:      return "no error";
    case BIO_EOF:     return "end of file";
    case BIO_TIMEOUT: return "timeout";
    default:          return b->sys_errno ? strerror(b->sys_errno) : "I/O error";
    }
}

static void set_error_from_errno(bio *b, int e)
{
    if (e == ETIMEDOUT) {
        b->err = BIO_TIMEOUT;
    } else {
        b->err = BIO_IOERR;
        b->sys_errno = e;
    }
}

/* --- reading ------------------------------------------------------------------ */

/* Refill the (empty) read buffer. 0 on success (some bytes), -1 on EOF/error (sticky). */
static int bio_fill(bio *b)
{
    if (b->err)
        return -1;
    if (b->wlen > 0 && bio_flush(b) != 0)
        return -1;
    if (b->rpos == b->rlen)
        b->rpos = b->rlen = 0;
    ssize_t n = b->read_fn(b, b->rbuf + b->rlen, b->rcap - b->rlen);
    if (n < 0) {
        set_error_from_errno(b, errno);
        return -1;
    }
    if (n == 0) {
        b->err = BIO_EOF;
        return -1;
    }
    b->rlen += (size_t)n;
    b->bytes_in += (unsigned long long)n;
    return 0;
}

ssize_t bio_getline(bio *b, str *line, size_t maxlen, int *complete)
{
    int dummy;
    if (!complete)
        complete = &dummy;
    *complete = 0;
    str_reset(line);
    if (maxlen == 0)
        maxlen = 1;
    for (;;) {
        size_t avail = b->rlen - b->rpos;
        size_t room = maxlen - line->len;
        size_t scan = avail < room ? avail : room;
        char *start = b->rbuf + b->rpos;
        char *nl = scan ? memchr(start, '\n', scan) : NULL;
        if (nl) {
            size_t n = (size_t)(nl - start) + 1;
            str_append(line, start, n);
            b->rpos += n;
            *complete = 1;
            return (ssize_t)line->len;
        }
        str_append(line, start, scan);
        b->rpos += scan;
        if (line->len >= maxlen)
            return (ssize_t)line->len;            /* too long: rest comes later */
        if (bio_fill(b) != 0) {
            if (b->err == BIO_EOF && line->len > 0)
                return (ssize_t)line->len;        /* unterminated last line */
            return -1;
        }
    }
}

int bio_read_exact(bio *b, void *buf, size_t n)
{
    char *out = buf;
    while (n > 0) {
        if (b->rpos == b->rlen && bio_fill(b) != 0)
            return -1;
        size_t avail = b->rlen - b->rpos;
        size_t take = avail < n ? avail : n;
        memcpy(out, b->rbuf + b->rpos, take);
        b->rpos += take;
        out += take;
        n -= take;
    }
    return 0;
}

int bio_getc(bio *b)
{
    if (b->rpos == b->rlen && bio_fill(b) != 0)
        return -1;
    return (unsigned char)b->rbuf[b->rpos++];
}

size_t bio_pending(const bio *b)
{
    return b->rlen - b->rpos;
}

void bio_discard_pending(bio *b)
{
    b->rpos = b->rlen = 0;
}

/* --- writing ------------------------------------------------------------------ */

/* Write all of data through write_fn; 0 or -1 (sticky error). */
static int write_fully(bio *b, const char *data, size_t len)
{
    int zero_writes = 0;
    while (len > 0) {
        ssize_t n = b->write_fn(b, data, len);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;       /* default_write polls first; EAGAIN is spurious readiness */
            set_error_from_errno(b, errno);
            return -1;
        }
        if (n == 0) {
            if (++zero_writes >= BIO_MAX_ZERO_WRITES) {
                b->err = BIO_IOERR;
                b->sys_errno = EIO;
                return -1;
            }
            continue;
        }
        data += n;
        len -= (size_t)n;
        b->bytes_out += (unsigned long long)n;
    }
    return 0;
}

int bio_flush(bio *b)
{
    if (b->wlen == 0)
        return 0;
    if (b->err) {
        b->wlen = 0;
        return -1;
    }
    size_t len = b->wlen;
    b->wlen = 0;
    return write_fully(b, b->wbuf, len);
}

int bio_write(bio *b, const void *data, size_t len)
{
    if (b->err)
        return -1;
    if (len <= b->wcap - b->wlen) {
        memcpy(b->wbuf + b->wlen, data, len);
        b->wlen += len;
        return 0;
    }
    if (bio_flush(b) != 0)
        return -1;
    if (len <= b->wcap) {
        memcpy(b->wbuf, data, len);
        b->wlen = len;
        return 0;
    }
    return write_fully(b, data, len);     /* big block: skip the buffer */
}

int bio_puts(bio *b, const char *s)
{
    return bio_write(b, s, strlen(s));
}

int bio_printf(bio *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        msg_panic("bio_printf: bad format \"%s\"", fmt);
    if ((size_t)n < sizeof small)
        return bio_write(b, small, (size_t)n);
    str big;
    str_init(&big);
    va_start(ap, fmt);
    str_vappendf(&big, fmt, ap);
    va_end(ap);
    int rc = bio_write(b, big.data, big.len);
    str_free(&big);
    return rc;
}
