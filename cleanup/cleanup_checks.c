/* cleanup_checks.c: header_checks and body_checks (see cleanup_checks.h). The header
 * block parsed by cleanup_header.c is walked record by record, physical lines are
 * grouped into logical headers, each is looked up and the block is rebuilt with the
 * PREPENDed lines and without the IGNOREd headers. Body lines are checked as they
 * stream to the queue file. Results are recorded in cleanup_state; cleanup.c and
 * cleanup_out.c act on them at the end (reject, discard, hold/, redirect). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access.h"
#include "cleanup_checks.h"
#include "config.h"
#include "dict.h"
#include "log.h"
#include "mem.h"
#include "record.h"

static char **header_maps, **body_maps;

void cleanup_checks_init(void)
{
    header_maps = config_list("header_checks");
    body_maps = config_list("body_checks");
    for (int i = 0; header_maps && header_maps[i]; i++)
        (void)dict_get(header_maps[i]);      /* fatal with file:LINE when malformed */
    for (int i = 0; body_maps && body_maps[i]; i++)
        (void)dict_get(body_maps[i]);
}

void cleanup_checks_start(struct cleanup_state *st)
{
    st->checks_on = (header_maps && header_maps[0]) || (body_maps && body_maps[0]);
    str_init(&st->line);
}

void cleanup_checks_free(struct cleanup_state *st)
{
    free(st->redirect);
    st->redirect = NULL;
    free(st->rcpt_offsets);
    st->rcpt_offsets = NULL;
    str_free(&st->line);
}

void cleanup_checks_note_rcpt(struct cleanup_state *st)
{
    if (!st->checks_on)
        return;
    if (st->rcpt_offsets_len == st->rcpt_offsets_cap) {
        st->rcpt_offsets_cap = st->rcpt_offsets_cap ? 2 * st->rcpt_offsets_cap : 16;
        st->rcpt_offsets = xrealloc(st->rcpt_offsets,
                                    (size_t)st->rcpt_offsets_cap * sizeof(*st->rcpt_offsets));
    }
    st->rcpt_offsets[st->rcpt_offsets_len++] = st->out_offset;
}

/* "header Subject: hello from host[addr]; from=<s> to=<r> proto=P helo=<h>" */
static void describe(struct cleanup_state *st, const char *where, const char *text, str *out)
{
    const char *v;
    str_printf(out, "%s ", where);
    for (size_t i = 0; text[i] && i < 500; i++) {
        unsigned char c = (unsigned char)text[i];
        str_putc(out, c == '\n' ? ' ' : (c < 0x20 || c == 0x7f) ? '?' : (char)c);
    }
    str_appendf(out, " from %s[%s];",
                st->attrs[CA_CLIENT_NAME] ? st->attrs[CA_CLIENT_NAME] : "unknown",
                st->attrs[CA_CLIENT_ADDR] ? st->attrs[CA_CLIENT_ADDR] : "unknown");
    str_appendf(out, " from=<%s> to=<%s>", st->sender ? st->sender : "",
                st->first_rcpt ? st->first_rcpt : "");
    if ((v = st->attrs[CA_PROTOCOL]))
        str_appendf(out, " proto=%s", v);
    if ((v = st->attrs[CA_HELO_NAME]))
        str_appendf(out, " helo=<%s>", v);
}

/* Look text up and carry out the action. Returns the action kind (for PREPEND/IGNORE,
 * with the action's text in *a). */
static enum access_kind check(struct cleanup_state *st, char **maps, const char *where,
                              const char *text, struct access_action *a)
{
    str value, desc;
    char *err = NULL;
    int rc;

    if (st->status != 0 || st->discard)
        return ACCESS_DUNNO;                 /* already decided */
    str_init(&value);
    rc = dict_lookup_list(maps, text, &value);
    if (rc < 0) {
        str_free(&value);
        msg_warn("%s: %s_checks table lookup error", st->queue_id, where);
        cleanup_reject(st, 4, "4.3.0", "content check table lookup error");
        return ACCESS_DEFER;
    }
    if (rc == 0) {
        str_free(&value);
        return ACCESS_DUNNO;
    }
    if (access_parse_action(value.data, a, &err) < 0) {
        msg_warn("%s: %s_checks: bad action \"%.100s\": %s; ignored", st->queue_id, where,
                 value.data, err);
        free(err);
        str_free(&value);
        return ACCESS_DUNNO;
    }
    str_free(&value);
    str_init(&desc);
    describe(st, where, text, &desc);
    switch (a->kind) {
    case ACCESS_REJECT:
    case ACCESS_DEFER: {
        int status = a->kind == ACCESS_REJECT ? 5 : 4;
        const char *reply = *a->text ? a->text : "message content rejected";
        msg_info("%s: reject: %s: %s %s", st->queue_id, desc.data, a->dsn, reply);
        cleanup_reject(st, status, a->dsn, reply);
        break;
    }
    case ACCESS_DISCARD:
        msg_info("%s: discard: %s: %s", st->queue_id, desc.data, *a->text ? a->text : "");
        st->discard = 1;
        break;
    case ACCESS_HOLD:
        msg_info("%s: hold: %s: %s", st->queue_id, desc.data, *a->text ? a->text : "");
        st->hold = 1;
        break;
    case ACCESS_WARN:
        msg_info("%s: warning: %s: %s", st->queue_id, desc.data, *a->text ? a->text : "");
        break;
    case ACCESS_REDIRECT:
        msg_info("%s: redirect: %s: %s", st->queue_id, desc.data, a->text);
        free(st->redirect);
        st->redirect = xstrdup(a->text);     /* the last REDIRECT wins */
        break;
    case ACCESS_PREPEND:
    case ACCESS_IGNORE:
        if (strcmp(where, "body") == 0) {
            msg_warn("%s: body_checks: %s is not supported for body lines; ignored",
                     st->queue_id, access_kind_name(a->kind));
            a->kind = ACCESS_DUNNO;
        }
        break;
    default:                                 /* OK, DUNNO */
        break;
    }
    str_free(&desc);
    return a->kind;
}

/* One logical header: its encoded records and its text. */
static void check_header(struct cleanup_state *st, const char *recs, size_t rlen, size_t bytes,
                         const str *text, str *out, size_t *out_bytes)
{
    struct access_action a;
    const char *t = text->data;
    size_t tlen = text->len > CHECKS_TEXT_MAX ? CHECKS_TEXT_MAX : text->len;
    char *key = xstrndup(t, tlen);

    switch (check(st, header_maps, "header", key, &a)) {
    case ACCESS_PREPEND:
        rec_encode(out, REC_NORM, a.text, strlen(a.text));
        *out_bytes += strlen(a.text) + 1;
        break;
    case ACCESS_IGNORE:
        free(key);
        return;
    default:
        break;
    }
    free(key);
    str_append(out, recs, rlen);
    *out_bytes += bytes;
}

void cleanup_checks_headers(struct cleanup_state *st, struct hdr_state *h)
{
    str out, text;
    size_t pos = 0, start = 0, bytes = 0, out_bytes = 0;
    int at_line_start = 1, have = 0;

    if (!header_maps || !header_maps[0] || st->status != 0)
        return;
    str_init(&out);
    str_init(&text);
    /* Bounded: each pass consumes one record of the (bounded) block. */
    while (pos < h->block.len) {
        int type;
        const char *data;
        size_t dlen;
        const char *err = NULL;
        long n = rec_decode(h->block.data + pos, h->block.len - pos, &type, &data, &dlen, &err);
        if (n <= 0) {
            msg_warn("%s: header block: %s; header checks skipped", st->queue_id,
                     err ? err : "truncated record");
            str_free(&out);
            str_free(&text);
            return;
        }
        int new_header = at_line_start && dlen > 0 && data[0] != ' ' && data[0] != '\t';
        if (new_header && have) {
            check_header(st, h->block.data + start, pos - start, bytes, &text, &out, &out_bytes);
            str_reset(&text);
            bytes = 0;
        }
        if (new_header || !have) {
            start = pos;
            have = 1;
        }
        if (at_line_start && text.len > 0)
            str_putc(&text, '\n');
        if (text.len < CHECKS_TEXT_MAX)
            str_append(&text, data, dlen);
        bytes += dlen + (type == REC_NORM);
        at_line_start = type == REC_NORM;
        pos += (size_t)n;
    }
    if (have)
        check_header(st, h->block.data + start, pos - start, bytes, &text, &out, &out_bytes);
    str_free(&h->block);
    h->block = out;
    h->bytes = out_bytes;
    str_free(&text);
}

void cleanup_checks_body(struct cleanup_state *st, const char *data, size_t len, int complete)
{
    struct access_action a;

    if (!body_maps || !body_maps[0] || st->status != 0 || st->discard)
        return;
    if (st->line.len < CHECKS_TEXT_MAX) {
        size_t room = CHECKS_TEXT_MAX - st->line.len;
        str_append(&st->line, data, len < room ? len : room);
    }
    if (!complete)
        return;
    /* A NUL byte would end the key early; check the line up to it. */
    (void)check(st, body_maps, "body", st->line.data, &a);
    str_reset(&st->line);
}

int cleanup_checks_redirect(struct cleanup_state *st)
{
    if (!st->redirect)
        return 0;
    if (bio_flush(st->out) < 0 || bio_error(st->out) != BIO_OK) {
        msg_warn("%s: queue file write error: %s", st->queue_id, bio_strerror(st->out));
        return -1;
    }
    for (long i = 0; i < st->rcpt_offsets_len; i++)
        if (pwrite(st->qfd, "D", 1, st->rcpt_offsets[i]) != 1) {
            msg_warn("%s: cannot mark recipient done for REDIRECT: %m", st->queue_id);
            return -1;
        }
    cleanup_out_rec(st, REC_RCPT, st->redirect, strlen(st->redirect));
    st->rcpt_count++;
    return 0;
}
