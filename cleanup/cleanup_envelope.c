/* cleanup_envelope.c: reads the submitter's flags list and envelope records (A, F, O, R,
 * up to M; docs/PROTOCOLS.md section 1), validates each one strictly (order, lengths,
 * known attribute names, printable values, recipient limit) and copies them to the queue
 * file as they arrive, so memory use does not grow with the recipient count. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "attr.h"
#include "cleanup.h"
#include "cleanup_checks.h"
#include "mem.h"
#include "record.h"
#include "str.h"
#include "submit.h"

#define KNOWN_FLAGS (SUBMIT_FLAG_LOCAL | SUBMIT_FLAG_REQUEUE)

static const char *const attr_names[CA_COUNT] = {
    [CA_CLIENT_NAME] = "client_name", [CA_CLIENT_ADDR] = "client_addr",
    [CA_CLIENT_PORT] = "client_port", [CA_HELO_NAME] = "helo_name",
    [CA_PROTOCOL] = "protocol", [CA_SASL_USERNAME] = "sasl_username",
    [CA_TLS_INFO] = "tls_info", [CA_LOG_IDENT] = "log_ident", [CA_UID] = "uid",
    [CA_SPF_RESULT] = "spf_result", [CA_SPF_SCOPE] = "spf_scope",
    [CA_SPF_DOMAIN] = "spf_domain", [CA_RECEIVED_SPF] = "received_spf",
};

static const char *const protocols[] = {
    "SMTP", "ESMTP", "ESMTPS", "ESMTPA", "ESMTPSA",
    "UTF8SMTP", "UTF8SMTPS", "UTF8SMTPA", "UTF8SMTPSA", "LOCAL", NULL
};

const char *cleanup_attr_name(enum cleanup_attr a)
{
    return (a >= 0 && a < CA_COUNT) ? attr_names[a] : "?";
}

int cleanup_read_flags(struct cleanup_state *st)
{
    attr_list l;
    const char *err = NULL;
    long flags;
    int rc = CLEANUP_OK;

    attr_init(&l);
    if (attr_read(st->client, &l, &err) < 0) {
        if (bio_error(st->client) != BIO_OK) {
            snprintf(st->why, sizeof(st->why), "reading flags: %s", bio_strerror(st->client));
            rc = CLEANUP_LOST;
        } else {
            cleanup_protocol_error(st, "bad flags list: %s", err ? err : "malformed");
            rc = CLEANUP_PROTO;
        }
    } else if (l.count != 1 || attr_get_long(&l, "flags", &flags) < 0) {
        cleanup_protocol_error(st, "expected exactly one attribute flags=<decimal>");
        rc = CLEANUP_PROTO;
    } else if (flags < 0 || (flags & ~(long)KNOWN_FLAGS) != 0) {
        cleanup_protocol_error(st, "unknown flags %ld", flags);
        rc = CLEANUP_PROTO;
    } else {
        st->flags = (int)flags;
    }
    attr_free(&l);
    return rc;
}

/* No control characters (NUL, CR, LF, ...) anywhere: these values end up in headers,
 * logs and other daemons' requests. Bytes >= 0x80 (UTF-8) are allowed. */
static int printable(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return 0;
    }
    return 1;
}

static int valid_attr_value(enum cleanup_attr a, const char *v)
{
    long n;

    switch (a) {
    case CA_CLIENT_ADDR: {
        unsigned char buf[sizeof(struct in6_addr)];
        return inet_pton(AF_INET, v, buf) == 1 || inet_pton(AF_INET6, v, buf) == 1;
    }
    case CA_CLIENT_PORT:
        return parse_long(v, &n) == 0 && n >= 0 && n <= 65535;
    case CA_UID:
        return parse_long(v, &n) == 0 && n >= 0 && n <= 0x7fffffffL;
    case CA_PROTOCOL:
        for (int i = 0; protocols[i]; i++)
            if (strcmp(v, protocols[i]) == 0)
                return 1;
        return 0;
    default:
        return 1;
    }
}

static int take_attr(struct cleanup_state *st, const char *data, size_t len)
{
    const char *eq = memchr(data, '=', len);
    size_t nlen;
    int a;

    if (eq == NULL) {
        cleanup_protocol_error(st, "attribute record without '='");
        return CLEANUP_PROTO;
    }
    nlen = (size_t)(eq - data);
    for (a = 0; a < CA_COUNT; a++)
        if (strlen(attr_names[a]) == nlen && memcmp(attr_names[a], data, nlen) == 0)
            break;
    if (a == CA_COUNT) {
        cleanup_protocol_error(st, "unknown attribute \"%.*s\"", (int)(nlen > 64 ? 64 : nlen), data);
        return CLEANUP_PROTO;
    }
    if (st->attrs[a]) {
        cleanup_protocol_error(st, "duplicate attribute %s", attr_names[a]);
        return CLEANUP_PROTO;
    }
    if (!printable(eq + 1, len - nlen - 1) || !valid_attr_value(a, eq + 1)) {
        cleanup_protocol_error(st, "bad value for attribute %s", attr_names[a]);
        return CLEANUP_PROTO;
    }
    st->attrs[a] = xstrndup(eq + 1, len - nlen - 1);
    cleanup_out_rec(st, REC_ATTR, data, len);
    return CLEANUP_OK;
}

static int check_address(struct cleanup_state *st, int type, const char *data, size_t len)
{
    if (len > CLEANUP_MAX_ADDR) {
        cleanup_protocol_error(st, "%c record too long (%zu bytes)", type, len);
        return CLEANUP_PROTO;
    }
    if (!printable(data, len)) {
        cleanup_protocol_error(st, "%c record contains control characters", type);
        return CLEANUP_PROTO;
    }
    if (type != REC_FROM && len == 0) {
        cleanup_protocol_error(st, "empty %c record", type);
        return CLEANUP_PROTO;
    }
    return CLEANUP_OK;
}

int cleanup_read_envelope(struct cleanup_state *st)
{
    enum { WANT_ATTR_OR_FROM, WANT_RCPT, AFTER_ORCPT } phase = WANT_ATTR_OR_FROM;
    const char *err = NULL;
    int type, rc;

    /* Bounded: every pass consumes one record, and the recipient limit and the attribute
     * table (no duplicates) bound the number of records before M. */
    for (;;) {
        rc = rec_get(st->client, &type, &st->rec, CLEANUP_MAX_ATTR_REC, &err);
        if (rc == -1) {
            snprintf(st->why, sizeof(st->why), "reading envelope: %s", bio_strerror(st->client));
            return CLEANUP_LOST;
        }
        if (rc < 0) {
            cleanup_protocol_error(st, "bad envelope record: %s", err ? err : "malformed");
            return CLEANUP_PROTO;
        }
        switch (type) {
        case REC_ATTR:
            if (phase != WANT_ATTR_OR_FROM) {
                cleanup_protocol_error(st, "attribute record after sender");
                return CLEANUP_PROTO;
            }
            if ((rc = take_attr(st, st->rec.data, st->rec.len)) != CLEANUP_OK)
                return rc;
            break;
        case REC_FROM:
            if (phase != WANT_ATTR_OR_FROM) {
                cleanup_protocol_error(st, "more than one sender record");
                return CLEANUP_PROTO;
            }
            if ((rc = check_address(st, type, st->rec.data, st->rec.len)) != CLEANUP_OK)
                return rc;
            st->sender = xstrndup(st->rec.data, st->rec.len);
            cleanup_out_rec(st, REC_FROM, st->rec.data, st->rec.len);
            phase = WANT_RCPT;
            break;
        case REC_ORCPT:
        case REC_RCPT:
            if (phase == WANT_ATTR_OR_FROM) {
                cleanup_protocol_error(st, "recipient record before sender");
                return CLEANUP_PROTO;
            }
            if (type == REC_ORCPT && phase == AFTER_ORCPT) {
                cleanup_protocol_error(st, "two original recipient records in a row");
                return CLEANUP_PROTO;
            }
            if ((rc = check_address(st, type, st->rec.data, st->rec.len)) != CLEANUP_OK)
                return rc;
            if (type == REC_RCPT) {
                if (st->rcpt_count >= CLEANUP_MAX_RCPT) {
                    cleanup_protocol_error(st, "more than %d recipients", CLEANUP_MAX_RCPT);
                    return CLEANUP_PROTO;
                }
                if (st->rcpt_count++ == 0)
                    st->first_rcpt = xstrndup(st->rec.data, st->rec.len);
                cleanup_checks_note_rcpt(st);       /* its offset, for REDIRECT */
            }
            cleanup_out_rec(st, type, st->rec.data, st->rec.len);
            phase = type == REC_ORCPT ? AFTER_ORCPT : WANT_RCPT;
            break;
        case REC_MESG:
            if (phase == WANT_ATTR_OR_FROM) {
                cleanup_protocol_error(st, "content before sender");
                return CLEANUP_PROTO;
            }
            if (phase == AFTER_ORCPT) {
                cleanup_protocol_error(st, "original recipient record without recipient");
                return CLEANUP_PROTO;
            }
            if (st->rec.len != 0) {
                cleanup_protocol_error(st, "M record with data");
                return CLEANUP_PROTO;
            }
            cleanup_out_mark_content(st);
            cleanup_out_rec(st, REC_MESG, "", 0);
            return CLEANUP_OK;
        default:
            cleanup_protocol_error(st, "unexpected record type %d in envelope", type);
            return CLEANUP_PROTO;
        }
    }
}
