/* resolve.c: address classes, routing and recipient validation (see resolve.h), done
 * in-process by smtpd, qmgr and local. The class of a recipient domain comes from
 * $mydestination, $virtual_mailbox_domains and $relay_domains (literal domains, ".domain"
 * for subdomains, or type:table entries); the class picks the transport parameter, whose
 * value may be "transport" or "transport:nexthop". rcpt_known() checks local recipients
 * against $local_recipient_maps and virtual ones against $virtual_mailbox_maps, with the
 * $recipient_delimiter extension stripped as a fallback (user+ext -> user).
 *
 * Routing: the class default is "transport[:nexthop]" from the class's transport
 * parameter; for the relay and default classes a missing nexthop is $relayhost when set,
 * else the recipient domain. $transport_maps then overrides it (Postfix transport(5)):
 * keys "user@domain", "domain", ".parent" for each parent domain, then "*"; values
 * "transport:nexthop" where an empty transport keeps the class transport and an empty
 * nexthop the class nexthop. "error:TEXT" / "discard:TEXT" carry text, not a host. A table
 * that cannot be read gives transport "retry" (qmgr defers with the nexthop as reason). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "config.h"
#include "dict.h"
#include "log.h"
#include "mem.h"
#include "resolve.h"

static struct {
    int ready;
    char *transport[4];          /* indexed by enum addr_class: "transport[:nexthop]" */
    char *delimiters;            /* recipient_delimiter */
    char *myhostname;
    char *relayhost;             /* relayhost: nexthop for relay/default classes */
} rs;

static const char *const transport_params[4] = {
    "local_transport", "virtual_transport", "relay_transport", "default_transport"
};

void resolve_init(void)
{
    for (int i = 0; i < 4; i++) {
        free(rs.transport[i]);
        rs.transport[i] = xstrdup(config_str(transport_params[i]));
    }
    free(rs.delimiters);
    rs.delimiters = xstrdup(config_str("recipient_delimiter"));
    free(rs.myhostname);
    rs.myhostname = xstrdup(config_str("myhostname"));
    free(rs.relayhost);
    rs.relayhost = xstrdup(config_str("relayhost"));
    rs.ready = 1;
}

const char *addr_class_name(enum addr_class c)
{
    switch (c) {
    case ADDR_CLASS_LOCAL: return "local";
    case ADDR_CLASS_VIRTUAL: return "virtual";
    case ADDR_CLASS_RELAY: return "relay";
    case ADDR_CLASS_DEFAULT: return "default";
    }
    return "unknown";
}

/* Lowercased copy without one trailing dot. */
static char *domain_normalize(const char *domain)
{
    char *d = xstrdup(domain);
    size_t len = strlen(d);
    if (len > 1 && d[len - 1] == '.')
        d[len - 1] = 0;
    lowercase(d);
    return d;
}

/* 1 if dom equals pat or (subdomains) ends with "." pat. Both normalized. */
static int domain_suffix_match(const char *dom, const char *pat, int subdomains)
{
    if (strcmp(dom, pat) == 0)
        return 1;
    if (!subdomains)
        return 0;
    size_t dl = strlen(dom), pl = strlen(pat);
    return dl > pl && dom[dl - pl - 1] == '.' && strcmp(dom + dl - pl, pat) == 0;
}

int domain_in_list(const char *param_name, const char *domain)
{
    if (!domain || !*domain || strlen(domain) > ADDR_DOMAIN_MAX + 1)
        return 0;
    /* Postfix's parent_domain_matches_subdomains default includes relay_domains */
    int parent_matches = strcmp(param_name, "relay_domains") == 0;
    char *dom = domain_normalize(domain);
    char **list = config_list(param_name);
    int found = 0;
    str value;
    str_init(&value);
    for (int i = 0; list[i] && !found; i++) {
        const char *e = list[i];
        if (strchr(e, ':')) {        /* type:table */
            int rc = dict_lookup(dict_get(e), dom, &value);
            if (rc < 0)
                msg_warn("%s: lookup of %s in %s failed", param_name, dom, e);
            found = rc == 1;
            continue;
        }
        char *pat = domain_normalize(e[0] == '.' ? e + 1 : e);
        if (e[0] == '.')
            found = domain_suffix_match(dom, pat, 1) && strcmp(dom, pat) != 0;
        else
            found = domain_suffix_match(dom, pat, parent_matches);
        free(pat);
    }
    str_free(&value);
    strv_free(list);
    free(dom);
    return found;
}

/* Copy "transport[:nexthop]" into out; the nexthop defaults to `dflt`. The split is at the
 * first colon, so "lmtp:unix:/run/dovecot/lmtp" is transport "lmtp", nexthop
 * "unix:/run/dovecot/lmtp" (smtp/ parses the LMTP nexthop forms). */
static void set_route(struct resolved *out, const char *value, const char *dflt)
{
    const char *colon = strchr(value, ':');
    size_t tlen = colon ? (size_t)(colon - value) : strlen(value);
    if (tlen >= sizeof(out->transport))
        tlen = sizeof(out->transport) - 1;
    memcpy(out->transport, value, tlen);
    out->transport[tlen] = 0;
    const char *hop = colon && colon[1] ? colon + 1 : dflt;
    snprintf(out->nexthop, sizeof(out->nexthop), "%s", hop);
}

/* Transport names are master.cf service names: letters, digits, '-', '_', '.'. */
static int transport_name_ok(const char *s, size_t n)
{
    if (n == 0 || n >= sizeof(((struct resolved *) 0)->transport))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '-' || c == '_' || c == '.'))
            return 0;
    }
    return 1;
}

/* A transport_maps lookup failed or gave nonsense: qmgr defers ("retry"). */
static void set_retry(struct resolved *out, const char *why)
{
    snprintf(out->transport, sizeof(out->transport), "retry");
    snprintf(out->nexthop, sizeof(out->nexthop), "%s", why);
}

/* Look addr/dom up in $transport_maps, in the order of resolve.h's comment.
 * 1 found (value set), 0 not found, -1 lookup error. */
int resolve_transport_lookup(const char *addr, const char *dom, str *value)
{
    char **maps = config_list("transport_maps");
    int rc = 0;

    if (!maps[0] || !dom || strlen(dom) > ADDR_DOMAIN_MAX) {
        strv_free(maps);
        return 0;
    }
    if (addr && strchr(addr, '@') && strlen(addr) <= 2 * ADDR_DOMAIN_MAX) {
        char *key = xstrdup(addr);
        lowercase(key);
        rc = dict_lookup_list(maps, key, value);
        free(key);
    }
    if (rc == 0 && *dom)
        rc = dict_lookup_list(maps, dom, value);
    /* parent domains: ".example.com" matches every subdomain of example.com */
    for (const char *p = strchr(dom, '.'); rc == 0 && p && p[1]; p = strchr(p + 1, '.'))
        rc = dict_lookup_list(maps, p, value);
    if (rc == 0)
        rc = dict_lookup_list(maps, "*", value);
    strv_free(maps);
    return rc;
}

/* Apply a transport_maps value "[transport]:[nexthop]" over the class route in out. */
static void apply_transport_entry(struct resolved *out, const char *value)
{
    const char *colon = strchr(value, ':');
    size_t tlen = colon ? (size_t) (colon - value) : strlen(value);
    const char *hop = colon ? colon + 1 : "";

    if (tlen > 0) {
        if (!transport_name_ok(value, tlen)) {
            msg_warn("transport_maps: bad transport name in \"%.100s\"", value);
            set_retry(out, "4.3.5 bad transport_maps entry");
            return;
        }
        memcpy(out->transport, value, tlen);
        out->transport[tlen] = 0;
    }
    if (*hop) {
        if (strlen(hop) >= sizeof(out->nexthop)) {
            msg_warn("transport_maps: next hop too long in \"%.100s...\"", value);
            set_retry(out, "4.3.5 bad transport_maps entry");
            return;
        }
        snprintf(out->nexthop, sizeof(out->nexthop), "%s", hop);
    }
}

void resolve_addr(const char *addr, struct resolved *out)
{
    if (!rs.ready)
        resolve_init();
    const char *domain = addr_domain(addr);
    enum addr_class cls;
    char *dom = NULL;
    if (!domain || !*domain) {
        cls = ADDR_CLASS_LOCAL;
        dom = domain_normalize(rs.myhostname);
    } else {
        dom = domain_normalize(domain);
        if (domain_in_list("mydestination", dom))
            cls = ADDR_CLASS_LOCAL;
        else if (domain_in_list("virtual_mailbox_domains", dom))
            cls = ADDR_CLASS_VIRTUAL;
        else if (domain_in_list("relay_domains", dom))
            cls = ADDR_CLASS_RELAY;
        else
            cls = ADDR_CLASS_DEFAULT;
    }
    memset(out, 0, sizeof(*out));
    out->cls = cls;
    int remote = cls == ADDR_CLASS_RELAY || cls == ADDR_CLASS_DEFAULT;
    set_route(out, rs.transport[cls], remote && *rs.relayhost ? rs.relayhost : dom);

    str value;
    str_init(&value);
    int rc = resolve_transport_lookup(domain && *domain ? addr : NULL, dom, &value);
    if (rc < 0) {
        msg_warn("transport_maps lookup of %.300s failed", addr);
        set_retry(out, "4.3.0 transport_maps lookup failure");
    } else if (rc > 0) {
        apply_transport_entry(out, value.data);
    }
    str_free(&value);
    free(dom);
}

/* Look each key up in each table; unix:passwd.byname only gets keys without '@'.
 * 1 found, 0 not, -1 error (why set). */
static int lookup_keys(char **maps, char **keys, str *why)
{
    str value;
    str_init(&value);
    int rc = 0;
    for (int m = 0; maps[m] && rc == 0; m++) {
        int local_only = strncmp(maps[m], "unix:", 5) == 0;
        dict *d = dict_get(maps[m]);
        for (int k = 0; keys[k] && rc == 0; k++) {
            if (local_only && strchr(keys[k], '@'))
                continue;
            rc = dict_lookup(d, keys[k], &value);
            if (rc < 0)
                str_printf(why, "Temporary lookup failure in table %s", maps[m]);
        }
    }
    str_free(&value);
    return rc;
}

static void add_key(char **keys, int *n, char *key)
{
    for (int i = 0; i < *n; i++)
        if (strcmp(keys[i], key) == 0) {
            free(key);
            return;
        }
    keys[(*n)++] = key;
}

int rcpt_known(const char *addr, const struct resolved *r, str *why)
{
    if (!rs.ready)
        resolve_init();
    if (r->cls != ADDR_CLASS_LOCAL && r->cls != ADDR_CLASS_VIRTUAL)
        return 1;                    /* relay permission is smtpd's business */
    const char *maps_param = r->cls == ADDR_CLASS_LOCAL ? "local_recipient_maps"
                                                       : "virtual_mailbox_maps";
    char **maps = config_list(maps_param);
    if (!maps[0] && r->cls == ADDR_CLASS_LOCAL) {
        strv_free(maps);             /* empty local_recipient_maps: accept everyone */
        return 1;
    }
    str local;
    str_init(&local);
    addr_local(addr, &local);
    const char *domain = addr_domain(addr);
    /* local part without its extension, when there is one */
    char *bare = NULL;
    size_t cut = rs.delimiters[0] ? strcspn(local.data, rs.delimiters) : local.len;
    if (cut > 0 && cut < local.len)
        bare = xstrndup(local.data, cut);

    char *keys[6];
    int n = 0;
    add_key(keys, &n, xstrdup(addr));
    if (bare && domain)
        add_key(keys, &n, xasprintf("%s@%s", bare, domain));
    if (r->cls == ADDR_CLASS_LOCAL) {
        add_key(keys, &n, xstrdup(local.data));
        if (bare)
            add_key(keys, &n, xstrdup(bare));
    } else if (domain) {
        add_key(keys, &n, xasprintf("@%s", domain));
    }
    keys[n] = NULL;

    int rc = lookup_keys(maps, keys, why);
    if (rc == 0)
        str_set(why, r->cls == ADDR_CLASS_LOCAL ? "User unknown in local recipient table"
                                                : "User unknown in virtual mailbox table");
    for (int i = 0; i < n; i++)
        free(keys[i]);
    free(bare);
    str_free(&local);
    strv_free(maps);
    return rc;
}
