/* pickup_content.c: relays the content part of a local submission (N/L records up to X,
 * then E; see pickup.h) from the untrusted client into the cleanup transaction. Each
 * record is bounded, the total is bounded by message_size_limit, and the order rules
 * (only N/L before X, X not right after L, X with no data, E after X) are enforced, so
 * cleanup only ever sees a well-formed stream from us. */
#include <stdio.h>

#include "config.h"
#include "envelope_check.h"
#include "pickup.h"
#include "record.h"

int pickup_relay_content(bio *client, submit *s, long *size, str *why)
{
    long limit = config_size("message_size_limit");
    int type, rc = PICKUP_PROTO, last = REC_MESG;
    str data;

    *size = 0;
    str_init(&data);
    /* Bounded by message_size_limit for N records; L records carry >= 1 byte each. */
    for (;;) {
        int r = envelope_rec_get(client, &type, &data, PICKUP_MAX_LINE_REC, "content", why);
        if (r != ENVELOPE_OK) {
            rc = r == ENVELOPE_LOST ? PICKUP_LOST : PICKUP_PROTO;
            goto out;
        }
        if (type == REC_NORM || type == REC_CONT) {
            if (type == REC_CONT && data.len == 0) {
                str_set(why, "empty L record");
                goto out;
            }
            *size += (long)data.len + (type == REC_NORM);
            if (limit > 0 && *size > limit) {
                str_printf(why, "message size exceeds message_size_limit (%ld)", limit);
                rc = PICKUP_TOO_BIG;
                goto out;
            }
            if (*size < 0 || *size > 0x7fffffffffffL) {
                str_set(why, "message too large");
                rc = PICKUP_TOO_BIG;
                goto out;
            }
            submit_line(s, data.data, data.len, type == REC_NORM);
            last = type;
            continue;
        }
        if (type != REC_XTRA) {
            str_printf(why, "unexpected record type %d in content", type);
            goto out;
        }
        if (data.len != 0 || last == REC_CONT) {
            str_set(why, data.len ? "X record with data" : "X record right after L record");
            goto out;
        }
        break;
    }
    const char *err = NULL;
    int r = rec_get(client, &type, &data, PICKUP_MAX_ENV_REC, &err);
    if (r == -1) {
        str_printf(why, "reading end record: %s", bio_strerror(client));
        rc = PICKUP_LOST;
    } else if (r < 0 || type != REC_END || data.len != 0) {
        str_set(why, "expected E record after content");
    } else {
        rc = PICKUP_OK;
    }
out:
    str_free(&data);
    return rc;
}
