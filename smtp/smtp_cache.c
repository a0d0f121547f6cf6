/* smtp_cache.c: connection reuse in the smtp agent. qmgr sends the next request for the
 * same destination over the agent connection that just finished one (qmgr_entry.c,
 * qmgr_entry_take_next()), so one kept session per agent process is all it takes: a
 * session whose transaction ended cleanly stays open here, keyed by the request's
 * nexthop, and the next request for that nexthop starts with MAIL FROM on it (no DNS, no
 * connect, no greeting, EHLO or TLS handshake). A request for another nexthop, qmgr
 * closing the connection, or the reuse limits ($smtp_connection_reuse_time_limit,
 * $smtp_connection_reuse_count_limit) end it with QUIT. Before reuse the socket is polled:
 * a server that closed the idle session (or sent 421) is dropped and the delivery connects
 * afresh, as it also does when the first reply on the reused session never comes. */
#include "smtp.h"
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "../lib/config.h"  /* not "config.h": -I. (build dir) holds autoconf's config.h */
#include "log.h"

static struct {
    int used;
    struct smtp_session s;
    char nexthop[DELIVER_NEXTHOP_MAX];
} kept;

int smtp_cache_wanted(void)
{
    return config_bool("smtp_connection_cache_on_demand");
}

static void session_close(struct smtp_session *s)
{
    tls_sess_close(s->tls, s->b);
    bio_close(s->b);
    s->tls = NULL;
    s->b = NULL;
}

/* Nothing may be waiting on an idle session: readable means EOF, a 421 or garbage. */
static int session_idle_and_open(struct smtp_session *s)
{
    struct pollfd pfd;

    if (bio_error(s->b) || bio_pending(s->b) > 0)
        return 0;
    pfd.fd = s->b->fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    return poll(&pfd, 1, 0) == 0;
}

static int within_limits(const struct smtp_session *s)
{
    long count_limit = config_int("smtp_connection_reuse_count_limit");
    long time_limit = config_time("smtp_connection_reuse_time_limit");

    if (count_limit > 0 && s->uses + 1 >= count_limit)
        return 0;
    return deliver_now() - s->opened < (double) time_limit;
}

void smtp_cache_close(void)
{
    if (!kept.used)
        return;
    kept.used = 0;
    smtp_session_quit(&kept.s);
    session_close(&kept.s);
}

void smtp_cache_release(struct smtp_session *s, const char *nexthop, int rc)
{
    if (s->reusable && rc == SESSION_DONE && s->keep && within_limits(s)
        && strlen(nexthop) < sizeof(kept.nexthop)) {
        smtp_cache_close();             /* at most one: the older one goes */
        kept.s = *s;
        kept.s.uses++;
        kept.s.tls_policy = NULL;       /* belonged to the finished request */
        snprintf(kept.nexthop, sizeof(kept.nexthop), "%s", nexthop);
        kept.used = 1;
        return;
    }
    if (s->reusable)
        smtp_session_quit(s);
    session_close(s);
}

int smtp_cache_deliver(struct deliver_msg *m, int has_8bit, struct smtp_rcpt *rcpts, int n)
{
    struct smtp_session s;
    int rc;

    if (!kept.used)
        return 0;
    if (strcasecmp(kept.nexthop, m->nexthop) != 0 || !smtp_cache_wanted()) {
        smtp_cache_close();
        return 0;
    }
    kept.used = 0;
    s = kept.s;
    if (!session_idle_and_open(&s)) {
        msg_info("%s: kept session with %s[%s] was closed by the server; connecting again",
                 m->queue_id, s.host, s.addr);
        session_close(&s);
        return 0;
    }
    s.msg_8bit = has_8bit;
    s.final_server = 1;
    s.start = 0;
    rc = smtp_session_run(&s, m, rcpts, n);
    if (rc == SESSION_STALE) {
        session_close(&s);
        return 0;
    }
    smtp_cache_release(&s, m->nexthop, rc);
    return 1;
}
