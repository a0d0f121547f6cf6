/* master_listen.c: opening the listening sockets of a service.
 *
 * inet services: the service name is "PORT", "HOST:PORT" or "[ADDR]:PORT"; PORT is a
 * number or a name from /etc/services ("smtp", "submission"). Without a host the
 * socket(s) go on every address of $inet_interfaces: "all" = 0.0.0.0 and :: (IPv6 socket
 * with IPV6_V6ONLY so both can coexist), "loopback-only" = 127.0.0.1 and ::1, else the
 * listed addresses/host names. $inet_protocols (all, ipv4, ipv6) filters the families.
 * SO_REUSEADDR is set; a bind failing with EADDRINUSE is retried for bind_wait_ms (an
 * orphaned child of a killed master may hold the port briefly).
 * unix services: $queue_directory/private/NAME (mode 0600) or public/NAME (0666), owned
 * by mail_owner when master runs as root.
 * Every socket is non-blocking and close-on-exec (children get it dup'ed to fd 3). */
#define _GNU_SOURCE 1
#include "master.h"
#include "ipc.h"
#include "log.h"
#include "mem.h"
#include "str.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#define LISTEN_BACKLOG 511
#define MAX_LISTENERS 32

static void add_listener(struct service *svc, int fd, const char *desc)
{
    svc->listeners = xrealloc(svc->listeners, (size_t)(svc->nlisteners + 1) * sizeof *svc->listeners);
    struct listener *l = &svc->listeners[svc->nlisteners++];
    memset(l, 0, sizeof *l);
    l->fd = fd;
    l->desc = xstrdup(desc);
}

static int set_flags(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0)
        return -1;
    return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void format_addr(const struct sockaddr *sa, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        port = ntohs(in->sin_port);
        snprintf(buf, len, "%s:%d", host, port);
    } else {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        port = ntohs(in6->sin6_port);
        snprintf(buf, len, "[%s]:%d", host, port);
    }
}

/* Open one TCP listener. Returns fd, or -1 with errno. */
static int open_tcp(const struct sockaddr *sa, socklen_t salen, int bind_wait_ms, const char *desc)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0)
        goto fail;
    if (sa->sa_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) != 0)
        goto fail;
    for (int waited = 0, warned = 0;; waited += 200) {
        if (bind(fd, sa, salen) == 0)
            break;
        if (errno != EADDRINUSE || waited >= bind_wait_ms)
            goto fail;
        if (!warned++)
            msg_warn("bind %s: address in use; retrying for up to %d s", desc, bind_wait_ms / 1000);
        sleep_ms(200);
    }
    if (listen(fd, LISTEN_BACKLOG) != 0 || set_flags(fd) != 0)
        goto fail;
    return fd;
fail:;
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

struct family_filter { int v4, v6; };

static int protocols_filter(struct family_filter *ff, char **err)
{
    ff->v4 = ff->v6 = 0;
    char **p = master_params.inet_protocols;
    for (size_t i = 0; p && p[i]; i++) {
        if (strcmp(p[i], "all") == 0)
            ff->v4 = ff->v6 = 1;
        else if (strcmp(p[i], "ipv4") == 0)
            ff->v4 = 1;
        else if (strcmp(p[i], "ipv6") == 0)
            ff->v6 = 1;
        else {
            *err = xasprintf("bad inet_protocols value \"%s\" (use all, ipv4, ipv6)", p[i]);
            return -1;
        }
    }
    if (!ff->v4 && !ff->v6)
        ff->v4 = ff->v6 = 1;
    return 0;
}

/* Bind one wildcard/loopback address of the given family; an IPv6 failure with
 * EAFNOSUPPORT/EADDRNOTAVAIL (no IPv6 on this host) is only a warning when `optional`. */
static int listen_fixed(struct service *svc, int family, const char *addr, int port,
                        int bind_wait_ms, int optional, char **err)
{
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof ss);
    if (family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        in->sin_port = htons((unsigned short)port);
        inet_pton(AF_INET, addr, &in->sin_addr);
        len = sizeof *in;
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((unsigned short)port);
        inet_pton(AF_INET6, addr, &in6->sin6_addr);
        len = sizeof *in6;
    }
    char desc[INET6_ADDRSTRLEN + 16];
    format_addr((struct sockaddr *)&ss, desc, sizeof desc);
    int fd = open_tcp((struct sockaddr *)&ss, len, bind_wait_ms, desc);
    if (fd < 0) {
        if (optional && (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL)) {
            msg_warn("service %s: skipping %s: %m", svc->name, desc);
            return 0;
        }
        *err = xasprintf("cannot listen on %s: %s", desc, strerror(errno));
        return -1;
    }
    add_listener(svc, fd, desc);
    return 0;
}

static int listen_host(struct service *svc, const char *host, int port,
                       const struct family_filter *ff, int bind_wait_ms, char **err)
{
    if (strcmp(host, "all") == 0 || strcmp(host, "loopback-only") == 0) {
        int all = host[0] == 'a';
        int both = ff->v4 && ff->v6;
        if (ff->v4 && listen_fixed(svc, AF_INET, all ? "0.0.0.0" : "127.0.0.1", port,
                                   bind_wait_ms, 0, err) != 0)
            return -1;
        if (ff->v6 && listen_fixed(svc, AF_INET6, all ? "::" : "::1", port,
                                   bind_wait_ms, both, err) != 0)
            return -1;
        return 0;
    }
    struct addrinfo hints = { .ai_flags = AI_NUMERICSERV, .ai_socktype = SOCK_STREAM };
    hints.ai_family = ff->v4 && ff->v6 ? AF_UNSPEC : ff->v4 ? AF_INET : AF_INET6;
    struct addrinfo *res = NULL;
    char portbuf[8];
    snprintf(portbuf, sizeof portbuf, "%d", port);
    int gai = getaddrinfo(host, portbuf, &hints, &res);
    if (gai != 0) {
        *err = xasprintf("cannot resolve listen address \"%s\": %s", host, gai_strerror(gai));
        return -1;
    }
    int rc = 0, count = 0;
    for (struct addrinfo *ai = res; ai && rc == 0; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            continue;
        char desc[INET6_ADDRSTRLEN + 16];
        format_addr(ai->ai_addr, desc, sizeof desc);
        int dup = 0;
        for (int i = 0; i < svc->nlisteners; i++)
            dup |= strcmp(svc->listeners[i].desc, desc) == 0;
        if (dup)
            continue;
        if (svc->nlisteners >= MAX_LISTENERS) {
            *err = xasprintf("too many listen addresses (limit %d)", MAX_LISTENERS);
            rc = -1;
            break;
        }
        int fd = open_tcp(ai->ai_addr, ai->ai_addrlen, bind_wait_ms, desc);
        if (fd < 0) {
            *err = xasprintf("cannot listen on %s: %s", desc, strerror(errno));
            rc = -1;
            break;
        }
        add_listener(svc, fd, desc);
        count++;
    }
    freeaddrinfo(res);
    if (rc == 0 && count == 0 && svc->nlisteners == 0) {
        *err = xasprintf("listen address \"%s\" has no usable address", host);
        rc = -1;
    }
    return rc;
}

int listen_inet(struct service *svc, int bind_wait_ms, char **err)
{
    char *host, *portname;
    struct family_filter ff;
    if (protocols_filter(&ff, err) != 0)
        return -1;
    if (mastercf_split_inet(svc->name, &host, &portname, err) != 0)
        return -1;
    int port = mastercf_port(portname);
    int rc = 0;
    if (port < 0) {
        *err = xasprintf("unknown port \"%s\" (not a number 1..65535 nor a name in /etc/services)",
                         portname);
        rc = -1;
    } else if (host) {
        rc = listen_host(svc, host, port, &ff, bind_wait_ms, err);
    } else {
        char **ifs = master_params.inet_interfaces;
        if (!ifs || !ifs[0]) {
            *err = xasprintf("inet_interfaces is empty");
            rc = -1;
        }
        for (size_t i = 0; rc == 0 && ifs && ifs[i]; i++)
            rc = listen_host(svc, ifs[i], port, &ff, bind_wait_ms, err);
    }
    free(host);
    free(portname);
    return rc;
}

int listen_unix(struct service *svc, char **err)
{
    const char *name = svc->name;
    if (!*name || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0
        || strlen(name) > 64) {
        *err = xasprintf("bad unix service name \"%s\"", name);
        return -1;
    }
    const char *class_ = svc->private_ ? "private" : "public";
    char *path = xasprintf("%s/%s/%s", master_params.queue_directory, class_, name);
    struct sockaddr_un sun;
    if (strlen(path) >= sizeof sun.sun_path) {
        *err = xasprintf("socket path too long: %s", path);
        free(path);
        return -1;
    }
    int mode = svc->private_ ? 0600 : 0666;
    int fd = ipc_listen_unix(path, mode, LISTEN_BACKLOG);
    if (fd < 0) {
        *err = xasprintf("cannot listen on %s: %s", path, strerror(errno));
        free(path);
        return -1;
    }
    if (master_params.owner_uid != (uid_t)-1
        && chown(path, master_params.owner_uid, master_params.owner_gid) != 0) {
        *err = xasprintf("chown %s: %s", path, strerror(errno));
        close(fd);
        free(path);
        return -1;
    }
    if (set_flags(fd) != 0) {
        *err = xasprintf("fcntl %s: %s", path, strerror(errno));
        close(fd);
        free(path);
        return -1;
    }
    char *desc = xasprintf("%s/%s", class_, name);
    add_listener(svc, fd, desc);
    free(desc);
    svc->unix_path = path;
    return 0;
}
