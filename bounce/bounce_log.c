/* bounce_log.c: reads the per-message bounce log $queue_directory/bounce/ID that qmgr
 * appends to (qmgr/qmgr_bounce.c): one attribute list per failed recipient,
 *     recipient=<address>  dsn=<x.y.z>  reason=<text>  action=failed
 * and, for delay warnings, the defer log $queue_directory/defer/ID (qmgr_deferlog.c):
 *     recipient=<address>  dsn=<x.y.z>  reason=<text>
 * where lists without a recipient (qmgr's "warned=1" marker) are skipped and only
 * recipients not yet done in the queue file are reported (their Status forced to 4.x.x).
 * Nothing in it is trusted: the file must be a regular file of bounded size, every list
 * must have exactly these four attributes with a well-formed DSN of class 4 or 5, and
 * the recipient must be a recipient of the queue file (whose O record, if any, gives the
 * original recipient). Bad entries are logged and skipped, never fatal; a truncated last
 * entry (qmgr died while appending) is ignored. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attr.h"
#include "log.h"
#include "mem.h"
#include "queue.h"
#include "bounce.h"

void bounce_printable(str *out, const char *s, size_t max)
{
    str_reset(out);
    for (size_t i = 0; s[i] && out->len < max; i++) {
        unsigned char c = (unsigned char)s[i];
        str_putc(out, c >= 0x20 && c < 0x7f ? c : '?');
    }
}

/* x.y.z: class 4 or 5, then 1-3 digits, then 1-3 digits. */
static int dsn_ok(const char *d)
{
    if ((d[0] != '4' && d[0] != '5') || d[1] != '.')
        return 0;
    const char *p = d + 2;
    for (int part = 0; part < 2; part++) {
        int n = 0;
        while (*p >= '0' && *p <= '9' && n < 4)
            p++, n++;
        if (n < 1 || n > 3)
            return 0;
        if (part == 0 && *p++ != '.')
            return 0;
    }
    return *p == 0;
}

static int read_file(const char *path, str *buf, str *why)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        str_printf(why, "open %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > BOUNCE_LOG_MAX_BYTES) {
        str_printf(why, "%s: not a regular file or larger than %ld bytes", path,
                   BOUNCE_LOG_MAX_BYTES);
        close(fd);
        return -1;
    }
    char chunk[65536];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            str_printf(why, "read %s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        if (n == 0)
            break;
        if (buf->len + (size_t)n > (size_t)BOUNCE_LOG_MAX_BYTES) {
            str_printf(why, "%s: larger than %ld bytes", path, BOUNCE_LOG_MAX_BYTES);
            close(fd);
            return -1;
        }
        str_append(buf, chunk, (size_t)n);
    }
    close(fd);
    return 0;
}

static int find_rcpt(const struct qfile_env *env, const char *addr, size_t len)
{
    for (int i = 0; i < env->rcpt_count; i++)
        if (strlen(env->rcpts[i].address) == len && memcmp(env->rcpts[i].address, addr, len) == 0)
            return i;
    return -1;
}

/* Check one decoded entry; the recipient index or -1 (logged unless it is a marker or,
 * for a delay warning, a recipient that is done by now). */
static int entry_check(const char *id, const attr_list *l, const struct qfile_env *env,
                       enum bounce_kind kind)
{
    const struct attr *rcpt = attr_find(l, "recipient");
    const struct attr *dsn = attr_find(l, "dsn");
    const struct attr *reason = attr_find(l, "reason");
    const char *action = attr_get(l, "action");
    const char *bad = NULL;
    int ri = -1;
    if (kind == BOUNCE_DELAY && !rcpt)
        return -1;                          /* qmgr's warned=1 marker */
    if (kind == BOUNCE_FAILURE && (l->count != 4 || !rcpt || !dsn || !reason || !action))
        bad = "expected exactly recipient, dsn, reason and action";
    else if (kind == BOUNCE_DELAY && (l->count != 3 || !rcpt || !dsn || !reason))
        bad = "expected exactly recipient, dsn and reason";
    else if (kind == BOUNCE_FAILURE && strcmp(action, "failed") != 0)
        bad = "action is not \"failed\"";
    else if (strlen(dsn->value) != dsn->vlen || !dsn_ok(dsn->value))
        bad = "bad dsn";
    else if ((ri = find_rcpt(env, rcpt->value, rcpt->vlen)) < 0)
        bad = "not a recipient of the message";
    if (bad) {
        msg_warn("%s: %s log entry skipped: %s", id,
                 kind == BOUNCE_DELAY ? "defer" : "bounce", bad);
        return -1;
    }
    if (kind == BOUNCE_DELAY && env->rcpts[ri].done)
        return -1;                          /* delivered or bounced since */
    return ri;
}

int bounce_log_read(const char *qdir, const char *id, const struct qfile_env *env,
                    enum bounce_kind kind, struct bounce_list *out, str *why)
{
    char path[4096];
    const char *log = kind == BOUNCE_DELAY ? "defer" : "bounce";
    out->items = NULL;
    out->count = 0;
    if (!queue_path(path, sizeof(path), qdir, log, id)) {
        str_printf(why, "%s log path too long", log);
        return -1;
    }
    str buf, tmp;
    str_init(&buf);
    if (read_file(path, &buf, why) < 0) {
        str_free(&buf);
        return -1;
    }
    /* per queue-file recipient: index into out->items, or -1 */
    int *slot = xcalloc((size_t)env->rcpt_count, sizeof(int));
    for (int i = 0; i < env->rcpt_count; i++)
        slot[i] = -1;
    out->items = xcalloc((size_t)env->rcpt_count, sizeof(*out->items));
    str_init(&tmp);
    size_t pos = 0;
    int entries = 0;
    while (pos < buf.len && entries < 4 * BOUNCE_MAX_RCPTS) {
        attr_list l;
        attr_init(&l);
        const char *err = NULL;
        long used = attr_decode(buf.data + pos, buf.len - pos, &l, &err);
        if (used <= 0) {
            attr_free(&l);
            if (used < 0)
                msg_warn("%s: %s log %s: %s at offset %zu; rest ignored", id, log, path,
                         err ? err : "malformed", pos);
            else
                msg_warn("%s: %s log %s: incomplete last entry ignored", id, log, path);
            break;
        }
        pos += (size_t)used;
        entries++;
        int ri = entry_check(id, &l, env, kind);
        if (ri >= 0 && (slot[ri] >= 0 || out->count < BOUNCE_MAX_RCPTS)) {
            struct bounce_rcpt *r;
            if (slot[ri] >= 0) {            /* a later entry for the same address wins */
                r = &out->items[slot[ri]];
                free(r->reason);
            } else {
                slot[ri] = out->count++;
                r = &out->items[slot[ri]];
                bounce_printable(&tmp, env->rcpts[ri].address, 4096);
                r->address = xstrdup(tmp.data);
                if (env->rcpts[ri].orig) {
                    bounce_printable(&tmp, env->rcpts[ri].orig, 4096);
                    r->orig = xstrdup(tmp.data);
                }
            }
            snprintf(r->dsn, sizeof(r->dsn), "%s", attr_get(&l, "dsn"));
            if (kind == BOUNCE_DELAY)
                r->dsn[0] = '4';            /* still being retried: transient */
            bounce_printable(&tmp, attr_get(&l, "reason"), BOUNCE_REASON_MAX);
            r->reason = xstrdup(tmp.data);
        }
        attr_free(&l);
    }
    free(slot);
    str_free(&tmp);
    str_free(&buf);
    return 0;
}

void bounce_list_free(struct bounce_list *l)
{
    for (int i = 0; i < l->count; i++) {
        free(l->items[i].address);
        free(l->items[i].orig);
        free(l->items[i].reason);
    }
    free(l->items);
    l->items = NULL;
    l->count = 0;
}
