/* smtpd_peer.c: who is the client? The numeric address and port of the socket's peer
 * (IPv4-mapped IPv6 addresses shown as plain IPv4). The name is always "unknown" for
 * now: reverse DNS is not done yet. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include "smtpd.h"

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
    snprintf(s->peer, sizeof(s->peer), "%s[%s]", s->name, s->addr);
}
