/* smtp_route.c: from the request's nexthop to an ordered list of server hosts.
 *   "[host]" / "[host]:port"  exactly that host (name or address literal), no MX lookup
 *   "domain" / "domain:port"  MX lookup: preference order, equal preferences shuffled;
 *                             no MX records -> the domain's own A/AAAA (RFC 5321 5.1);
 *                             null MX (RFC 7505) -> bounce 5.1.10; NXDOMAIN -> bounce 5.1.2;
 *                             DNS trouble -> defer 4.4.3.
 * When we are one of the MX hosts ($myhostname), hosts with our preference or worse are
 * dropped; if nothing is left the mail "loops back to myself" (bounce 5.4.6).
 * LMTP (smtp_is_lmtp()) never looks up MX records:
 *   "unix:PATH"                          the UNIX stream socket PATH
 *   "inet:HOST[:port]", "[HOST][:port]", "HOST[:port]"  that host, port 24 by default */
#include "smtp.h"
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "addr.h"
#include "../lib/config.h"  /* not "config.h": -I. (build dir) holds autoconf's config.h */
#include "log.h"
#include "mem.h"

int smtp_is_myself(const char *name)
{
    const char *me = config_str("myhostname");
    size_t n = strlen(name), mn = strlen(me);

    if (n > 0 && name[n - 1] == '.')
        n--;
    if (mn > 0 && me[mn - 1] == '.')
        mn--;
    return n > 0 && n == mn && strncasecmp(name, me, n) == 0;
}

static int parse_port(const char *s)
{
    long p;
    struct servent *se;

    if (parse_long(s, &p) == 0)
        return p >= 1 && p <= 65535 ? (int) p : -1;
    if (strlen(s) < 32 && (se = getservbyname(s, "tcp")) != NULL)
        return ntohs((unsigned short) se->s_port);
    return -1;
}

int smtp_nexthop_parse(const char *nexthop, char *host, size_t hostlen, int *port, int *literal)
{
    const char *end, *colon = NULL;
    size_t n;

    *port = -1;
    *literal = 0;
    if (*nexthop == '[') {
        end = strchr(nexthop, ']');
        if (!end)
            return -1;
        nexthop++;
        n = (size_t) (end - nexthop);
        if (end[1] == ':')
            colon = end + 1;
        else if (end[1])
            return -1;
        *literal = 1;
    } else {
        colon = strchr(nexthop, ':');
        n = colon ? (size_t) (colon - nexthop) : strlen(nexthop);
    }
    if (n == 0 || n >= hostlen)
        return -1;
    memcpy(host, nexthop, n);
    host[n] = 0;
    if (strncasecmp(host, "ipv6:", 5) == 0 && *literal)
        memmove(host, host + 5, strlen(host + 5) + 1);
    if (colon && (*port = parse_port(colon + 1)) < 0)
        return -1;
    if (!*literal && !addr_domain_valid(host, strlen(host)))
        return -1;
    return 0;
}

static void add_host(struct smtp_route *r, const char *name, int pref, int literal)
{
    if (r->count >= SMTP_HOSTS_MAX)
        return;
    r->hosts = xrealloc(r->hosts, (size_t) (r->count + 1) * sizeof(*r->hosts));
    snprintf(r->hosts[r->count].name, sizeof(r->hosts[r->count].name), "%s", name);
    r->hosts[r->count].pref = pref;
    r->hosts[r->count].literal = literal;
    r->count++;
}

/* The LMTP nexthop forms (see the top of the file). 0, or -1 with fail set. */
static int lmtp_route_find(const char *nexthop, struct smtp_route *route,
                           struct deliver_result *fail)
{
    char host[DNS_NAME_MAX + 1];
    int literal, port;

    if (strncasecmp(nexthop, "unix:", 5) == 0) {
        const char *path = nexthop + 5;
        size_t n = strlen(path);
        int bad = n == 0 || n >= sizeof(route->unix_path);

        for (size_t i = 0; i < n && !bad; i++)
            bad = (unsigned char) path[i] < 0x20 || path[i] == 0x7f;
        if (bad) {
            deliver_result_set(fail, DELIVER_DEFER, "4.3.5", "bad LMTP socket path in "
                               "next-hop destination \"%.300s\"", nexthop);
            return -1;
        }
        memcpy(route->unix_path, path, n + 1);
        return 0;
    }
    if (strncasecmp(nexthop, "inet:", 5) == 0)
        nexthop += 5;
    if (smtp_nexthop_parse(nexthop, host, sizeof(host), &port, &literal) < 0) {
        deliver_result_set(fail, DELIVER_DEFER, "4.3.5", "bad next-hop destination \"%.300s\"",
                           nexthop);
        return -1;
    }
    route->port = port < 0 ? SMTP_LMTP_PORT : port;
    add_host(route, host, 0, literal);
    return 0;
}

int smtp_route_find(const char *nexthop, struct smtp_route *route, struct deliver_result *fail)
{
    char host[DNS_NAME_MAX + 1];
    struct dns_mx_list mx;
    int literal, port, rc, mypref = -1;
    str why;

    memset(route, 0, sizeof(*route));
    if (smtp_is_lmtp())
        return lmtp_route_find(nexthop, route, fail);
    if (smtp_nexthop_parse(nexthop, host, sizeof(host), &port, &literal) < 0) {
        deliver_result_set(fail, DELIVER_DEFER, "4.3.5", "bad next-hop destination \"%.300s\"",
                           nexthop);
        return -1;
    }
    if (port < 0 && (port = parse_port(config_str("smtp_tcp_port"))) < 0) {
        msg_warn("bad smtp_tcp_port \"%.64s\"", config_str("smtp_tcp_port"));
        deliver_result_set(fail, DELIVER_DEFER, "4.3.5", "bad smtp_tcp_port setting");
        return -1;
    }
    route->port = port;
    if (literal) {
        add_host(route, host, 0, 1);
        return 0;
    }
    str_init(&why);
    rc = dns_lookup_mx(host, &mx, &why);
    switch (rc) {
    case DNS_OK:
        break;
    case DNS_NODATA:
        add_host(route, host, 0, 0);         /* implicit MX: the domain itself */
        str_free(&why);
        return 0;
    case DNS_NOTFOUND:
        deliver_result_set(fail, DELIVER_BOUNCE, "5.1.2", "Host or domain name not found. %s",
                           why.data);
        str_free(&why);
        return -1;
    default:
        deliver_result_set(fail, DELIVER_DEFER, "4.4.3", "Host or domain name not found. %s",
                           why.data);
        str_free(&why);
        return -1;
    }
    str_free(&why);
    route->mx = 1;
    if (dns_mx_is_null(&mx)) {
        deliver_result_set(fail, DELIVER_BOUNCE, "5.1.10", "Domain %s does not accept mail "
                           "(nullMX)", host);
        dns_mx_free(&mx);
        return -1;
    }
    for (int i = 0; i < mx.count; i++)
        if (smtp_is_myself(mx.items[i].host) && (mypref < 0 || mx.items[i].pref < mypref))
            mypref = mx.items[i].pref;
    for (int i = 0; i < mx.count; i++)
        if (mypref < 0 || mx.items[i].pref < mypref)
            add_host(route, mx.items[i].host, mx.items[i].pref, 0);
    dns_mx_free(&mx);
    if (route->count == 0) {
        deliver_result_set(fail, DELIVER_BOUNCE, "5.4.6", "mail for %s loops back to myself",
                           host);
        return -1;
    }
    return 0;
}

void smtp_route_free(struct smtp_route *route)
{
    smtp_tls_policy_free(&route->tls);
    free(route->hosts);
    route->hosts = NULL;
    route->count = 0;
}
