/* smtpd_peer.c: who is the client? The numeric address and port of the socket's peer
 * (IPv4-mapped IPv6 addresses shown as plain IPv4) and, when $smtpd_peername_lookup is
 * yes, its names (dns_lookup_client_names() in lib/dns.h):
 *   name           /etc/hosts, else a forward-confirmed PTR name (FCrDNS), else "unknown";
 *   reverse_name   /etc/hosts, else the first PTR name even when it does not confirm;
 * each with a status (SMTPD_NAME_*: found / not found or not confirmed / temporary DNS
 * failure) for reject_unknown_client_hostname and reject_unknown_reverse_client_hostname
 * (smtpd_check.c). Runs once per connection before the greeting; smtpd_xclient.c may
 * override names, statuses and address later (smtpd_peer_name_status() judges by them). */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include "smtpd.h"
#include "../lib/config.h"  /* not "config.h": -I. (build dir) holds autoconf's config.h */
#include "dns.h"
#include "log.h"

static int name_status_of(int dns_status)
{
    return dns_status == DNS_OK ? SMTPD_NAME_OK
        : dns_status == DNS_TEMPFAIL ? SMTPD_NAME_TEMPFAIL : SMTPD_NAME_NOTFOUND;
}

/* s->name and s->reverse_name with their statuses from the client address; both stay
 * "unknown" (not found) when the lookup is disabled or the address is unknown. */
static void smtpd_peer_lookup_name(struct smtpd_state *s)
{
    char name[DNS_NAME_MAX + 1], reverse[DNS_NAME_MAX + 1];
    int name_rc, reverse_rc;
    str why;

    s->name_status = s->reverse_status = SMTPD_NAME_NOTFOUND;
    if (strcmp(s->addr, "unknown") == 0 || !config_bool("smtpd_peername_lookup"))
        return;
    str_init(&why);
    dns_lookup_client_names(s->addr, name, sizeof(name), &name_rc, reverse, sizeof(reverse),
                            &reverse_rc, &why);
    if (name_rc == DNS_OK && strlen(name) >= sizeof(s->name))
        name_rc = DNS_NOTFOUND;
    if (reverse_rc == DNS_OK && strlen(reverse) >= sizeof(s->reverse_name))
        reverse_rc = DNS_NOTFOUND;
    if (name_rc == DNS_OK)
        snprintf(s->name, sizeof(s->name), "%s", name);
    if (reverse_rc == DNS_OK)
        snprintf(s->reverse_name, sizeof(s->reverse_name), "%s", reverse);
    s->name_status = name_status_of(name_rc);
    s->reverse_status = name_status_of(reverse_rc);
    if (name_rc == DNS_TEMPFAIL)
        msg_warn("%s: client name lookup failed temporarily: %s", s->addr,
                 why.len ? why.data : "unknown error");
    else if (why.len && strstr(why.data, "does not resolve to address"))
        msg_warn("%s", why.data);
    str_free(&why);
}

int smtpd_peer_name_status(const struct smtpd_state *s, int reverse)
{
    int named = strcmp(s->name, "unknown") != 0;

    if (strcmp(s->names_addr, s->addr) != 0)     /* XCLIENT ADDR: only its NAME is known */
        return named ? SMTPD_NAME_OK : SMTPD_NAME_NOTFOUND;
    if (reverse)                                 /* from DNS, or XCLIENT (REVERSE_)NAME */
        return s->reverse_status;
    if (named)
        return SMTPD_NAME_OK;
    return s->name_status == SMTPD_NAME_OK ? SMTPD_NAME_NOTFOUND : s->name_status;
}

void smtpd_peer_init(struct smtpd_state *s)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    unsigned port = 0;

    snprintf(s->name, sizeof(s->name), "unknown");
    snprintf(s->reverse_name, sizeof(s->reverse_name), "unknown");
    snprintf(s->addr, sizeof(s->addr), "unknown");
    memset(&ss, 0, sizeof(ss));
    if (getpeername(s->fd, (struct sockaddr *) &ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) {
            const struct sockaddr_in *sin = (const struct sockaddr_in *) &ss;
            inet_ntop(AF_INET, &sin->sin_addr, s->addr, sizeof(s->addr));
            port = ntohs(sin->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) &ss;
            if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
                inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], s->addr, sizeof(s->addr));
            else
                inet_ntop(AF_INET6, &sin6->sin6_addr, s->addr, sizeof(s->addr));
            port = ntohs(sin6->sin6_port);
        }
    }
    snprintf(s->port, sizeof(s->port), "%u", port);
    smtpd_peer_lookup_name(s);
    snprintf(s->names_addr, sizeof(s->names_addr), "%s", s->addr);
    snprintf(s->peer, sizeof(s->peer), "%s[%s]", s->name, s->addr);
}
