/* qmgr_special.c: recipients that resolve_addr() routes to a transport without a process
 * (Postfix has small agents for these; here they are decided at activation time):
 *   error:[x.y.z ]text    bounce with that status and text (default 5.0.0)
 *   discard:[text]        drop silently: logged as sent ("dsn=2.0.0, status=sent (text)")
 *   retry:[x.y.z ]text    defer (e.g. a transport_maps lookup failure; default 4.3.0)
 * The outcome is logged with relay=none like every qmgr-decided line (qmgr_log.c), done
 * recipients are marked in the queue file and bounced ones go to bounce_add(). The text
 * comes from our own configuration but is still bounded and made printable when logged. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "qmgr_special.h"

/* Length of a "c.sss.ddd" status code at the start of s (class c given), else 0. */
static size_t dsn_len(const char *s, char cls)
{
    size_t i = 0, n;

    if (s[0] != cls || s[1] != '.')
        return 0;
    i = 2;
    for (int part = 0; part < 2; part++) {
        for (n = 0; s[i] >= '0' && s[i] <= '9'; i++)
            n++;
        if (n < 1 || n > 3)
            return 0;
        if (part == 0 && s[i++] != '.')
            return 0;
    }
    return s[i] == ' ' || s[i] == 0 ? i : 0;
}

/* Split "x.y.z text" into a DSN of class `want` ('4' or '5') and the text. */
static void split_dsn(const char *in, char want, const char *dflt, char *dsn, size_t dsnlen,
                      const char **text)
{
    size_t n = dsn_len(in, want);

    snprintf(dsn, dsnlen, "%s", dflt);
    *text = in;
    if (n > 0 && n < dsnlen) {
        memcpy(dsn, in, n);
        dsn[n] = 0;
        *text = in[n] ? in + n + 1 : "";
    }
    if (!**text)
        *text = want == '5' ? "mail is undeliverable" : "delivery temporarily suspended";
}

static void mark_done(struct qmgr_message *m, int ri)
{
    char path[4096];
    int fd;

    m->rcpt_state[ri] = RCPT_DONE;
    queue_path(path, sizeof(path), qmgr_qdir, "active", m->id);
    fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || qfile_mark_done(fd, m->env.rcpts[ri].offset) < 0)
        msg_warn("%s: cannot mark recipient %d done (it may be handled again): %s", m->id, ri,
                 strerror(errno));
    if (fd >= 0)
        close(fd);
}

int qmgr_special_route(struct qmgr_message *m, int ri, const struct resolved *r)
{
    char dsn[16];
    const char *text;

    if (strcmp(r->transport, "error") == 0) {
        split_dsn(r->nexthop, '5', "5.0.0", dsn, sizeof(dsn), &text);
        qmgr_log_rcpt(m, ri, m->active_since_ms, dsn, "bounced", text);
        mark_done(m, ri);
        bounce_add(m->id, m->env.rcpts[ri].address, dsn, text);
        return 1;
    }
    if (strcmp(r->transport, "discard") == 0) {
        qmgr_log_rcpt(m, ri, m->active_since_ms, "2.0.0", "sent",
                      *r->nexthop ? r->nexthop : "discarded");
        mark_done(m, ri);
        return 1;
    }
    if (strcmp(r->transport, "retry") == 0) {
        split_dsn(r->nexthop, '4', "4.3.0", dsn, sizeof(dsn), &text);
        qmgr_log_rcpt(m, ri, m->active_since_ms, dsn, "deferred", text);
        qmgr_defer_log_add(m->id, m->env.rcpts[ri].address, dsn, text);
        if (m->rcpt_state[ri] != RCPT_DEFERRED) {
            m->rcpt_state[ri] = RCPT_DEFERRED;
            m->deferred_count++;
        }
        return 1;
    }
    return 0;
}
