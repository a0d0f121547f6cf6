/* smtpd_mail.c: the MAIL FROM and RCPT TO commands: syntax (lib/addr.h), ESMTP
 * parameters (smtpd_cmd.c), limits and recipient policy (smtpd_check.c). An accepted
 * recipient goes straight to cleanup (smtpd_xact.c). */
#include <string.h>
#include "smtpd.h"
#include "smtpd_abuse.h"
#include "smtpd_cmd.h"
#include "smtpd_spf.h"
#include "addr.h"
#include "str.h"

int smtpd_cmd_mail(struct smtpd_state *s, char *args)
{
    struct smtpd_mail_params mp;
    const char *params = "", *err = NULL;

    if (s->helo_kind == SMTPD_HELO_NONE) {
        smtpd_reply(s, "503 5.5.1 Error: send HELO/EHLO first");
        return -1;
    }
    if (s->in_mail) {
        smtpd_reply(s, "503 5.5.1 Error: nested MAIL command");
        return -1;
    }
    if (!strcaseprefix(args, "FROM:")) {
        smtpd_reply(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
        return -1;
    }
    args += 5;
    if (addr_parse_path(args, strlen(args), ADDR_ALLOW_NULL | ADDR_ALLOW_NOBRACKETS,
                        &s->sender, &params, &err) < 0) {
        smtpd_reply(s, "501 5.1.7 Bad sender address syntax");
        str_reset(&s->sender);
        return -1;
    }
    if (smtpd_mail_params_parse(params, &mp, &s->scratch) < 0) {
        smtpd_reply(s, "%s", s->scratch.data);
        str_reset(&s->sender);
        return -1;
    }
    if (mp.size >= 0 && smtpd_cfg.size_limit > 0
        && (unsigned long long) mp.size > smtpd_cfg.size_limit) {
        smtpd_reply(s, "552 5.3.4 Message size exceeds fixed limit");
        str_reset(&s->sender);
        return -1;
    }
    if (smtpd_anvil_message(s) < 0) {           /* $smtpd_client_message_rate_limit */
        str_reset(&s->sender);
        return -1;
    }
    if (smtpd_check_sender(s, s->sender.data, &s->check_reply) != 0) {
        smtpd_reject(s, "MAIL", NULL, "%s", s->check_reply.data);
        str_reset(&s->sender);
        return -1;
    }
    if (smtpd_spf_mail(s, s->sender.data, &s->check_reply) != 0) {   /* mailauth: SPF */
        smtpd_reject(s, "MAIL", NULL, "%s", s->check_reply.data);
        str_reset(&s->sender);
        return -1;
    }
    s->in_mail = 1;
    s->rcpt_attempts = 0;
    s->rcpt_count = 0;
    smtpd_reply(s, "250 2.1.0 Ok");
    return 0;
}

int smtpd_cmd_rcpt(struct smtpd_state *s, char *args)
{
    const char *params = "", *err = NULL;
    str *addr = &s->rcpt;
    int rc = -1;

    if (!s->in_mail) {
        smtpd_reply(s, "503 5.5.1 Error: need MAIL command");
        return -1;
    }
    s->rcpt_attempts++;
    if (!strcaseprefix(args, "TO:")) {
        smtpd_reply(s, "501 5.5.4 Syntax: RCPT TO:<address>");
        return -1;
    }
    args += 3;
    if (addr_parse_path(args, strlen(args), ADDR_ALLOW_NOBRACKETS | ADDR_ALLOW_NODOMAIN,
                        addr, &params, &err) < 0 || addr->len == 0) {
        smtpd_reply(s, "501 5.1.3 Bad recipient address syntax");
    } else if (params != NULL && *params != 0) {
        /* No RCPT parameters are offered yet (DSN NOTIFY/ORCPT come later). */
        char **keys = NULL, **values = NULL;
        if (addr_parse_params(params, &keys, &values, &err) < 0 || keys == NULL
            || keys[0] == NULL) {
            smtpd_reply(s, "501 5.5.4 Bad RCPT parameter syntax");
        } else {
            smtpd_reply(s, "555 5.5.4 Unsupported option: %.32s", keys[0]);
        }
        smtpd_params_free(keys, values);
    } else if (smtpd_cfg.recipient_limit > 0 && s->rcpt_count >= smtpd_cfg.recipient_limit) {
        smtpd_reject(s, "RCPT", addr->data, "452 4.5.3 Error: too many recipients");
    } else if (smtpd_anvil_recipient(s, addr->data) < 0) {
        /* $smtpd_client_recipient_rate_limit: reply queued and logged */
    } else if (smtpd_check_rcpt(s, addr->data, &s->check_reply) != 0) {
        smtpd_reject(s, "RCPT", addr->data, "%s", s->check_reply.data);
    } else if (smtpd_xact_open(s) < 0) {
        smtpd_reply(s, "451 4.3.0 Error: queue file write error");
    } else {
        submit_rcpt(s->sub, addr->data, NULL);
        s->rcpt_count++;
        smtpd_reply(s, "250 2.1.5 Ok");
        rc = 0;
    }
    return rc;
}
