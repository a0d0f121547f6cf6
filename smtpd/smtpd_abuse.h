/* smtpd_abuse.h: smtpd's anti-abuse hooks (issue 7), called from smtpd.c, smtpd_mail.c,
 * smtpd_auth.c, smtpd_proto.c and smtpd_check.c:
 *   smtpd_anvil.c     limits and bans through the anvil service (anvil/anvil.h)
 *   smtpd_pregreet.c  the pregreet test before the greeting ($smtpd_pregreet_wait)
 *   smtpd_rbl.c       reject_rbl_client, reject_rhsbl_sender, check_client_access */
#ifndef POSTERN_SMTPD_ABUSE_H
#define POSTERN_SMTPD_ABUSE_H
#include "smtpd.h"

/* smtpd_anvil.c. Clients in $smtpd_client_event_limit_exceptions are never counted or
 * limited. anvil being down or slow is logged and lets the client through. */
void smtpd_anvil_init(void);                         /* post_init: read the limits */
/* At connect: 0 = go on; -1 = refused (banned or over a connection limit), the 421 reply
 * is queued and the rejection logged. */
int smtpd_anvil_connect(struct smtpd_state *s);
void smtpd_anvil_disconnect(struct smtpd_state *s);  /* end of session */
/* MAIL FROM / RCPT TO: 0, or -1 with a 450 reply queued and logged. */
int smtpd_anvil_message(struct smtpd_state *s);
int smtpd_anvil_recipient(struct smtpd_state *s, const char *rcpt);
/* An abuse event (failed AUTH, hard error limit, pregreet) towards a ban. */
void smtpd_anvil_abuse(struct smtpd_state *s, const char *reason);

/* smtpd_pregreet.c */
void smtpd_pregreet_init(void);
/* Before the greeting: 0 = go on; -1 = the client talked first (554 queued, logged,
 * counted as abuse). */
int smtpd_pregreet(struct smtpd_state *s);

/* smtpd_rbl.c: restrictions that take an argument from the list: list[*i] is the name,
 * list[*i + 1] the argument (consumed: *i advanced). Returns -1 when list[*i] is not one
 * of them, else 0 = DUNNO, 1 = PERMIT, 2 = REJECT with the reply in `reply` and *code. */
int smtpd_rbl_restriction(struct smtpd_state *s, char **list, size_t *i, str *reply,
                          int *code);

#endif
