/* smtp_proto.c: the SMTP dialog of one session (RFC 5321): greeting, EHLO (HELO after a
 * 5xx), MAIL FROM with SIZE= and BODY=8BITMIME when offered, RCPT TO for every recipient
 * still to do (MAIL and all RCPTs sent in one write when PIPELINING is offered), DATA with
 * the queue file's content (CRLF, dot-stuffed, over-long lines split), QUIT.
 * Per-recipient results go into the smtp_rcpt array; a soft failure that another server
 * might not have (connection trouble, 4xx) leaves recipients open for the next server.
 * LMTP (RFC 2033, s->lmtp): LHLO instead of EHLO (no HELO fallback), no loop check on the
 * server's name, and after the final dot one reply per recipient that RCPT accepted. */
#include "smtp.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "../lib/config.h"  /* not "config.h": -I. (build dir) holds autoconf's config.h */
#include "log.h"
#include "mem.h"

struct dialog {
    struct smtp_session *s;
    struct deliver_msg *m;
    struct smtp_rcpt *rcpts;
    int *active, nactive;              /* recipients handled in this session */
    int *accepted, naccepted;          /* ... that got 2xx to RCPT */
    struct smtp_reply reply;
};

static int timeout_ms(const char *param)
{
    long t = config_time(param);

    return t < 1 ? 1000 : t > 3600 ? 3600000 : (int) t * 1000;
}

/* An address we can put on an SMTP command line. */
static int addr_sendable(const char *a)
{
    size_t n = 0;

    for (; *a; a++, n++)
        if ((unsigned char) *a < 0x20 || *a == 0x7f)
            return 0;
    return n <= 1000;
}

static void set_result(struct dialog *d, struct smtp_rcpt *rc, int status, const char *dsn,
                       const char *reason)
{
    double now = deliver_now();

    deliver_result_set(&rc->req->result, status, dsn, "%s", reason);
    rc->done = status != DELIVER_DEFER;
    rc->tried = 1;
    snprintf(rc->relay, sizeof(rc->relay), "%s", d->s->relay);
    rc->conn_setup = (d->s->start > 0 ? d->s->start : now) - d->m->request_time;
    rc->xfer = d->s->start > 0 ? now - d->s->start : 0;
    rc->conn_use = d->s->uses + 1;
}

/* Apply one result to a list of recipient indices (those not done yet). */
static void set_list(struct dialog *d, const int *idx, int n, int status, const char *dsn,
                     const char *reason)
{
    for (int i = 0; i < n; i++)
        if (!d->rcpts[idx[i]].done)
            set_result(d, &d->rcpts[idx[i]], status, dsn, reason);
}

/* The server's reply as a result: "host H[A] said: TEXT (in reply to CMD command)". */
static int reply_status(const struct smtp_reply *r, char *dsn, size_t dsnlen, str *reason,
                        const struct smtp_session *s, const char *cmd)
{
    int cls = r->code / 100;

    str_printf(reason, "host %s[%s] said: %s (in reply to %s command)", s->host, s->addr,
               r->text.data, cmd);
    if (cls == 5) {
        snprintf(dsn, dsnlen, "%s", r->dsn);
        return DELIVER_BOUNCE;
    }
    snprintf(dsn, dsnlen, "%s", cls == 4 ? r->dsn : "4.5.0");
    return DELIVER_DEFER;
}

static void apply_reply(struct dialog *d, const int *idx, int n, const char *cmd)
{
    char dsn[SMTP_DSN_MAX];
    str reason;
    int st;

    str_init(&reason);
    st = reply_status(&d->reply, dsn, sizeof(dsn), &reason, d->s, cmd);
    set_list(d, idx, n, st, dsn, reason.data);
    str_free(&reason);
}

/* Connection-level trouble (I/O error, timeout, malformed reply): everything still in
 * flight is deferred and the next server may do better. */
static int session_trouble(struct dialog *d, const char *err, const char *stage)
{
    str reason;

    str_init(&reason);
    if (strcmp(err, "timeout") == 0)
        str_printf(&reason, "conversation with %s[%s] timed out while %s", d->s->host,
                   d->s->addr, stage);
    else if (strncmp(err, "malformed", 9) == 0)
        str_printf(&reason, "%s from %s[%s] while %s", err, d->s->host, d->s->addr, stage);
    else
        str_printf(&reason, "lost connection with %s[%s] while %s", d->s->host, d->s->addr,
                   stage);
    set_list(d, d->active, d->nactive, DELIVER_DEFER,
             strncmp(err, "malformed", 9) == 0 ? "4.5.0" : "4.4.2", reason.data);
    str_free(&reason);
    return SESSION_NEXT;
}

static int read_reply(struct dialog *d, const char *timeout_param, const char **err)
{
    bio_set_timeout(d->s->b, timeout_ms(timeout_param));
    return smtp_reply_read(d->s->b, &d->reply, err);
}

static void send_quit(struct dialog *d)
{
    const char *err;

    if (bio_error(d->s->b))
        return;
    bio_set_timeout(d->s->b, timeout_ms("smtp_quit_timeout"));
    if (bio_puts(d->s->b, "QUIT\r\n") == 0 && bio_flush(d->s->b) == 0)
        (void) read_reply(d, "smtp_quit_timeout", &err);
}

void smtp_session_quit(struct smtp_session *s)
{
    struct dialog d;

    memset(&d, 0, sizeof(d));
    d.s = s;
    smtp_reply_init(&d.reply);
    send_quit(&d);
    smtp_reply_free(&d.reply);
    s->reusable = 0;
}

/* The transaction is over. A clean session (clean: the server is ready for a new MAIL,
 * and it did not say 421) is left open when the caller keeps sessions; else QUIT. */
static void end_session(struct dialog *d, int clean)
{
    if (clean && d->s->keep && !bio_error(d->s->b) && d->reply.code != 421) {
        d->s->reusable = 1;
        return;
    }
    send_quit(d);
}

/* MAIL was accepted but no recipient was: RSET makes the session clean for reuse. */
static void reset_session(struct dialog *d)
{
    const char *err;

    if (!d->s->keep || bio_error(d->s->b)) {
        send_quit(d);
        return;
    }
    bio_set_timeout(d->s->b, timeout_ms("smtp_rset_timeout"));
    if (bio_puts(d->s->b, "RSET\r\n") < 0 || bio_flush(d->s->b) < 0
        || read_reply(d, "smtp_rset_timeout", &err) < 0)
        return;                         /* the connection is broken: nothing to QUIT */
    end_session(d, d->reply.code / 100 == 2);
}

/* Trouble at the MAIL FROM reply (the first reply of a transaction, so no recipient has
 * an answer yet). On a reused session that means the server had closed it while idle:
 * nothing was decided, deliver over a fresh connection. */
static int stale_or_trouble(struct dialog *d, const char *err, const char *stage)
{
    if (d->s->uses == 0)
        return session_trouble(d, err, stage);
    msg_info("%s: reused session with %s[%s] is gone (%s); connecting again",
             d->m->queue_id, d->s->host, d->s->addr, err);
    return SESSION_STALE;
}

static int any_open(const struct dialog *d)
{
    for (int i = 0; i < d->nactive; i++)
        if (!d->rcpts[d->active[i]].done)
            return 1;
    return 0;
}

/* First word of a greeting/EHLO text names the server; is it us? */
static int names_myself(const char *text)
{
    char name[DNS_NAME_MAX + 1];
    size_t n = strcspn(text, " ");

    if (n == 0 || n >= sizeof(name))
        return 0;
    memcpy(name, text, n);
    name[n] = 0;
    return smtp_is_myself(name);
}

static int loops_back(struct dialog *d)
{
    str reason;
    char host[DNS_NAME_MAX + 1];
    int port, literal;

    if (smtp_nexthop_parse(d->m->nexthop, host, sizeof(host), &port, &literal) < 0)
        snprintf(host, sizeof(host), "%.200s", d->m->nexthop);
    str_init(&reason);
    str_printf(&reason, "mail for %s loops back to myself", host);
    set_list(d, d->active, d->nactive, DELIVER_BOUNCE, "5.4.6", reason.data);
    str_free(&reason);
    return SESSION_LOOP;
}

static void parse_ehlo(struct smtp_session *s, const struct smtp_reply *r)
{
    s->pipelining = s->eightbit = s->size_offered = s->starttls_offered = 0;
    s->size_limit = 0;
    for (int i = 1; i < r->nlines; i++) {
        const char *l = r->lines[i];
        if (strcasecmp(l, "STARTTLS") == 0)
            s->starttls_offered = 1;
        else if (strcasecmp(l, "PIPELINING") == 0)
            s->pipelining = 1;
        else if (strcasecmp(l, "8BITMIME") == 0)
            s->eightbit = 1;
        else if (strncasecmp(l, "SIZE", 4) == 0 && (l[4] == 0 || l[4] == ' ')) {
            long v = 0;
            s->size_offered = 1;
            if (l[4] == ' ' && parse_long(l + 5, &v) == 0 && v > 0)
                s->size_limit = v;
        }
    }
}

/* Session-level 5xx (greeting, HELO): not final for the recipients; another server may
 * accept them. Turn the bounces just recorded back into deferrals. */
static void demote(struct dialog *d)
{
    if (d->s->final_server)
        return;
    for (int i = 0; i < d->nactive; i++) {
        struct smtp_rcpt *rc = &d->rcpts[d->active[i]];
        if (rc->req->result.status == DELIVER_BOUNCE) {
            rc->req->result.status = DELIVER_DEFER;
            rc->req->result.dsn[0] = '4';
            rc->done = 0;
        }
    }
}

/* Mandatory TLS could not be had on this server: defer everyone still open here and
 * let the next server try. */
static int tls_trouble(struct dialog *d, const char *dsn, const char *reason, int quit)
{
    set_list(d, d->active, d->nactive, DELIVER_DEFER, dsn, reason);
    if (quit)
        send_quit(d);
    return SESSION_NEXT;
}

/* EHLO (HELO after a 5xx) or LHLO. 0, or -1 = stop with the session result in *rc. */
static int hello(struct dialog *d, int *rc, int allow_helo)
{
    const char *err, *helo = config_str("smtp_helo_name");
    const char *verb = d->s->lmtp ? "LHLO" : "EHLO";

    bio_set_timeout(d->s->b, timeout_ms("smtp_helo_timeout"));
    bio_printf(d->s->b, "%s %s\r\n", verb, helo);
    if (read_reply(d, "smtp_helo_timeout", &err) < 0) {
        *rc = session_trouble(d, err, d->s->lmtp ? "receiving the LHLO reply"
                                                 : "receiving the EHLO reply");
        return -1;
    }
    if (d->reply.code / 100 == 5 && allow_helo && !d->s->lmtp) {
        parse_ehlo(d->s, &d->reply);        /* no extensions at all */
        bio_printf(d->s->b, "HELO %s\r\n", helo);
        if (read_reply(d, "smtp_helo_timeout", &err) < 0) {
            *rc = session_trouble(d, err, "receiving the HELO reply");
            return -1;
        }
        if (d->reply.code / 100 != 2) {
            apply_reply(d, d->active, d->nactive, "HELO");
            demote(d);
            send_quit(d);
            *rc = SESSION_NEXT;
            return -1;
        }
    } else if (d->reply.code / 100 != 2) {
        apply_reply(d, d->active, d->nactive, verb);
        send_quit(d);
        *rc = SESSION_NEXT;
        return -1;
    } else {
        parse_ehlo(d->s, &d->reply);
    }
    if (!d->s->lmtp && names_myself(d->reply.lines[0])) {
        *rc = loops_back(d);
        send_quit(d);
        return -1;
    }
    return 0;
}

/* STARTTLS as the destination's policy asks. 0 go on, -1 stop with *rc. */
static int start_tls(struct dialog *d, int *rc)
{
    struct smtp_session *s = d->s;
    enum tls_level level = s->tls_policy ? s->tls_policy->level : TLS_LEV_NONE;
    str why;
    int r;

    if (level == TLS_LEV_NONE)
        return 0;
    str_init(&why);
    if (!s->starttls_offered) {
        if (level >= TLS_LEV_ENCRYPT) {
            str_printf(&why, "TLS is required, but was not offered by host %s[%s]", s->host,
                       s->addr);
            *rc = tls_trouble(d, "4.7.4", why.data, 1);
        }
        str_free(&why);
        return level >= TLS_LEV_ENCRYPT ? -1 : 0;
    }
    s->helo_timeout_ms = timeout_ms("smtp_helo_timeout");
    r = smtp_tls_starttls(s, &d->reply, &why);
    if (r == 0) {
        str_free(&why);
        return hello(d, rc, 0);
    }
    if (r == -1 && level < TLS_LEV_ENCRYPT) {
        msg_info("%s: %s; continuing without TLS", d->m->queue_id, why.data);
        str_free(&why);
        return 0;
    }
    if (r == -2)
        msg_info("%s: %s", d->m->queue_id, why.data);
    *rc = tls_trouble(d, level >= TLS_LEV_ENCRYPT ? "4.7.5" : "4.4.2", why.data, r == -1);
    str_free(&why);
    return -1;
}

/* Greeting, EHLO/HELO and STARTTLS. -1 = stop with the session result in *rc. */
static int handshake(struct dialog *d, int *rc)
{
    const char *err;

    if (read_reply(d, "smtp_helo_timeout", &err) < 0) {
        *rc = session_trouble(d, err, "receiving the initial server greeting");
        return -1;
    }
    if (d->reply.code / 100 != 2) {
        apply_reply(d, d->active, d->nactive, "initial greeting");
        demote(d);                      /* a 5xx greeting is not final: try the next server */
        send_quit(d);
        *rc = SESSION_NEXT;
        return -1;
    }
    if (!d->s->lmtp && names_myself(d->reply.lines[0])) {
        *rc = loops_back(d);
        send_quit(d);
        return -1;
    }
    if (hello(d, rc, 1) < 0)
        return -1;
    return start_tls(d, rc);
}

/* Write one content line: dot-stuffed, split into pieces of at most `limit` bytes
 * (header continuation pieces start with a space). */
static void put_line(bio *b, const char *data, size_t len, size_t limit, int header)
{
    size_t off = 0;
    int first = 1;

    do {
        size_t room = limit > 1 ? limit - (!first && header) : len;
        size_t n = len - off < room ? len - off : room;
        if (!first && header)
            bio_write(b, " ", 1);
        if (n > 0 && data[off] == '.' && (first || !header))
            bio_write(b, ".", 1);
        bio_write(b, data + off, n);
        bio_write(b, "\r\n", 2);
        off += n;
        first = 0;
    } while (off < len);
}

/* Send the message content and the final dot. 0; -1 on a queue file error (reason set). */
static int send_content(struct dialog *d, str *why)
{
    qfile_reader rd;
    str line;
    const char *err = NULL;
    long limit = config_size("smtp_line_length_limit");
    int header = 1, rc;

    if (limit <= 0 || limit > 1L << 20)
        limit = 0;
    if (qfile_content_open(&rd, d->m->fd, d->m->env.content_offset) < 0) {
        str_printf(why, "error reading queue file %s: no content", d->m->queue_id);
        return -1;
    }
    str_init(&line);
    bio_set_timeout(d->s->b, timeout_ms("smtp_data_xfer_timeout"));
    while ((rc = qfile_next_line(&rd, &line, d->m->line_max, &err)) == 1) {
        if (header && line.len == 0)
            header = 0;
        put_line(d->s->b, line.data, line.len, (size_t) limit, header);
        if (bio_error(d->s->b))
            break;
    }
    str_free(&line);
    qfile_content_close(&rd);
    if (rc < 0) {
        str_printf(why, "error reading queue file %s: %s", d->m->queue_id,
                   err ? err : "read error");
        return -1;
    }
    bio_puts(d->s->b, ".\r\n");
    return 0;
}

/* LMTP after the final dot: one reply per accepted recipient, in RCPT order (RFC 2033
 * section 4.2). A lost connection defers those not answered yet. */
static int lmtp_data_replies(struct dialog *d)
{
    const char *err;

    for (int i = 0; i < d->naccepted; i++) {
        struct smtp_rcpt *rc = &d->rcpts[d->accepted[i]];
        if (read_reply(d, "smtp_data_done_timeout", &err) < 0) {
            int *active = d->active, nactive = d->nactive, r;
            d->active = d->accepted + i;         /* only those still waiting for a reply */
            d->nactive = d->naccepted - i;
            r = session_trouble(d, err, "sending message body");
            d->active = active;
            d->nactive = nactive;
            return r;
        }
        if (d->reply.code / 100 == 2) {
            set_result(d, rc, DELIVER_SENT,
                       strncmp(d->reply.dsn, "2.", 2) == 0 ? d->reply.dsn : "2.0.0",
                       d->reply.text.data);
        } else {
            if (d->reply.code / 100 == 3)
                d->reply.code = 450;
            apply_reply(d, &d->accepted[i], 1, "end of DATA");
        }
    }
    end_session(d, 1);
    return any_open(d) ? SESSION_NEXT : SESSION_DONE;
}

static int transaction(struct dialog *d)
{
    const char *err, *sender = d->m->env.sender;
    str reason;

    if (!addr_sendable(sender)) {
        set_list(d, d->active, d->nactive, DELIVER_BOUNCE, "5.1.7",
                 "bad sender address syntax in queue file");
        end_session(d, 1);
        return SESSION_DONE;
    }
    if (d->s->size_limit > 0 && d->m->env.message_size > d->s->size_limit) {
        str_init(&reason);
        str_printf(&reason, "message size %ld exceeds size limit %ld of server %s[%s]",
                   d->m->env.message_size, d->s->size_limit, d->s->host, d->s->addr);
        set_list(d, d->active, d->nactive, DELIVER_BOUNCE, "5.3.4", reason.data);
        str_free(&reason);
        end_session(d, 1);
        return SESSION_DONE;
    }
    /* MAIL FROM and the RCPTs: one write with PIPELINING, else one at a time */
    bio_set_timeout(d->s->b, timeout_ms("smtp_mail_timeout"));
    bio_printf(d->s->b, "MAIL FROM:<%s>", sender);
    if (d->s->size_offered)
        bio_printf(d->s->b, " SIZE=%ld", d->m->env.message_size);
    if (d->s->msg_8bit && d->s->eightbit)
        bio_puts(d->s->b, " BODY=8BITMIME");
    bio_puts(d->s->b, "\r\n");
    if (!d->s->pipelining) {
        if (read_reply(d, "smtp_mail_timeout", &err) < 0)
            return stale_or_trouble(d, err, "receiving the MAIL FROM reply");
        if (d->reply.code == 421 && d->s->uses > 0)
            return stale_or_trouble(d, "421", "receiving the MAIL FROM reply");
        if (d->reply.code / 100 != 2)
            goto mail_failed;
    }
    for (int i = 0; i < d->nactive; i++) {
        struct smtp_rcpt *rc = &d->rcpts[d->active[i]];
        bio_printf(d->s->b, "RCPT TO:<%s>\r\n", rc->req->address);
        if (d->s->pipelining)
            continue;
        if (read_reply(d, "smtp_rcpt_timeout", &err) < 0)
            return session_trouble(d, err, "receiving the RCPT TO reply");
        if (d->reply.code / 100 == 2)
            d->accepted[d->naccepted++] = d->active[i];
        else
            apply_reply(d, &d->active[i], 1, "RCPT TO");
    }
    if (d->s->pipelining) {
        if (read_reply(d, "smtp_mail_timeout", &err) < 0)
            return stale_or_trouble(d, err, "receiving the MAIL FROM reply");
        if (d->reply.code == 421 && d->s->uses > 0)
            return stale_or_trouble(d, "421", "receiving the MAIL FROM reply");
        if (d->reply.code / 100 != 2)
            goto mail_failed;
        for (int i = 0; i < d->nactive; i++) {
            if (read_reply(d, "smtp_rcpt_timeout", &err) < 0)
                return session_trouble(d, err, "receiving the RCPT TO reply");
            if (d->reply.code / 100 == 2)
                d->accepted[d->naccepted++] = d->active[i];
            else
                apply_reply(d, &d->active[i], 1, "RCPT TO");
        }
    }
    if (d->naccepted == 0) {
        reset_session(d);
        return any_open(d) ? SESSION_NEXT : SESSION_DONE;
    }
    /* DATA */
    bio_set_timeout(d->s->b, timeout_ms("smtp_data_init_timeout"));
    bio_puts(d->s->b, "DATA\r\n");
    if (read_reply(d, "smtp_data_init_timeout", &err) < 0)
        return session_trouble(d, err, "receiving the DATA reply");
    if (d->reply.code != 354) {
        if (d->reply.code / 100 == 2 || d->reply.code / 100 == 3)
            d->reply.code = 450;         /* unexpected: treat as a soft failure */
        apply_reply(d, d->accepted, d->naccepted, "DATA");
        send_quit(d);
        return any_open(d) ? SESSION_NEXT : SESSION_DONE;
    }
    str_init(&reason);
    if (send_content(d, &reason) < 0) {
        /* never send the final dot: the server must discard the partial message */
        msg_warn("%s: %s", d->m->queue_id, reason.data);
        set_list(d, d->accepted, d->naccepted, DELIVER_DEFER, "4.3.0", reason.data);
        str_free(&reason);
        return SESSION_DONE;
    }
    str_free(&reason);
    if (d->s->lmtp)
        return lmtp_data_replies(d);
    if (read_reply(d, "smtp_data_done_timeout", &err) < 0)
        return session_trouble(d, err, "sending message body");
    int odd_reply = d->reply.code / 100 == 3;    /* the server lost track: no reuse */
    if (d->reply.code / 100 == 2) {
        set_list(d, d->accepted, d->naccepted, DELIVER_SENT,
                 strncmp(d->reply.dsn, "2.", 2) == 0 ? d->reply.dsn : "2.0.0",
                 d->reply.text.data);
    } else {
        if (odd_reply)
            d->reply.code = 450;
        apply_reply(d, d->accepted, d->naccepted, "end of DATA");
    }
    end_session(d, !odd_reply);
    return any_open(d) ? SESSION_NEXT : SESSION_DONE;

mail_failed:
    if (d->reply.code / 100 == 3)
        d->reply.code = 450;
    apply_reply(d, d->active, d->nactive, "MAIL FROM");
    end_session(d, !d->s->pipelining);      /* pipelined RCPT replies are still unread */
    return any_open(d) ? SESSION_NEXT : SESSION_DONE;
}

int smtp_session_run(struct smtp_session *s, struct deliver_msg *m, struct smtp_rcpt *rcpts,
                     int n)
{
    struct dialog d;
    int rc = SESSION_DONE;

    memset(&d, 0, sizeof(d));
    d.s = s;
    d.m = m;
    d.rcpts = rcpts;
    d.active = xcalloc((size_t) n + 1, sizeof(int));
    d.accepted = xcalloc((size_t) n + 1, sizeof(int));
    smtp_reply_init(&d.reply);
    for (int i = 0; i < n; i++) {
        if (rcpts[i].done)
            continue;
        if (!addr_sendable(rcpts[i].req->address)) {
            set_result(&d, &rcpts[i], DELIVER_BOUNCE, "5.1.3", "bad recipient address syntax");
            continue;
        }
        d.active[d.nactive++] = i;
    }
    s->reusable = 0;
    if (d.nactive > 0 && (s->uses > 0 || handshake(&d, &rc) == 0)) {
        s->start = deliver_now();
        rc = transaction(&d);
    } else if (d.nactive == 0) {
        s->reusable = s->uses > 0 && s->keep;     /* nothing was said on it */
    }
    smtp_reply_free(&d.reply);
    free(d.active);
    free(d.accepted);
    return rc;
}

/* Scan the content once for 8-bit bytes (for BODY=8BITMIME). 1 found, 0 none, -1 on a
 * read error. */
int smtp_scan_8bit(const struct deliver_msg *m)
{
    qfile_reader rd;
    str line;
    const char *err;
    int rc, has_8bit = 0;

    if (qfile_content_open(&rd, m->fd, m->env.content_offset) < 0)
        return -1;
    str_init(&line);
    while ((rc = qfile_next_line(&rd, &line, m->line_max, &err)) == 1) {
        for (size_t i = 0; i < line.len && !has_8bit; i++)
            if ((unsigned char) line.data[i] >= 0x80)
                has_8bit = 1;
        if (has_8bit)
            break;
    }
    str_free(&line);
    qfile_content_close(&rd);
    return rc < 0 ? -1 : has_8bit;
}
