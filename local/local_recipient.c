/* local_recipient.c: decide where one recipient goes and deliver it.
 *   VIRTUAL class: $virtual_mailbox_maps (address, address without extension, @domain)
 *                  gives a path below $virtual_mailbox_base, owned by $virtual_uid_maps/
 *                  $virtual_gid_maps ids.
 *   LOCAL class:   $alias_maps first (local_alias.c), then a system user: $home_mailbox
 *                  under the home directory, or $mail_spool_directory/USER.
 *   anything else: should never reach local: deferred (defensive).
 * Every final delivery is logged and merged into the request recipient's outcome:
 * any deferral defers it, else any bounce bounces it, else it was sent. */
#include "local.h"
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "addr.h"
#include "config.h"
#include "dict.h"
#include "log.h"
#include "mem.h"
#include "privs.h"
#include "resolve.h"

static int severity(int status)
{
    return status == DELIVER_DEFER ? 2 : status == DELIVER_BOUNCE ? 1 : 0;
}

void local_leaf(struct local_expansion *x, const char *to, const struct deliver_result *r)
{
    const struct deliver_msg *m = x->msg;
    double start = x->start > m->request_time ? x->start : m->request_time;

    /* delays c/d: request arrival to this recipient's start, then its delivery */
    deliver_log_result(m, to, x->orig, "local", start - m->request_time,
                       deliver_now() - start, r);
    if (x->nleaves == 0 || severity(r->status) >= severity(x->outcome.status))
        deliver_result_copy(&x->outcome, r);
    x->nleaves++;
}

/* 1 if the final address was already delivered in this expansion; else remembers it. */
static int already_done(struct local_expansion *x, const char *addr)
{
    char *key = xstrdup(addr);

    lowercase(key);
    for (int i = 0; i < x->ndone; i++)
        if (strcmp(x->done[i], key) == 0) {
            free(key);
            return 1;
        }
    if (x->ndone == x->cap_done) {
        x->cap_done = x->cap_done ? 2 * x->cap_done : 8;
        x->done = xrealloc(x->done, (size_t) x->cap_done * sizeof(*x->done));
    }
    x->done[x->ndone++] = key;
    return 0;
}

int local_alias_seen(struct local_expansion *x, const char *key)
{
    for (int i = 0; i < x->nexpanded; i++)
        if (strcmp(x->expanded[i], key) == 0)
            return 1;
    if (x->nexpanded == x->cap_expanded) {
        x->cap_expanded = x->cap_expanded ? 2 * x->cap_expanded : 8;
        x->expanded = xrealloc(x->expanded, (size_t) x->cap_expanded * sizeof(*x->expanded));
    }
    x->expanded[x->nexpanded++] = xstrdup(key);
    return 0;
}

/* A relative path without "..", empty components or control bytes. */
static int safe_relative_path(const char *p)
{
    const char *c = p;

    if (*p == 0 || *p == '/' || strlen(p) > 1024)
        return 0;
    for (; *c; c++)
        if ((unsigned char) *c < 0x20 || *c == 0x7f)
            return 0;
    for (c = p; *c;) {
        size_t n = strcspn(c, "/");
        if (n == 2 && c[0] == '.' && c[1] == '.')
            return 0;
        c += n;
        while (*c == '/')
            c++;
    }
    return 1;
}

/* Look up key variants in a list parameter: full address, without extension, @domain. */
static int lookup_variants(const char *param, const char *addr, str *value)
{
    char **specs = config_list(param);
    str lp, key;
    const char *dom = addr_domain(addr);
    char *stripped;
    int rc;

    str_init(&lp);
    str_init(&key);
    str_set(&key, addr);
    lowercase(key.data);
    rc = dict_lookup_list(specs, key.data, value);
    if (rc == 0 && dom) {
        addr_local(addr, &lp);
        if ((stripped = local_strip_extension(lp.data)) != NULL) {
            str_printf(&key, "%s@%s", stripped, dom);
            lowercase(key.data);
            free(stripped);
            rc = dict_lookup_list(specs, key.data, value);
        }
        if (rc == 0) {
            str_printf(&key, "@%s", dom);
            lowercase(key.data);
            rc = dict_lookup_list(specs, key.data, value);
        }
    }
    str_free(&lp);
    str_free(&key);
    strv_free(specs);
    return rc;
}

static int lookup_id(const char *param, const char *addr, long *id, struct deliver_result *r)
{
    str v;
    int rc;

    str_init(&v);
    rc = lookup_variants(param, addr, &v);
    if (rc < 0)
        deliver_result_set(r, DELIVER_DEFER, "4.3.0", "%s lookup error for %s", param, addr);
    else if (rc == 0)
        deliver_result_set(r, DELIVER_DEFER, "4.3.0", "no %s entry for %s", param, addr);
    else if (parse_long(trim(v.data), id) < 0 || *id < 0) {
        deliver_result_set(r, DELIVER_DEFER, "4.3.0", "bad %s value for %s", param, addr);
        rc = -1;
    }
    str_free(&v);
    return rc == 1 ? 0 : -1;
}

static void deliver_virtual(struct deliver_msg *m, const char *addr, struct deliver_result *r)
{
    const char *base = config_str("virtual_mailbox_base");
    long uid, gid;
    str val, path;
    int rc;

    str_init(&val);
    str_init(&path);
    rc = lookup_variants("virtual_mailbox_maps", addr, &val);
    if (rc < 0) {
        deliver_result_set(r, DELIVER_DEFER, "4.3.0", "virtual_mailbox_maps lookup error");
        goto out;
    }
    if (rc == 0) {
        deliver_result_set(r, DELIVER_BOUNCE, "5.1.1", "unknown user: \"%s\"", addr);
        goto out;
    }
    str_set(&path, trim(val.data));
    if (!safe_relative_path(path.data)) {
        msg_warn("%s: unsafe virtual mailbox path for %s", m->queue_id, addr);
        deliver_result_set(r, DELIVER_DEFER, "4.3.0", "unsafe virtual mailbox path for %s",
                           addr);
        goto out;
    }
    if (*base != '/') {
        deliver_result_set(r, DELIVER_DEFER, "4.3.0",
                           "virtual_mailbox_base is not an absolute path");
        goto out;
    }
    if (privs_is_root()) {
        long min_uid = config_int("virtual_minimum_uid");
        if (lookup_id("virtual_uid_maps", addr, &uid, r) < 0
            || lookup_id("virtual_gid_maps", addr, &gid, r) < 0)
            goto out;
        if (uid < min_uid) {
            deliver_result_set(r, DELIVER_DEFER, "4.3.0", "mail for %s would be delivered as "
                               "uid %ld, below virtual_minimum_uid %ld", addr, uid, min_uid);
            goto out;
        }
    } else {
        uid = (long) getuid();
        gid = (long) getgid();
    }
    if (local_become((uid_t) uid, (gid_t) gid, r) < 0)
        goto out;
    {
        /* create the directories leading to the mailbox (and, for Maildir, itself) */
        char *rel = xstrdup(path.data), *slash = strrchr(rel, '/');
        int mk = 0;
        if (slash && slash[1] != 0)
            *slash = 0;                       /* mbox: its directory */
        else if (!slash)
            rel[0] = 0;                       /* mbox directly in the base */
        if (*rel && !local_dir_exists(base, rel))
            mk = local_make_dirs(base, rel);
        if (mk < 0)
            deliver_result_errno(r, errno, "cannot create mailbox directory for %s", addr);
        free(rel);
        if (mk == 0) {
            str full;
            str_init(&full);
            str_printf(&full, "%s/%s", base, path.data);
            local_deliver_mailbox(m, addr, full.data, (uid_t) uid, (gid_t) gid, 0, r);
            str_free(&full);
        }
    }
    local_unbecome();
out:
    str_free(&val);
    str_free(&path);
}

/* A local part that may name an account (no path characters, bounded). */
static int plausible_user(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > ADDR_LOCAL_MAX || *s == '.' || *s == '-')
        return 0;
    for (; *s; s++)
        if ((unsigned char) *s <= 0x20 || *s == '/' || *s == 0x7f)
            return 0;
    return 1;
}

static void deliver_user(struct deliver_msg *m, const char *addr, const char *localpart,
                         struct deliver_result *r)
{
    const char *home_mailbox = config_str("home_mailbox");
    struct passwd *pw = NULL;
    char *stripped = NULL;
    str path;

    if (plausible_user(localpart))
        pw = getpwnam(localpart);
    if (!pw && (stripped = local_strip_extension(localpart)) && plausible_user(stripped))
        pw = getpwnam(stripped);
    free(stripped);
    if (!pw) {
        deliver_result_set(r, DELIVER_BOUNCE, "5.1.1", "unknown user: \"%s\"", localpart);
        return;
    }
    if (!privs_is_root() && pw->pw_uid != getuid()) {
        deliver_result_set(r, DELIVER_DEFER, "4.3.0", "cannot deliver to user \"%s\": "
                           "postern is not running as root", pw->pw_name);
        return;
    }
    str_init(&path);
    if (*home_mailbox) {
        if (!safe_relative_path(home_mailbox) || pw->pw_dir[0] != '/') {
            deliver_result_set(r, DELIVER_DEFER, "4.3.0", "bad home_mailbox or home directory "
                               "for user \"%s\"", pw->pw_name);
        } else if (local_become(pw->pw_uid, pw->pw_gid, r) == 0) {
            str_printf(&path, "%s/%s", pw->pw_dir, home_mailbox);
            local_deliver_mailbox(m, addr, path.data, pw->pw_uid, pw->pw_gid, 0, r);
            local_unbecome();
        }
    } else {
        str_printf(&path, "%s/%s", config_str("mail_spool_directory"), pw->pw_name);
        local_deliver_mailbox(m, addr, path.data, pw->pw_uid, pw->pw_gid, 1, r);
    }
    str_free(&path);
}

void local_deliver_local(struct local_expansion *x, const char *addr, const char *self)
{
    struct deliver_result r;
    str lp, value;
    char *key = NULL, *spec = NULL;
    int rc = 0;

    deliver_result_init(&r);
    str_init(&lp);
    str_init(&value);
    addr_local(addr, &lp);
    lowercase(lp.data);
    if (!self || strcmp(self, lp.data) != 0) {
        rc = local_alias_lookup(lp.data, &value, &key, &spec);
        if (rc == 1 && self && strcmp(self, key) == 0)
            rc = 0;                          /* "a: a+ext" names the user a itself */
    }
    if (rc < 0) {
        deliver_result_set(&r, DELIVER_DEFER, "4.3.0", "alias database unavailable");
        local_leaf(x, addr, &r);
    } else if (rc == 1) {
        local_alias_expand(x, addr, key, value.data, spec);
    } else if (!already_done(x, addr)) {
        deliver_user(x->msg, addr, lp.data, &r);
        local_leaf(x, addr, &r);
    }
    free(key);
    free(spec);
    str_free(&lp);
    str_free(&value);
    deliver_result_free(&r);
}

void local_deliver_rcpt(struct deliver_msg *m, struct deliver_rcpt *rc)
{
    struct deliver_result *r = &rc->result;
    struct local_expansion x;
    struct resolved res;

    memset(&x, 0, sizeof(x));
    x.msg = m;
    x.orig = rc->orig;
    x.start = deliver_now();
    deliver_result_init(&x.outcome);
    if (strlen(rc->address) > LOCAL_ADDR_MAX) {
        deliver_result_set(r, DELIVER_BOUNCE, "5.1.3", "recipient address too long");
        local_leaf(&x, rc->address, r);
        deliver_result_copy(r, &x.outcome);
        deliver_result_free(&x.outcome);
        return;
    }
    resolve_addr(rc->address, &res);
    if (res.cls == ADDR_CLASS_LOCAL) {
        local_deliver_local(&x, rc->address, NULL);
    } else if (res.cls == ADDR_CLASS_VIRTUAL) {
        struct deliver_result vr;
        deliver_result_init(&vr);
        deliver_virtual(m, rc->address, &vr);
        local_leaf(&x, rc->address, &vr);
        deliver_result_free(&vr);
    } else {
        struct deliver_result nr;
        deliver_result_init(&nr);
        deliver_result_set(&nr, DELIVER_DEFER, "4.3.0",
                           "local delivery agent got a non-local recipient");
        local_leaf(&x, rc->address, &nr);
        deliver_result_free(&nr);
    }
    if (x.nleaves == 0)                     /* every target was a duplicate */
        deliver_result_set(&x.outcome, DELIVER_SENT, "2.0.0", "delivered");
    deliver_result_copy(r, &x.outcome);
    for (int i = 0; i < x.ndone; i++)
        free(x.done[i]);
    free(x.done);
    for (int i = 0; i < x.nexpanded; i++)
        free(x.expanded[i]);
    free(x.expanded);
    deliver_result_free(&x.outcome);
}
