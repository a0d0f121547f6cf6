/* cleanup_envelope.c: reads the submitter's flags list and envelope records (A, F, O, R,
 * up to M; docs/PROTOCOLS.md section 1) with the shared reader (lib/envelope_check.h:
 * order, lengths, known attribute names, printable values, recipient limit), checks the
 * attribute values and copies the records to the queue file as they arrive, so memory
 * use does not grow with the recipient count. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "attr.h"
#include "cleanup.h"
#include "cleanup_checks.h"
#include "envelope_check.h"
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
    [CA_FULL_NAME] = "full_name",
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
    case CA_FULL_NAME:
        return strlen(v) <= CLEANUP_MAX_FULL_NAME;
    case CA_PROTOCOL:
        for (int i = 0; protocols[i]; i++)
            if (strcmp(v, protocols[i]) == 0)
                return 1;
        return 0;
    default:
        return 1;
    }
}

/* An allowed A record (name and printable value checked by envelope_read). */
static int take_attr(void *ctx, int a, const char *value, size_t len, str *why)
{
    struct cleanup_state *st = ctx;

    if (st->attrs[a]) {
        str_printf(why, "duplicate attribute %s", attr_names[a]);
        return -1;
    }
    if (!valid_attr_value(a, value)) {
        str_printf(why, "bad value for attribute %s", attr_names[a]);
        return -1;
    }
    st->attrs[a] = xstrndup(value, len);
    str_set(&st->rec, attr_names[a]);               /* the record again: name=value */
    str_putc(&st->rec, '=');
    str_append(&st->rec, value, len);
    cleanup_out_rec(st, REC_ATTR, st->rec.data, st->rec.len);
    return 0;
}

static int take_sender(void *ctx, const char *addr, size_t len, str *why)
{
    struct cleanup_state *st = ctx;

    (void)why;
    st->sender = xstrndup(addr, len);
    cleanup_out_rec(st, REC_FROM, addr, len);
    return 0;
}

static int take_rcpt(void *ctx, int type, const char *addr, size_t len, str *why)
{
    struct cleanup_state *st = ctx;

    (void)why;
    if (type == REC_RCPT) {
        if (st->rcpt_count++ == 0)
            st->first_rcpt = xstrndup(addr, len);
        cleanup_checks_note_rcpt(st);       /* its offset, for REDIRECT */
    }
    cleanup_out_rec(st, type, addr, len);
    return 0;
}

int cleanup_read_envelope(struct cleanup_state *st)
{
    static const struct envelope_reader reader = {
        .max_record = CLEANUP_MAX_ATTR_REC, .max_addr = CLEANUP_MAX_ADDR,
        .max_rcpt = CLEANUP_MAX_RCPT, .need_rcpt = 0,
        .attr_names = attr_names, .attr_count = CA_COUNT,
        .on_attr = take_attr, .on_sender = take_sender, .on_rcpt = take_rcpt,
    };
    str why;
    int rc;

    str_init(&why);
    rc = envelope_read(st->client, &reader, st, &why);
    if (rc != ENVELOPE_OK)
        snprintf(st->why, sizeof(st->why), "%s", why.data);
    str_free(&why);
    if (rc != ENVELOPE_OK)
        return rc == ENVELOPE_LOST ? CLEANUP_LOST : CLEANUP_PROTO;
    cleanup_out_mark_content(st);
    cleanup_out_rec(st, REC_MESG, "", 0);
    return CLEANUP_OK;
}
