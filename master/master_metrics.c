/* master_metrics.c: the master's side of metrics (lib/metrics.h).
 *
 * At start master creates the shared counter file, publishes its per-service process
 * counts into it once a second, and, when $metrics_listen is set ("127.0.0.1:9125",
 * "[::1]:9125"), serves the Prometheus text on that address from its event loop:
 * HTTP/1.0, GET /metrics only, one response per connection, the request bounded in size
 * (METRICS_REQUEST_MAX) and time (METRICS_CONN_TIMEOUT_MS), at most METRICS_MAX_CONNS
 * connections at once. $metrics_listen is read at start; a reload does not move it. */
#define _GNU_SOURCE 1
#include "master.h"
#include "config.h"
#include "events.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "str.h"
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#define METRICS_REQUEST_MAX      4096
#define METRICS_CONN_TIMEOUT_MS  5000
#define METRICS_MAX_CONNS        16
#define METRICS_PUBLISH_MS       1000

struct metrics_conn {
    int fd;
    char req[METRICS_REQUEST_MAX];
    size_t req_len;
    str resp;
    size_t sent;
    long timer;
};

static struct metrics_conn *conns[METRICS_MAX_CONNS];
static int listen_fd = -1;
static char *listen_spec;                   /* the $metrics_listen in use ("" = none) */

static void publish_processes(void *ctx)
{
    const char *names[METRICS_SERVICES] = { 0 };
    int nproc[METRICS_SERVICES] = { 0 };
    char *owned[METRICS_SERVICES];
    int n = 0;

    (void) ctx;
    for (struct service *s = master_services; s && n < METRICS_SERVICES; s = s->next) {
        int total = 0;
        for (int i = 0; i < s->nlisteners; i++)
            total += s->listeners[i].nproc;
        owned[n] = xasprintf("%s/%s", s->name, service_type_name(s->type));
        names[n] = owned[n];
        nproc[n] = total;
        n++;
    }
    metrics_set_processes(names, nproc, n);
    for (int i = 0; i < n; i++)
        free(owned[i]);
    event_timer(METRICS_PUBLISH_MS, publish_processes, NULL);
}

static void conn_close(struct metrics_conn *c)
{
    for (int i = 0; i < METRICS_MAX_CONNS; i++)
        if (conns[i] == c)
            conns[i] = NULL;
    event_del_read(c->fd);
    event_del_write(c->fd);
    if (c->timer)
        event_cancel_timer(c->timer);
    close(c->fd);
    str_free(&c->resp);
    free(c);
}

static void on_timeout(void *ctx)
{
    struct metrics_conn *c = ctx;
    c->timer = 0;
    conn_close(c);
}

static void on_writable(int fd, void *ctx)
{
    struct metrics_conn *c = ctx;
    ssize_t n = send(fd, c->resp.data + c->sent, c->resp.len - c->sent, MSG_NOSIGNAL);

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        conn_close(c);
        return;
    }
    c->sent += (size_t) n;
    if (c->sent >= c->resp.len)
        conn_close(c);
}

static void respond(struct metrics_conn *c, const char *status, const char *type,
                    const char *body, size_t body_len, int head_only)
{
    str_printf(&c->resp, "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
               "Connection: close\r\n\r\n", status, type, body_len);
    if (!head_only)
        str_append(&c->resp, body, body_len);
    event_del_read(c->fd);
    event_add_write(c->fd, on_writable, c);
}

static void respond_error(struct metrics_conn *c, const char *status)
{
    char body[128];
    int n = snprintf(body, sizeof body, "%s\n", status);
    respond(c, status, "text/plain; charset=utf-8", body, (size_t) n, 0);
}

/* The request line of a complete header block: "GET /metrics HTTP/1.x". */
static void handle_request(struct metrics_conn *c)
{
    char *eol = memchr(c->req, '\n', c->req_len);
    size_t len = eol ? (size_t) (eol - c->req) : 0;
    char line[512], method[16], target[256], version[16], extra;

    if (len > 0 && c->req[len - 1] == '\r')
        len--;
    if (len == 0 || len >= sizeof line || memchr(c->req, 0, len)) {
        respond_error(c, "400 Bad Request");
        return;
    }
    memcpy(line, c->req, len);
    line[len] = 0;
    if (sscanf(line, "%15s %255s %15s %c", method, target, version, &extra) != 3
        || strncmp(version, "HTTP/1.", 7) != 0) {
        respond_error(c, "400 Bad Request");
        return;
    }
    int head = strcmp(method, "HEAD") == 0;
    if (strcmp(method, "GET") != 0 && !head) {
        respond_error(c, "405 Method Not Allowed");
        return;
    }
    size_t plen = strcspn(target, "?");
    if (plen != 8 || strncmp(target, "/metrics", 8) != 0) {
        respond_error(c, "404 Not Found");
        return;
    }
    str body;
    char *err = NULL;
    str_init(&body);
    if (metrics_render(&body, master_params.queue_directory, &err) != 0) {
        msg_warn("metrics: %s", err);
        free(err);
    }
    respond(c, "200 OK", "text/plain; version=0.0.4; charset=utf-8", body.data, body.len,
            head);
    str_free(&body);
}

static void on_readable(int fd, void *ctx)
{
    struct metrics_conn *c = ctx;
    ssize_t n = recv(fd, c->req + c->req_len, sizeof c->req - c->req_len, 0);

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        conn_close(c);
        return;
    }
    c->req_len += (size_t) n;
    if (memmem(c->req, c->req_len, "\r\n\r\n", 4) || memmem(c->req, c->req_len, "\n\n", 2))
        handle_request(c);
    else if (c->req_len >= sizeof c->req)
        respond_error(c, "431 Request Header Fields Too Large");
}

static void on_accept(int fd, void *ctx)
{
    (void) ctx;
    int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0)
        return;
    int slot = -1;
    for (int i = 0; i < METRICS_MAX_CONNS && slot < 0; i++)
        if (!conns[i])
            slot = i;
    if (slot < 0) {
        close(cfd);                     /* busy: the scraper retries */
        return;
    }
    struct metrics_conn *c = xcalloc(1, sizeof *c);
    c->fd = cfd;
    str_init(&c->resp);
    c->timer = event_timer(METRICS_CONN_TIMEOUT_MS, on_timeout, c);
    conns[slot] = c;
    event_add_read(cfd, on_readable, c);
}

/* "host:port" or "[v6]:port" -> a listening socket, or -1 with *err. */
static int open_listener(const char *spec, char **err)
{
    char host[256];
    const char *port;
    const char *colon = strrchr(spec, ':');

    if (!colon || colon == spec || !colon[1] || strlen(spec) >= sizeof host) {
        *err = xasprintf("metrics_listen = %s: expected host:port", spec);
        return -1;
    }
    size_t hlen = (size_t) (colon - spec);
    if (spec[0] == '[' && hlen >= 2 && spec[hlen - 1] == ']') {
        memcpy(host, spec + 1, hlen - 2);
        host[hlen - 2] = 0;
    } else {
        memcpy(host, spec, hlen);
        host[hlen] = 0;
    }
    port = colon + 1;
    long pnum;
    if (parse_long(port, &pnum) != 0 || pnum < 1 || pnum > 65535) {
        *err = xasprintf("metrics_listen = %s: bad port", spec);
        return -1;
    }
    struct addrinfo hints = { 0 }, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0) {
        *err = xasprintf("metrics_listen = %s: %s (use a numeric address)", spec,
                         gai_strerror(rc));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0
        || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 16) != 0) {
        *err = xasprintf("metrics_listen = %s: %s", spec, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    return fd;
}

int master_metrics_init(char **err)
{
    long uid = master_params.owner_uid == (uid_t) -1 ? -1 : (long) master_params.owner_uid;
    long gid = master_params.owner_uid == (uid_t) -1 ? -1 : (long) master_params.owner_gid;

    if (metrics_file_create(master_params.queue_directory, uid, gid, err) != 0)
        return -1;
    const char *spec = config_str("metrics_listen");
    if (spec[0]) {
        if ((listen_fd = open_listener(spec, err)) < 0)
            return -1;
        event_add_read(listen_fd, on_accept, NULL);
        msg_info("metrics: serving http://%s/metrics", spec);
    }
    listen_spec = xstrdup(spec);
    publish_processes(NULL);
    return 0;
}

void master_metrics_reload(void)
{
    const char *spec = config_str("metrics_listen");
    char *err = NULL;
    int fd = -1;

    if (!listen_spec || strcmp(spec, listen_spec) == 0)
        return;
    if (spec[0] && (fd = open_listener(spec, &err)) < 0) {   /* new one first */
        msg_error("reload: %s; keeping the current metrics endpoint", err);
        free(err);
        return;
    }
    if (listen_fd >= 0) {                   /* open scrapes finish on their own timers */
        event_del_read(listen_fd);
        close(listen_fd);
    }
    listen_fd = fd;
    if (fd >= 0) {
        event_add_read(fd, on_accept, NULL);
        msg_info("metrics: serving http://%s/metrics", spec);
    } else {
        msg_info("metrics: endpoint closed (metrics_listen is empty)");
    }
    free(listen_spec);
    listen_spec = xstrdup(spec);
}
