/* cleanup_content.c: reads the message content (N/L records up to X) from the submitter.
 * While the header block is open each piece goes to the header parser
 * (cleanup_header.c), which keeps the block in memory (bounded by $header_size_limit).
 * When the body starts, cleanup writes its Received header, the client's header block
 * and any missing Message-ID/Date/From (cleanup_addhdr.c) to the queue file; body pieces
 * are then copied straight from the client's bio to the file's bio through one reused
 * buffer. After a rejection the rest of the content is read and dropped, so the client
 * still gets a verdict after its E record. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cleanup.h"
#include "cleanup_addhdr.h"
#include "cleanup_auth.h"
#include "cleanup_checks.h"
#include "cleanup_header.h"
#include "config.h"
#include "log.h"
#include "record.h"
#include "submit.h"

/* Write text with '\n'-terminated lines as N records. */
static void write_lines(struct cleanup_state *st, const str *text)
{
    const char *p = text->data, *end = text->data + text->len;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);

        cleanup_out_rec(st, REC_NORM, p, len);
        st->message_size += (long)len + 1;
        p += len + 1;
    }
}

/* Printable rendering of the Message-ID for the log (no control characters). */
static void log_message_id(struct cleanup_state *st, const str *id)
{
    char buf[HDR_MSGID_MAX + 1];
    size_t n = 0;

    for (size_t i = 0; i < id->len && n < sizeof(buf) - 1; i++) {
        unsigned char c = (unsigned char)id->data[i];
        buf[n++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    buf[n] = 0;
    msg_info("%s: message-id=%s", st->queue_id, buf);
}

/* The header block is complete: write Received, the block, and missing fields. */
static void emit_headers(struct cleanup_state *st, struct hdr_state *h)
{
    const char *myhostname = config_str("myhostname");
    time_t when = st->arrival.tv_sec;
    struct received_info ri;
    str added, logged_id;

    cleanup_checks_headers(st, h);               /* header_checks: may rewrite the block */
    str_init(&added);
    memset(&ri, 0, sizeof(ri));
    ri.helo_name = st->attrs[CA_HELO_NAME];
    ri.client_name = st->attrs[CA_CLIENT_NAME];
    ri.client_addr = st->attrs[CA_CLIENT_ADDR];
    ri.protocol = st->attrs[CA_PROTOCOL];
    ri.tls_info = st->attrs[CA_TLS_INFO];
    ri.myhostname = myhostname;
    ri.queue_id = st->queue_id;
    ri.rcpt = st->rcpt_count == 1 ? st->first_rcpt : NULL;
    /* The submitting user: the uid attribute, else (local submissions only) the peer
     * of our socket. */
    ri.uid = -1;
    if (st->attrs[CA_UID])
        ri.uid = strtol(st->attrs[CA_UID], NULL, 10);
    else if ((st->flags & SUBMIT_FLAG_LOCAL) && st->peer_uid != (uid_t)-1)
        ri.uid = (long)st->peer_uid;
    ri.when = when;
    if (!(st->flags & SUBMIT_FLAG_REQUEUE)) {    /* a requeued message has its trace */
        addhdr_received(&added, &ri);
        write_lines(st, &added);
    }

    cleanup_auth_headers(st, &h->block, &h->bytes);   /* mailauth: DKIM input, forged A-R */
    cleanup_out_encoded(st, h->block.data, h->block.len);
    st->message_size += (long)h->bytes;

    str_reset(&added);
    str_init(&logged_id);
    if (h->have_message_id)
        str_setn(&logged_id, h->message_id.data, h->message_id.len);
    if ((st->flags & SUBMIT_FLAG_LOCAL) || config_bool("always_add_missing_headers")) {
        if (!h->have_message_id) {
            addhdr_message_id(&added, when, st->queue_id, myhostname);
            /* Log the one we add: the text between "Message-ID: " and the newline. */
            str_setn(&logged_id, added.data + 12, added.len - 13);
        }
        if (!h->have_date)
            addhdr_date_field(&added, when);
        if (!h->have_from)
            addhdr_from_named(&added, st->attrs[CA_FULL_NAME], st->sender);
        write_lines(st, &added);
        cleanup_auth_added(st, &added);              /* mailauth: signed like the rest */
    }
    if (logged_id.len > 0)
        log_message_id(st, &logged_id);
    else
        msg_info("%s: message-id=<>", st->queue_id);
    str_free(&logged_id);
    str_free(&added);
}

int cleanup_read_content(struct cleanup_state *st)
{
    long size_limit = config_size("message_size_limit");
    long header_limit = config_size("header_size_limit");
    long hop_limit = config_int("hopcount_limit");
    /* After a rejection, stop reading a client that keeps sending far more than any
     * acceptable message. 0 = no limit. */
    long drain_limit = size_limit > 0 ? 2 * size_limit + header_limit + (1L << 20) : 0;
    struct hdr_state h;
    int in_headers = 1, in_line = 0;
    const char *err = NULL;
    int type, rc;

    /* A limit of 0 (or less) means "no own limit": fall back to the message size limit
     * (or 64 MB) so the in-memory header block stays bounded. */
    if (header_limit <= 0)
        header_limit = size_limit > 0 ? size_limit : 64L << 20;
    if (hop_limit <= 0)
        hop_limit = LONG_MAX;
    hdr_init(&h, (size_t)header_limit, hop_limit);
    for (;;) {
        rc = rec_get(st->client, &type, &st->rec, CLEANUP_MAX_CONTENT, &err);
        if (rc == -1) {
            snprintf(st->why, sizeof(st->why), "reading content: %s", bio_strerror(st->client));
            rc = CLEANUP_LOST;
            break;
        }
        if (rc < 0) {
            cleanup_protocol_error(st, "bad content record: %s", err ? err : "malformed");
            rc = CLEANUP_PROTO;
            break;
        }
        if (type == REC_XTRA) {
            if (in_line) {
                cleanup_protocol_error(st, "content ends inside a line");
                rc = CLEANUP_PROTO;
                break;
            }
            if (st->rec.len != 0) {
                cleanup_protocol_error(st, "X record with data");
                rc = CLEANUP_PROTO;
                break;
            }
            if (in_headers && st->status == 0) {
                hdr_finish(&h);
                emit_headers(st, &h);
            }
            cleanup_out_rec(st, REC_XTRA, "", 0);
            rc = CLEANUP_OK;
            break;
        }
        if (type != REC_NORM && type != REC_CONT) {
            cleanup_protocol_error(st, "unexpected record type %d in content", type);
            rc = CLEANUP_PROTO;
            break;
        }
        if (type == REC_CONT && st->rec.len == 0) {
            cleanup_protocol_error(st, "empty L record");
            rc = CLEANUP_PROTO;
            break;
        }
        in_line = type == REC_CONT;
        st->client_content_bytes += (long)st->rec.len + (type == REC_NORM);

        if (st->status != 0) {                       /* rejected: drain */
            if (drain_limit > 0 && st->client_content_bytes > drain_limit) {
                cleanup_protocol_error(st, "client keeps sending after rejection");
                rc = CLEANUP_PROTO;
                break;
            }
            continue;
        }
        if (size_limit > 0 && st->client_content_bytes > size_limit) {
            cleanup_reject(st, 5, "5.3.4", "message file too big");
            continue;
        }
        if (in_headers) {
            switch (hdr_feed(&h, st->rec.data, st->rec.len, type == REC_NORM)) {
            case HDR_MORE:
                continue;
            case HDR_TOO_BIG:
                cleanup_reject(st, 5, "5.3.4", "message header size exceeds safety limit");
                continue;
            case HDR_TOO_MANY_HOPS:
                cleanup_reject(st, 5, "5.4.6", "too many hops");
                continue;
            default:                                 /* HDR_BODY: this piece is body */
                in_headers = 0;
                emit_headers(st, &h);
                break;
            }
        }
        cleanup_checks_body(st, st->rec.data, st->rec.len, type == REC_NORM);
        cleanup_out_rec(st, type, st->rec.data, st->rec.len);
        st->message_size += (long)st->rec.len + (type == REC_NORM);
        cleanup_auth_body(st, type, st->rec.data, st->rec.len);   /* mailauth: DKIM */
    }
    hdr_free(&h);
    return rc;
}
