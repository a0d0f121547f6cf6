/* qmgr_bounce.c: the hook for non-delivery notifications.
 *
 * qmgr calls bounce_add() for every recipient that bounced (agent said "bounced") or
 * expired in the queue. Generating the DSN message to the sender (RFC 3464) is the next
 * piece of work; until then this only says so in the log, so nobody mistakes a logged
 * bounce for a delivered notification. */
#include "log.h"
#include "qmgr.h"

void bounce_add(const char *queue_id, const char *rcpt, const char *dsn, const char *reason)
{
    (void)rcpt;
    (void)dsn;
    (void)reason;
    msg_info("%s: bounce notification not yet implemented", queue_id);
}
