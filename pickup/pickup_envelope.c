/* pickup_envelope.c: reads and checks the envelope part of a local submission (the
 * records before M, see pickup.h) from an untrusted client. Only allow-listed A records
 * are accepted; the sender and every recipient must be valid RFC 5321 mailboxes and are
 * kept in canonical form (lib/addr.h). Every record is bounded in size and the number
 * of records is bounded by the recipient limit and the no-duplicates rule. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "mem.h"
#include "pickup.h"
#include "record.h"

void pickup_request_init(struct pickup_request *rq)
{
    memset(rq, 0, sizeof(*rq));
}

void pickup_request_free(struct pickup_request *rq)
{
    for (int i = 0; i < rq->rcpt_count; i++) {
        free(rq->rcpts[i]);
        free(rq->orcpts[i]);
    }
    free(rq->rcpts);
    free(rq->orcpts);
    free(rq->sender);
    free(rq->full_name);
    memset(rq, 0, sizeof(*rq));
}

static int printable(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return 0;
    }
    return 1;
}

/* Validate an envelope address; canonical form into out. 0 or -1 with *err. */
static int check_address(const char *data, size_t len, int allow_null, str *out,
                         const char **err)
{
    str path;
    const char *params = NULL;
    int rc;

    if (memchr(data, 0, len) || !printable(data, len)) {
        *err = "control character in address";
        return -1;
    }
    str_init(&path);
    str_putc(&path, '<');
    str_append(&path, data, len);
    str_putc(&path, '>');
    rc = addr_parse_path(path.data, path.len, allow_null ? ADDR_ALLOW_NULL : 0, out,
                         &params, err);
    if (rc == 0 && params && *params) {      /* params points into path */
        *err = "text after the address";
        rc = -1;
    }
    str_free(&path);
    if (rc < 0)
        return -1;
    if (!allow_null && addr_domain(out->data) == NULL) {
        *err = "recipient without domain";
        return -1;
    }
    return 0;
}

/* A records: the allow-list. Everything a server learns about a client (client_addr,
 * helo_name, protocol, uid, ...) is set by pickup itself, never taken from here. */
static int take_attr(struct pickup_request *rq, const char *data, size_t len, str *why)
{
    const char *eq = memchr(data, '=', len);

    if (eq == NULL) {
        str_set(why, "attribute record without '='");
        return PICKUP_PROTO;
    }
    size_t nlen = (size_t)(eq - data), vlen = len - nlen - 1;
    if (nlen == strlen("full_name") && memcmp(data, "full_name", nlen) == 0) {
        if (rq->full_name) {
            str_set(why, "duplicate attribute full_name");
            return PICKUP_PROTO;
        }
        if (vlen > PICKUP_MAX_FULL_NAME || memchr(eq + 1, 0, vlen) || !printable(eq + 1, vlen)) {
            str_set(why, "bad value for attribute full_name");
            return PICKUP_PROTO;
        }
        rq->full_name = xstrndup(eq + 1, vlen);
        return PICKUP_OK;
    }
    str_printf(why, "attribute \"%.*s\" not permitted", (int)(nlen > 64 ? 64 : nlen), data);
    if (!printable(why->data, why->len))
        str_set(why, "attribute not permitted");
    return PICKUP_PROTO;
}

int pickup_read_envelope(bio *client, struct pickup_request *rq, str *why)
{
    enum { WANT_ATTR_OR_FROM, WANT_RCPT, AFTER_ORCPT, MORE_RCPT } phase = WANT_ATTR_OR_FROM;
    char *orcpt = NULL;
    const char *err = NULL;
    str data, canon;
    int type, rc = PICKUP_PROTO, cap = 0;
    long records = 0;

    str_init(&data);
    str_init(&canon);
    /* Bounded: at most 1 + 2 * PICKUP_MAX_RCPT + attribute records (no duplicates). */
    while (records++ < 2L * PICKUP_MAX_RCPT + 16) {
        int r = rec_get(client, &type, &data, PICKUP_MAX_ENV_REC, &err);
        if (r == -1) {
            str_printf(why, "reading envelope: %s", bio_strerror(client));
            rc = PICKUP_LOST;
            goto out;
        }
        if (r < 0) {
            str_printf(why, "bad envelope record: %s", err ? err : "malformed");
            goto out;
        }
        switch (type) {
        case REC_ATTR:
            if (phase != WANT_ATTR_OR_FROM) {
                str_set(why, "attribute record after sender");
                goto out;
            }
            if ((rc = take_attr(rq, data.data, data.len, why)) != PICKUP_OK) {
                rc = PICKUP_PROTO;
                goto out;
            }
            rc = PICKUP_PROTO;
            break;
        case REC_FROM:
            if (phase != WANT_ATTR_OR_FROM) {
                str_set(why, "more than one sender record");
                goto out;
            }
            if (check_address(data.data, data.len, 1, &canon, &err) < 0) {
                str_printf(why, "bad sender address: %s", err);
                goto out;
            }
            rq->sender = xstrdup(canon.data);
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
            if (check_address(data.data, data.len, 0, &canon, &err) < 0) {
                str_printf(why, "bad %srecipient address: %s", type == REC_ORCPT ? "original " : "",
                           err);
                goto out;
            }
            if (type == REC_ORCPT) {
                orcpt = xstrdup(canon.data);
                phase = AFTER_ORCPT;
                break;
            }
            if (rq->rcpt_count >= PICKUP_MAX_RCPT) {
                str_printf(why, "more than %d recipients", PICKUP_MAX_RCPT);
                goto out;
            }
            if (rq->rcpt_count == cap) {
                cap = cap ? cap * 2 : 8;
                rq->rcpts = xrealloc(rq->rcpts, (size_t)cap * sizeof(char *));
                rq->orcpts = xrealloc(rq->orcpts, (size_t)cap * sizeof(char *));
            }
            rq->rcpts[rq->rcpt_count] = xstrdup(canon.data);
            rq->orcpts[rq->rcpt_count++] = orcpt;
            orcpt = NULL;
            phase = MORE_RCPT;
            break;
        case REC_MESG:
            if (phase != MORE_RCPT) {
                str_set(why, phase == AFTER_ORCPT ? "original recipient without recipient"
                                                  : "content before recipients");
                goto out;
            }
            if (data.len != 0) {
                str_set(why, "M record with data");
                goto out;
            }
            rc = PICKUP_OK;
            goto out;
        default:
            str_printf(why, "unexpected record type %d in envelope", type);
            goto out;
        }
    }
    str_set(why, "too many envelope records");
out:
    free(orcpt);
    str_free(&data);
    str_free(&canon);
    return rc;
}
