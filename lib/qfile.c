/* qfile.c: reads queue files written by cleanup (see qfile.h and record.h) and marks
 * recipients done in place. Used by qmgr, the delivery agents and the queue commands.
 *
 * Nothing in a queue file is trusted. qfile_read_env() walks every record once and checks
 * the order (V, C, then T/A/F and recipients, M, only N/L, X, recipients, E, end of file),
 * the exact format of V, C and T, exactly one T and F, that an O is followed by R or D,
 * and that the C record agrees with the file (offset of M, content size, recipient count).
 * A file without E is reported as incomplete. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mem.h"
#include "qfile.h"
#include "record.h"

#define QFILE_ENV_REC_MAX 65536      /* any envelope record */
#define QFILE_ADDR_MAX 4096          /* F, O, R, D data */
#define QFILE_MAX_ATTRS 1024
#define QFILE_MAX_RCPTS (1 << 20)

/* Bytes the record header takes for a data length (lengths are minimally encoded). */
static off_t rec_header_size(size_t len)
{
    off_t n = 2;
    while (len >= 0x80) {
        len >>= 7;
        n++;
    }
    return n;
}

static int qfile_fail(char *errbuf, off_t offset, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int qfile_fail(char *errbuf, off_t offset, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(errbuf, 256, "malformed queue file at offset %lld: ", (long long)offset);
    if (n < 0 || n >= 256)
        n = 0;
    va_start(ap, fmt);
    vsnprintf(errbuf + n, (size_t)(256 - n), fmt, ap);
    va_end(ap);
    return -2;
}

/* Parse a right-aligned non-negative decimal field of exactly `width` chars. */
static int parse_fixed_field(const char *s, int width, long *out)
{
    int i = 0;
    long v = 0;
    while (i < width && s[i] == ' ')
        i++;
    if (i == width)
        return -1;
    for (; i < width; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        if (v > (__LONG_MAX__ - 9) / 10)
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* "%15ld %15ld %6d" exactly. */
static int parse_size_record(const char *s, size_t len, long *offset, long *size, long *rcpts)
{
    if (len != QFILE_SIZE_LEN || s[15] != ' ' || s[31] != ' ')
        return -1;
    if (parse_fixed_field(s, 15, offset) < 0 || parse_fixed_field(s + 16, 15, size) < 0
        || parse_fixed_field(s + 32, 6, rcpts) < 0)
        return -1;
    return 0;
}

/* "SECONDS.MICROSECONDS" (1-6 fraction digits, value < 1000000). */
static int parse_time_record(const char *s, size_t len, long *sec, long *usec)
{
    const char *dot = memchr(s, '.', len);
    if (!dot || dot == s)
        return -1;
    size_t ilen = (size_t)(dot - s), flen = len - ilen - 1;
    if (ilen > 18 || flen < 1 || flen > 6)
        return -1;
    long a = 0, b = 0;
    for (size_t i = 0; i < ilen; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        a = a * 10 + (s[i] - '0');
    }
    for (size_t i = 0; i < flen; i++) {
        if (dot[1 + i] < '0' || dot[1 + i] > '9')
            return -1;
        b = b * 10 + (dot[1 + i] - '0');
    }
    *sec = a;
    *usec = b;
    return 0;
}

static void env_add_rcpt(struct qfile_env *env, int *cap, const char *addr, char *orig,
                         off_t offset, int done)
{
    if (env->rcpt_count == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        env->rcpts = xrealloc(env->rcpts, (size_t)*cap * sizeof(*env->rcpts));
    }
    struct qfile_rcpt *r = &env->rcpts[env->rcpt_count++];
    r->address = xstrdup(addr);
    r->orig = orig;
    r->offset = offset;
    r->done = done;
}

static void env_add_attr(struct qfile_env *env, int *cap, const char *data, const char *eq)
{
    if (env->attr_count == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        env->attr_names = xrealloc(env->attr_names, (size_t)*cap * sizeof(char *));
        env->attr_values = xrealloc(env->attr_values, (size_t)*cap * sizeof(char *));
    }
    env->attr_names[env->attr_count] = xstrndup(data, (size_t)(eq - data));
    env->attr_values[env->attr_count] = xstrdup(eq + 1);
    env->attr_count++;
}

enum qstate { Q_VERSION, Q_SIZE, Q_ENVELOPE, Q_CONTENT, Q_EXTRACTED, Q_END };

int qfile_read_env(int fd, struct qfile_env *env, char *errbuf)
{
    memset(env, 0, sizeof(*env));
    errbuf[0] = 0;
    if (lseek(fd, 0, SEEK_SET) < 0) {
        snprintf(errbuf, 256, "seek queue file: %s", strerror(errno));
        return -1;
    }
    bio *b = bio_open_file(fd);
    str data;
    str_init(&data);
    enum qstate state = Q_VERSION;
    off_t off = 0, c_offset = 0;
    long c_size = 0, c_rcpts = 0, content_bytes = 0;
    int have_time = 0, have_from = 0, rcpt_cap = 0, attr_cap = 0, rc = 0, last_content = 0;
    char *pending_orig = NULL;

    for (;;) {
        int type;
        const char *err = NULL;
        int r = rec_get(b, &type, &data, REC_MAX_LEN, &err);
        if (r == -1) {
            if (bio_error(b) == BIO_EOF) {
                if (state != Q_END)
                    rc = qfile_fail(errbuf, off, "missing end record (incomplete file)");
            } else {
                snprintf(errbuf, 256, "read queue file: %s", err);
                rc = -1;
            }
            break;
        }
        if (r == -2) {
            rc = qfile_fail(errbuf, off, "%s", err);
            break;
        }
        off_t rec_off = off;
        off += rec_header_size(data.len) + (off_t)data.len;
        int is_text_rec = type != REC_NORM && type != REC_CONT;
        if (is_text_rec && data.len > QFILE_ENV_REC_MAX) {
            rc = qfile_fail(errbuf, rec_off, "record '%c' too long", type);
            break;
        }
        if (is_text_rec && memchr(data.data, 0, data.len)) {
            rc = qfile_fail(errbuf, rec_off, "NUL byte in record '%c'", type);
            break;
        }
        if (pending_orig && type != REC_RCPT && type != REC_DONE) {
            rc = qfile_fail(errbuf, rec_off, "original recipient not followed by a recipient");
            break;
        }
        if (state == Q_END) {
            rc = qfile_fail(errbuf, rec_off, "data after end record");
            break;
        }
        if (state == Q_VERSION) {
            if (type != REC_VERSION || strcmp(data.data, QFILE_VERSION) != 0) {
                rc = qfile_fail(errbuf, rec_off, "first record is not version " QFILE_VERSION);
                break;
            }
            env->version = xstrdup(data.data);
            state = Q_SIZE;
            continue;
        }
        if (state == Q_SIZE) {
            long o;
            if (type != REC_SIZE || parse_size_record(data.data, data.len, &o, &c_size,
                                                      &c_rcpts) < 0) {
                rc = qfile_fail(errbuf, rec_off, "second record is not a valid size record");
                break;
            }
            c_offset = (off_t)o;
            state = Q_ENVELOPE;
            continue;
        }
        if (state == Q_CONTENT) {
            if (type == REC_NORM || type == REC_CONT) {
                long add = (long)data.len + (type == REC_NORM ? 1 : 0);
                if (content_bytes > __LONG_MAX__ - add) {
                    rc = qfile_fail(errbuf, rec_off, "content too large");
                    break;
                }
                content_bytes += add;
                last_content = type;
            } else if (type == REC_XTRA) {
                if (last_content == REC_CONT) {
                    rc = qfile_fail(errbuf, rec_off, "content ends inside a continued line");
                    break;
                }
                if (data.len) {
                    rc = qfile_fail(errbuf, rec_off, "end-of-content record with data");
                    break;
                }
                env->content_end = off;
                state = Q_EXTRACTED;
            } else {
                rc = qfile_fail(errbuf, rec_off, "record '%c' inside message content", type);
                break;
            }
            continue;
        }
        /* Q_ENVELOPE or Q_EXTRACTED */
        switch (type) {
        case REC_ORCPT:
            if (data.len > QFILE_ADDR_MAX) {
                rc = qfile_fail(errbuf, rec_off, "original recipient too long");
                break;
            }
            pending_orig = xstrdup(data.data);
            continue;
        case REC_RCPT:
        case REC_DONE:
            if (data.len > QFILE_ADDR_MAX || data.len == 0) {
                rc = qfile_fail(errbuf, rec_off, "bad recipient length");
                break;
            }
            if (env->rcpt_count >= QFILE_MAX_RCPTS) {
                rc = qfile_fail(errbuf, rec_off, "too many recipients");
                break;
            }
            env_add_rcpt(env, &rcpt_cap, data.data, pending_orig, rec_off, type == REC_DONE);
            pending_orig = NULL;
            continue;
        case REC_END:
            if (state != Q_EXTRACTED) {
                rc = qfile_fail(errbuf, rec_off, "end record before message content");
                break;
            }
            if (data.len) {
                rc = qfile_fail(errbuf, rec_off, "end record with data");
                break;
            }
            env->complete = 1;
            state = Q_END;
            continue;
        default:
            break;
        }
        if (rc)
            break;
        if (state == Q_EXTRACTED) {
            rc = qfile_fail(errbuf, rec_off, "record '%c' after message content", type);
            break;
        }
        switch (type) {
        case REC_TIME:
            if (have_time++ || parse_time_record(data.data, data.len, &env->arrival_sec,
                                                 &env->arrival_usec) < 0)
                rc = qfile_fail(errbuf, rec_off, "bad or duplicate arrival time record");
            break;
        case REC_FROM:
            if (have_from++ || data.len > QFILE_ADDR_MAX)
                rc = qfile_fail(errbuf, rec_off, "bad or duplicate sender record");
            else
                env->sender = xstrdup(data.data);
            break;
        case REC_ATTR: {
            const char *eq = strchr(data.data, '=');
            if (!eq || eq == data.data)
                rc = qfile_fail(errbuf, rec_off, "attribute record without name=value");
            else if (env->attr_count >= QFILE_MAX_ATTRS)
                rc = qfile_fail(errbuf, rec_off, "too many attribute records");
            else
                env_add_attr(env, &attr_cap, data.data, eq);
            break;
        }
        case REC_MESG:
            if (data.len)
                rc = qfile_fail(errbuf, rec_off, "start-of-content record with data");
            else if (!have_time || !have_from)
                rc = qfile_fail(errbuf, rec_off, "content starts before time and sender records");
            else if (rec_off != c_offset)
                rc = qfile_fail(errbuf, rec_off, "content offset in size record is %lld",
                                (long long)c_offset);
            else {
                env->content_offset = rec_off;
                state = Q_CONTENT;
            }
            break;
        default:
            rc = qfile_fail(errbuf, rec_off, "unexpected record '%c' in envelope", type);
            break;
        }
        if (rc)
            break;
    }
    if (rc == 0) {
        if (content_bytes != c_size)
            rc = qfile_fail(errbuf, env->content_offset,
                            "size record says %ld content bytes, file has %ld", c_size, content_bytes);
        else if (c_rcpts != env->rcpt_count)
            rc = qfile_fail(errbuf, 0, "size record says %ld recipients, file has %d",
                            c_rcpts, env->rcpt_count);
        else if (env->rcpt_count == 0)
            rc = qfile_fail(errbuf, 0, "no recipients");
    }
    free(pending_orig);
    str_free(&data);
    bio_free(b);
    env->message_size = c_size;
    if (rc != 0)
        qfile_env_free(env);
    return rc;
}

void qfile_env_free(struct qfile_env *env)
{
    free(env->version);
    free(env->sender);
    for (int i = 0; i < env->attr_count; i++) {
        free(env->attr_names[i]);
        free(env->attr_values[i]);
    }
    free(env->attr_names);
    free(env->attr_values);
    for (int i = 0; i < env->rcpt_count; i++) {
        free(env->rcpts[i].address);
        free(env->rcpts[i].orig);
    }
    free(env->rcpts);
    memset(env, 0, sizeof(*env));
}

const char *qfile_env_attr(const struct qfile_env *env, const char *name)
{
    for (int i = 0; i < env->attr_count; i++)
        if (strcmp(env->attr_names[i], name) == 0)
            return env->attr_values[i];
    return NULL;
}

/* --- content ------------------------------------------------------------------------ */

int qfile_content_open(qfile_reader *r, int fd, off_t content_offset)
{
    r->b = NULL;
    r->done = 0;
    if (content_offset <= 0 || lseek(fd, content_offset, SEEK_SET) < 0)
        return -1;
    r->b = bio_open_file(fd);
    str data;
    str_init(&data);
    int type;
    const char *err;
    int rc = rec_get(r->b, &type, &data, 0, &err);
    str_free(&data);
    if (rc < 0 || type != REC_MESG) {
        bio_free(r->b);
        r->b = NULL;
        errno = EINVAL;
        return -1;
    }
    return 0;
}

int qfile_next_line(qfile_reader *r, str *line, size_t maxlen, const char **err)
{
    str data;
    int rc = -1;
    if (!r->b) {
        *err = "content reader not open";
        return -1;
    }
    if (r->done)
        return 0;
    str_reset(line);
    str_init(&data);
    for (;;) {
        int type;
        if (rec_get(r->b, &type, &data, REC_MAX_LEN, err) < 0)
            break;
        if (type == REC_XTRA) {
            if (line->len) {
                *err = "content ends inside a continued line";
                break;
            }
            r->done = 1;
            rc = 0;
            break;
        }
        if (type != REC_NORM && type != REC_CONT) {
            *err = "unexpected record inside message content";
            break;
        }
        if (line->len + data.len > maxlen) {
            *err = "content line too long";
            break;
        }
        str_append(line, data.data, data.len);
        if (type == REC_NORM) {
            rc = 1;
            break;
        }
    }
    str_free(&data);
    return rc;
}

void qfile_content_close(qfile_reader *r)
{
    if (r->b)
        bio_free(r->b);
    r->b = NULL;
}

int qfile_mark_done(int fd, off_t offset)
{
    char c;
    ssize_t n = pread(fd, &c, 1, offset);
    if (n != 1) {
        if (n == 0)
            errno = EINVAL;
        return -1;
    }
    if (c == REC_DONE)
        return 0;                        /* already done: idempotent */
    if (c != REC_RCPT) {
        errno = EINVAL;
        return -1;
    }
    c = REC_DONE;
    if (pwrite(fd, &c, 1, offset) != 1)
        return -1;
    return 0;
}
