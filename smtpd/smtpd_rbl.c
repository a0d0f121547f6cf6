/* smtpd_rbl.c: the restrictions that take an argument, for smtpd_check.c's lists:
 *   reject_rbl_client zone[=result]   the client's address, reversed, under zone (DNSBL)
 *   reject_rhsbl_sender zone[=result] the sender's domain under zone (RHSBL)
 *   check_client_access type:table    lib/access.h look-up of the client name/address
 * Look-ups go through lib/dns.h (so $dns_servers applies). An A record answer means
 * "listed" (with =result: only that exact address); the list's TXT record, if any, is
 * added to the reply. A DNS failure is logged and counts as not listed (as Postfix does).
 * Replies name the list: "554 5.7.1 Service unavailable; Client host [127.0.0.2]
 * blocked using zone". */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "smtpd_abuse.h"
#include "access.h"
#include "dns.h"
#include "log.h"

#define RBL_TXT_MAX 200                /* bytes of the list's TXT text in a reply */

enum { R_DUNNO = 0, R_PERMIT = 1, R_REJECT = 2 };

static int config_error(const char *what, str *reply, int *code)
{
    msg_warn("smtpd restriction: %s", what);
    str_printf(reply, "451 4.3.5 Server configuration error");
    *code = 451;
    return R_REJECT;
}

/* "zone" or "zone=result": split in place-safe copies. 0 or -1 (bad syntax). */
static int parse_zone(const char *arg, char *zone, size_t zsize, char *result, size_t rsize)
{
    const char *eq = strchr(arg, '=');
    size_t zlen = eq ? (size_t) (eq - arg) : strlen(arg);
    unsigned char buf[4];

    if (zlen == 0 || zlen >= zsize || zlen > 200)
        return -1;
    memcpy(zone, arg, zlen);
    zone[zlen] = 0;
    for (size_t k = 0; k < zlen; k++)
        if (!((zone[k] >= 'a' && zone[k] <= 'z') || (zone[k] >= 'A' && zone[k] <= 'Z')
              || (zone[k] >= '0' && zone[k] <= '9') || zone[k] == '.' || zone[k] == '-'
              || zone[k] == '_'))
            return -1;
    result[0] = 0;
    if (eq) {
        if (strlen(eq + 1) >= rsize || inet_pton(AF_INET, eq + 1, buf) != 1)
            return -1;
        snprintf(result, rsize, "%s", eq + 1);
    }
    return 0;
}

/* Is `name` listed (an A record, matching `result` when not empty)? 1 yes (TXT text in
 * txt, maybe empty), 0 no. DNS trouble is logged and means no. */
static int listed(const char *name, const char *result, str *txt)
{
    struct dns_addr_list addrs = { 0 };
    str why;
    char **texts = NULL;
    int hit = 0, st;

    str_init(&why);
    st = dns_lookup_addr(name, &addrs, &why);
    if (st == DNS_OK) {
        for (int k = 0; k < addrs.count && !hit; k++)
            hit = addrs.items[k].family == AF_INET
                && (*result == 0 || strcmp(addrs.items[k].text, result) == 0);
    } else if (st == DNS_TEMPFAIL || st == DNS_PERMFAIL) {
        msg_warn("DNS blocklist look-up of %s failed: %s", name,
                 why.len ? why.data : dns_status_name(st));
    }
    dns_addr_free(&addrs);
    str_reset(txt);
    if (hit) {
        str_reset(&why);
        if (dns_lookup_txt(name, &texts, &why) == DNS_OK && texts && texts[0]) {
            size_t n = strlen(texts[0]);
            str_setn(txt, texts[0], n > RBL_TXT_MAX ? RBL_TXT_MAX : n);
        }
        strv_free(texts);
    }
    str_free(&why);
    return hit;
}

static int rbl_client(struct smtpd_state *s, const char *arg, str *reply, int *code)
{
    char zone[256], result[64], name[DNS_NAME_MAX + 1];
    unsigned char a[16];
    size_t off = 0;
    str txt;
    int hit;

    if (parse_zone(arg, zone, sizeof(zone), result, sizeof(result)) < 0)
        return config_error("reject_rbl_client: bad zone argument", reply, code);
    if (inet_pton(AF_INET, s->addr, a) == 1) {
        snprintf(name, sizeof(name), "%u.%u.%u.%u.%s", a[3], a[2], a[1], a[0], zone);
    } else if (inet_pton(AF_INET6, s->addr, a) == 1) {
        for (int k = 15; k >= 0 && off + 4 < sizeof(name); k--)
            off += (size_t) snprintf(name + off, sizeof(name) - off, "%x.%x.",
                                     a[k] & 0xf, a[k] >> 4);
        if (off + strlen(zone) >= sizeof(name))
            return R_DUNNO;
        snprintf(name + off, sizeof(name) - off, "%s", zone);
    } else {
        return R_DUNNO;                /* no usable address */
    }
    if (strlen(name) > DNS_NAME_MAX)
        return R_DUNNO;
    str_init(&txt);
    hit = listed(name, result, &txt);
    if (hit) {
        str_printf(reply, "554 5.7.1 Service unavailable; Client host [%s] blocked using %s%s%s",
                   s->addr, zone, txt.len ? "; " : "", txt.data);
        *code = 554;
    }
    str_free(&txt);
    return hit ? R_REJECT : R_DUNNO;
}

static int rhsbl_sender(struct smtpd_state *s, const char *arg, str *reply, int *code)
{
    char zone[256], result[64], name[DNS_NAME_MAX + 2];
    const char *at = s->sender.len ? strrchr(s->sender.data, '@') : NULL;
    const char *domain = at ? at + 1 : "";
    str txt;
    int hit;

    if (parse_zone(arg, zone, sizeof(zone), result, sizeof(result)) < 0)
        return config_error("reject_rhsbl_sender: bad zone argument", reply, code);
    if (*domain == 0 || *domain == '[' || strlen(domain) + strlen(zone) + 1 > DNS_NAME_MAX)
        return R_DUNNO;
    if (snprintf(name, sizeof(name), "%s.%s", domain, zone) >= (int) sizeof(name))
        return R_DUNNO;
    str_init(&txt);
    hit = listed(name, result, &txt);
    if (hit) {
        str_printf(reply, "554 5.7.1 Service unavailable; Sender address [%.255s] blocked "
                   "using %s%s%s", domain, zone, txt.len ? "; " : "", txt.data);
        *code = 554;
    }
    str_free(&txt);
    return hit ? R_REJECT : R_DUNNO;
}

static int client_access(struct smtpd_state *s, const char *table, str *reply, int *code)
{
    char *maps[2] = { (char *) table, NULL };
    struct access_action a;
    char *err = NULL;
    str value;
    int found, rc = R_DUNNO;

    str_init(&value);
    found = access_check_client(maps, s->addr, s->name, &value);
    if (found < 0) {
        msg_warn("check_client_access: %s look-up for %s failed", table, s->peer);
        str_printf(reply, "451 4.3.0 <%s>: Temporary lookup failure", s->peer);
        *code = 451;
        rc = R_REJECT;
    } else if (found > 0 && access_parse_action(value.data, &a, &err) < 0) {
        msg_warn("check_client_access: %s: bad result for %s: %s", table, s->addr,
                 err ? err : "?");
        str_printf(reply, "451 4.3.5 Server configuration error");
        *code = 451;
        rc = R_REJECT;
    } else if (found > 0) {
        switch (a.kind) {
        case ACCESS_OK:
            rc = R_PERMIT;
            break;
        case ACCESS_REJECT:
        case ACCESS_DEFER:
            str_printf(reply, "%d %s <%s>: Client host rejected: %s", a.code, a.dsn,
                       s->peer, a.text[0] ? a.text : "Access denied");
            *code = a.code;
            rc = R_REJECT;
            break;
        case ACCESS_DUNNO:
            break;
        default:
            msg_warn("check_client_access: %s: action %s not supported here; ignored",
                     table, access_kind_name(a.kind));
            break;
        }
    }
    free(err);
    str_free(&value);
    return rc;
}

int smtpd_rbl_restriction(struct smtpd_state *s, char **list, size_t *i, str *reply,
                          int *code)
{
    const char *name = list[*i];
    const char *arg;
    int (*fn)(struct smtpd_state *, const char *, str *, int *);

    if (strcasecmp(name, "reject_rbl_client") == 0)
        fn = rbl_client;
    else if (strcasecmp(name, "reject_rhsbl_sender") == 0)
        fn = rhsbl_sender;
    else if (strcasecmp(name, "check_client_access") == 0)
        fn = client_access;
    else
        return -1;
    arg = list[*i + 1];
    if (arg == NULL)
        return config_error("restriction without its argument", reply, code);
    (*i)++;
    return fn(s, arg, reply, code);
}
