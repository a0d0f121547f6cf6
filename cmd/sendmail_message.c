/* sendmail_message.c: reads the message a user pipes into `sendmail` and stores it as
 * N/L content records in an unlinked temporary file, so that the pickup connection is
 * only opened once the whole message is known (recipients from headers must precede the
 * content on the wire, and a slow writer never holds a daemon).
 *
 * Line ends may be LF or CRLF (both stored without terminator). Without -i/-oi a line
 * holding a single "." ends the message, like sendmail. Lines longer than
 * SENDMAIL_LINE_PIECE go out as L pieces. With -t the header block is parsed: To, Cc and
 * Bcc (with their continuation lines) are handed to addrlist_parse(), and Bcc fields are
 * left out of the message. Header processing stops at the empty line, at the first line
 * that is not a header field, or when the header block exceeds header_size_limit (the
 * rest is copied unchanged). The total is bounded by message_size_limit. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <unistd.h>

#include "addrlist.h"
#include "config.h"
#include "mem.h"
#include "record.h"
#include "sendmail.h"

struct reader {
    const struct sendmail_opts *o;
    struct sendmail_msg *m;
    bio *spool;
    long limit;                 /* message_size_limit, 0 = none */
    long header_limit;
    long header_bytes;
    int in_headers;
    str field;                  /* held header field: its lines joined by '\n' */
    int have_field;
    int failed;                 /* exit code once something went wrong */
};

static int put(struct reader *r, int type, const char *data, size_t len)
{
    if (r->failed)
        return -1;
    r->m->size += (long)len + (type == REC_NORM);
    if (r->limit > 0 && r->m->size > r->limit) {
        sendmail_error("message too big: it exceeds message_size_limit (%ld bytes)", r->limit);
        r->failed = EX_DATAERR;
        return -1;
    }
    if (rec_put(r->spool, type, data, len) < 0) {
        sendmail_error("cannot write the temporary file: %s", bio_strerror(r->spool));
        r->failed = EX_TEMPFAIL;
        return -1;
    }
    return 0;
}

/* Write the held field (one N record per line) unless it is dropped. */
static void flush_field(struct reader *r)
{
    const char *p, *nl, *colon;
    size_t namelen;
    int drop = 0;

    if (!r->have_field)
        return;
    r->have_field = 0;
    colon = memchr(r->field.data, ':', r->field.len);
    namelen = colon ? (size_t)(colon - r->field.data) : 0;
    while (namelen > 0 && (r->field.data[namelen - 1] == ' ' || r->field.data[namelen - 1] == '\t'))
        namelen--;
    if (r->o->extract && colon) {
        const char *name = r->field.data;
        int is_bcc = namelen == 3 && strncasecmp(name, "bcc", 3) == 0;
        if (is_bcc || (namelen == 2 && (strncasecmp(name, "to", 2) == 0
                                         || strncasecmp(name, "cc", 2) == 0))) {
            const char *err = NULL;
            size_t vlen = r->field.len - (size_t)(colon + 1 - r->field.data);
            if (addrlist_parse(colon + 1, vlen, &r->m->hdr_rcpts, &err) < 0) {
                sendmail_error("bad address list in %.*s: header: %s", (int)namelen, name, err);
                r->failed = EX_DATAERR;
                return;
            }
            drop = is_bcc;
        }
    }
    if (drop)
        return;
    for (p = r->field.data; !r->failed;) {
        nl = memchr(p, '\n', r->field.len - (size_t)(p - r->field.data));
        if (nl == NULL) {
            put(r, REC_NORM, p, r->field.len - (size_t)(p - r->field.data));
            break;
        }
        put(r, REC_NORM, p, (size_t)(nl - p));
        p = nl + 1;
    }
}

static int is_field_start(const char *s, size_t len)
{
    size_t i = 0;

    while (i < len && (unsigned char)s[i] > 32 && (unsigned char)s[i] < 127 && s[i] != ':')
        i++;
    while (i < len && (s[i] == ' ' || s[i] == '\t'))    /* obsolete "Name :" */
        i++;
    return i > 0 && i < len && s[i] == ':';
}

/* A complete line in the header block; returns 1 if it was consumed as header. */
static int header_line(struct reader *r, const char *s, size_t len)
{
    int cont = len > 0 && (s[0] == ' ' || s[0] == '\t');

    if ((cont && !r->have_field) || (!cont && !is_field_start(s, len))
        || r->header_bytes + (long)len + 1 > r->header_limit) {
        flush_field(r);
        r->in_headers = 0;                  /* body starts here (this line included) */
        return 0;
    }
    r->header_bytes += (long)len + 1;
    if (cont) {
        str_putc(&r->field, '\n');
        str_append(&r->field, s, len);
        return 1;
    }
    flush_field(r);
    str_setn(&r->field, s, len);
    r->have_field = 1;
    return 1;
}

/* One piece of input; complete = the piece ends its line. first = first piece of it. */
static void take_piece(struct reader *r, const char *s, size_t len, int complete, int first)
{
    if (r->in_headers) {
        if (first && complete && header_line(r, s, len))
            return;
        flush_field(r);
        r->in_headers = 0;
    }
    if (complete)
        put(r, REC_NORM, s, len);
    else if (len > 0)
        put(r, REC_CONT, s, len);
}

int sendmail_read_message(bio *in, const struct sendmail_opts *o, struct sendmail_msg *m)
{
    struct reader r;
    str line, piece;
    int complete, first = 1, carry_cr = 0, eof_dot = 0;
    FILE *tmp;

    memset(m, 0, sizeof(*m));
    m->spool_fd = -1;
    if ((tmp = tmpfile()) == NULL) {
        sendmail_error("cannot create a temporary file: %s", strerror(errno));
        return EX_TEMPFAIL;
    }
    m->spool_fd = dup(fileno(tmp));
    fclose(tmp);
    if (m->spool_fd < 0) {
        sendmail_error("cannot create a temporary file: %s", strerror(errno));
        return EX_TEMPFAIL;
    }
    memset(&r, 0, sizeof(r));
    r.o = o;
    r.m = m;
    r.spool = bio_open(m->spool_fd, -1);
    r.limit = config_size("message_size_limit");
    r.header_limit = config_size("header_size_limit");
    r.in_headers = 1;
    str_init(&r.field);
    str_init(&line);
    str_init(&piece);
    /* Each pass consumes at least one input byte; the size limit bounds the total. */
    while (!r.failed) {
        ssize_t n = bio_getline(in, &line, SENDMAIL_LINE_PIECE, &complete);
        if (n < 0)
            break;
        str_reset(&piece);
        if (carry_cr)
            str_putc(&piece, '\r');
        carry_cr = 0;
        str_append(&piece, line.data, line.len);
        if (piece.len > 0 && piece.data[piece.len - 1] == '\n') {
            str_truncate(&piece, piece.len - 1);
            if (piece.len > 0 && piece.data[piece.len - 1] == '\r')
                str_truncate(&piece, piece.len - 1);
            if (first && !o->ignore_dots && piece.len == 1 && piece.data[0] == '.') {
                eof_dot = 1;
                break;
            }
            take_piece(&r, piece.data, piece.len, 1, first);
            first = 1;
        } else {
            /* A long line, or the last line without a newline (we learn which at the
             * next read). Hold back a final CR: it may be half of a CRLF. */
            if (piece.len > 0 && piece.data[piece.len - 1] == '\r') {
                str_truncate(&piece, piece.len - 1);
                carry_cr = 1;
            }
            take_piece(&r, piece.data, piece.len, 0, first);
            first = 0;
        }
    }
    if (!r.failed && !eof_dot && bio_error(in) != BIO_EOF) {
        sendmail_error("error reading the message: %s", bio_strerror(in));
        r.failed = EX_IOERR;
    }
    if (!r.failed && !first)                 /* last line had no newline: end it */
        put(&r, REC_NORM, carry_cr ? "\r" : "", carry_cr ? 1 : 0);
    if (!r.failed && r.in_headers)
        flush_field(&r);
    if (!r.failed && bio_flush(r.spool) < 0) {
        sendmail_error("cannot write the temporary file: %s", bio_strerror(r.spool));
        r.failed = EX_TEMPFAIL;
    }
    if (!r.failed && lseek(m->spool_fd, 0, SEEK_SET) != 0) {
        sendmail_error("cannot rewind the temporary file: %s", strerror(errno));
        r.failed = EX_TEMPFAIL;
    }
    bio_free(r.spool);
    str_free(&r.field);
    str_free(&line);
    str_free(&piece);
    return r.failed;
}

void sendmail_msg_free(struct sendmail_msg *m)
{
    if (m->spool_fd >= 0)
        close(m->spool_fd);
    strv_free(m->hdr_rcpts);
    memset(m, 0, sizeof(*m));
    m->spool_fd = -1;
}

void sendmail_error(const char *fmt, ...)
{
    va_list ap;

    fputs("sendmail: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}
