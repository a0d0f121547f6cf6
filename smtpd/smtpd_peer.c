/* smtpd_peer.c: who is the client? The numeric address and port of the socket's peer
 * (IPv4-mapped IPv6 addresses shown as plain IPv4) and, when $smtpd_peername_lookup is
 * yes, its name: /etc/hosts first, else a forward-confirmed PTR name (FCrDNS, see
 * dns_lookup_client_name() in lib/dns.h). No name, an unconfirmed name or a temporary
 * DNS failure all give "unknown" (no restriction tells them apart yet). Runs once per
 * connection before the greeting; smtpd_xclient.c may override the result later. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include "smtpd.h"
#include "../lib/config.h"  /* not "config.h": -I. (build dir) holds autoconf's config.h */
#include "dns.h"
#include "log.h"

/* s->name from the client address, or left "unknown". */
static void smtpd_peer_lookup_name(struct smtpd_state *s)
{
    char name[DNS_NAME_MAX + 1];
    str why;
    int rc;

    if (strcmp(s->addr, "unknown") == 0 || !config_bool("smtpd_peername_lookup"))
        return;
    str_init(&why);
    rc = dns_lookup_client_name(s->addr, name, sizeof(name), &why);
    if (rc == DNS_OK && strlen(name) < sizeof(s->name))
        snprintf(s->name, sizeof(s->name), "%s", name);
    else if (rc == DNS_TEMPFAIL)
        msg_warn("%s: client name lookup failed temporarily: %s", s->addr,
                 why.len ? why.data : "unknown error");
    else if (why.len && strstr(why.data, "does not resolve to address"))
        msg_warn("%s", why.data);
    str_free(&why);
}

void smtpd_peer_init(struct smtpd_state *s)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    unsigned port = 0;

    snprintf(s->name, sizeof(s->name), "unknown");
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
    snprintf(s->peer, sizeof(s->peer), "%s[%s]", s->name, s->addr);
}
