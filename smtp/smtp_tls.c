/* smtp_tls.c: outbound TLS of the smtp delivery agent (RFC 3207 STARTTLS, client side).
 *
 * Policy per delivery: $smtp_tls_security_level (none|may|encrypt|verify), overridden by
 * $smtp_tls_policy_maps for the destination: keys the request's nexthop as given
 * ("example.com", "[mx.example.com]:2526"), then the bare domain/host, then ".parent"
 * domains; value "LEVEL [match=name:name...]". "secure" is taken as "verify".
 * Names to match at verify: the policy's match=, else $smtp_tls_verify_cert_match, where
 * "hostname" is the server host name and "nexthop" the destination domain.
 *
 * The OpenSSL client context (CA file/path, $smtp_tls_protocols, $smtp_tls_ciphers) is
 * built once per process in pre_init, while the configuration files are still readable.
 * smtp_tls_starttls() runs the STARTTLS exchange on a session after EHLO and logs
 *   "Verified|Untrusted TLS connection established to host[addr]:port: TLSv1.3 with
 *    cipher ..."
 * Mandatory TLS (encrypt, verify) that cannot be had defers the recipients (4.7.x) and the
 * next server is tried; at "may" a server that does not offer or refuses STARTTLS gets
 * plain text, but a failed handshake (the connection is then unusable) defers to the next
 * server like any connection trouble (no plain-text retry on a new connection yet). */
#include "smtp.h"
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "../lib/config.h"  /* not "config.h": -I. (build dir) holds autoconf's config.h */
#include "dict.h"
#include "log.h"
#include "mem.h"

static tls_ctx *client_ctx;            /* NULL: TLS unavailable (reason in ctx_error) */
static char *ctx_error;

void smtp_tls_pre_init(void)
{
    struct tls_client_opts o;

    memset(&o, 0, sizeof(o));
    o.ca_file = config_str("smtp_tls_CAfile");
    o.ca_path = config_str("smtp_tls_CApath");
    o.protocols = config_str("smtp_tls_protocols");
    o.cipherlist = config_str("smtp_tls_ciphers");
    client_ctx = tls_client_ctx_new(&o, &ctx_error);
    if (client_ctx == NULL)
        msg_warn("TLS client setup failed: %s; mandatory TLS deliveries will be deferred",
                 ctx_error ? ctx_error : "unknown error");
}

/* Append the names of a match list ("a:b,c") to the policy, expanding "hostname" and
 * "nexthop" later (kept as words). 0, or -1 if a name is unusable. */
static int add_match_names(struct smtp_tls_policy *p, const char *list)
{
    char **items = strv_split(list, ":, \t");
    int rc = 0;

    for (size_t i = 0; items[i] && rc == 0; i++) {
        if (p->nmatch >= SMTP_TLS_MATCH_MAX || strlen(items[i]) > DNS_NAME_MAX) {
            rc = -1;
            break;
        }
        p->match[p->nmatch++] = xstrdup(items[i]);
    }
    strv_free(items);
    return rc;
}

/* Parse a policy table value. 0, or -1 with *why (static text). */
static int policy_parse(struct smtp_tls_policy *p, const char *value, const char **why)
{
    char **words = strv_split(value, " \t");
    int rc = 0;

    if (!words[0]) {
        *why = "empty policy";
        rc = -1;
    } else if (strcasecmp(words[0], "secure") == 0) {
        p->level = TLS_LEV_VERIFY;
    } else if (tls_level_parse(words[0], &p->level) < 0) {
        *why = "unknown security level";
        rc = -1;
    }
    for (size_t i = 1; words[i] && rc == 0; i++) {
        if (strncasecmp(words[i], "match=", 6) == 0) {
            if (add_match_names(p, words[i] + 6) < 0) {
                *why = "bad match= list";
                rc = -1;
            }
        } else {
            *why = "unknown policy attribute (only match= is supported)";
            rc = -1;
        }
    }
    strv_free(words);
    return rc;
}

int smtp_tls_policy_find(const char *nexthop, struct smtp_tls_policy *p,
                         struct deliver_result *fail)
{
    char host[DNS_NAME_MAX + 1], *key;
    char **maps = config_list("smtp_tls_policy_maps");
    const char *lev = config_str("smtp_tls_security_level"), *why = NULL;
    int port, literal, rc = 0;
    str value;

    memset(p, 0, sizeof(*p));
    if (*lev == 0)
        p->level = TLS_LEV_NONE;
    else if (tls_level_parse(lev, &p->level) < 0) {
        msg_warn("bad smtp_tls_security_level \"%.64s\"", lev);
        deliver_result_set(fail, DELIVER_DEFER, "4.7.5", "invalid smtp_tls_security_level");
        strv_free(maps);
        return -1;
    }
    if (smtp_nexthop_parse(nexthop, host, sizeof(host), &port, &literal) < 0)
        snprintf(host, sizeof(host), "%s", "");
    lowercase(host);
    snprintf(p->domain, sizeof(p->domain), "%s", literal ? "" : host);
    str_init(&value);
    if (maps[0]) {
        key = xstrdup(nexthop);
        lowercase(key);
        rc = strlen(key) <= SMTP_RELAY_MAX ? dict_lookup_list(maps, key, &value) : 0;
        if (rc == 0 && *host && strcmp(host, key) != 0)
            rc = dict_lookup_list(maps, host, &value);
        for (const char *d = literal ? NULL : strchr(host, '.'); rc == 0 && d && d[1];
             d = strchr(d + 1, '.'))
            rc = dict_lookup_list(maps, d, &value);
        free(key);
    }
    strv_free(maps);
    if (rc < 0) {
        deliver_result_set(fail, DELIVER_DEFER, "4.7.5", "TLS policy lookup for %.300s failed",
                           nexthop);
    } else if (rc > 0 && policy_parse(p, value.data, &why) < 0) {
        msg_warn("smtp_tls_policy_maps: %.300s: %s: \"%.200s\"", nexthop, why, value.data);
        deliver_result_set(fail, DELIVER_DEFER, "4.7.5", "invalid TLS policy for %.300s: %s",
                           nexthop, why);
        rc = -1;
    }
    str_free(&value);
    if (rc < 0) {
        smtp_tls_policy_free(p);
        return -1;
    }
    if (p->nmatch == 0 && add_match_names(p, config_str("smtp_tls_verify_cert_match")) < 0) {
        msg_warn("bad smtp_tls_verify_cert_match");
        deliver_result_set(fail, DELIVER_DEFER, "4.7.5", "invalid smtp_tls_verify_cert_match");
        smtp_tls_policy_free(p);
        return -1;
    }
    return 0;
}

void smtp_tls_policy_free(struct smtp_tls_policy *p)
{
    for (int i = 0; i < p->nmatch; i++)
        free(p->match[i]);
    p->nmatch = 0;
}

/* The names the certificate must carry, "hostname"/"nexthop" expanded. NULL-terminated,
 * entries point into p or s (no copies). */
static void match_list(const struct smtp_tls_policy *p, const struct smtp_session *s,
                       const char **out)
{
    int n = 0;

    for (int i = 0; i < p->nmatch; i++) {
        const char *name = p->match[i];
        if (strcasecmp(name, "hostname") == 0)
            name = s->host;
        else if (strcasecmp(name, "nexthop") == 0)
            name = p->domain;
        if (*name)
            out[n++] = name;
    }
    out[n] = NULL;
}

/* SNI carries host names only, never address literals (RFC 6066 section 3). */
static int host_is_address(const char *host)
{
    unsigned char buf[16];

    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

int smtp_tls_starttls(struct smtp_session *s, struct smtp_reply *reply, str *why)
{
    const struct smtp_tls_policy *p = s->tls_policy;
    const char *err = NULL, *names[SMTP_TLS_MATCH_MAX + 1];
    char *tls_err = NULL;
    str desc;

    if (client_ctx == NULL) {
        str_printf(why, "TLS is required, but unavailable: %s",
                   ctx_error ? ctx_error : "TLS client setup failed");
        return -1;
    }
    bio_set_timeout(s->b, s->helo_timeout_ms);
    bio_puts(s->b, "STARTTLS\r\n");
    if (bio_flush(s->b) < 0 || smtp_reply_read(s->b, reply, &err) < 0) {
        str_printf(why, "lost connection with %s[%s] while sending STARTTLS: %s", s->host,
                   s->addr, err ? err : bio_strerror(s->b));
        return -2;
    }
    if (reply->code != 220) {
        str_printf(why, "TLS is required, but host %s[%s] refused to start TLS: %s", s->host,
                   s->addr, reply->text.data);
        return -1;
    }
    match_list(p, s, names);
    if (p->level >= TLS_LEV_VERIFY && names[0] == NULL) {
        str_printf(why, "TLS is required, but there is no name to verify %s[%s] against",
                   s->host, s->addr);
        return -1;
    }
    s->tls = tls_client_start(client_ctx, s->b, p->level,
                              host_is_address(s->host) ? NULL : s->host, (char **) names,
                              &tls_err);
    if (s->tls == NULL) {
        str_printf(why, "TLS is required, but the handshake with %s[%s] failed: %s", s->host,
                   s->addr, tls_err ? tls_err : "unknown error");
        free(tls_err);
        return -2;
    }
    str_init(&desc);
    tls_sess_describe(s->tls, &desc);
    msg_info("%s TLS connection established to %s: %s",
             p->level >= TLS_LEV_VERIFY ? "Verified" : "Untrusted", s->relay, desc.data);
    str_free(&desc);
    return 0;
}
