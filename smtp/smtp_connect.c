/* smtp_connect.c: walk the route (hosts in order, every address of a host) and run an
 * SMTP session on the first address that answers, moving on while recipients remain
 * that another server might take. Bounded by $smtp_mx_address_limit addresses and
 * $smtp_mx_session_limit sessions per delivery; each connect by $smtp_connect_timeout.
 * An LMTP "unix:PATH" route is one session on that UNIX stream socket. A session that
 * ends cleanly is handed to smtp_cache.c, which may keep it for the next request. */
#include "smtp.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "../lib/config.h"  /* not "config.h": -I. (build dir) holds autoconf's config.h */
#include "log.h"

#define SMTP_ADDR_TRIES_MAX 100

/* Non-blocking connect bounded by timeout_s. fd, or -1 with errno. */
static int connect_to(const struct dns_addr *a, int port, long timeout_s)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    struct pollfd pfd;
    int fd, err = 0, flags;
    socklen_t errlen = sizeof(err);

    memset(&ss, 0, sizeof(ss));
    if (a->family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *) &ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons((unsigned short) port);
        memcpy(&sin->sin_addr, a->bytes, 4);
        sslen = sizeof(*sin);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((unsigned short) port);
        memcpy(&sin6->sin6_addr, a->bytes, 16);
        sslen = sizeof(*sin6);
    }
    fd = socket(a->family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *) &ss, sslen) < 0) {
        if (errno != EINPROGRESS) {
            err = errno;
            close(fd);
            errno = err;
            return -1;
        }
        pfd.fd = fd;
        pfd.events = POLLOUT;
        pfd.revents = 0;
        int n;
        do
            n = poll(&pfd, 1, (int) (timeout_s < 1 ? 1000 : timeout_s > 3600 ? 3600000
                                                                : timeout_s * 1000));
        while (n < 0 && errno == EINTR);
        if (n == 0) {
            close(fd);
            errno = ETIMEDOUT;
            return -1;
        }
        if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &errlen) < 0 || err) {
            err = err ? err : errno;
            close(fd);
            errno = err;
            return -1;
        }
    }
    flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
        err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

/* Blocking connect to a UNIX stream socket (local: it does not hang). fd, or -1 with errno. */
static int connect_unix(const char *path)
{
    struct sockaddr_un sun;
    size_t n = strlen(path);
    int fd, err;

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    if (n >= sizeof(sun.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(sun.sun_path, path, n + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *) &sun, sizeof(sun)) < 0) {
        err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

/* Run one session on a connected fd; afterwards it is kept for reuse or closed
 * (smtp_cache.c). The session's rc. */
static int run_session(struct smtp_session *s, int fd, struct deliver_msg *m,
                       struct smtp_rcpt *rcpts, int n)
{
    int rc;

    s->lmtp = smtp_is_lmtp();
    s->b = bio_open(fd, 1000);
    s->keep = smtp_cache_wanted();
    s->opened = deliver_now();
    rc = smtp_session_run(s, m, rcpts, n);
    smtp_cache_release(s, m->nexthop, rc);
    return rc;
}

/* Give recipients no server took a decision on the last connection-level error. */
static void fail_untried(struct deliver_msg *m, struct smtp_rcpt *rcpts, int n,
                         const struct deliver_result *last)
{
    for (int i = 0; i < n; i++) {
        if (rcpts[i].done || rcpts[i].tried)
            continue;
        deliver_result_copy(&rcpts[i].req->result, last);
        rcpts[i].done = last->status != DELIVER_DEFER;
        snprintf(rcpts[i].relay, sizeof(rcpts[i].relay), "none");
        rcpts[i].conn_setup = deliver_now() - m->request_time;
        rcpts[i].xfer = 0;
    }
}

/* LMTP over a UNIX socket: the one and only server. */
static void deliver_unix(struct deliver_msg *m, int has_8bit, struct smtp_route *route,
                         struct smtp_rcpt *rcpts, int n)
{
    struct deliver_result last;
    struct smtp_session s;
    int fd = connect_unix(route->unix_path), err = errno;

    deliver_result_init(&last);
    deliver_result_set(&last, DELIVER_DEFER, "4.4.1", "connect to %s: %s", route->unix_path,
                       fd < 0 ? strerror(err) : "no reply");
    if (fd >= 0) {
        memset(&s, 0, sizeof(s));
        snprintf(s.host, sizeof(s.host), "%s", config_str("myhostname"));
        snprintf(s.addr, sizeof(s.addr), "%s", route->unix_path);
        snprintf(s.relay, sizeof(s.relay), "%s[%s]", s.host, s.addr);
        s.msg_8bit = has_8bit;
        s.final_server = 1;
        s.tls_policy = &route->tls;
        (void) run_session(&s, fd, m, rcpts, n);
    }
    fail_untried(m, rcpts, n, &last);
    deliver_result_free(&last);
}

static long limit_param(const char *name)
{
    long v = config_int(name);
    return v <= 0 || v > SMTP_ADDR_TRIES_MAX ? SMTP_ADDR_TRIES_MAX : v;
}

void smtp_deliver(struct deliver_msg *m, int has_8bit, struct smtp_route *route,
                  struct smtp_rcpt *rcpts, int n)
{
    long addr_limit = limit_param("smtp_mx_address_limit");
    long sess_limit = limit_param("smtp_mx_session_limit");
    long tries = 0, sessions = 0, conn_timeout = config_time("smtp_connect_timeout");
    struct deliver_result last;
    int stop = 0;

    if (route->unix_path[0]) {
        deliver_unix(m, has_8bit, route, rcpts, n);
        return;
    }
    deliver_result_init(&last);
    deliver_result_set(&last, DELIVER_DEFER, "4.4.1", "no SMTP server for %s could be tried",
                       m->nexthop);
    for (int h = 0; h < route->count && !stop; h++) {
        const struct smtp_host *host = &route->hosts[h];
        struct dns_addr_list addrs;
        str why;
        int rc;

        str_init(&why);
        rc = dns_lookup_addr(host->name, &addrs, &why);
        if (rc != DNS_OK) {
            int only = route->count == 1;
            if (only && (rc == DNS_NOTFOUND || rc == DNS_NODATA))
                deliver_result_set(&last, DELIVER_BOUNCE, "5.1.2", "Host or domain name not "
                                   "found. %s", why.data);
            else
                deliver_result_set(&last, DELIVER_DEFER, "4.4.3", "Host or domain name not "
                                   "found. %s", why.data);
            str_free(&why);
            continue;
        }
        str_free(&why);
        for (int a = 0; a < addrs.count && !stop; a++) {
            struct smtp_session s;
            int fd, more = 0;

            for (int i = 0; i < n; i++)
                more |= !rcpts[i].done;
            if (!more || tries >= addr_limit || sessions >= sess_limit) {
                stop = 1;
                break;
            }
            tries++;
            fd = connect_to(&addrs.items[a], route->port, conn_timeout);
            if (fd < 0) {
                deliver_result_set(&last, DELIVER_DEFER, "4.4.1", "connect to %s[%s]:%d: %s",
                                   host->name, addrs.items[a].text, route->port,
                                   strerror(errno));
                continue;
            }
            sessions++;
            memset(&s, 0, sizeof(s));
            snprintf(s.host, sizeof(s.host), "%s", host->name);
            snprintf(s.addr, sizeof(s.addr), "%s", addrs.items[a].text);
            s.port = route->port;
            s.msg_8bit = has_8bit;
            snprintf(s.relay, sizeof(s.relay), "%s[%s]:%d", s.host, s.addr, s.port);
            s.final_server = (h == route->count - 1 && a == addrs.count - 1)
                             || tries >= addr_limit || sessions >= sess_limit;
            s.tls_policy = &route->tls;
            rc = run_session(&s, fd, m, rcpts, n);
            if (rc != SESSION_NEXT)
                stop = 1;
        }
        dns_addr_free(&addrs);
    }
    fail_untried(m, rcpts, n, &last);
    deliver_result_free(&last);
}
