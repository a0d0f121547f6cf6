/* qmgr_log.c: the per-recipient log lines that qmgr writes itself, for outcomes no
 * delivery agent reported (agent unreachable, crashed or confused; message expired).
 * Same shape as the agents' lines (docs/PROTOCOLS.md section 4), with relay=none:
 *   ID: to=<rcpt>, orig_to=<orig>, relay=none, delay=1.2, delays=0.1/0/0/1.1,
 *       dsn=4.3.0, status=deferred (reason)
 * Everything that came from a queue file is made printable before it is logged.
 * Each line is also counted in the shared metrics (lib/metrics.h), as the agents'
 * lines are by deliver_log_result(): status=sent as delivered, deferred as deferred
 * (per next-hop destination), bounced and expired as bounced. */
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "deliver_status.h"
#include "events.h"
#include "log.h"
#include "metrics.h"
#include "resolve.h"
#include "str.h"
#include "qmgr.h"

void qmgr_printable(str *out, const char *s)
{
    str_reset(out);
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        str_putc(out, c < 0x20 || c >= 0x7f ? '?' : c);
    }
}

/* Seconds with at most two decimals, trailing zeros dropped: "0", "0.1", "12.34". */
static void put_seconds(str *out, double secs)
{
    if (secs < 0)
        secs = 0;
    char buf[64];
    snprintf(buf, sizeof(buf), "%.2f", secs);
    char *dot = strchr(buf, '.');
    if (dot) {
        char *end = buf + strlen(buf) - 1;
        while (end > dot && *end == '0')
            *end-- = 0;
        if (end == dot)
            *end = 0;
    }
    str_appends(out, buf);
}

/* The deferral destination of addr as an agent would have reported it: the nexthop its
 * route resolves to now, or its domain for the special transports (whose "nexthop" is
 * a reason text). Bounded by struct resolved; metrics sanitises it again. */
static void deferral_destination(const char *addr, char *out, size_t len)
{
    struct resolved r;
    const char *at, *dest;

    resolve_addr(addr ? addr : "", &r);
    if (strcmp(r.transport, "error") != 0 && strcmp(r.transport, "retry") != 0
        && strcmp(r.transport, "discard") != 0 && r.nexthop[0]) {
        dest = r.nexthop;
    } else {
        at = addr ? strrchr(addr, '@') : NULL;
        dest = at && at[1] ? at + 1 : "none";
    }
    size_t n = strnlen(dest, len - 1);          /* cut, as metrics keeps only len - 1 */
    memcpy(out, dest, n);
    out[n] = 0;
}

/* Count one qmgr-decided outcome like deliver_log_result() counts an agent's. */
static void count_outcome(const char *addr, const char *status, double delay)
{
    char dest[METRICS_DEST_MAX];

    if (strcmp(status, "sent") == 0) {
        metrics_delivery(DELIVER_SENT, delay, NULL);
    } else if (strcmp(status, "deferred") == 0) {
        deferral_destination(addr, dest, sizeof(dest));
        metrics_delivery(DELIVER_DEFER, delay, dest);
    } else {                                    /* bounced, expired */
        metrics_delivery(DELIVER_BOUNCE, delay, NULL);
    }
}

void qmgr_log_rcpt(const struct qmgr_message *msg, int ri, long long started_ms,
                   const char *dsn, const char *status, const char *reason)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    double now = tv.tv_sec + tv.tv_usec / 1e6;
    double arrival = msg->env.arrival_sec + msg->env.arrival_usec / 1e6;
    long long mono = event_now_ms();
    double in_qmgr_since = now - (mono - msg->active_since_ms) / 1000.0;
    double started = now - (mono - started_ms) / 1000.0;

    str line, tmp;
    str_init(&line);
    str_init(&tmp);
    qmgr_printable(&tmp, msg->env.rcpts[ri].address);
    str_appendf(&line, "%s: to=<%s>, ", msg->id, tmp.data);
    if (msg->env.rcpts[ri].orig) {
        qmgr_printable(&tmp, msg->env.rcpts[ri].orig);
        str_appendf(&line, "orig_to=<%s>, ", tmp.data);
    }
    str_appends(&line, "relay=none, delay=");
    put_seconds(&line, now - arrival);
    str_appends(&line, ", delays=");
    put_seconds(&line, in_qmgr_since - arrival);
    str_putc(&line, '/');
    put_seconds(&line, started - in_qmgr_since);
    str_appends(&line, "/0/");
    put_seconds(&line, now - started);
    qmgr_printable(&tmp, reason);
    str_appendf(&line, ", dsn=%s, status=%s (%s)", dsn, status, tmp.data);
    msg_info("%s", line.data);
    count_outcome(msg->env.rcpts[ri].address, status, now - arrival);
    str_free(&line);
    str_free(&tmp);
}
