/* deliver_status.c: delivery results and the per-recipient log line shared by the
 * delivery agents (see deliver_status.h). */
#include "deliver_status.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include "deliver_request.h"
#include "log.h"
#include "metrics.h"

void deliver_result_init(struct deliver_result *r)
{
    r->status = DELIVER_DEFER;
    snprintf(r->dsn, sizeof(r->dsn), "4.3.0");
    str_init(&r->reason);
}

void deliver_result_free(struct deliver_result *r)
{
    str_free(&r->reason);
}

static void set_reason(struct deliver_result *r, const char *fmt, va_list ap)
{
    str_reset(&r->reason);
    str_vappendf(&r->reason, fmt, ap);
}

static void bound_reason(struct deliver_result *r)
{
    if (r->reason.len > DELIVER_REASON_MAX)
        str_truncate(&r->reason, DELIVER_REASON_MAX);
}

void deliver_result_set(struct deliver_result *r, int status, const char *dsn,
                        const char *fmt, ...)
{
    va_list ap;

    r->status = status;
    snprintf(r->dsn, sizeof(r->dsn), "%s", dsn);
    va_start(ap, fmt);
    set_reason(r, fmt, ap);
    va_end(ap);
    bound_reason(r);
}

void deliver_result_copy(struct deliver_result *dst, const struct deliver_result *src)
{
    dst->status = src->status;
    memcpy(dst->dsn, src->dsn, sizeof(dst->dsn));
    str_setn(&dst->reason, src->reason.data, src->reason.len);
}

void deliver_result_errno(struct deliver_result *r, int err, const char *fmt, ...)
{
    va_list ap;
    const char *dsn = "4.3.0";

    if (err == EDQUOT || err == EFBIG)
        dsn = "4.2.2";                  /* mailbox full: may heal, keep trying */
    else if (err == EAGAIN || err == EWOULDBLOCK || err == EBUSY)
        dsn = "4.2.0";
    r->status = DELIVER_DEFER;
    snprintf(r->dsn, sizeof(r->dsn), "%s", dsn);
    va_start(ap, fmt);
    set_reason(r, fmt, ap);
    va_end(ap);
    str_appendf(&r->reason, ": %s", strerror(err));
    bound_reason(r);
}

const char *deliver_status_name(int status)
{
    return status == DELIVER_SENT ? "sent" : status == DELIVER_DEFER ? "deferred" : "bounced";
}

double deliver_now(void)
{
    struct timeval tv;

    gettimeofday(&tv, 0);
    return (double) tv.tv_sec + tv.tv_usec / 1e6;
}

void deliver_printable(str *out, const char *s, int nospace)
{
    str_reset(out);
    for (; *s; s++) {
        unsigned char c = (unsigned char) *s;
        if (c < 0x20 || c == 0x7f)
            str_putc(out, '?');
        else if (nospace && c == ' ')
            str_putc(out, '_');
        else
            str_putc(out, c);
    }
}

/* Postfix-style delay: 2 decimals below 10s, 1 below 100s, whole seconds above. With
 * `compact` (the delays=a/b/c/d parts) zero prints as "0" and trailing zeros go. */
static void format_delay(str *out, double d, int compact)
{
    char buf[64];

    if (!(d >= 0))                      /* negative (clock step) or NaN */
        d = 0;
    if (d > 1e12)
        d = 1e12;
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

void deliver_log_result(const struct deliver_msg *m, const char *to, const char *orig,
                        const char *relay, double conn_setup, double xfer,
                        const struct deliver_result *r)
{
    double now = deliver_now(), active = m->active_time, req = m->request_time;
    str line, tmp;

    if (active < m->arrival)
        active = m->arrival;
    if (active > req)
        active = req;
    str_init(&line);
    str_init(&tmp);
    deliver_printable(&tmp, to, 0);
    str_appendf(&line, "to=<%s>", tmp.data);
    if (orig && *orig && strcmp(orig, to) != 0) {
        deliver_printable(&tmp, orig, 0);
        str_appendf(&line, ", orig_to=<%s>", tmp.data);
    }
    deliver_printable(&tmp, relay && *relay ? relay : "none", 0);
    str_appendf(&line, ", relay=%s", tmp.data);
    if (m->conn_use > 1)
        str_appendf(&line, ", conn_use=%d", m->conn_use);
    str_appends(&line, ", delay=");
    format_delay(&line, now - m->arrival, 0);
    str_appends(&line, ", delays=");
    format_delay(&line, active - m->arrival, 1);
    str_putc(&line, '/');
    format_delay(&line, req - active, 1);
    str_putc(&line, '/');
    format_delay(&line, conn_setup, 1);
    str_putc(&line, '/');
    format_delay(&line, xfer, 1);
    deliver_printable(&tmp, r->reason.data, 0);
    str_appendf(&line, ", dsn=%s, status=%s (%s)", r->dsn, deliver_status_name(r->status),
                tmp.data);
    msg_info("%s: %s", m->queue_id, line.data);
    metrics_delivery(r->status, now - m->arrival, m->nexthop);
    str_free(&tmp);
    str_free(&line);
}
