/* bounce_notify.c: builds one RFC 3464 delivery status notification and submits it
 * through cleanup (lib/submit.h) with the null sender, so that it can never cause a
 * bounce to a bounce.
 *
 * The report is multipart/report; report-type=delivery-status with three parts: a
 * human-readable text naming each failed recipient and the reason, the
 * message/delivery-status part (Reporting-MTA, Arrival-Date, then per recipient
 * Final-Recipient, Original-Recipient when known, Action: failed, Status, Remote-MTA and
 * Diagnostic-Code), and text/rfc822-headers with the original message's headers.
 *
 * Who is told: the original sender; when that is the null sender (the failed message
 * was itself a notification) the "double bounce" goes to $2bounce_notice_recipient and
 * is marked with the header X-Postern-Notification: double-bounce. A failed message
 * with the null sender, submitted locally (protocol LOCAL) and carrying that mark is a
 * failed double bounce: it is logged and discarded, so notifications never loop.
 *
 * A delay warning (BOUNCE_DELAY) has the same shape with Action: delayed, a 4.x.x Status
 * and Will-Retry-Until: (arrival + $maximal_queue_lifetime) per recipient; it goes to the
 * sender only (never for the null sender, never to postmaster). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "log.h"
#include "mem.h"
#include "submit.h"
#include "bounce.h"

#define HEADER_LINE_MAX (64 * 1024)        /* longer original header line: copy stops */
#define HEADERS_MAX_BYTES (1024 * 1024)    /* original header bytes copied at most */
#define FIELD_TEXT_MAX 900                 /* text in one report field (line < 998) */
#define DOUBLE_BOUNCE_MARK "X-Postern-Notification: double-bounce"

struct headers {
    str text;            /* original header lines, each ending in '\n' */
    int truncated;       /* copy stopped early */
    int double_bounce;   /* carries DOUBLE_BOUNCE_MARK */
};

/* Read the original header block (up to the first empty line), bounded. */
static void read_headers(int fd, const struct qfile_env *env, struct headers *h)
{
    qfile_reader r;
    str line;
    const char *err = NULL;
    str_init(&h->text);
    h->truncated = 0;
    h->double_bounce = 0;
    if (qfile_content_open(&r, fd, env->content_offset) < 0) {
        h->truncated = 1;
        return;
    }
    str_init(&line);
    for (int rc; (rc = qfile_next_line(&r, &line, HEADER_LINE_MAX, &err)) != 0;) {
        if (rc < 0 || h->text.len + line.len + 1 > HEADERS_MAX_BYTES) {
            h->truncated = 1;
            break;
        }
        if (line.len == 0)
            break;
        if (line.len == strlen(DOUBLE_BOUNCE_MARK)
            && strcaseprefix(line.data, DOUBLE_BOUNCE_MARK))
            h->double_bounce = 1;
        str_append(&h->text, line.data, line.len);
        str_putc(&h->text, '\n');
    }
    str_free(&line);
    qfile_content_close(&r);
}

/* Split "host H[A] said: TEXT (in reply to X command)" (smtp/smtp_proto.c); 1 if it is. */
static int remote_reply(const char *reason, str *host, str *text)
{
    const char *said = strstr(reason, " said: ");
    if (strncmp(reason, "host ", 5) != 0 || !said)
        return 0;
    const char *t = said + 7;
    if (!(t[0] >= '2' && t[0] <= '5' && t[1] >= '0' && t[1] <= '9' && t[2] >= '0'
          && t[2] <= '9'))
        return 0;
    const char *hend = strchr(reason + 5, '[');
    if (!hend || hend > said)
        hend = said;
    str_setn(host, reason + 5, (size_t)(hend - (reason + 5)));
    const char *end = strstr(t, " (in reply to ");
    str_setn(text, t, end ? (size_t)(end - t) : strlen(t));
    return 1;
}

static void rfc5322_date(time_t t, char *buf, size_t len)
{
    struct tm tm;
    localtime_r(&t, &tm);
    if (strftime(buf, len, "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
        snprintf(buf, len, "Thu, 01 Jan 1970 00:00:00 +0000");
}

/* One content line (no terminator; the text never holds '\n'). */
static void put(submit *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(submit *s, const char *fmt, ...)
{
    str line;
    va_list ap;
    str_init(&line);
    va_start(ap, fmt);
    str_vappendf(&line, fmt, ap);
    va_end(ap);
    if (line.len > FIELD_TEXT_MAX + 100)
        str_truncate(&line, FIELD_TEXT_MAX + 100);
    submit_line(s, line.data, line.len, 1);
    str_free(&line);
}

static void put_human_part(submit *s, const char *host, const struct bounce_list *l,
                           enum bounce_kind kind, int to_postmaster)
{
    put(s, "Content-Description: Notification");
    put(s, "Content-Type: text/plain; charset=us-ascii");
    put(s, "%s", "");
    put(s, "This is the mail system at host %s.", host);
    put(s, "%s", "");
    if (kind == BOUNCE_DELAY) {
        put(s, "####################################################################");
        put(s, "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #");
        put(s, "####################################################################");
        put(s, "%s", "");
        put(s, "Your message could not be delivered yet to one or more of its");
        put(s, "recipients. The mail system will keep trying until the time given");
        put(s, "as Will-Retry-Until below. Its headers are attached below.");
    } else if (to_postmaster) {
        put(s, "A notification about undelivered mail could not be delivered");
        put(s, "to its recipient. Its headers are attached below.");
    } else {
        put(s, "Your message could not be delivered to one or more of its");
        put(s, "recipients, and the mail system has given up. Its headers are");
        put(s, "attached below.");
    }
    put(s, "%s", "");
    for (int i = 0; i < l->count; i++)
        put(s, "<%s>: %.*s", l->items[i].address, FIELD_TEXT_MAX, l->items[i].reason);
    put(s, "%s", "");
}

static void put_status_part(submit *s, const char *host, const char *id,
                            const struct qfile_env *env, enum bounce_kind kind,
                            const struct bounce_list *l)
{
    char date[64], until[64] = "";
    str rhost, rtext, sender;
    str_init(&rhost);
    str_init(&rtext);
    str_init(&sender);
    bounce_printable(&sender, env->sender, 1000);
    rfc5322_date((time_t)env->arrival_sec, date, sizeof(date));
    if (kind == BOUNCE_DELAY) {
        long lifetime = config_time("maximal_queue_lifetime");
        rfc5322_date((time_t)(env->arrival_sec + (lifetime > 0 ? lifetime : 0)), until,
                     sizeof(until));
    }
    put(s, "Content-Description: Delivery report");
    put(s, "Content-Type: message/delivery-status");
    put(s, "%s", "");
    put(s, "Reporting-MTA: dns; %s", host);
    put(s, "X-Postern-Queue-ID: %s", id);
    put(s, "X-Postern-Sender: rfc822; %s", sender.data);
    put(s, "Arrival-Date: %s", date);
    for (int i = 0; i < l->count; i++) {
        const struct bounce_rcpt *r = &l->items[i];
        put(s, "%s", "");
        put(s, "Final-Recipient: rfc822; %s", r->address);
        if (r->orig && strcmp(r->orig, r->address) != 0)
            put(s, "Original-Recipient: rfc822; %s", r->orig);
        put(s, "Action: %s", kind == BOUNCE_DELAY ? "delayed" : "failed");
        put(s, "Status: %s", r->dsn);
        if (remote_reply(r->reason, &rhost, &rtext)) {
            put(s, "Remote-MTA: dns; %.*s", FIELD_TEXT_MAX, rhost.data);
            put(s, "Diagnostic-Code: smtp; %.*s", FIELD_TEXT_MAX, rtext.data);
        } else {
            put(s, "Diagnostic-Code: X-Postern; %.*s", FIELD_TEXT_MAX, r->reason);
        }
        if (kind == BOUNCE_DELAY)
            put(s, "Will-Retry-Until: %s", until);
    }
    put(s, "%s", "");
    str_free(&rhost);
    str_free(&rtext);
    str_free(&sender);
}

static int has_8bit(const str *t)
{
    for (size_t i = 0; i < t->len; i++)
        if ((unsigned char)t->data[i] >= 0x80)
            return 1;
    return 0;
}

/* The notification's recipient ("" = discard), in out. */
static void notify_target(const struct qfile_env *env, const struct headers *h,
                          enum bounce_kind kind, str *out, int *to_postmaster)
{
    *to_postmaster = 0;
    if (env->sender[0]) {
        str_set(out, env->sender);
        return;
    }
    if (kind == BOUNCE_DELAY) {            /* no warnings about notifications */
        str_set(out, "");
        return;
    }
    const char *proto = qfile_env_attr(env, "protocol");
    if (h->double_bounce && proto && strcmp(proto, "LOCAL") == 0) {
        str_set(out, "");
        return;
    }
    *to_postmaster = 1;
    str_set(out, config_str("2bounce_notice_recipient"));
    if (!strchr(out->data, '@'))
        str_appendf(out, "@%s", config_str("myorigin"));
}

int bounce_notify(const char *id, int fd, const struct qfile_env *env, enum bounce_kind kind,
                  const struct bounce_list *l, str *new_id, str *why)
{
    struct headers h;
    str to, to_shown;
    int to_postmaster, rc = -1;
    str_reset(new_id);
    read_headers(fd, env, &h);
    str_init(&to);
    str_init(&to_shown);
    notify_target(env, &h, kind, &to, &to_postmaster);
    if (to.len == 0 && kind == BOUNCE_DELAY) {
        msg_warn("%s: no delay warning for the null sender", id);
        rc = 0;
        goto out;
    }
    if (to.len == 0) {
        msg_warn("%s: undeliverable postmaster notification discarded", id);
        rc = 0;
        goto out;
    }
    if (l->count == 0) {
        msg_warn("%s: %s log has no usable entries: no notification sent", id,
                 kind == BOUNCE_DELAY ? "defer" : "bounce");
        rc = 0;
        goto out;
    }

    char *host = xstrdup(config_str("myhostname"));
    const char *err = NULL;
    submit *s = submit_open(SUBMIT_FLAG_LOCAL, &err);
    if (!s) {
        str_printf(why, "%s", err ? err : "cannot connect to the cleanup service");
        free(host);
        goto out;
    }
    bounce_printable(&to_shown, to.data, 1000);
    char date[64], boundary[200];
    time_t now = time(NULL);
    rfc5322_date(now, date, sizeof(date));
    snprintf(boundary, sizeof(boundary), "%s.%ld/%s", id, (long)now, host);
    int eight = has_8bit(&h.text);

    submit_attr(s, "protocol", "LOCAL");
    submit_sender(s, "");
    submit_rcpt(s, to.data, NULL);
    submit_begin_content(s);
    put(s, "From: MAILER-DAEMON@%s (Mail Delivery System)", host);
    put(s, "To: <%s>", to_shown.data);
    put(s, "Subject: %s", kind == BOUNCE_DELAY ? "Delayed Mail (still being retried)"
                          : to_postmaster ? "Postmaster Copy: Undelivered Mail"
                                          : "Undelivered Mail Returned to Sender");
    put(s, "Date: %s", date);
    put(s, "Auto-Submitted: auto-replied");
    if (to_postmaster)
        put(s, "%s", DOUBLE_BOUNCE_MARK);
    put(s, "MIME-Version: 1.0");
    put(s, "Content-Type: multipart/report; report-type=delivery-status;");
    put(s, "\tboundary=\"%s\"", boundary);
    if (eight)
        put(s, "Content-Transfer-Encoding: 8bit");
    put(s, "%s", "");
    put(s, "This is a MIME-encapsulated message.");
    put(s, "%s", "");
    put(s, "--%s", boundary);
    put_human_part(s, host, l, kind, to_postmaster);
    put(s, "--%s", boundary);
    put_status_part(s, host, id, env, kind, l);
    put(s, "--%s", boundary);
    put(s, "Content-Description: %s Message Headers",
        kind == BOUNCE_DELAY ? "Delayed" : "Undelivered");
    put(s, "Content-Type: text/rfc822-headers");
    if (eight)
        put(s, "Content-Transfer-Encoding: 8bit");
    put(s, "%s", "");
    for (size_t pos = 0; pos < h.text.len;) {
        const char *nl = memchr(h.text.data + pos, '\n', h.text.len - pos);
        size_t n = (size_t)(nl - (h.text.data + pos));
        submit_line(s, h.text.data + pos, n, 1);
        pos += n + 1;
    }
    if (h.truncated)
        put(s, "X-Postern-Note: the original headers were cut short");
    put(s, "%s", "");
    put(s, "--%s--", boundary);
    free(host);

    str_set(new_id, submit_queue_id(s));       /* submit_finish frees s */
    struct submit_result res;
    int status = submit_finish(s, &res);
    if (status == 0) {
        msg_info("%s: %s %s notification: %s", id,
                 to_postmaster ? "postmaster" : "sender",
                 kind == BOUNCE_DELAY ? "delay" : "non-delivery", new_id->data);
        rc = 0;
    } else {
        str_reset(new_id);
        str_printf(why, "cleanup: %s %s", res.dsn, res.reason.data);
    }
    submit_result_free(&res);
out:
    str_free(&to);
    str_free(&to_shown);
    str_free(&h.text);
    return rc;
}
