/* local_status.c: delivery results of the local agent, the per-recipient log line
 * (docs/PROTOCOLS.md section 4) and the switch to a recipient's privileges. */
#include "local.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>
#include "log.h"
#include "privs.h"

void local_result_init(struct local_result *r)
{
    r->status = LOCAL_SENT;
    snprintf(r->dsn, sizeof(r->dsn), "2.0.0");
    str_init(&r->reason);
}

void local_result_free(struct local_result *r)
{
    str_free(&r->reason);
}

void local_result_set(struct local_result *r, int status, const char *dsn, const char *fmt, ...)
{
    va_list ap;

    r->status = status;
    snprintf(r->dsn, sizeof(r->dsn), "%s", dsn);
    str_reset(&r->reason);
    va_start(ap, fmt);
    str_vappendf(&r->reason, fmt, ap);
    va_end(ap);
}

void local_result_copy(struct local_result *dst, const struct local_result *src)
{
    dst->status = src->status;
    memcpy(dst->dsn, src->dsn, sizeof(dst->dsn));
    str_setn(&dst->reason, src->reason.data, src->reason.len);
}

void local_result_errno(struct local_result *r, int err, const char *fmt, ...)
{
    va_list ap;
    const char *dsn = "4.3.0";

    if (err == EDQUOT || err == EFBIG)
        dsn = "4.2.2";                  /* mailbox full: may heal, keep trying */
    else if (err == EAGAIN || err == EWOULDBLOCK || err == EBUSY)
        dsn = "4.2.0";
    r->status = LOCAL_DEFER;
    snprintf(r->dsn, sizeof(r->dsn), "%s", dsn);
    str_reset(&r->reason);
    va_start(ap, fmt);
    str_vappendf(&r->reason, fmt, ap);
    va_end(ap);
    str_appendf(&r->reason, ": %s", strerror(err));
}

double local_now(void)
{
    struct timeval tv;

    gettimeofday(&tv, 0);
    return (double) tv.tv_sec + tv.tv_usec / 1e6;
}

/* Postfix-style delay: 2 decimals below 10s, 1 below 100s, whole seconds above. With
 * `compact` (the delays=a/b/c/d parts) zero prints as "0" and trailing zeros go. */
static void format_delay(str *out, double d, int compact)
{
    char buf[64];

    if (d < 0)
        d = 0;
    if (d < 10)
        snprintf(buf, sizeof(buf), "%.2f", d);
    else if (d < 100)
        snprintf(buf, sizeof(buf), "%.1f", d);
    else
        snprintf(buf, sizeof(buf), "%.0f", d);
    if (compact && strchr(buf, '.')) {
        size_t n = strlen(buf);
        while (n > 0 && buf[n - 1] == '0')
            buf[--n] = 0;
        if (n > 0 && buf[n - 1] == '.')
            buf[--n] = 0;
    }
    str_appends(out, buf);
}

void local_printable(str *out, const char *s, int nospace)
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

static const char *status_name(int status)
{
    return status == LOCAL_SENT ? "sent" : status == LOCAL_DEFER ? "deferred" : "bounced";
}

void local_log_result(const struct local_msg *m, const char *to, const char *orig,
                      double rcpt_start, const struct local_result *r)
{
    double now = local_now();
    double active = m->active_time, req = m->request_time;
    str line, tmp;

    if (active < m->arrival)
        active = m->arrival;
    if (active > req)
        active = req;
    if (rcpt_start < req)
        rcpt_start = req;
    str_init(&line);
    str_init(&tmp);
    local_printable(&tmp, to, 0);
    str_appendf(&line, "to=<%s>", tmp.data);
    if (orig && *orig && strcmp(orig, to) != 0) {
        local_printable(&tmp, orig, 0);
        str_appendf(&line, ", orig_to=<%s>", tmp.data);
    }
    str_appends(&line, ", relay=local, delay=");
    format_delay(&line, now - m->arrival, 0);
    str_appends(&line, ", delays=");
    format_delay(&line, active - m->arrival, 1);
    str_putc(&line, '/');
    format_delay(&line, req - active, 1);
    str_putc(&line, '/');
    format_delay(&line, rcpt_start - req, 1);
    str_putc(&line, '/');
    format_delay(&line, now - rcpt_start, 1);
    local_printable(&tmp, r->reason.data, 0);
    str_appendf(&line, ", dsn=%s, status=%s (%s)", r->dsn, status_name(r->status), tmp.data);
    msg_info("%s: %s", m->queue_id, line.data);
    str_free(&tmp);
    str_free(&line);
}

int local_become(uid_t uid, gid_t gid, struct local_result *r)
{
    if (privs_is_root()) {
        if (privs_set_effective(uid, gid) < 0) {
            local_result_errno(r, errno, "cannot switch to uid %ld gid %ld",
                               (long) uid, (long) gid);
            return -1;
        }
        return 0;
    }
    if (uid != getuid()) {
        local_result_set(r, LOCAL_DEFER, "4.3.0",
                         "cannot deliver as uid %ld: postern is not running as root",
                         (long) uid);
        return -1;
    }
    return 0;
}

void local_unbecome(void)
{
    if (privs_is_root() && privs_restore_root() < 0)
        msg_fatal("cannot restore root privileges: %s", strerror(errno));
}
