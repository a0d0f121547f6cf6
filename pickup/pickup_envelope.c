/* pickup_envelope.c: reads and checks the envelope part of a local submission (the
 * records before M, see pickup.h) from an untrusted client. Order, record bounds and the
 * A allow-list (full_name) are checked by the shared reader (lib/envelope_check.h); here
 * the sender and every recipient must also be valid RFC 5321 mailboxes and are kept in
 * canonical form (lib/addr.h) in the pickup_request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "envelope_check.h"
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

/* State of one envelope read: the request being filled and the pending O record. */
struct pickup_reading {
    struct pickup_request *rq;
    char *orcpt;                /* canonical O address waiting for its R, or NULL */
    int cap;                    /* allocated slots in rq->rcpts / rq->orcpts */
    str canon;                  /* scratch: canonical form of the current address */
};

static const char *const allowed_attrs[] = { "full_name" };

/* Validate an envelope address (already bounded and printable); canonical form into out.
 * 0 or -1 with *err. */
static int canonical_address(const char *data, size_t len, int allow_null, str *out,
                             const char **err)
{
    str path;
    const char *params = NULL;
    int rc;

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

/* A records: the allow-list is full_name only. Everything a server learns about a client
 * (client_addr, helo_name, protocol, uid, ...) is set by pickup itself, never taken from
 * here. */
static int take_attr(void *ctx, int index, const char *value, size_t len, str *why)
{
    struct pickup_reading *rd = ctx;

    (void)index;                            /* full_name, the only one */
    if (rd->rq->full_name) {
        str_set(why, "duplicate attribute full_name");
        return -1;
    }
    if (len > PICKUP_MAX_FULL_NAME) {
        str_set(why, "bad value for attribute full_name");
        return -1;
    }
    rd->rq->full_name = xstrndup(value, len);
    return 0;
}

static int take_sender(void *ctx, const char *addr, size_t len, str *why)
{
    struct pickup_reading *rd = ctx;
    const char *err = NULL;

    if (canonical_address(addr, len, 1, &rd->canon, &err) < 0) {
        str_printf(why, "bad sender address: %s", err);
        return -1;
    }
    rd->rq->sender = xstrdup(rd->canon.data);
    return 0;
}

static int take_rcpt(void *ctx, int type, const char *addr, size_t len, str *why)
{
    struct pickup_reading *rd = ctx;
    struct pickup_request *rq = rd->rq;
    const char *err = NULL;

    if (canonical_address(addr, len, 0, &rd->canon, &err) < 0) {
        str_printf(why, "bad %srecipient address: %s", type == REC_ORCPT ? "original " : "",
                   err);
        return -1;
    }
    if (type == REC_ORCPT) {
        rd->orcpt = xstrdup(rd->canon.data);
        return 0;
    }
    if (rq->rcpt_count == rd->cap) {
        rd->cap = rd->cap ? rd->cap * 2 : 8;
        rq->rcpts = xrealloc(rq->rcpts, (size_t)rd->cap * sizeof(char *));
        rq->orcpts = xrealloc(rq->orcpts, (size_t)rd->cap * sizeof(char *));
    }
    rq->rcpts[rq->rcpt_count] = xstrdup(rd->canon.data);
    rq->orcpts[rq->rcpt_count++] = rd->orcpt;
    rd->orcpt = NULL;
    return 0;
}

int pickup_read_envelope(bio *client, struct pickup_request *rq, str *why)
{
    static const struct envelope_reader reader = {
        .max_record = PICKUP_MAX_ENV_REC, .max_addr = PICKUP_MAX_ENV_REC,
        .max_rcpt = PICKUP_MAX_RCPT, .need_rcpt = 1,
        .attr_names = allowed_attrs, .attr_count = 1,
        .on_attr = take_attr, .on_sender = take_sender, .on_rcpt = take_rcpt,
    };
    struct pickup_reading rd = { .rq = rq };
    int rc;

    str_init(&rd.canon);
    rc = envelope_read(client, &reader, &rd, why);
    free(rd.orcpt);
    str_free(&rd.canon);
    return rc == ENVELOPE_OK ? PICKUP_OK : rc == ENVELOPE_LOST ? PICKUP_LOST : PICKUP_PROTO;
}
