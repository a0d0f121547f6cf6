/* smtpd_check.c: access policy in Postfix's style: ordered restriction lists whose first
 * permit or reject wins.
 *   MAIL FROM: $smtpd_sender_restrictions
 *   RCPT TO: 1. $smtpd_relay_restrictions (relay control: permit_mynetworks,
 *               permit_sasl_authenticated, reject_unauth_destination, ...);
 *            2. $smtpd_recipient_restrictions (spam policy; may also hold relay rules,
 *               as in Postfix before 2.10);
 *            3. unknown recipients of our local/virtual domains are rejected
 *               ($smtpd_reject_unlisted_recipient, lookups by rcpt_known()).
 * One evaluator serves every list; any restriction may stand in any list, those about the
 * recipient are skipped at MAIL FROM. Restrictions: permit, reject, permit_mynetworks,
 * permit_sasl_authenticated, reject_unauth_destination, defer_unauth_destination,
 * reject_non_fqdn_recipient, reject_non_fqdn_sender, reject_unknown_sender_domain,
 * reject_sender_login_mismatch, reject_unknown_client_hostname,
 * reject_unknown_reverse_client_hostname, and the DNSBL/access ones of smtpd_rbl.c.
 * A lookup error or an unknown restriction is a temporary failure so the client retries
 * later. */
#include <string.h>
#include <strings.h>
#include "smtpd.h"
#include "smtpd_abuse.h"
#include "resolve.h"
#include "dict.h"
#include "config.h"
#include "addr.h"
#include "dns.h"
#include "log.h"

enum verdict { DUNNO = 0, PERMIT, REJECT };

void smtpd_check_init(void)
{
    smtpd_cfg.relay_restrictions = config_list("smtpd_relay_restrictions");
    smtpd_cfg.recipient_restrictions = config_list("smtpd_recipient_restrictions");
    smtpd_cfg.unknown_address_code = (int)config_int("unknown_address_reject_code");
    long client_code = config_int("unknown_client_reject_code");
    if (client_code < 400 || client_code > 599) {
        msg_warn("unknown_client_reject_code = %ld is not a 4xx or 5xx code; using 450",
                 client_code);
        client_code = 450;
    }
    smtpd_cfg.unknown_client_code = (int)client_code;
    smtpd_cfg.sender_restrictions = config_list("smtpd_sender_restrictions");
    smtpd_cfg.sender_login_maps = config_list("smtpd_sender_login_maps");
}

static int non_fqdn(const char *addr)
{
    const char *at = strrchr(addr, '@');
    const char *dom = at ? at + 1 : "";
    return *dom == 0 || (strchr(dom, '.') == NULL && dom[0] != '[');
}

static enum verdict unknown_restriction(const char *name, str *reply, int *code)
{
    msg_warn("unknown smtpd restriction: \"%.100s\"", name);
    str_printf(reply, "451 4.3.5 Server configuration error");
    *code = 451;
    return REJECT;
}

/* reject_unknown_client_hostname (reverse = 0): the client must have a forward-confirmed
 * name; reject_unknown_reverse_client_hostname (reverse = 1): it must have a PTR name.
 * Not found: $unknown_client_reject_code; a temporary DNS failure: 450. */
static enum verdict unknown_client(struct smtpd_state *s, int reverse, str *reply, int *code)
{
    int status = smtpd_peer_name_status(s, reverse);
    if (status == SMTPD_NAME_OK)
        return DUNNO;
    int c = status == SMTPD_NAME_TEMPFAIL ? 450 : smtpd_cfg.unknown_client_code;
    str_printf(reply, "%d %s Client host rejected: cannot find your %shostname, [%s]", c,
               c >= 500 ? "5.7.25" : "4.7.25", reverse ? "reverse " : "", s->addr);
    *code = c;
    return REJECT;
}

/* Restrictions usable in any list; DUNNO when list[*i] is not one of them (*known = 0).
 * Those with an argument (smtpd_rbl.c) consume the next item. */
static enum verdict generic(struct smtpd_state *s, char **list, size_t *i, str *reply,
                            int *code, int *known)
{
    const char *name = list[*i];
    int r;

    *known = 1;
    if ((r = smtpd_rbl_restriction(s, list, i, reply, code)) >= 0)  /* DNSBL, access */
        return r == 2 ? REJECT : r == 1 ? PERMIT : DUNNO;
    if (strcasecmp(name, "permit_mynetworks") == 0)
        return smtpd_cfg.mynetworks != NULL && netmatch_match(smtpd_cfg.mynetworks, s->addr)
            ? PERMIT : DUNNO;
    if (strcasecmp(name, "permit_sasl_authenticated") == 0)
        return s->sasl_username.len > 0 ? PERMIT : DUNNO;
    if (strcasecmp(name, "reject_unknown_client_hostname") == 0)
        return unknown_client(s, 0, reply, code);
    if (strcasecmp(name, "reject_unknown_reverse_client_hostname") == 0)
        return unknown_client(s, 1, reply, code);
    if (strcasecmp(name, "permit") == 0)
        return PERMIT;
    if (strcasecmp(name, "reject") == 0) {
        str_printf(reply, "554 5.7.1 Access denied");
        *code = 554;
        return REJECT;
    }
    *known = 0;
    return DUNNO;
}

/* ------------------------------------------------------------------ restrictions */

static enum verdict login_mismatch(struct smtpd_state *s, const char *sender, str *reply,
                                   int *code);

/* reject_unknown_sender_domain: the sender's domain must have an MX or an address record
 * (the null sender and address literals pass). A null MX says the domain sends no mail. */
static enum verdict unknown_sender_domain(struct smtpd_state *s, const char *sender,
                                          str *reply, int *code)
{
    const char *dom = addr_domain(sender);
    if (*sender == 0 || dom == NULL || *dom == 0 || *dom == '[')
        return DUNNO;
    struct dns_mx_list mx = { 0 };
    str why;
    str_init(&why);
    int st = dns_lookup_mx(dom, &mx, &why);
    int null_mx = st == DNS_OK && dns_mx_is_null(&mx);
    dns_mx_free(&mx);
    if (st == DNS_NODATA || st == DNS_NOTFOUND) {   /* no MX: the address records count */
        struct dns_addr_list a = { 0 };
        str_reset(&why);
        int ast = dns_lookup_addr(dom, &a, &why);
        dns_addr_free(&a);
        st = ast == DNS_OK ? DNS_OK : (st == DNS_NOTFOUND ? DNS_NOTFOUND : ast);
    }
    str_free(&why);
    if (null_mx) {
        str_printf(reply, "550 5.7.27 <%s>: Sender address rejected: Domain %s does not "
                   "accept mail (nullMX)", sender, dom);
        *code = 550;
        return REJECT;
    }
    if (st == DNS_OK)
        return DUNNO;
    if (st == DNS_TEMPFAIL) {
        str_printf(reply, "450 4.1.8 <%s>: Sender address rejected: Domain not found", sender);
        *code = 450;
        return REJECT;
    }
    int c = smtpd_cfg.unknown_address_code;
    str_printf(reply, "%d %s <%s>: Sender address rejected: Domain not found", c,
               c >= 500 ? "5.1.8" : "4.1.8", sender);
    *code = c;
    return REJECT;
}

/* Evaluate one restriction list. rcpt/r are NULL at MAIL FROM (recipient restrictions are
 * then skipped). Returns 0 (permit or nothing matched) or the reply code of a reject. */
static int evaluate(struct smtpd_state *s, char **list, const char *rcpt,
                    const struct resolved *r, str *reply)
{
    const char *sender = s->sender.data ? s->sender.data : "";
    int code = 0, known;

    for (size_t i = 0; list && list[i]; i++) {
        const char *name = list[i];
        enum verdict v = generic(s, list, &i, reply, &code, &known);
        if (known) {
            /* decided by generic() */
        } else if (strcasecmp(name, "reject_unauth_destination") == 0
                   || strcasecmp(name, "defer_unauth_destination") == 0) {
            if (r && r->cls == ADDR_CLASS_DEFAULT) {
                int defer = name[0] == 'd' || name[0] == 'D';
                str_printf(reply, "%s <%s>: Relay access denied",
                           defer ? "454 4.7.1" : "554 5.7.1", rcpt);
                code = defer ? 454 : 554;
                v = REJECT;
            }
        } else if (strcasecmp(name, "reject_non_fqdn_recipient") == 0) {
            if (rcpt && non_fqdn(rcpt)) {
                str_printf(reply, "504 5.5.2 <%s>: Recipient address rejected: need "
                           "fully-qualified address", rcpt);
                code = 504;
                v = REJECT;
            }
        } else if (strcasecmp(name, "reject_non_fqdn_sender") == 0) {
            if (*sender && non_fqdn(sender)) {
                str_printf(reply, "504 5.5.2 <%s>: Sender address rejected: need "
                           "fully-qualified address", sender);
                code = 504;
                v = REJECT;
            }
        } else if (strcasecmp(name, "reject_unknown_sender_domain") == 0) {
            v = unknown_sender_domain(s, sender, reply, &code);
        } else if (strcasecmp(name, "reject_sender_login_mismatch") == 0) {
            v = login_mismatch(s, sender, reply, &code);
        } else {
            v = unknown_restriction(name, reply, &code);
        }
        if (v == PERMIT)
            return 0;
        if (v == REJECT)
            return code;
    }
    return 0;
}

/* ------------------------------------------------------------------ RCPT TO */

int smtpd_check_rcpt(struct smtpd_state *s, const char *rcpt, str *reply)
{
    struct resolved r;
    int known, code;

    resolve_addr(rcpt, &r);
    if ((code = evaluate(s, smtpd_cfg.relay_restrictions, rcpt, &r, reply)) != 0)
        return code;
    if ((code = evaluate(s, smtpd_cfg.recipient_restrictions, rcpt, &r, reply)) != 0)
        return code;
    if (!smtpd_cfg.reject_unlisted_recipient || r.cls == ADDR_CLASS_DEFAULT)
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

/* ------------------------------------------------------------------ MAIL FROM */

/* 1 if `login` is among the owners (comma/space list) of `sender`, 0 if not, 2 if the
 * sender has no owner in the maps, -1 on a lookup error. Looks up the address, then
 * "@domain". */
static int sender_owned_by(const char *sender, const char *login)
{
    str owners;
    int found, rc = 0;
    const char *at = strrchr(sender, '@');

    str_init(&owners);
    found = dict_lookup_list(smtpd_cfg.sender_login_maps, sender, &owners);
    if (found == 0 && at != NULL)
        found = dict_lookup_list(smtpd_cfg.sender_login_maps, at, &owners);
    if (found < 0)
        rc = -1;
    else if (found == 0)
        rc = 2;
    else {
        char **v = strv_split(owners.data, ", \t");
        for (size_t i = 0; v[i] && rc == 0; i++)
            rc = login != NULL && strcasecmp(v[i], login) == 0;
        strv_free(v);
    }
    str_free(&owners);
    return rc;
}

static enum verdict login_mismatch(struct smtpd_state *s, const char *sender, str *reply,
                                   int *code)
{
    const char *login = s->sasl_username.len ? s->sasl_username.data : NULL;
    int owned;

    if (*sender == 0)
        return DUNNO;                  /* the null sender belongs to nobody */
    owned = sender_owned_by(sender, login);
    if (owned < 0) {
        msg_warn("%s: smtpd_sender_login_maps lookup for <%s> failed", smtpd_log_id(s), sender);
        str_printf(reply, "451 4.3.0 <%s>: Temporary lookup failure", sender);
        *code = 451;
        return REJECT;
    }
    if (login != NULL && owned != 1) {
        str_printf(reply, "553 5.7.1 <%s>: Sender address rejected: not owned by user %s",
                   sender, login);
        *code = 553;
        return REJECT;
    }
    if (login == NULL && owned != 2) {
        str_printf(reply, "553 5.7.1 <%s>: Sender address rejected: not logged in", sender);
        *code = 553;
        return REJECT;
    }
    return DUNNO;
}

int smtpd_check_sender(struct smtpd_state *s, const char *sender, str *reply)
{
    (void)sender;                      /* the same as s->sender, set by the MAIL command */
    return evaluate(s, smtpd_cfg.sender_restrictions, NULL, NULL, reply);
}
