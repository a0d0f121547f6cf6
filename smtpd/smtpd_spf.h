/* smtpd_spf.h: SPF at MAIL FROM for smtpd (smtpd_spf.c, lib/spf.h). The result of the
 * current transaction is kept here (one session per process at a time) and passed to
 * cleanup as A records spf_result, spf_domain, spf_scope and received_spf. */
#ifndef POSTERN_SMTPD_SPF_H
#define POSTERN_SMTPD_SPF_H
#include "smtpd.h"

/* Read the smtpd_spf_* parameters (after the configuration is loaded). */
void smtpd_spf_init(void);
/* Check the sender of MAIL FROM. 0 = go on, else the reply code with the full reply in
 * `reply` ("550 5.7.23 ..."). Exempt clients (mynetworks, authenticated) are not checked. */
int smtpd_spf_mail(struct smtpd_state *s, const char *sender, str *reply);
/* Send the result of this transaction to cleanup (none when nothing was checked). */
void smtpd_spf_attrs(struct smtpd_state *s);
/* Forget the result (new transaction). */
void smtpd_spf_reset(void);

#endif
