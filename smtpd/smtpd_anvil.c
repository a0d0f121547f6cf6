/* smtpd_anvil.c: smtpd's side of the anvil service: at connect it reports the client
 * (anvil answers with the simultaneous connection count, the connection rate and whether
 * the address is banned), at MAIL FROM and RCPT TO it reports a message / recipient and
 * compares the rates with Postfix's smtpd_client_*_limit parameters, and it reports abuse
 * events (failed AUTH, hard error limit, pregreet) that lead to a ban. One anvil
 * connection per session (closing it tells anvil the client is gone). Replies as Postfix:
 * 421 4.7.0 at connect, 450 4.7.1 for MAIL and RCPT, each with a warning naming the rule.
 * Authenticated sessions are also counted per login name (smtpd_sasl_user_message_rate_limit,
 * smtpd_sasl_user_recipient_rate_limit), whatever the client address and even for
 * clients in smtpd_client_event_limit_exceptions: a stolen password used from many
 * addresses, or from inside mynetworks, is still limited.
 * anvil down, slow or confused: a warning, and the client is let through (fail open). */
#include <string.h>
#include <time.h>
#include "smtpd_abuse.h"
#include "../anvil/anvil.h"            /* ANVIL_USER_MAX */
#include "attr.h"
#include "../lib/config.h"
#include "ipc.h"
#include "log.h"
#include "server.h"

#define ANVIL_CONNECT_MS 300
#define ANVIL_REPLY_MS 1000
#define ANVIL_RETRY_AFTER 30           /* seconds without trying after a failure */

static long count_limit, conn_rate_limit, msg_rate_limit, rcpt_rate_limit, ban_threshold;
static long user_msg_rate_limit, user_rcpt_rate_limit;
static netmatch *exceptions;
static bio *anvil;                     /* this session's anvil connection, or NULL */
static time_t anvil_failed_at;
static int anvil_retrying;             /* a failure now is retried at once, not fatal */

void smtpd_anvil_init(void)
{
    char **v = config_list("smtpd_client_event_limit_exceptions");
    char *err = NULL;

    count_limit = config_int("smtpd_client_connection_count_limit");
    conn_rate_limit = config_int("smtpd_client_connection_rate_limit");
    msg_rate_limit = config_int("smtpd_client_message_rate_limit");
    rcpt_rate_limit = config_int("smtpd_client_recipient_rate_limit");
    ban_threshold = config_int("smtpd_ban_threshold");
    user_msg_rate_limit = config_int("smtpd_sasl_user_message_rate_limit");
    user_rcpt_rate_limit = config_int("smtpd_sasl_user_recipient_rate_limit");
    exceptions = netmatch_parse(v, &err);
    strv_free(v);
    if (exceptions == NULL)
        msg_fatal("bad smtpd_client_event_limit_exceptions setting: %s",
                  err ? err : "parse error");
}

static const char *service_name(void)
{
    const char *n = server_service_name();
    return n && *n ? n : "smtp";
}

static int exempt(const struct smtpd_state *s)
{
    return netmatch_match(exceptions, s->addr);
}

static int anvil_wanted(void)
{
    return count_limit > 0 || conn_rate_limit > 0 || msg_rate_limit > 0
        || rcpt_rate_limit > 0 || ban_threshold > 0;
}

static void anvil_drop(const char *why)
{
    if (anvil_retrying)
        msg_info("anvil service: %s: trying a new connection", why);
    else
        msg_warn("anvil service: %s: client limits not enforced", why);
    if (anvil != NULL)
        bio_close(anvil);
    anvil = NULL;
    anvil_failed_at = anvil_retrying ? 0 : time(NULL);
}

/* Send `request` for addr (+ reason) and read the reply; 0 with status=0, else -1
 * (anvil dropped, warning logged). */
static int ask(const char *request, const char *addr, const char *reason, attr_list *reply)
{
    attr_list req;
    const char *err = NULL;
    int rc;

    if (anvil == NULL)
        return -1;
    attr_init(&req);
    attr_add(&req, "request", request);
    attr_add(&req, "ident", addr);
    if (reason)
        attr_add(&req, "reason", reason);
    rc = attr_write(anvil, &req);
    attr_free(&req);
    if (rc < 0) {
        anvil_drop("write failed");
        return -1;
    }
    if (attr_read(anvil, reply, &err) < 0) {
        anvil_drop(err ? err : "no reply");
        return -1;
    }
    if (attr_get(reply, "status") == NULL || strcmp(attr_get(reply, "status"), "0") != 0) {
        anvil_drop(attr_get(reply, "reason") ? attr_get(reply, "reason") : "request failed");
        return -1;
    }
    return 0;
}

static long get_long(const attr_list *l, const char *name)
{
    long v = 0;
    return attr_get_long(l, name, &v) == 0 ? v : 0;
}

/* Connect to anvil unless connected or a recent failure says not to; 0 or -1. */
static int anvil_open(void)
{
    const char *err = NULL;
    int fd;

    if (anvil != NULL)
        return 0;
    if (anvil_failed_at && time(NULL) - anvil_failed_at < ANVIL_RETRY_AFTER)
        return -1;
    if ((fd = ipc_connect("private", "anvil", ANVIL_CONNECT_MS)) < 0) {
        anvil_drop("cannot connect to private/anvil");
        return -1;
    }
    anvil = bio_open(fd, ANVIL_REPLY_MS);
    if (attr_expect_protocol(anvil, "anvil", &err) < 0) {
        anvil_drop(err ? err : "bad greeting");
        return -1;
    }
    return 0;
}

int smtpd_anvil_connect(struct smtpd_state *s)
{
    attr_list reply;
    int rc = 0;
    long count, rate;

    if (!anvil_wanted() || exempt(s) || strlen(s->addr) == 0)
        return 0;
    attr_init(&reply);
    /* A connection the old anvil accepted just before a reload made it exit fails at
     * once: one retry reaches the new anvil. */
    for (int attempt = 0; attempt < 2; attempt++) {
        anvil_retrying = attempt == 0;
        if (anvil_open() == 0 && ask("connect", s->addr, NULL, &reply) == 0)
            break;
        attr_clear(&reply);
    }
    anvil_retrying = 0;
    if (anvil != NULL) {
        count = get_long(&reply, "count");
        rate = get_long(&reply, "rate");
        if (strcmp(attr_get(&reply, "banned") ? attr_get(&reply, "banned") : "0", "1") == 0) {
            msg_warn("banned client %s refused (%.100s)", s->peer,
                     attr_get(&reply, "reason") ? attr_get(&reply, "reason") : "");
            smtpd_reject(s, "CONNECT", NULL, "421 4.7.0 %s Service unavailable: client [%s] "
                         "blocked for abuse, try again later", smtpd_cfg.myhostname, s->addr);
            rc = -1;
        } else if (count_limit > 0 && count > count_limit) {
            msg_warn("Connection concurrency limit exceeded: %ld from %s for service %s",
                     count, s->peer, service_name());
            smtpd_reject(s, "CONNECT", NULL, "421 4.7.0 %s Error: too many connections "
                         "from %s", smtpd_cfg.myhostname, s->addr);
            rc = -1;
        } else if (conn_rate_limit > 0 && rate > conn_rate_limit) {
            msg_warn("Connection rate limit exceeded: %ld from %s for service %s",
                     rate, s->peer, service_name());
            smtpd_reject(s, "CONNECT", NULL, "421 4.7.0 %s Error: too many connections "
                         "from %s", smtpd_cfg.myhostname, s->addr);
            rc = -1;
        }
    }
    attr_free(&reply);
    return rc;
}

void smtpd_anvil_disconnect(struct smtpd_state *s)
{
    (void) s;
    if (anvil != NULL)
        bio_close(anvil);              /* anvil counts the connection as gone */
    anvil = NULL;
}

/* Report one event, compare the rate; 0 or -1 (limit exceeded). */
static int rate_check(struct smtpd_state *s, const char *request, long limit, long *rate)
{
    attr_list reply;
    int rc = 0;

    if (limit <= 0 || anvil == NULL || exempt(s))
        return 0;
    attr_init(&reply);
    if (ask(request, s->addr, NULL, &reply) == 0) {
        *rate = get_long(&reply, "rate");
        rc = *rate > limit ? -1 : 0;
    }
    attr_free(&reply);
    return rc;
}

/* The login name as anvil counts it: control characters become '?' and the length is
 * bounded (anvil refuses anything else, and a refusal would end limits for a while). */
static void user_ident(const struct smtpd_state *s, char *buf, size_t size)
{
    size_t n = 0;

    for (const char *p = s->sasl_username.data; *p && n + 1 < size; p++)
        buf[n++] = ((unsigned char) *p < ' ' || *p == 0x7f) ? '?' : *p;
    buf[n] = 0;
}

/* The login name for the log and replies: printable ASCII only. */
static void user_display(const char *ident, char *buf, size_t size)
{
    size_t n = 0;

    for (const char *p = ident; *p && n + 1 < size; p++)
        buf[n++] = (*p >= ' ' && *p < 0x7f) ? *p : '?';
    buf[n] = 0;
}

/* Report one event of the authenticated user (if any), compare the rate; 0, or -1 with
 * the user's printable name in `who` (limit exceeded). */
static int user_rate_check(struct smtpd_state *s, const char *request, long limit,
                           long *rate, char *who, size_t who_size)
{
    char ident[ANVIL_USER_MAX + 1];
    attr_list reply;
    int rc = 0;

    if (limit <= 0 || s->sasl_username.len == 0 || anvil_open() < 0)
        return 0;
    user_ident(s, ident, sizeof(ident));
    attr_init(&reply);
    if (ask(request, ident, NULL, &reply) == 0) {
        *rate = get_long(&reply, "rate");
        rc = *rate > limit ? -1 : 0;
    }
    attr_free(&reply);
    if (rc < 0)
        user_display(ident, who, who_size);
    return rc;
}

int smtpd_anvil_message(struct smtpd_state *s)
{
    char who[ANVIL_USER_MAX + 1];
    long rate = 0;

    if (rate_check(s, "message", msg_rate_limit, &rate) < 0) {
        msg_warn("Message delivery request rate limit exceeded: %ld from %s for service %s",
                 rate, s->peer, service_name());
        smtpd_reject(s, "MAIL", NULL, "450 4.7.1 Error: too much mail from %s", s->addr);
        return -1;
    }
    if (user_rate_check(s, "user_message", user_msg_rate_limit, &rate, who,
                        sizeof(who)) < 0) {
        msg_warn("SASL user message rate limit exceeded: %ld from sasl_username=%s "
                 "(client %s) for service %s", rate, who, s->peer, service_name());
        smtpd_reject(s, "MAIL", NULL, "450 4.7.1 Error: too much mail from user %s", who);
        return -1;
    }
    return 0;
}

int smtpd_anvil_recipient(struct smtpd_state *s, const char *rcpt)
{
    char who[ANVIL_USER_MAX + 1];
    long rate = 0;

    if (rate_check(s, "recipient", rcpt_rate_limit, &rate) < 0) {
        msg_warn("Recipient address rate limit exceeded: %ld from %s for service %s",
                 rate, s->peer, service_name());
        smtpd_reject(s, "RCPT", rcpt, "450 4.7.1 Error: too many recipients from %s",
                     s->addr);
        return -1;
    }
    if (user_rate_check(s, "user_recipient", user_rcpt_rate_limit, &rate, who,
                        sizeof(who)) < 0) {
        msg_warn("SASL user recipient rate limit exceeded: %ld from sasl_username=%s "
                 "(client %s) for service %s", rate, who, s->peer, service_name());
        smtpd_reject(s, "RCPT", rcpt, "450 4.7.1 Error: too many recipients from user %s",
                     who);
        return -1;
    }
    return 0;
}

void smtpd_anvil_abuse(struct smtpd_state *s, const char *reason)
{
    attr_list reply;

    if (ban_threshold <= 0 || anvil == NULL || exempt(s))
        return;
    attr_init(&reply);
    if (ask("abuse", s->addr, reason, &reply) == 0
        && attr_get(&reply, "banned") && strcmp(attr_get(&reply, "banned"), "1") == 0)
        msg_warn("client %s banned after %ld abuse events (last: %s)", s->peer,
                 get_long(&reply, "events"), reason);
    attr_free(&reply);
}
