/* cmd_check_services.c: the master.cf part of `postern check` (see cmd_check.h): every
 * service's command exists and is executable (master/daemon_path.h rule), service types
 * master supports, no service listed twice, no two inet services on one address:port
 * (a service without a host listens on every $inet_interfaces address, and a wildcard
 * address conflicts with every address on the same port), and, when the master is not
 * running, that each inet address:port can be bound now. The host:port syntax is the
 * one master_listen.c accepts: PORT, HOST:PORT, [ADDR]:PORT, PORT by number or by name. */
#define _GNU_SOURCE 1
#include "cmd.h"
#include "cmd_check.h"
#include "config.h"
#include "mem.h"
#include "str.h"
#include "../master/daemon_path.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#define BINDINGS_MAX 256      /* addresses checked; more is certainly a mistake */
#define ADDRS_PER_HOST 8
#define SERVICES_MAX 1000     /* master.cf entries checked (the pairwise checks are O(n^2)) */

struct binding {
    const struct mastercf_entry *entry;
    char addr[INET6_ADDRSTRLEN];    /* numeric; "*" = every address */
    int family;                     /* AF_INET / AF_INET6; 0 with "*" */
    int port;
};

struct bindings { struct binding v[BINDINGS_MAX]; int n; int overflow; };

static const char *type_name(enum svc_type t)
{
    switch (t) {
    case SVC_INET: return "inet";
    case SVC_UNIX: return "unix";
    case SVC_PASS: return "pass";
    case SVC_FIFO: return "fifo";
    }
    return "?";
}

static void add_binding(struct bindings *b, const struct mastercf_entry *e, const char *addr,
                        int family, int port)
{
    if (b->n >= BINDINGS_MAX) {
        b->overflow = 1;
        return;
    }
    struct binding *x = &b->v[b->n++];
    x->entry = e;
    snprintf(x->addr, sizeof x->addr, "%s", addr);
    x->family = family;
    x->port = port;
}

/* Add the addresses HOST stands for; -1 when it resolves to nothing. */
static int add_host(struct bindings *b, const struct mastercf_entry *e, const char *host, int port,
                    int want_v4, int want_v6)
{
    if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0) {
        add_binding(b, e, "*", 0, port);
        return 0;
    }
    struct addrinfo hints = { 0 }, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
        return -1;
    int added = 0;
    for (struct addrinfo *ai = res; ai && added < ADDRS_PER_HOST; ai = ai->ai_next) {
        char buf[INET6_ADDRSTRLEN];
        const void *a;
        if (ai->ai_family == AF_INET && want_v4)
            a = &((struct sockaddr_in *)ai->ai_addr)->sin_addr;
        else if (ai->ai_family == AF_INET6 && want_v6)
            a = &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
        else
            continue;
        if (!inet_ntop(ai->ai_family, a, buf, sizeof buf))
            continue;
        int dup = 0;
        for (int i = 0; i < b->n; i++)
            dup |= b->v[i].entry == e && b->v[i].port == port && strcmp(b->v[i].addr, buf) == 0;
        if (!dup)
            add_binding(b, e, buf, ai->ai_family, port);
        added++;
    }
    freeaddrinfo(res);
    return 0;
}

static void inet_bindings(struct check_ctx *c, struct bindings *b, const struct mastercf_entry *e,
                          const char *path)
{
    char *host, *portname, *err = NULL;
    if (mastercf_split_inet(e->service, &host, &portname, &err) != 0) {
        check_problem(c, path, e->line, "service %s: %s", e->service, err);
        free(err);
        return;
    }
    int port = mastercf_port(portname);
    int want_v4 = 1, want_v6 = 1;
    char **protos = config_list("inet_protocols");
    if (protos[0] && strcmp(protos[0], "all") != 0) {
        want_v4 = want_v6 = 0;
        for (char **p = protos; *p; p++) {
            want_v4 |= strcmp(*p, "ipv4") == 0;
            want_v6 |= strcmp(*p, "ipv6") == 0;
        }
    }
    strv_free(protos);
    if (port < 0) {
        check_problem(c, path, e->line, "service %s: unknown port \"%.64s\"", e->service, portname);
    } else if (host) {
        if (add_host(b, e, host, port, want_v4, want_v6) != 0)
            check_problem(c, path, e->line, "service %s: cannot resolve host \"%.200s\"",
                          e->service, host);
    } else {
        char **ifaces = config_list("inet_interfaces");
        for (char **i = ifaces; *i; i++) {
            if (strcmp(*i, "all") == 0)
                add_binding(b, e, "*", 0, port);
            else if (strcmp(*i, "loopback-only") == 0) {
                if (want_v4)
                    add_binding(b, e, "127.0.0.1", AF_INET, port);
                if (want_v6)
                    add_binding(b, e, "::1", AF_INET6, port);
            } else if (add_host(b, e, *i, port, want_v4, want_v6) != 0) {
                check_problem(c, path, e->line, "service %s: cannot resolve inet_interfaces "
                              "address \"%.200s\"", e->service, *i);
            }
        }
        strv_free(ifaces);
    }
    free(host);
    free(portname);
}

static const char *show_addr(const struct binding *x, char *buf, size_t len)
{
    if (strcmp(x->addr, "*") == 0)
        snprintf(buf, len, "*:%d", x->port);
    else if (x->family == AF_INET6)
        snprintf(buf, len, "[%s]:%d", x->addr, x->port);
    else
        snprintf(buf, len, "%s:%d", x->addr, x->port);
    return buf;
}

static void report_conflicts(struct check_ctx *c, const struct bindings *b, const char *path)
{
    for (int j = 0; j < b->n; j++) {
        const struct binding *y = &b->v[j];
        for (int i = 0; i < j; i++) {
            const struct binding *x = &b->v[i];
            if (x->entry == y->entry || x->port != y->port)
                continue;
            if (strcmp(x->addr, "*") != 0 && strcmp(y->addr, "*") != 0 && strcmp(x->addr, y->addr) != 0)
                continue;
            char a[INET6_ADDRSTRLEN + 16];
            check_problem(c, path, y->entry->line, "port conflict: service %s listens on %s, "
                          "which service %s at line %d also uses", y->entry->service,
                          show_addr(y, a, sizeof a), x->entry->service, x->entry->line);
            break;                       /* one report per binding */
        }
    }
}

/* Try to bind each address as master would (SO_REUSEADDR), then close it again. */
static void bind_test(struct check_ctx *c, const struct bindings *b, const char *path)
{
    for (int i = 0; i < b->n; i++) {
        const struct binding *x = &b->v[i];
        struct sockaddr_storage ss = { 0 };
        socklen_t len;
        int family = x->family ? x->family : AF_INET;
        if (family == AF_INET) {
            struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
            sin->sin_family = AF_INET;
            sin->sin_port = htons((unsigned short)x->port);
            if (strcmp(x->addr, "*") == 0)
                sin->sin_addr.s_addr = htonl(INADDR_ANY);
            else if (inet_pton(AF_INET, x->addr, &sin->sin_addr) != 1)
                continue;
            len = sizeof *sin;
        } else {
            struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
            sin6->sin6_family = AF_INET6;
            sin6->sin6_port = htons((unsigned short)x->port);
            if (inet_pton(AF_INET6, x->addr, &sin6->sin6_addr) != 1)
                continue;
            len = sizeof *sin6;
        }
        int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            if (errno != EAFNOSUPPORT)
                check_problem(c, path, x->entry->line, "service %s: socket: %s",
                              x->entry->service, strerror(errno));
            continue;
        }
        int on = 1;
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        if (family == AF_INET6)
            (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
        if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
            char a[INET6_ADDRSTRLEN + 16];
            check_problem(c, path, x->entry->line, "service %s: cannot bind %s: %s%s",
                          x->entry->service, show_addr(x, a, sizeof a), strerror(errno),
                          errno == EADDRINUSE ? " (another program listens there)" : "");
        }
        close(fd);
    }
}

void check_services(struct check_ctx *c, const struct mastercf *m, const char *path)
{
    struct bindings *b = xmalloc(sizeof *b);
    b->n = 0;
    b->overflow = 0;
    const char *daemon_dir = config_str("daemon_directory");
    int count = m->count;
    if (count > SERVICES_MAX) {
        check_problem(c, path, 0, "%d services; only the first %d are checked", count,
                      SERVICES_MAX);
        count = SERVICES_MAX;
    }
    for (int i = 0; i < count; i++) {
        const struct mastercf_entry *e = &m->entries[i];
        for (int j = 0; j < i; j++)
            if (m->entries[j].type == e->type && strcmp(m->entries[j].service, e->service) == 0) {
                check_problem(c, path, e->line, "service %s/%s is already defined at line %d",
                              e->service, type_name(e->type), m->entries[j].line);
                break;
            }
        if (e->type == SVC_PASS || e->type == SVC_FIFO)
            check_problem(c, path, e->line, "service %s: type %s is not supported by postern",
                          e->service, type_name(e->type));
        if (!daemon_command_valid(e->command)) {
            check_problem(c, path, e->line, "service %s: bad command \"%.200s\" (a plain name "
                          "or an absolute path)", e->service, e->command);
        } else {
            char *prog = daemon_path(daemon_dir, e->command);
            if (access(prog, X_OK) != 0)
                check_problem(c, path, e->line, "service %s: cannot execute %s: %s", e->service,
                              prog, strerror(errno));
            free(prog);
        }
        if (e->type == SVC_INET)
            inet_bindings(c, b, e, path);
    }
    if (b->overflow)
        check_problem(c, path, 0, "more than %d listening addresses; only the first are checked",
                      BINDINGS_MAX);
    report_conflicts(c, b, path);
    if (c->bind_test)
        bind_test(c, b, path);
    free(b);
}
