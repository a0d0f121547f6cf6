/* envelope_check.c: the shared reader and checker of a submitted envelope (A, F, O, R
 * records up to M), used by cleanup and pickup; see envelope_check.h for the rules. Only
 * order, bounds and syntax are checked here; the handlers decide what a value means. */
#include <stdio.h>
#include <string.h>

#include "envelope_check.h"
#include "record.h"

int envelope_printable(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return 0;
    }
    return 1;
}

int envelope_rec_get(bio *client, int *type, str *data, size_t max, const char *part, str *why)
{
    const char *err = NULL;
    int r = rec_get(client, type, data, max, &err);

    if (r == -1) {
        str_printf(why, "reading %s: %s", part, bio_strerror(client));
        return ENVELOPE_LOST;
    }
    if (r < 0) {
        str_printf(why, "bad %s record: %s", part, err ? err : "malformed");
        return ENVELOPE_BAD;
    }
    return ENVELOPE_OK;
}

/* An A record "name=value": the name must be in the allow-list, the value printable. */
static int take_attr(const struct envelope_reader *r, void *ctx, const char *data, size_t len,
                     str *why)
{
    const char *eq = memchr(data, '=', len);
    size_t nlen;
    int a;

    if (eq == NULL) {
        str_set(why, "attribute record without '='");
        return -1;
    }
    nlen = (size_t)(eq - data);
    for (a = 0; a < r->attr_count; a++)
        if (strlen(r->attr_names[a]) == nlen && memcmp(r->attr_names[a], data, nlen) == 0)
            break;
    if (a == r->attr_count) {
        str_printf(why, "attribute \"%.*s\" not permitted", (int)(nlen > 64 ? 64 : nlen), data);
        if (!envelope_printable(why->data, why->len))
            str_set(why, "attribute not permitted");
        return -1;
    }
    if (!envelope_printable(eq + 1, len - nlen - 1)) {
        str_printf(why, "bad value for attribute %s", r->attr_names[a]);
        return -1;
    }
    return r->on_attr(ctx, a, eq + 1, len - nlen - 1, why);
}

/* Length and characters of an F, O or R record. */
static int check_address(const struct envelope_reader *r, int type, const char *data, size_t len,
                         str *why)
{
    if (len > r->max_addr) {
        str_printf(why, "%c record too long (%zu bytes)", type, len);
        return -1;
    }
    if (!envelope_printable(data, len)) {
        str_printf(why, "%c record contains control characters", type);
        return -1;
    }
    if (type != REC_FROM && len == 0) {
        str_printf(why, "empty %c record", type);
        return -1;
    }
    return 0;
}

int envelope_read(bio *client, const struct envelope_reader *r, void *ctx, str *why)
{
    enum { WANT_ATTR_OR_FROM, WANT_RCPT, AFTER_ORCPT, MORE_RCPT } phase = WANT_ATTR_OR_FROM;
    long rcpts = 0, records = 0;
    int type, rc = ENVELOPE_BAD;
    str data;

    str_init(&data);
    /* Bounded: at most one F, max_rcpt R with an O each, and the A records (handlers
     * refuse duplicates; the slack bounds the count even if one does not). */
    while (records++ < 2 * r->max_rcpt + r->attr_count + 16) {
        if ((rc = envelope_rec_get(client, &type, &data, r->max_record, "envelope", why))
            != ENVELOPE_OK)
            goto out;
        rc = ENVELOPE_BAD;
        switch (type) {
        case REC_ATTR:
            if (phase != WANT_ATTR_OR_FROM) {
                str_set(why, "attribute record after sender");
                goto out;
            }
            if (take_attr(r, ctx, data.data, data.len, why) < 0)
                goto out;
            break;
        case REC_FROM:
            if (phase != WANT_ATTR_OR_FROM) {
                str_set(why, "more than one sender record");
                goto out;
            }
            if (check_address(r, type, data.data, data.len, why) < 0
                || r->on_sender(ctx, data.data, data.len, why) < 0)
                goto out;
            phase = WANT_RCPT;
            break;
        case REC_ORCPT:
        case REC_RCPT:
            if (phase == WANT_ATTR_OR_FROM) {
                str_set(why, "recipient record before sender");
                goto out;
            }
            if (type == REC_ORCPT && phase == AFTER_ORCPT) {
                str_set(why, "two original recipient records in a row");
                goto out;
            }
            if (type == REC_RCPT && rcpts++ >= r->max_rcpt) {
                str_printf(why, "more than %ld recipients", r->max_rcpt);
                goto out;
            }
            if (check_address(r, type, data.data, data.len, why) < 0
                || r->on_rcpt(ctx, type, data.data, data.len, why) < 0)
                goto out;
            phase = type == REC_ORCPT ? AFTER_ORCPT : MORE_RCPT;
            break;
        case REC_MESG:
            if (phase == WANT_ATTR_OR_FROM) {
                str_set(why, "content before sender");
                goto out;
            }
            if (phase == AFTER_ORCPT) {
                str_set(why, "original recipient record without recipient");
                goto out;
            }
            if (phase == WANT_RCPT && r->need_rcpt) {
                str_set(why, "content before recipients");
                goto out;
            }
            if (data.len != 0) {
                str_set(why, "M record with data");
                goto out;
            }
            rc = ENVELOPE_OK;
            goto out;
        default:
            str_printf(why, "unexpected record type %d in envelope", type);
            goto out;
        }
    }
    str_set(why, "too many envelope records");
out:
    str_free(&data);
    return rc;
}
