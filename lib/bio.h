/* bio.h: buffered I/O on a file descriptor (socket, pipe or file) with per-operation
 * timeouts. Used for SMTP sessions, IPC between daemons and queue file access.
 * The read and write functions are replaceable (read_fn/write_fn) so TLS can be
 * layered under an existing stream later.
 *
 * Errors are sticky: after a timeout, EOF or I/O error every further operation fails
 * and bio_error() says which. The timeout bounds each wait for the peer (each poll
 * before a read or write), like Postfix's per-read timeouts. */
#ifndef POSTERN_BIO_H
#define POSTERN_BIO_H
#include <stddef.h>
#include <sys/types.h>
#include "str.h"

enum bio_err { BIO_OK = 0, BIO_EOF = 1, BIO_TIMEOUT = 2, BIO_IOERR = 3 };

typedef struct bio bio;
/* Replacement read/write functions behave like read(2)/write(2): they may transfer fewer
 * bytes than asked, return -1 with errno set on error, and must wait at most
 * b->timeout_ms, reporting a timeout as -1 with errno = ETIMEDOUT. */
typedef ssize_t (*bio_read_fn)(bio *b, void *buf, size_t len);   /* like read(2); -1+errno */
typedef ssize_t (*bio_write_fn)(bio *b, const void *buf, size_t len);

struct bio {
    int fd;
    int timeout_ms;          /* <= 0: no timeout (block) */
    int err;                 /* enum bio_err, sticky */
    char *rbuf; size_t rpos, rlen, rcap;
    char *wbuf; size_t wlen, wcap;
    bio_read_fn read_fn;     /* default: poll + read on fd */
    bio_write_fn write_fn;   /* default: poll + write on fd */
    void *ctx;               /* for read_fn/write_fn (e.g. an SSL*) */
    unsigned long long bytes_in, bytes_out;
    int sys_errno;           /* errno saved with a BIO_IOERR, for bio_strerror() */
};

bio *bio_open(int fd, int timeout_ms);       /* takes no ownership of fd unless bio_close */
bio *bio_open_file(int fd);                  /* the same for a regular file: no timeout,
                                              * plain write(2) (not send(2)) */
void bio_free(bio *b);                       /* frees buffers, does NOT close fd */
int bio_close(bio *b);                       /* flushes, closes fd, frees; returns 0 or -1 */
void bio_set_timeout(bio *b, int timeout_ms);
int bio_error(const bio *b);                 /* enum bio_err */
/* Forget a sticky read timeout so a last reply (e.g. "421 timeout") can still be written.
 * EOF and I/O errors stay sticky: the peer is gone. */
void bio_clear_timeout(bio *b);
const char *bio_strerror(const bio *b);      /* "timeout", "end of file", strerror(errno) */

/* Reading functions first flush pending output when they have to wait for input, so a
 * reply is never stuck in the buffer while we wait for the peer (PIPELINING-friendly:
 * replies to already-buffered commands are batched).
 *
 * Read one line into `line` (replacing its contents). Reads up to and including '\n',
 * but stores at most `maxlen` bytes; if the line is longer, returns the first maxlen
 * bytes and *complete = 0 (the rest is returned by later calls). A last line without '\n'
 * before EOF is returned with *complete = 0; the following call returns -1. The '\n' (and the
 * byte before it, if any) are kept in `line` so callers can tell CRLF from bare LF.
 * Returns number of bytes stored (> 0), or -1 on EOF/error/timeout. */
ssize_t bio_getline(bio *b, str *line, size_t maxlen, int *complete);
/* Read exactly n bytes; 0 on success, -1 on error/EOF. */
int bio_read_exact(bio *b, void *buf, size_t n);
/* Read one byte; -1 on error/EOF. */
int bio_getc(bio *b);
/* Bytes already buffered and not yet consumed (for PIPELINING / STARTTLS checks). */
size_t bio_pending(const bio *b);
void bio_discard_pending(bio *b);

int bio_write(bio *b, const void *data, size_t len); /* buffered; 0 or -1 */
int bio_puts(bio *b, const char *s);
int bio_printf(bio *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int bio_flush(bio *b);                               /* 0 or -1 */

#endif
