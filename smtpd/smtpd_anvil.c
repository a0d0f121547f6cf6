/* smtpd_anvil.c: smtpd's side of the anvil service: at connect it reports the client
 * (anvil answers with the simultaneous connection count, the connection rate and whether
 * the address is banned), at MAIL FROM and RCPT TO it reports a message / recipient and
 * compares the rates with Postfix's smtpd_client_*_limit parameters, and it reports abuse
 * events (failed AUTH, hard error limit, pregreet) that lead to a ban. One anvil
 * connection per session (closing it tells anvil the client is gone). Replies as Postfix:
 * 421 4.7.0 at connect, 450 4.7.1 for MAIL and RCPT, each with a warning naming the rule.
 * anvil down, slow or confused: a warning, and the client is let through (fail open). */
#include <string.h>
#include <time.h>
#include "smtpd_abuse.h"
#include "attr.h"
#include "../lib/config.h"
#include "ipc.h"
#include "log.h"
#include "server.h"

#define ANVIL_CONNECT_MS 300
#define ANVIL_REPLY_MS 1000
#define ANVIL_RETRY_AFTER 30           /* seconds without trying after a failure */

static long count_limit, conn_rate_limit, msg_rate_limit, rcpt_rate_limit, ban_threshold;
static netmatch *exceptions;
static bio *anvil;                     /* this session's anvil connection, or NULL */
static time_t anvil_failed_at;

void smtpd_anvil_init(void)
{
    char **v = config_list("smtpd_client_event_limit_exceptions");
    char *err = NULL;

    count_limit = config_int("smtpd_client_connection_count_limit");
    conn_rate_limit = config_int("smtpd_client_connection_rate_limit");
    msg_rate_limit = config_int("smtpd_client_message_rate_limit");
    rcpt_rate_limit = config_int("smtpd_client_recipient_rate_limit");
    ban_threshold = config_int("smtpd_ban_threshold");
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
    msg_warn("anvil service: %s: client limits not enforced", why);
    if (anvil != NULL)
        bio_close(anvil);
    anvil = NULL;
    anvil_failed_at = time(NULL);
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

int smtpd_anvil_connect(struct smtpd_state *s)
{
    attr_list reply;
    const char *err = NULL;
    int fd, rc = 0;
    long count, rate;

    if (!anvil_wanted() || exempt(s) || strlen(s->addr) == 0)
        return 0;
    if (anvil_failed_at && time(NULL) - anvil_failed_at < ANVIL_RETRY_AFTER)
        return 0;
    if ((fd = ipc_connect("private", "anvil", ANVIL_CONNECT_MS)) < 0) {
        anvil_drop("cannot connect to private/anvil");
        return 0;
    }
    anvil = bio_open(fd, ANVIL_REPLY_MS);
    if (attr_expect_protocol(anvil, "anvil", &err) < 0) {
        anvil_drop(err ? err : "bad greeting");
        return 0;
    }
    attr_init(&reply);
    if (ask("connect", s->addr, NULL, &reply) == 0) {
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

int smtpd_anvil_message(struct smtpd_state *s)
{
    long rate = 0;

    if (rate_check(s, "message", msg_rate_limit, &rate) == 0)
        return 0;
    msg_warn("Message delivery request rate limit exceeded: %ld from %s for service %s",
             rate, s->peer, service_name());
    smtpd_reject(s, "MAIL", NULL, "450 4.7.1 Error: too much mail from %s", s->addr);
    return -1;
}

int smtpd_anvil_recipient(struct smtpd_state *s, const char *rcpt)
{
    long rate = 0;

    if (rate_check(s, "recipient", rcpt_rate_limit, &rate) == 0)
        return 0;
    msg_warn("Recipient address rate limit exceeded: %ld from %s for service %s",
             rate, s->peer, service_name());
    smtpd_reject(s, "RCPT", rcpt, "450 4.7.1 Error: too many recipients from %s", s->addr);
    return -1;
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
