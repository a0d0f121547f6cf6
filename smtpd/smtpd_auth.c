/* smtpd_auth.c: SMTP AUTH (RFC 4954) with the PLAIN (RFC 4616) and LOGIN mechanisms,
 * verified against $smtpd_sasl_password_maps (lib/passwd.h). Offered only inside TLS
 * unless $smtpd_tls_auth_only = no. A failure is answered "535 5.7.8" after
 * $smtpd_sasl_failure_delay; after $smtpd_sasl_failure_limit failures from one client
 * address within $smtpd_sasl_failure_window, AUTH is refused for that address until the
 * window ends (smtpd_auth_throttle.c, shared by all smtpd processes). Likewise, after
 * $smtpd_sasl_user_failure_limit failures for one attempted user name (from any
 * addresses) within that window, AUTH for that name is refused with the same "454 4.7.0"
 * as a lookup failure, whatever the password, so the reply reveals nothing.
 * The login name goes into the log ("client=..., sasl_method=, sasl_username=") and to
 * cleanup as the sasl_username attribute (smtpd_xact.c). */
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include "smtpd.h"
#include "smtpd_abuse.h"
#include "passwd.h"
#include "config.h"
#include "log.h"
#include "metrics.h"

#define AUTH_LINE_MAX 12288            /* RFC 4954 section 4: at least 12288 octets */

static int auth_enable, auth_only;
static char **password_maps;
static long failure_delay, failure_limit, failure_window, user_failure_limit;

void smtpd_auth_pre_init(void)
{
    if (config_bool("smtpd_sasl_auth_enable"))
        smtpd_auth_throttle_open(config_str("smtpd_sasl_failure_state_file"));
}

void smtpd_auth_post_init(void)
{
    auth_enable = config_bool("smtpd_sasl_auth_enable");
    auth_only = config_bool("smtpd_tls_auth_only");
    password_maps = config_list("smtpd_sasl_password_maps");
    failure_delay = config_time("smtpd_sasl_failure_delay");
    if (failure_delay > 60)
        failure_delay = 60;
    failure_limit = config_int("smtpd_sasl_failure_limit");
    failure_window = config_time("smtpd_sasl_failure_window");
    user_failure_limit = config_int("smtpd_sasl_user_failure_limit");
    if (auth_enable && password_maps[0] == NULL)
        msg_warn("smtpd_sasl_auth_enable = yes but smtpd_sasl_password_maps is empty: "
                 "every login will fail");
}

int smtpd_auth_offer(const struct smtpd_state *s)
{
    return auth_enable && (s->tls != NULL || !auth_only) && s->sasl_username.len == 0;
}

void smtpd_auth_ehlo_args(const struct smtpd_state *s, str *out)
{
    (void)s;
    str_appends(out, " PLAIN LOGIN");
}

void smtpd_auth_reset(struct smtpd_state *s)
{
    str_reset(&s->sasl_username);
    s->sasl_method = NULL;
}

/* ------------------------------------------------------------------ base64 */

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Strict RFC 4648 base64 (padding required); 0 or -1. */
static int b64_decode(const char *in, str *out)
{
    size_t len = strlen(in), i;

    str_reset(out);
    if (len % 4 != 0)
        return -1;
    for (i = 0; i < len; i += 4) {
        int v[4], pad = 0;
        for (int k = 0; k < 4; k++) {
            if (in[i + k] == '=' && i + 4 == len && k >= 2) {
                v[k] = 0;
                pad++;
            } else if (pad > 0 || (v[k] = b64_value((unsigned char)in[i + k])) < 0) {
                return -1;
            }
        }
        unsigned n = (unsigned)(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
        str_putc(out, (int)(n >> 16 & 0xff));
        if (pad < 2)
            str_putc(out, (int)(n >> 8 & 0xff));
        if (pad < 1)
            str_putc(out, (int)(n & 0xff));
    }
    return 0;
}

/* ------------------------------------------------------------------ the exchange */

enum { AUTH_GOT = 0, AUTH_ABORTED = -1, AUTH_BAD = -2, AUTH_IO = -3, AUTH_LONG = -4 };

/* Send a 334 challenge (base64 text) and decode the client's response into `out`. */
static int challenge(struct smtpd_state *s, const char *b64_prompt, str *out)
{
    int complete = 0;

    bio_printf(s->client, "334 %s\r\n", b64_prompt);
    if (smtpd_flush(s) < 0
        || bio_getline(s->client, &s->line, AUTH_LINE_MAX + 2, &complete) < 0)
        return AUTH_IO;
    if (!complete)
        return s->line.len >= AUTH_LINE_MAX + 2 ? AUTH_LONG : AUTH_IO;
    while (s->line.len > 0 && (s->line.data[s->line.len - 1] == '\n'
                               || s->line.data[s->line.len - 1] == '\r'))
        s->line.data[--s->line.len] = 0;
    if (strcmp(s->line.data, "*") == 0)
        return AUTH_ABORTED;
    return b64_decode(s->line.data, out) < 0 ? AUTH_BAD : AUTH_GOT;
}

/* The initial response on the AUTH line: "=" is an empty response. */
static int initial(const char *text, str *out)
{
    if (strcmp(text, "=") == 0) {
        str_reset(out);
        return AUTH_GOT;
    }
    if (strlen(text) > AUTH_LINE_MAX)
        return AUTH_LONG;
    return b64_decode(text, out) < 0 ? AUTH_BAD : AUTH_GOT;
}

/* PLAIN: [authzid] NUL authcid NUL passwd. A different authzid (acting for another
 * user) is not supported and fails. */
static int mech_plain(struct smtpd_state *s, const char *init, str *user, str *pass)
{
    str resp;
    int rc;

    str_init(&resp);
    rc = init ? initial(init, &resp) : challenge(s, "", &resp);
    if (rc == AUTH_GOT) {
        const char *p = resp.data, *end = resp.data + resp.len;
        const char *nul1 = memchr(p, 0, resp.len);
        const char *nul2 = nul1 ? memchr(nul1 + 1, 0, (size_t)(end - nul1 - 1)) : NULL;
        if (nul2 == NULL || memchr(nul2 + 1, 0, (size_t)(end - nul2 - 1)) != NULL) {
            rc = AUTH_BAD;
        } else {
            str_setn(user, nul1 + 1, (size_t)(nul2 - nul1 - 1));
            str_setn(pass, nul2 + 1, (size_t)(end - nul2 - 1));
            if (nul1 != p && (size_t)(nul1 - p) == user->len
                && memcmp(p, user->data, user->len) == 0)
                ;                      /* authzid = authcid: fine */
            else if (nul1 != p)
                str_reset(user);       /* proxy authorization: fails below */
        }
    }
    explicit_bzero(resp.data, resp.len);
    str_free(&resp);
    return rc;
}

static int mech_login(struct smtpd_state *s, const char *init, str *user, str *pass)
{
    int rc = init ? initial(init, user) : challenge(s, "VXNlcm5hbWU6", user);

    if (rc == AUTH_GOT)
        rc = challenge(s, "UGFzc3dvcmQ6", pass);
    if (rc == AUTH_GOT && (memchr(user->data, 0, user->len) || memchr(pass->data, 0, pass->len)))
        rc = AUTH_BAD;
    return rc;
}

int smtpd_cmd_auth(struct smtpd_state *s, char *args)
{
    char mech[16], *init;
    str user, pass, why;
    char user_key[256];
    int rc, ok;
    size_t n;

    if (!auth_enable) {
        smtpd_reply(s, "502 5.5.1 Error: authentication not enabled");
        return -1;
    }
    if (s->helo_kind != SMTPD_HELO_EHLO) {
        smtpd_reply(s, "503 5.5.1 Error: send EHLO first");
        return -1;
    }
    if (s->sasl_username.len > 0) {
        smtpd_reply(s, "503 5.5.1 Error: already authenticated");
        return -1;
    }
    if (s->in_mail) {
        smtpd_reply(s, "503 5.5.1 Error: MAIL transaction in progress");
        return -1;
    }
    if (auth_only && s->tls == NULL) {
        smtpd_reply(s, "538 5.7.11 Encryption required for requested authentication mechanism");
        return -1;
    }
    if (failure_limit > 0 && smtpd_auth_throttled(s->addr, failure_limit, failure_window)) {
        msg_warn("%s: AUTH refused: too many failed authentication attempts", s->peer);
        smtpd_reply(s, "454 4.7.0 Temporary authentication failure: too many failed "
                    "attempts, try again later");
        return -1;
    }
    /* "MECHANISM [initial-response]" */
    n = strcspn(args, " ");
    if (n == 0 || n >= sizeof(mech)) {
        smtpd_reply(s, "501 5.5.4 Syntax: AUTH mechanism");
        return -1;
    }
    memcpy(mech, args, n);
    mech[n] = 0;
    for (char *c = mech; *c; c++)
        if (*c >= 'a' && *c <= 'z')
            *c = (char)(*c - 'a' + 'A');
    init = args[n] ? args + n + 1 : NULL;
    if (init && (*init == 0 || strchr(init, ' '))) {
        smtpd_reply(s, "501 5.5.4 Syntax: AUTH mechanism [initial-response]");
        return -1;
    }
    str_init(&user);
    str_init(&pass);
    str_init(&why);
    if (strcmp(mech, "PLAIN") == 0)
        rc = mech_plain(s, init, &user, &pass);
    else if (strcmp(mech, "LOGIN") == 0)
        rc = mech_login(s, init, &user, &pass);
    else {
        smtpd_reply(s, "504 5.5.4 Unrecognized authentication type");
        rc = 1;
    }
    ok = -1;
    switch (rc) {
    case 1:
        break;
    case AUTH_ABORTED:
        smtpd_reply(s, "501 5.7.0 Authentication aborted");
        break;
    case AUTH_BAD:
        smtpd_reply(s, "501 5.5.2 Cannot decode response");
        break;
    case AUTH_LONG:
        smtpd_reply(s, "500 5.5.6 Authentication exchange line is too long");
        s->quit = 1;                   /* the rest of that line is not a command */
        break;
    case AUTH_IO:
        break;                         /* the command loop logs the lost client */
    case AUTH_GOT:
        smtpd_auth_user_key(user.data, user.len, user_key);
        if (user_failure_limit > 0 && user.len > 0
            && smtpd_auth_user_throttled(user_key, user_failure_limit, failure_window)) {
            msg_warn("%s: AUTH refused for user=%.64s: too many failed authentication "
                     "attempts for this user name", s->peer,
                     passwd_user_ok(user_key) ? user_key : "(not printable)");
            smtpd_reply(s, "454 4.7.0 Temporary authentication failure");
            break;
        }
        rc = user.len > 0 ? passwd_verify(password_maps, user.data, pass.data, &why) : 0;
        if (rc > 0) {
            str_set(&s->sasl_username, user.data);
            s->sasl_method = strcmp(mech, "PLAIN") == 0 ? "PLAIN" : "LOGIN";
            s->protocol = smtpd_protocol_name(s);
            smtpd_reply(s, "235 2.7.0 Authentication successful");
            metrics_inc(METRIC_AUTH, 0);
            ok = 0;
        } else if (rc < 0) {
            msg_warn("%s: SASL %s authentication failed: %s", s->peer, mech, why.data);
            smtpd_reply(s, "454 4.7.0 Temporary authentication failure");
        } else {
            msg_warn("%s: SASL %s authentication failed: authentication failure%s%.64s",
                     s->peer, mech, user.len && passwd_user_ok(user.data) ? ", user=" : "",
                     user.len && passwd_user_ok(user.data) ? user.data : "");
            smtpd_auth_failed(s->addr, failure_window);
            if (user_failure_limit > 0 && user.len > 0)
                smtpd_auth_user_failed(user_key, failure_window);
            metrics_inc(METRIC_AUTH, 1);
            smtpd_anvil_abuse(s, "AUTH failure");   /* towards a ban */
            if (smtpd_flush(s) == 0 && failure_delay > 0)
                sleep((unsigned)failure_delay);
            smtpd_reply(s, "535 5.7.8 Error: authentication failed: authentication failure");
        }
        break;
    }
    explicit_bzero(pass.data, pass.len);
    str_free(&user);
    str_free(&pass);
    str_free(&why);
    return ok;
}
