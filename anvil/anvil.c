/* anvil.c: the anvil service (one process, its own event loop, like qmgr): smtpd
 * processes connect to private/anvil, report connections, messages, recipients and abuse
 * events per client address (messages and recipients also per authenticated user), and
 * get the counts back to enforce their limits. Bans
 * (smtpd_ban_threshold events within smtpd_ban_window) are kept in $anvil_ban_state_file
 * so they survive a reload or restart. Protocol: anvil.h. Every request is validated;
 * a bad one gets status=1 and the connection is closed. */
#define _GNU_SOURCE 1                  /* accept4 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "anvil.h"
#include "attr.h"
#include "../lib/config.h"
#include "events.h"
#include "log.h"
#include "mem.h"
#include "server.h"

#define MAX_CLIENTS 1024
#define CLIENT_BUF_MAX (64 * 1024)     /* unanswered request bytes per connection */
#define WRITE_WAIT_MS 1000

struct client {
    int fd;
    str in;
    char ident[ANVIL_ADDR_MAX];        /* address of the connection reported, "" = none */
};

static int nclients;
static int ban_fd = -1;
static struct anvil_ban_list bans;
static long ban_threshold, ban_time;

static void anvil_pre_init(void)
{
    ban_fd = anvil_banfile_open(config_str("anvil_ban_state_file"));
}

static void anvil_post_init(void)
{
    long rate_unit = config_time("anvil_rate_time_unit");
    long ban_window = config_time("smtpd_ban_window");
    int bad = 0;

    ban_threshold = config_int("smtpd_ban_threshold");
    ban_time = config_time("smtpd_ban_time");
    anvil_table_init(rate_unit, ban_window);
    if (ban_fd >= 0 && anvil_banfile_lock(ban_fd, F_RDLCK) == 0) {
        anvil_banfile_read(ban_fd, &bans, (long long) time(NULL), &bad);
        anvil_banfile_lock(ban_fd, F_UNLCK);
        if (bad)
            msg_warn("ban state file: %d malformed line(s) ignored", bad);
        if (bans.count)
            msg_info("%d client ban(s) loaded", bans.count);
    }
}

/* Re-read the file (postern ban may have edited it), apply `change`, write it back. */
static void bans_update(const char *add_addr, const char *reason, const char *remove_addr,
                        int *removed)
{
    long long now = (long long) time(NULL);

    if (ban_fd >= 0 && anvil_banfile_lock(ban_fd, F_WRLCK) == 0) {
        anvil_banfile_read(ban_fd, &bans, now, NULL);
    } else if (ban_fd >= 0) {
        msg_warn("ban state file busy: change kept in memory only");
    }
    if (add_addr)
        anvil_ban_add(&bans, add_addr, now + ban_time, reason);
    if (remove_addr) {
        int i = anvil_ban_find(&bans, remove_addr);
        *removed = i >= 0;
        anvil_ban_remove(&bans, i);
    }
    if (ban_fd >= 0) {
        anvil_banfile_write(ban_fd, &bans);
        anvil_banfile_lock(ban_fd, F_UNLCK);
    }
}

/* The ban of addr still in force, or NULL. */
static const struct anvil_ban *ban_of(const char *addr)
{
    int i = anvil_ban_find(&bans, addr);
    if (i < 0)
        return NULL;
    if (bans.items[i].expires <= (long long) time(NULL)) {
        anvil_ban_remove(&bans, i);            /* dropped from the file at the next write */
        return NULL;
    }
    return &bans.items[i];
}

static void client_close(struct client *c)
{
    event_del_read(c->fd);
    if (c->ident[0])
        anvil_table_disconnect(c->ident);
    close(c->fd);
    str_free(&c->in);
    free(c);
    nclients--;
}

/* Write the whole list with a bounded wait; 0 or -1. */
static int send_list(int fd, const attr_list *l)
{
    str out;
    size_t off = 0;
    int rc = 0;

    str_init(&out);
    attr_encode(l, &out);
    while (off < out.len) {
        ssize_t n = write(fd, out.data + off, out.len - off);
        if (n > 0) {
            off += (size_t) n;
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            struct pollfd p = { .fd = fd, .events = POLLOUT };
            if (poll(&p, 1, WRITE_WAIT_MS) <= 0) {
                rc = -1;
                break;
            }
        } else {
            rc = -1;
            break;
        }
    }
    str_free(&out);
    return rc;
}

/* Handle one request; fills `reply`. -1: protocol error (reply says why). */
static int handle(struct client *c, const attr_list *req, attr_list *reply)
{
    const char *request = attr_get(req, "request");
    const char *ident = attr_get(req, "ident");
    const char *reason = attr_get(req, "reason");
    int allowed = req->count == 2 || (req->count == 3 && reason != NULL);
    int per_user = request != NULL && strncmp(request, "user_", 5) == 0;

    if (request == NULL || ident == NULL || !allowed
        || !(per_user ? anvil_user_ok(ident) : anvil_addr_ok(ident))
        || (reason != NULL && strcmp(request, "abuse") != 0)) {
        attr_add(reply, "status", "1");
        attr_add(reply, "reason", "malformed request");
        return -1;
    }
    attr_add(reply, "status", "0");
    if (strcmp(request, "connect") == 0) {
        struct anvil_counts n;
        const struct anvil_ban *b;
        if (c->ident[0])
            anvil_table_disconnect(c->ident);  /* one connection per anvil client */
        snprintf(c->ident, sizeof(c->ident), "%s", ident);
        anvil_table_connect(ident, &n);
        attr_add_long(reply, "count", n.count);
        attr_add_long(reply, "rate", n.rate);
        b = ban_of(ident);
        attr_add(reply, "banned", b ? "1" : "0");
        if (b)
            attr_add(reply, "reason", b->reason);
    } else if (strcmp(request, "disconnect") == 0) {
        if (c->ident[0] && strcmp(c->ident, ident) == 0) {
            anvil_table_disconnect(ident);
            c->ident[0] = 0;
        }
    } else if (strcmp(request, "message") == 0) {
        attr_add_long(reply, "rate", anvil_table_message(ident));
    } else if (strcmp(request, "recipient") == 0) {
        attr_add_long(reply, "rate", anvil_table_recipient(ident));
    } else if (strcmp(request, "user_message") == 0) {
        attr_add_long(reply, "rate", anvil_table_user_message(ident));
    } else if (strcmp(request, "user_recipient") == 0) {
        attr_add_long(reply, "rate", anvil_table_user_recipient(ident));
    } else if (strcmp(request, "abuse") == 0) {
        int events = anvil_table_abuse(ident);
        int banned = ban_threshold > 0 && events >= ban_threshold;
        attr_add_long(reply, "events", events);
        attr_add(reply, "banned", banned ? "1" : "0");
        if (banned) {
            str why;
            str_init(&why);
            str_printf(&why, "%d abuse events, last: %.60s", events, reason ? reason : "");
            msg_info("ban %s for %lds: %s", ident, ban_time, why.data);
            bans_update(ident, why.data, NULL, NULL);
            anvil_table_forget_abuse(ident);
            str_free(&why);
        }
    } else if (strcmp(request, "ban_remove") == 0) {
        int removed = 0;
        bans_update(NULL, NULL, ident, &removed);
        if (removed)
            msg_info("ban of %s removed", ident);
        attr_add(reply, "removed", removed ? "1" : "0");
    } else {
        attr_clear(reply);
        attr_add(reply, "status", "1");
        attr_add(reply, "reason", "unknown request");
        return -1;
    }
    return 0;
}

static void client_readable(int fd, void *ctx)
{
    struct client *c = ctx;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof(buf));
    attr_list req, reply;
    const char *err = NULL;
    long used;
    int bad = 0;

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        client_close(c);
        return;
    }
    str_append(&c->in, buf, (size_t) n);
    attr_init(&req);
    attr_init(&reply);
    for (int k = 0; k < 64 && !bad; k++) {          /* bounded per wake-up */
        used = attr_decode(c->in.data, c->in.len, &req, &err);
        if (used == 0)
            break;
        attr_clear(&reply);
        if (used < 0) {
            msg_warn("anvil client: malformed request: %s", err ? err : "?");
            attr_add(&reply, "status", "1");
            attr_add(&reply, "reason", "malformed request");
            bad = 1;
        } else {
            memmove(c->in.data, c->in.data + used, c->in.len - (size_t) used);
            str_truncate(&c->in, c->in.len - (size_t) used);
            if (handle(c, &req, &reply) < 0) {
                msg_warn("anvil client: bad request \"%.20s\"",
                         attr_get(&req, "request") ? attr_get(&req, "request") : "");
                bad = 1;
            }
            attr_clear(&req);
        }
        if (send_list(fd, &reply) < 0)
            bad = 1;
    }
    attr_free(&req);
    attr_free(&reply);
    if (!bad && c->in.len > CLIENT_BUF_MAX) {
        msg_warn("anvil client: request too long");
        bad = 1;
    }
    if (bad)
        client_close(c);
}

static void accept_clients(int listen_fd, void *ctx)
{
    (void) ctx;
    for (int i = 0; i < 16; i++) {                  /* bounded per loop iteration */
        if (server_master_gone())                   /* leave new clients to the new anvil */
            return;
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        attr_list hello;
        struct client *c;

        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR
                && errno != ECONNABORTED)
                msg_warn("accept: %s", strerror(errno));
            return;
        }
        if (nclients >= MAX_CLIENTS) {
            msg_warn("too many anvil clients (%d): connection refused", nclients);
            close(fd);
            continue;
        }
        attr_init(&hello);
        attr_add(&hello, "protocol", "anvil");
        if (send_list(fd, &hello) < 0) {
            attr_free(&hello);
            close(fd);
            continue;
        }
        attr_free(&hello);
        c = xcalloc(1, sizeof(*c));
        c->fd = fd;
        str_init(&c->in);
        nclients++;
        event_add_read(fd, client_readable, c);
    }
}

static void anvil_loop(int listen_fd)
{
    int fl = fcntl(listen_fd, F_GETFL);

    if (fl >= 0)
        fcntl(listen_fd, F_SETFL, fl | O_NONBLOCK);
    event_add_read(listen_fd, accept_clients, NULL);
    while (!server_master_gone())
        event_loop_once(1000);                  /* notice server_master_gone() promptly */
    anvil_ban_free(&bans);
}

int main(int argc, char **argv)
{
    static const struct server_ops ops = {
        .name = "anvil",
        .pre_init = anvil_pre_init,
        .post_init = anvil_post_init,
        .service = NULL,
        .loop = anvil_loop,
    };

    server_main(argc, argv, &ops);
}
