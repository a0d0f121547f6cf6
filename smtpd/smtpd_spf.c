/* smtpd_spf.c: the SPF policy of smtpd (RFC 7208, lib/spf.h). At MAIL FROM the sender
 * domain, or the HELO name for the null sender, is checked unless the client is in
 * $mynetworks or authenticated. Outcomes, Postfix-policy style:
 *   fail       -> "$smtpd_spf_reject_code 5.7.23 <explanation>" when
 *                 $smtpd_spf_fail_action = reject, else recorded
 *   temperror  -> "$smtpd_spf_defer_code 4.7.24 ..." when
 *                 $smtpd_spf_temperror_action = defer, else recorded
 *   others     -> recorded.
 * A recorded result goes to cleanup, which writes Received-SPF and uses it for the
 * Authentication-Results header and DMARC. */
#include <stdio.h>
#include <string.h>
#include "config.h"
#include "log.h"
#include "spf.h"
#include "smtpd_spf.h"
#include "metrics.h"

static struct {
    int enabled;
    int reject_fail, defer_temperror;
    long reject_code, defer_code;
    const char *receiver;
} spf_cfg;

static struct spf_outcome outcome;
static int have_outcome;

static int action_is(const char *param, const char *yes, const char *no)
{
    const char *v = config_str(param);

    if (strcasecmp(v, yes) == 0)
        return 1;
    if (strcasecmp(v, no) != 0)
        msg_fatal("bad value for %s: \"%s\" (use %s or %s)", param, v, yes, no);
    return 0;
}

static long code_param(const char *param, int class)
{
    long code = config_int(param);

    if (code / 100 != class || code > class * 100 + 99)
        msg_fatal("bad value for %s: %ld (must be %dXX)", param, code, class);
    return code;
}

void smtpd_spf_init(void)
{
    spf_cfg.enabled = config_bool("smtpd_spf_checks");
    spf_cfg.reject_fail = action_is("smtpd_spf_fail_action", "reject", "record");
    spf_cfg.defer_temperror = action_is("smtpd_spf_temperror_action", "defer", "record");
    spf_cfg.reject_code = code_param("smtpd_spf_reject_code", 5);
    spf_cfg.defer_code = code_param("smtpd_spf_defer_code", 4);
    spf_cfg.receiver = config_str("myhostname");
    spf_outcome_init(&outcome);
}

void smtpd_spf_reset(void)
{
    have_outcome = 0;
}

int smtpd_spf_mail(struct smtpd_state *s, const char *sender, str *reply)
{
    smtpd_spf_reset();
    if (!spf_cfg.enabled || s->sasl_username.len > 0
        || (smtpd_cfg.mynetworks && netmatch_match(smtpd_cfg.mynetworks, s->addr)))
        return 0;
    spf_check(s->addr, s->helo_kind != SMTPD_HELO_NONE ? s->helo_name.data : NULL, sender,
              spf_cfg.receiver, &outcome);
    have_outcome = 1;
    metrics_auth_result(METRIC_SPF, spf_result_name(outcome.result));
    msg_info("%s: spf=%s identity=%s domain=%s client=%s",
             smtpd_log_id(s), spf_result_name(outcome.result),
             outcome.helo_identity ? "helo" : "mailfrom",
             outcome.domain[0] ? outcome.domain : "-", s->peer);
    if (outcome.result == SPF_RES_FAIL && spf_cfg.reject_fail) {
        str_printf(reply, "%ld 5.7.23 <%.256s>: Sender address rejected: %s", spf_cfg.reject_code,
                   sender, outcome.explanation.len ? outcome.explanation.data
                   : "SPF check failed");
        return (int)spf_cfg.reject_code;
    }
    if (outcome.result == SPF_RES_TEMPERROR && spf_cfg.defer_temperror) {
        str_printf(reply, "%ld 4.7.24 <%.256s>: Sender address rejected: "
                   "temporary error in the SPF check of %s", spf_cfg.defer_code, sender,
                   outcome.domain);
        return (int)spf_cfg.defer_code;
    }
    return 0;
}

void smtpd_spf_attrs(struct smtpd_state *s)
{
    if (!have_outcome || s->sub == NULL)
        return;
    submit_attr(s->sub, "spf_result", spf_result_name(outcome.result));
    submit_attr(s->sub, "spf_scope", outcome.helo_identity ? "helo" : "mailfrom");
    if (outcome.domain[0])
        submit_attr(s->sub, "spf_domain", outcome.domain);
    submit_attr(s->sub, "received_spf", outcome.received_spf.data);
}
