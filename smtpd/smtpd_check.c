/* smtpd_check.c: recipient policy at RCPT TO, in Postfix's order:
 *   1. relay control: a destination that is not ours (class DEFAULT, see lib/resolve.h)
 *      is permitted only for clients in $mynetworks ("Relay access denied");
 *   2. unknown recipients of our local/virtual domains are rejected
 *      ($smtpd_reject_unlisted_recipient, lookups by rcpt_known()).
 * A lookup error is a temporary failure so the client retries later. */
#include "smtpd.h"
#include "resolve.h"
#include "log.h"

int smtpd_check_rcpt(struct smtpd_state *s, const char *rcpt, str *reply)
{
    struct resolved r;
    int known;

    resolve_addr(rcpt, &r);
    if (r.cls == ADDR_CLASS_DEFAULT) {
        if (smtpd_cfg.mynetworks != NULL && netmatch_match(smtpd_cfg.mynetworks, s->addr))
            return 0;
        str_printf(reply, "554 5.7.1 <%s>: Relay access denied", rcpt);
        return 554;
    }
    if (!smtpd_cfg.reject_unlisted_recipient)
        return 0;

    str_reset(&s->scratch);
    known = rcpt_known(rcpt, &r, &s->scratch);
    if (known > 0)
        return 0;
    if (known < 0) {
        msg_warn("%s: recipient lookup for <%s> failed: %s", smtpd_log_id(s), rcpt,
                 s->scratch.len ? s->scratch.data : "unknown error");
        str_printf(reply, "451 4.3.0 <%s>: Temporary lookup failure", rcpt);
        return 451;
    }
    if (r.cls == ADDR_CLASS_LOCAL && smtpd_cfg.unknown_local_code == 450) {
        str_printf(reply, "450 4.1.1 <%s>: Recipient address rejected: %s", rcpt,
                   s->scratch.len ? s->scratch.data : "User unknown");
        return 450;
    }
    str_printf(reply, "550 5.1.1 <%s>: Recipient address rejected: %s", rcpt,
               s->scratch.len ? s->scratch.data : "User unknown");
    return 550;
}
