/* deliver_request.c: read and verify qmgr's delivery request against the queue file
 * (see deliver_request.h; docs/PROTOCOLS.md section 3). */
#include "deliver_request.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "config.h"
#include "log.h"
#include "mem.h"
#include "queue.h"

#define RCPT_INDEX_DIGITS 6

/* "rcpt_N" kind 0, "rcpt_N_orig" 1, "rcpt_N_offset" 2 (N into *idx); -1 otherwise. */
static int rcpt_attr_kind(const char *name, long *idx)
{
    const char *p = name + 5, *start = p;
    long v = 0;

    if (strncmp(name, "rcpt_", 5) != 0)
        return -1;
    while (*p >= '0' && *p <= '9' && p - start < RCPT_INDEX_DIGITS)
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

/* Every attribute must be one we know, NUL-free, and name a recipient below count. */
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

/* Printable, bounded nexthop without spaces. */
static int nexthop_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n >= DELIVER_NEXTHOP_MAX)
        return 0;
    for (; *s; s++)
        if ((unsigned char) *s <= 0x20 || (unsigned char) *s >= 0x7f)
            return 0;
    return 1;
}

static size_t content_line_bound(void)
{
    long limit = config_size("message_size_limit");

    if (limit <= 0 || limit > (1L << 30))
        return (size_t) 1 << 30;
    return (size_t) limit + 4096;
}

/* The optional active_time: 0 (absent or *out set), -1 malformed. */
static int parse_active_time(const attr_list *req, double *out, int *given)
{
    const char *v = attr_get(req, "active_time");
    char *end;
    double t;

    *given = 0;
    if (!v)
        return 0;
    errno = 0;
    t = strtod(v, &end);
    if (end == v || *end || errno || !(t >= 0 && t < 1e11))
        return -1;
    *out = t;
    *given = 1;
    return 0;
}

/* Open and read the queue file; -1 with fail set when it cannot be used. */
static int open_queue_file(struct deliver_msg *m, int active_given, struct deliver_result *fail)
{
    char path[4096], errbuf[256];
    struct stat st;
    int rc;

    queue_path(path, sizeof(path), config_str("queue_directory"), "active", m->queue_id);
    m->fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (m->fd < 0) {
        deliver_result_errno(fail, errno, "cannot open queue file %s", m->queue_id);
        return -1;
    }
    if (fstat(m->fd, &st) < 0 || !S_ISREG(st.st_mode) || !queue_file_ready(&st)) {
        deliver_result_set(fail, DELIVER_DEFER, "4.3.0", "queue file %s is not a complete "
                           "regular file", m->queue_id);
        return -1;
    }
    if (!active_given)                  /* qmgr moved it to active/: rename sets ctime */
        m->active_time = (double) st.st_ctim.tv_sec + st.st_ctim.tv_nsec / 1e9;
    errbuf[0] = 0;
    rc = qfile_read_env(m->fd, &m->env, errbuf);
    if (rc == -1) {
        deliver_result_errno(fail, errno, "error reading queue file %s", m->queue_id);
        return -1;
    }
    if (rc < 0) {
        msg_warn("%s: corrupt queue file: %s", m->queue_id, errbuf);
        deliver_result_set(fail, DELIVER_DEFER, "4.3.0", "corrupt queue file: %s", errbuf);
        return -1;
    }
    if (!m->env.complete) {
        deliver_result_set(fail, DELIVER_DEFER, "4.3.0", "queue file %s is incomplete",
                           m->queue_id);
        return -1;
    }
    m->arrival = (double) m->env.arrival_sec + m->env.arrival_usec / 1e6;
    return 0;
}

/* Match request recipients with open R records of the queue file, each used once. */
static void verify_recipients(struct deliver_msg *m, const attr_list *req,
                              struct deliver_rcpt *rcpts, int n)
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

/* The fixed attributes; 0 or -1 with why set. */
static int check_fixed(const attr_list *req, struct deliver_msg *m, const char **sender,
                       int *active_given, str *why)
{
    const char *qname, *qid, *arrival, *nexthop;
    long arr;

    if (!(qname = need(req, "queue_name", why)) || !(qid = need(req, "queue_id", why))
        || !(*sender = need(req, "sender", why)) || !(nexthop = need(req, "nexthop", why))
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
    m->request_time = deliver_now();
    m->active_time = m->request_time;
    if (parse_active_time(req, &m->active_time, active_given) < 0) {
        str_printf(why, "bad active_time");
        return -1;
    }
    snprintf(m->queue_id, sizeof(m->queue_id), "%s", qid);
    snprintf(m->nexthop, sizeof(m->nexthop), "%s", nexthop);
    m->arrival = (double) arr;
    m->line_max = content_line_bound();
    return 0;
}

int deliver_request_load(const attr_list *req, int max_rcpts, struct deliver_msg *m,
                         struct deliver_rcpt **rcpts_out, int *nrcpt, str *why,
                         struct deliver_result *fail)
{
    const char *sender;
    struct deliver_rcpt *rcpts;
    int active_given;
    long count;
    char name[64];

    memset(m, 0, sizeof(*m));
    m->fd = -1;
    *rcpts_out = NULL;
    *nrcpt = 0;
    if (attr_get_long(req, "rcpt_count", &count) < 0 || count < 1 || count > max_rcpts) {
        str_printf(why, "missing or bad rcpt_count (1..%d)", max_rcpts);
        return -1;
    }
    if (check_names(req, count, why) < 0
        || check_fixed(req, m, &sender, &active_given, why) < 0)
        return -1;
    for (long i = 0; i < count; i++) {
        snprintf(name, sizeof(name), "rcpt_%ld", i);
        if (!need(req, name, why))
            return -1;
        snprintf(name, sizeof(name), "rcpt_%ld_offset", i);
        if (!need(req, name, why))
            return -1;
    }
    rcpts = xcalloc((size_t) count, sizeof(*rcpts));
    for (long i = 0; i < count; i++) {
        snprintf(name, sizeof(name), "rcpt_%ld", i);
        rcpts[i].address = rcpts[i].orig = attr_get(req, name);
        deliver_result_init(&rcpts[i].result);
    }
    *rcpts_out = rcpts;
    *nrcpt = (int) count;
    if (open_queue_file(m, active_given, fail) < 0)
        return -2;
    if (strcmp(m->env.sender, sender) != 0) {
        msg_warn("%s: request sender does not match the queue file", m->queue_id);
        deliver_result_set(fail, DELIVER_DEFER, "4.3.0",
                           "delivery request does not match the queue file");
        return -2;
    }
    verify_recipients(m, req, rcpts, (int) count);
    return 0;
}

void deliver_msg_free(struct deliver_msg *m)
{
    if (m->fd >= 0)
        close(m->fd);
    m->fd = -1;
    qfile_env_free(&m->env);
}

void deliver_rcpts_free(struct deliver_rcpt *rcpts, int n)
{
    for (int i = 0; i < n; i++)
        deliver_result_free(&rcpts[i].result);
    free(rcpts);
}
