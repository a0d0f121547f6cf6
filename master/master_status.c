/* master_status.c: reading the status pipes. Children write struct server_status
 * {pid, avail, generation} records (one atomic write each); master updates the idle count
 * of the child's pool and forks another child when a pool has no idle one left.
 * Nothing read here is trusted: records for unknown pids, pids of another service or
 * odd avail values are ignored; a partial record is kept for the next read. */
#define _GNU_SOURCE 1
#include "master.h"
#include "events.h"
#include "log.h"
#include <errno.h>
#include <string.h>
#include <unistd.h>

#define STATUS_READ_RECORDS 64
#define STATUS_MAX_READS 16

static void status_record(struct service *svc, const struct server_status *st)
{
    struct child *c = st->pid > 0 ? spawn_find(st->pid) : NULL;
    if (!c || c->svc != svc || (st->avail != 0 && st->avail != 1)) {
        if (master_verbose)
            msg_debug("service %s: ignoring status for pid %d avail %d", svc->name, st->pid, st->avail);
        return;
    }
    if (st->avail == c->avail)
        return;
    struct listener *l = &svc->listeners[c->listener];
    c->avail = st->avail;
    if (c->avail) {
        l->navail++;
    } else {
        l->navail--;
        c->served = 1;
    }
}

static void status_readable(int fd, void *ctx)
{
    struct service *svc = ctx;
    unsigned char buf[STATUS_READ_RECORDS * sizeof(struct server_status)];
    const size_t rec = sizeof(struct server_status);

    for (int reads = 0; reads < STATUS_MAX_READS; reads++) {
        size_t have = svc->status_len;
        size_t room = sizeof buf - have;
        memcpy(buf, svc->status_buf, have);
        ssize_t n = read(fd, buf + have, room);
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR)
                msg_warn("service %s: status pipe read: %m", svc->name);
            break;
        }
        if (n == 0)
            break;
        have += (size_t)n;
        size_t off = 0;
        for (; have - off >= rec; off += rec) {
            struct server_status st;
            memcpy(&st, buf + off, rec);
            status_record(svc, &st);
        }
        svc->status_len = have - off;
        memcpy(svc->status_buf, buf + off, svc->status_len);
        if ((size_t)n < room)
            break;                      /* pipe drained */
    }
    spawn_adjust(svc);
}

void status_watch(struct service *svc)
{
    event_add_read(svc->status_rd, status_readable, svc);
}
