/* fuzz_envelope.c: libFuzzer target for the envelope reader shared by cleanup and pickup
 * (lib/envelope_check.c), which parses the records a submitter sends (smtpd, local
 * submissions, and through pickup the untrusted sendmail client). The first input byte
 * picks the limits (need_rcpt, small or large bounds); the rest is the record stream,
 * served from memory through a bio read function.
 * Properties checked: the result is one of the three codes; a reason is given exactly
 * when the read failed; on success exactly one sender was seen, every recipient handed
 * over respects the bounds and no handler saw a control character. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bio.h"
#include "envelope_check.h"
#include "str.h"

struct input {
    const uint8_t *data;
    size_t len, pos;
};

struct seen {
    const struct envelope_reader *r;
    int senders;
    long rcpts;
};

static ssize_t mem_read(bio *b, void *buf, size_t len)
{
    struct input *in = b->ctx;
    size_t n = in->len - in->pos < len ? in->len - in->pos : len;
    memcpy(buf, in->data + in->pos, n);
    in->pos += n;
    return (ssize_t)n;
}

static void check_value(const char *v, size_t len)
{
    if (v[len] != 0 || !envelope_printable(v, len))
        abort();
}

static int on_attr(void *ctx, int index, const char *value, size_t len, str *why)
{
    struct seen *s = ctx;
    if (index < 0 || index >= s->r->attr_count)
        abort();
    check_value(value, len);
    if (len == 3 && memcmp(value, "bad", 3) == 0) {   /* a handler may refuse */
        str_set(why, "handler refused attribute");
        return -1;
    }
    return 0;
}

static int on_sender(void *ctx, const char *addr, size_t len, str *why)
{
    struct seen *s = ctx;
    (void)why;
    check_value(addr, len);
    if (len > s->r->max_addr || ++s->senders > 1)
        abort();
    return 0;
}

static int on_rcpt(void *ctx, int type, const char *addr, size_t len, str *why)
{
    struct seen *s = ctx;
    (void)type;
    (void)why;
    check_value(addr, len);
    if (len == 0 || len > s->r->max_addr || ++s->rcpts > 2 * s->r->max_rcpt + 2)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = { "full_name", "uid", "client_name" };
    if (size < 1)
        return 0;
    struct envelope_reader r = {
        .max_record = data[0] & 1 ? 64 : 4096,
        .max_addr = data[0] & 2 ? 16 : 1000,
        .max_rcpt = data[0] & 4 ? 3 : 1000,
        .need_rcpt = (data[0] & 8) != 0,
        .attr_names = names,
        .attr_count = 3,
        .on_attr = on_attr,
        .on_sender = on_sender,
        .on_rcpt = on_rcpt,
    };
    struct input in = { data + 1, size - 1, 0 };
    struct seen seen = { &r, 0, 0 };
    bio *b = bio_open(-1, 0);
    str why;

    b->read_fn = mem_read;
    b->ctx = &in;
    str_init(&why);
    int rc = envelope_read(b, &r, &seen, &why);
    if (rc != ENVELOPE_OK && rc != ENVELOPE_LOST && rc != ENVELOPE_BAD)
        abort();
    if ((rc == ENVELOPE_OK) != (why.len == 0))
        abort();
    if (rc == ENVELOPE_OK && (seen.senders != 1 || (r.need_rcpt && seen.rcpts == 0)))
        abort();
    str_free(&why);
    bio_free(b);
    return 0;
}
