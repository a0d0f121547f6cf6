/* smtpd_pregreet.c: the pregreet test (Postfix's postscreen_greet_wait idea): with
 * $smtpd_pregreet_wait > 0 smtpd waits that long before its 220 greeting; an SMTP client
 * must wait for the greeting (RFC 5321 4.3.1), so one that talks first is a bot. It gets
 * "554 5.5.1" and the session ends; the event counts towards a ban (smtpd_anvil.c).
 * Clients that wait (smtplib, swaks, real MTAs) only see the delay. Not used in TLS
 * wrapper mode, where the client speaks first by design. */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include "smtpd_abuse.h"
#include "../lib/config.h"
#include "events.h"
#include "log.h"

#define PEEK_MAX 60                    /* bytes of the early talk shown in the log */

static long pregreet_wait_ms;

void smtpd_pregreet_init(void)
{
    long secs = config_time("smtpd_pregreet_wait");

    if (secs > 300)
        secs = 300;
    pregreet_wait_ms = secs > 0 ? secs * 1000 : 0;
}

int smtpd_pregreet(struct smtpd_state *s)
{
    long long start = event_now_ms(), left;
    struct pollfd p = { .fd = s->fd, .events = POLLIN };
    char peek[PEEK_MAX + 1];
    ssize_t n;
    int r = 0;

    if (pregreet_wait_ms <= 0 || bio_pending(s->client) > 0)
        return 0;
    for (int tries = 0; tries < 100; tries++) {      /* bounded: EINTR only */
        left = pregreet_wait_ms - (event_now_ms() - start);
        if (left <= 0)
            return 0;
        r = poll(&p, 1, (int) left);
        if (r >= 0 || errno != EINTR)
            break;
    }
    if (r <= 0)
        return 0;                      /* waited the whole time (or poll failed): fine */
    n = recv(s->fd, peek, PEEK_MAX, MSG_PEEK | MSG_DONTWAIT);
    if (n <= 0)
        return 0;                      /* EOF or error: the command loop notices */
    for (ssize_t i = 0; i < n; i++)
        if (peek[i] < ' ' || peek[i] >= 0x7f)
            peek[i] = '?';
    peek[n] = 0;
    msg_warn("PREGREET %zd after %.1fs from %s: %s", n,
             (double) (event_now_ms() - start) / 1000.0, s->peer, peek);
    smtpd_reject(s, "CONNECT", NULL, "554 5.5.1 %s Error: protocol error: client talked "
                 "before the greeting", smtpd_cfg.myhostname);
    smtpd_anvil_abuse(s, "pregreet");
    return -1;
}
