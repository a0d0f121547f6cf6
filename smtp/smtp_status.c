/* smtp_status.c: delivery results of the smtp agent and the per-recipient log line
 * (docs/PROTOCOLS.md section 4, with relay=host[addr]:port). */
#include "smtp.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include "log.h"

void smtp_result_init(struct smtp_result *r)
{
    r->status = SMTP_DEFER;
    snprintf(r->dsn, sizeof(r->dsn), "4.3.0");
    str_init(&r->reason);
}

void smtp_result_free(struct smtp_result *r)
{
    str_free(&r->reason);
}

void smtp_result_set(struct smtp_result *r, int status, const char *dsn, const char *fmt, ...)
{
    va_list ap;

    r->status = status;
    snprintf(r->dsn, sizeof(r->dsn), "%s", dsn);
    str_reset(&r->reason);
    va_start(ap, fmt);
    str_vappendf(&r->reason, fmt, ap);
    va_end(ap);
    if (r->reason.len > SMTP_REPLY_TEXT_MAX)
        str_truncate(&r->reason, SMTP_REPLY_TEXT_MAX);
}

double smtp_now(void)
{
    struct timeval tv;

    gettimeofday(&tv, 0);
    return (double) tv.tv_sec + tv.tv_usec / 1e6;
}

void smtp_printable(str *out, const char *s)
{
    str_reset(out);
    for (; *s; s++) {
        unsigned char c = (unsigned char) *s;
        str_putc(out, c < 0x20 || c == 0x7f ? '?' : c);
    }
}

/* Postfix-style delay: 2 decimals below 10s, 1 below 100s, whole seconds above; the
 * compact form (delays=a/b/c/d parts) drops trailing zeros. */
static void format_delay(str *out, double d, int compact)
{
    char buf[64];

    if (d < 0)
        d = 0;
    snprintf(buf, sizeof(buf), d < 10 ? "%.2f" : d < 100 ? "%.1f" : "%.0f", d);
    if (compact && strchr(buf, '.')) {
        size_t n = strlen(buf);
        while (n > 0 && buf[n - 1] == '0')
            buf[--n] = 0;
        if (n > 0 && buf[n - 1] == '.')
            buf[--n] = 0;
    }
    str_appends(out, buf);
}

static const char *status_name(int status)
{
    return status == SMTP_SENT ? "sent" : status == SMTP_DEFER ? "deferred" : "bounced";
}

void smtp_log_result(const struct smtp_msg *m, const struct smtp_rcpt *rc)
{
    double now = smtp_now(), active = m->active_time, req = m->request_time;
    str line, tmp;

    if (active < m->arrival)
        active = m->arrival;
    if (active > req)
        active = req;
    str_init(&line);
    str_init(&tmp);
    smtp_printable(&tmp, rc->address);
    str_appendf(&line, "to=<%s>", tmp.data);
    if (rc->orig && *rc->orig && strcmp(rc->orig, rc->address) != 0) {
        smtp_printable(&tmp, rc->orig);
        str_appendf(&line, ", orig_to=<%s>", tmp.data);
    }
    smtp_printable(&tmp, rc->relay[0] ? rc->relay : "none");
    str_appendf(&line, ", relay=%s, delay=", tmp.data);
    format_delay(&line, now - m->arrival, 0);
    str_appends(&line, ", delays=");
    format_delay(&line, active - m->arrival, 1);
    str_putc(&line, '/');
    format_delay(&line, req - active, 1);
    str_putc(&line, '/');
    format_delay(&line, rc->conn_setup, 1);
    str_putc(&line, '/');
    format_delay(&line, rc->xfer, 1);
    smtp_printable(&tmp, rc->result.reason.data);
    str_appendf(&line, ", dsn=%s, status=%s (%s)", rc->result.dsn,
                status_name(rc->result.status), tmp.data);
    msg_info("%s: %s", m->queue_id, line.data);
    str_free(&tmp);
    str_free(&line);
}
