/* smtp_request.c: turn qmgr's delivery request (docs/PROTOCOLS.md section 3) into a
 * verified message + recipient list. Nothing in the request is trusted: the attribute set
 * is checked exactly, the queue ID is validated before it names a path, and every
 * recipient offset must point at an open R record holding that very address.
 * (local/local_request.c does the same for local; the two should move into one lib/
 * module once local/ can be edited.) */
#include "smtp.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "attr.h"
#include "../lib/config.h"  /* not "config.h": -I. (build dir) holds autoconf's config.h */
#include "log.h"
#include "mem.h"
#include "queue.h"

/* "rcpt_N" kind 0, "rcpt_N_orig" 1, "rcpt_N_offset" 2 (index into *idx); -1 otherwise. */
static int rcpt_attr_kind(const char *name, long *idx)
{
    const char *p = name + 5, *start = p;
    long v = 0;

    if (strncmp(name, "rcpt_", 5) != 0)
        return -1;
    while (*p >= '0' && *p <= '9' && p - start < 6)
        v = v * 10 + (*p++ - '0');
    if (p == start || (*start == '0' && p - start > 1) || (*p >= '0' && *p <= '9'))
        return -1;
    *idx = v;
    if (*p == 0)
        return 0;
    if (strcmp(p, "_orig") == 0)
        return 1;
    if (strcmp(p, "_offset") == 0)
        return 2;
    return -1;
}

static int check_names(const attr_list *req, long count, str *why)
{
    static const char *const fixed[] = { "queue_name", "queue_id", "sender", "nexthop",
                                         "arrival", "active_time", "rcpt_count", NULL };

    for (int i = 0; i < req->count; i++) {
        const char *name = req->items[i].name;
        int known = 0;
        long idx;

        if (req->items[i].vlen != strlen(req->items[i].value)) {
            str_printf(why, "attribute %.64s contains a NUL byte", name);
            return -1;
        }
        for (int f = 0; fixed[f]; f++)
            known |= strcmp(name, fixed[f]) == 0;
        if (known)
            continue;
        if (rcpt_attr_kind(name, &idx) < 0) {
            str_printf(why, "unexpected attribute \"%.64s\"", name);
            return -1;
        }
        if (idx >= count) {
            str_printf(why, "attribute %.64s beyond rcpt_count %ld", name, count);
            return -1;
        }
    }
    return 0;
}

static const char *need(const attr_list *req, const char *name, str *why)
{
    const char *v = attr_get(req, name);

    if (!v)
        str_printf(why, "missing attribute %s", name);
    return v;
}

static int open_queue_file(struct smtp_msg *m, struct smtp_result *fail)
{
    char path[4096], errbuf[256];
    struct stat st;
    int rc;

    queue_path(path, sizeof(path), config_str("queue_directory"), "active", m->queue_id);
    m->fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (m->fd < 0) {
        smtp_result_set(fail, SMTP_DEFER, "4.3.0", "cannot open queue file %s: %s",
                        m->queue_id, strerror(errno));
        return -1;
    }
    if (fstat(m->fd, &st) < 0 || !S_ISREG(st.st_mode) || !queue_file_ready(&st)) {
        smtp_result_set(fail, SMTP_DEFER, "4.3.0", "queue file %s is not a complete "
                        "regular file", m->queue_id);
        return -1;
    }
    if (!m->active_given)               /* qmgr moved it to active/: rename sets ctime */
        m->active_time = (double) st.st_ctim.tv_sec + st.st_ctim.tv_nsec / 1e9;
    errbuf[0] = 0;
    rc = qfile_read_env(m->fd, &m->env, errbuf);
    if (rc == -1) {
        smtp_result_set(fail, SMTP_DEFER, "4.3.0", "error reading queue file %s: %s",
                        m->queue_id, strerror(errno));
        return -1;
    }
    if (rc < 0 || !m->env.complete) {
        msg_warn("%s: corrupt queue file: %s", m->queue_id, errbuf);
        smtp_result_set(fail, SMTP_DEFER, "4.3.0", "corrupt queue file: %s", errbuf);
        return -1;
    }
    m->arrival = (double) m->env.arrival_sec + m->env.arrival_usec / 1e6;
    return 0;
}

static void verify_recipients(struct smtp_msg *m, const attr_list *req,
                              struct smtp_rcpt *rcpts, int n)
{
    char *used = xcalloc((size_t) m->env.rcpt_count + 1, 1);
    char name[64];

    for (int i = 0; i < n; i++) {
        long off;
        snprintf(name, sizeof(name), "rcpt_%d_offset", i);
        if (attr_get_long(req, name, &off) < 0 || off < 0) {
            msg_warn("%s: bad %s in request", m->queue_id, name);
            continue;
        }
        for (int j = 0; j < m->env.rcpt_count; j++) {
            struct qfile_rcpt *q = &m->env.rcpts[j];
            if (q->offset != (off_t) off)
                continue;
            if (!used[j] && !q->done && strcmp(q->address, rcpts[i].address) == 0) {
                used[j] = 1;
                rcpts[i].address = q->address;
                rcpts[i].orig = q->orig && *q->orig ? q->orig : q->address;
                rcpts[i].valid = 1;
            }
            break;
        }
        if (!rcpts[i].valid)
            msg_warn("%s: request recipient %d does not match an open recipient record "
                     "at offset %ld", m->queue_id, i, off);
    }
    free(used);
}

/* Printable, bounded nexthop without spaces. */
static int nexthop_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n >= 300)
        return 0;
    for (; *s; s++)
        if ((unsigned char) *s <= 0x20 || (unsigned char) *s >= 0x7f)
            return 0;
    return 1;
}

int smtp_request_load(const attr_list *req, struct smtp_msg *m, struct smtp_rcpt **rcpts_out,
                      int *nrcpt, str *why, struct smtp_result *fail)
{
    const char *qname, *qid, *sender, *arrival, *nexthop, *active;
    struct smtp_rcpt *rcpts;
    long count, arr;
    char name[64];

    memset(m, 0, sizeof(*m));
    m->fd = -1;
    *rcpts_out = NULL;
    *nrcpt = 0;
    if (attr_get_long(req, "rcpt_count", &count) < 0 || count < 1 || count > SMTP_MAX_RCPTS) {
        str_printf(why, "missing or bad rcpt_count (1..%d)", SMTP_MAX_RCPTS);
        return -1;
    }
    if (check_names(req, count, why) < 0
        || !(qname = need(req, "queue_name", why)) || !(qid = need(req, "queue_id", why))
        || !(sender = need(req, "sender", why)) || !(nexthop = need(req, "nexthop", why))
        || !(arrival = need(req, "arrival", why)))
        return -1;
    if (strcmp(qname, "active") != 0) {
        str_printf(why, "bad queue_name \"%.32s\"", qname);
        return -1;
    }
    if (strlen(qid) >= sizeof(m->queue_id) || !queue_id_valid(qid)) {
        str_printf(why, "bad queue_id");
        return -1;
    }
    if (parse_long(arrival, &arr) < 0 || arr < 0) {
        str_printf(why, "bad arrival");
        return -1;
    }
    if (!nexthop_ok(nexthop)) {
        str_printf(why, "bad nexthop");
        return -1;
    }
    m->request_time = smtp_now();
    m->active_time = m->request_time;
    if ((active = attr_get(req, "active_time")) != NULL) {
        char *end;
        double t = strtod(active, &end);
        if (end == active || *end || !(t >= 0 && t < 1e11)) {
            str_printf(why, "bad active_time");
            return -1;
        }
        m->active_time = t;
        m->active_given = 1;
    }
    rcpts = xcalloc((size_t) count, sizeof(*rcpts));
    for (long i = 0; i < count; i++) {
        snprintf(name, sizeof(name), "rcpt_%ld", i);
        rcpts[i].address = need(req, name, why);
        snprintf(name, sizeof(name), "rcpt_%ld_offset", i);
        if (!rcpts[i].address || !need(req, name, why)) {
            free(rcpts);
            return -1;
        }
        rcpts[i].orig = rcpts[i].address;
    }
    snprintf(m->queue_id, sizeof(m->queue_id), "%s", qid);
    snprintf(m->nexthop, sizeof(m->nexthop), "%s", nexthop);
    m->arrival = (double) arr;
    m->line_max = (size_t) 1 << 30;
    *rcpts_out = rcpts;
    *nrcpt = (int) count;
    if (open_queue_file(m, fail) < 0)
        return -2;
    if (strcmp(m->env.sender, sender) != 0) {
        msg_warn("%s: request sender does not match the queue file", m->queue_id);
        smtp_result_set(fail, SMTP_DEFER, "4.3.0",
                        "delivery request does not match the queue file");
        return -2;
    }
    {
        long limit = config_size("message_size_limit");
        if (limit > 0 && limit < (1L << 30))
            m->line_max = (size_t) limit + 4096;
    }
    verify_recipients(m, req, rcpts, (int) count);
    return 0;
}

void smtp_msg_free(struct smtp_msg *m)
{
    if (m->fd >= 0)
        close(m->fd);
    m->fd = -1;
    qfile_env_free(&m->env);
}
