/* master_service.c: one struct service per master.cf entry: its settings, listening
 * sockets, status pipe and wake-up timer. Creation opens the sockets; destruction closes
 * them and retires the children (they finish their current client and exit). */
#define _GNU_SOURCE 1
#include "master.h"
#include "attr.h"
#include "daemon_path.h"
#include "events.h"
#include "log.h"
#include "mem.h"
#include "str.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

struct service *master_services;

const char *service_type_name(enum svc_type type)
{
    switch (type) {
    case SVC_INET: return "inet";
    case SVC_UNIX: return "unix";
    case SVC_PASS: return "pass";
    case SVC_FIFO: return "fifo";
    }
    return "unknown";
}

struct service *service_find(const char *name, enum svc_type type)
{
    for (struct service *s = master_services; s; s = s->next)
        if (s->type == type && strcmp(s->name, name) == 0)
            return s;
    return NULL;
}

static char **strv_copy(char **v)
{
    size_t n = v ? strv_len(v) : 0;
    char **out = xcalloc(n + 1, sizeof *out);
    for (size_t i = 0; i < n; i++)
        out[i] = xstrdup(v[i]);
    return out;
}

/* Wake-up timer (master.cf wakeup column): connect to the service's own socket and send
 * "request=wakeup" (PROTOCOLS.md section 2). Best effort, never blocks. */
static void wakeup_send(void *ctx)
{
    struct service *svc = ctx;
    svc->wakeup_timer = 0;
    if (svc->unix_path) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        struct sockaddr_un sun = { .sun_family = AF_UNIX };
        if (fd >= 0 && strlen(svc->unix_path) < sizeof sun.sun_path) {
            memcpy(sun.sun_path, svc->unix_path, strlen(svc->unix_path) + 1);
            if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0) {
                attr_list req;
                str wire;
                attr_init(&req);
                str_init(&wire);
                attr_add(&req, "request", "wakeup");
                attr_encode(&req, &wire);
                if (send(fd, wire.data, wire.len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && master_verbose)
                    msg_debug("wakeup %s: %m", svc->unix_path);
                str_free(&wire);
                attr_free(&req);
            } else if (master_verbose) {
                msg_debug("wakeup %s: connect: %m", svc->unix_path);
            }
        }
        if (fd >= 0)
            close(fd);
    }
    if (svc->wakeup > 0 && !master_stopping)
        svc->wakeup_timer = event_timer(svc->wakeup * 1000L, wakeup_send, svc);
}

static void service_set_entry(struct service *svc, const struct mastercf_entry *e)
{
    free(svc->command);
    if (svc->args)
        strv_free(svc->args);
    svc->command = xstrdup(e->command);
    svc->args = strv_copy(e->args);
    svc->private_ = e->private_;
    svc->unpriv = e->unpriv;
    svc->wakeup = e->wakeup > 0 ? e->wakeup : 0;
    long limit = e->maxproc;
    if (limit < 0)
        limit = master_params.default_process_limit;
    if (limit == 0 || limit > MASTER_UNLIMITED_PROCS)
        limit = MASTER_UNLIMITED_PROCS;
    svc->maxproc = (int)limit;
    if (svc->wakeup_timer)
        event_cancel_timer(svc->wakeup_timer);
    svc->wakeup_timer = 0;
    if (svc->wakeup > 0 && svc->type == SVC_UNIX)
        svc->wakeup_timer = event_timer(svc->wakeup * 1000L, wakeup_send, svc);
}

int service_open_status_pipe(struct service *svc)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    if (fcntl(fds[0], F_SETFL, O_NONBLOCK) != 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    svc->status_rd = fds[0];
    svc->status_wr = fds[1];
    svc->status_len = 0;
    svc->generation++;
    status_watch(svc);
    return 0;
}

/* Closing the read end is how children learn that they belong to an old generation
 * (server.h: POLLERR on the status pipe = master gone). */
void service_close_status_pipe(struct service *svc)
{
    if (svc->status_rd >= 0) {
        event_del_read(svc->status_rd);
        close(svc->status_rd);
    }
    if (svc->status_wr >= 0)
        close(svc->status_wr);
    svc->status_rd = svc->status_wr = -1;
    svc->status_len = 0;
}

void service_update(struct service *svc, const struct mastercf_entry *e)
{
    service_set_entry(svc, e);
    /* A reload is the administrator saying "I fixed it": forget the start-up failures
     * and lift a throttle at once (new children read the new configuration). */
    if (svc->throttle_timer)
        event_cancel_timer(svc->throttle_timer);
    svc->throttle_timer = 0;
    svc->throttled = 0;
    memset(svc->deaths, 0, sizeof svc->deaths);
}

struct service *service_create(const struct mastercf_entry *e, char **err, int bind_wait_ms)
{
    if (e->type != SVC_INET && e->type != SVC_UNIX) {
        *err = xasprintf("master.cf:%d: service %s: type %s is not supported",
                         e->line, e->service, service_type_name(e->type));
        return NULL;
    }
    if (!e->command || !daemon_command_valid(e->command)) {
        *err = xasprintf("master.cf:%d: service %s: command must be a plain name or an "
                         "absolute path: \"%s\"", e->line, e->service, e->command ? e->command : "");
        return NULL;
    }
    struct service *svc = xcalloc(1, sizeof *svc);
    svc->name = xstrdup(e->service);
    svc->type = e->type;
    svc->status_rd = svc->status_wr = -1;
    service_set_entry(svc, e);          /* listen_unix needs private_ */
    int rc = e->type == SVC_INET ? listen_inet(svc, bind_wait_ms, err) : listen_unix(svc, err);
    if (rc != 0) {
        char *inner = *err;
        *err = xasprintf("master.cf:%d: service %s: %s", e->line, e->service, inner);
        free(inner);
        service_destroy(svc);
        return NULL;
    }
    if (service_open_status_pipe(svc) != 0) {
        *err = xasprintf("service %s: cannot create status pipe: %s", e->service, strerror(errno));
        service_destroy(svc);
        return NULL;
    }
    if (master_verbose)
        for (int i = 0; i < svc->nlisteners; i++)
            msg_debug("service %s: listening on %s", svc->name, svc->listeners[i].desc);
    return svc;
}

void service_close_listeners(struct service *svc)
{
    for (int i = 0; i < svc->nlisteners; i++)
        if (svc->listeners[i].fd >= 0) {
            close(svc->listeners[i].fd);
            svc->listeners[i].fd = -1;
        }
}

void service_destroy(struct service *svc)
{
    spawn_retire(svc);
    service_close_listeners(svc);
    service_close_status_pipe(svc);
    if (svc->unix_path)
        unlink(svc->unix_path);
    if (svc->wakeup_timer)
        event_cancel_timer(svc->wakeup_timer);
    if (svc->throttle_timer)
        event_cancel_timer(svc->throttle_timer);
    if (svc->retry_timer)
        event_cancel_timer(svc->retry_timer);
    for (int i = 0; i < svc->nlisteners; i++)
        free(svc->listeners[i].desc);
    free(svc->listeners);
    free(svc->unix_path);
    free(svc->name);
    free(svc->command);
    if (svc->args)
        strv_free(svc->args);
    free(svc);
}
