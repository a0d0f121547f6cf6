/* record.c: typed records (see record.h), the unit of queue files and of the
 * smtpd -> cleanup message stream: one type byte, an unsigned LEB128 length of at most
 * 4 bytes (minimal encoding only, so every length has exactly one form and a record's
 * size on disk is known from its data length), then the data.
 *
 * Readers reject unknown types, over-long or non-minimal lengths, lengths above the
 * caller's limit and truncated records, and read the data in chunks so a lying length
 * cannot make them allocate more than the bytes actually present. */
#include <string.h>

#include "log.h"
#include "record.h"

#define REC_LEN_BYTES_MAX 4
#define REC_READ_CHUNK 8192

int rec_type_valid(int type)
{
    switch (type) {
    case REC_VERSION: case REC_SIZE: case REC_TIME: case REC_ATTR: case REC_FROM:
    case REC_ORCPT: case REC_RCPT: case REC_DONE: case REC_MESG: case REC_NORM:
    case REC_CONT: case REC_XTRA: case REC_END:
        return 1;
    default:
        return 0;
    }
}

/* Encode the header (type + varint) into hdr; returns its size. */
static size_t rec_header(unsigned char hdr[1 + REC_LEN_BYTES_MAX], int type, size_t len)
{
    size_t n = 0;
    hdr[n++] = (unsigned char)type;
    do {
        unsigned char byte = len & 0x7f;
        len >>= 7;
        if (len)
            byte |= 0x80;
        hdr[n++] = byte;
    } while (len);
    return n;
}

static void rec_check_args(int type, size_t len)
{
    if (!rec_type_valid(type))
        msg_panic("record: invalid record type %d", type);
    if (len > REC_MAX_LEN)
        msg_panic("record: record of %zu bytes exceeds the maximum", len);
}

void rec_encode(str *out, int type, const void *data, size_t len)
{
    unsigned char hdr[1 + REC_LEN_BYTES_MAX];
    rec_check_args(type, len);
    str_append(out, hdr, rec_header(hdr, type, len));
    if (len)
        str_append(out, data, len);
}

int rec_put(bio *b, int type, const void *data, size_t len)
{
    unsigned char hdr[1 + REC_LEN_BYTES_MAX];
    rec_check_args(type, len);
    if (bio_write(b, hdr, rec_header(hdr, type, len)) < 0)
        return -1;
    if (len && bio_write(b, data, len) < 0)
        return -1;
    return 0;
}

int rec_puts(bio *b, int type, const char *s)
{
    return rec_put(b, type, s, strlen(s));
}

/* Decode a varint from p[0..avail). Returns bytes used, 0 if more input is needed,
 * -1 if malformed (*err set). */
static int rec_varint(const unsigned char *p, size_t avail, size_t *value, const char **err)
{
    size_t v = 0;
    for (int i = 0; i < REC_LEN_BYTES_MAX; i++) {
        if ((size_t)i >= avail)
            return 0;
        v |= (size_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            if (i > 0 && p[i] == 0) {
                *err = "non-minimal record length";
                return -1;
            }
            *value = v;
            return i + 1;
        }
    }
    *err = "record length field too long";
    return -1;
}

long rec_decode(const char *buf, size_t len, int *type, const char **data, size_t *dlen,
                const char **err)
{
    const unsigned char *p = (const unsigned char *)buf;
    if (len == 0)
        return 0;
    if (!rec_type_valid(p[0])) {
        *err = "invalid record type";
        return -1;
    }
    size_t rlen;
    int n = rec_varint(p + 1, len - 1, &rlen, err);
    if (n < 0)
        return -1;
    if (n == 0)
        return 0;
    if (rlen > REC_MAX_LEN) {
        *err = "record too long";
        return -1;
    }
    size_t hdr = 1 + (size_t)n;
    if (len - hdr < rlen)
        return 0;
    *type = p[0];
    *data = buf + hdr;
    *dlen = rlen;
    return (long)(hdr + rlen);
}

int rec_get(bio *b, int *type, str *data, size_t maxlen, const char **err)
{
    unsigned char hdr[REC_LEN_BYTES_MAX];
    int c = bio_getc(b);
    if (c < 0) {
        *err = bio_error(b) == BIO_EOF ? "end of file" : bio_strerror(b);
        return -1;
    }
    if (!rec_type_valid(c)) {
        *err = "invalid record type";
        return -2;
    }
    size_t rlen = 0;
    for (int i = 0;; i++) {
        if (i >= REC_LEN_BYTES_MAX) {
            *err = "record length field too long";
            return -2;
        }
        int d = bio_getc(b);
        if (d < 0) {
            if (bio_error(b) != BIO_EOF) {
                *err = bio_strerror(b);
                return -1;
            }
            *err = "truncated record";
            return -2;
        }
        hdr[i] = (unsigned char)d;
        int n = rec_varint(hdr, (size_t)i + 1, &rlen, err);
        if (n < 0)
            return -2;
        if (n > 0)
            break;
    }
    if (rlen > REC_MAX_LEN || rlen > maxlen) {
        *err = "record too long";
        return -2;
    }
    /* Read in small pieces: a lying length costs at most the bytes really present. */
    str_reset(data);
    while (data->len < rlen) {
        char tmp[REC_READ_CHUNK];
        size_t part = rlen - data->len < sizeof(tmp) ? rlen - data->len : sizeof(tmp);
        if (bio_read_exact(b, tmp, part) < 0) {
            if (bio_error(b) != BIO_EOF) {
                *err = bio_strerror(b);
                return -1;
            }
            *err = "truncated record";
            return -2;
        }
        str_append(data, tmp, part);
    }
    *type = c;
    return 0;
}
