/* passwd.c: SMTP AUTH credential tables (see passwd.h): password verification with
 * crypt_r(3) from libxcrypt, and the edits `postern passwd` makes to a table's text
 * source followed by a rebuild through dict_build(). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/stat.h>
#include "passwd.h"
#include "readfile.h"
#include "dict.h"
#include "mem.h"

#define PASSWD_SOURCE_MAX (16 * 1024 * 1024)

/* A real hash of a fixed string, made once per process: verifying against it costs what
 * a real check costs, so an unknown user cannot be told from a wrong password by timing. */
static const char *dummy_hash(void)
{
    static char *dummy;
    char *err = NULL;

    if (dummy == NULL && (dummy = passwd_hash("no such user", NULL, &err)) == NULL) {
        free(err);
        dummy = xstrdup("*");
    }
    return dummy;
}

int passwd_user_ok(const char *user)
{
    size_t n = 0;

    for (; *user; user++) {
        unsigned char c = (unsigned char)*user;
        if (c <= ' ' || c >= 0x7f || c == ':' || ++n > PASSWD_USER_MAX)
            return 0;
    }
    return n > 0;
}

/* Compare without an early exit. */
static int same_string(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = la != lb;

    for (size_t i = 0; i < la && i < lb; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

int passwd_verify(char **maps, const char *user, const char *password, str *why)
{
    str stored;
    struct crypt_data *cd;
    const char *hash, *out;
    int found, rc;

    if (!passwd_user_ok(user) || strlen(password) > PASSWD_PASSWORD_MAX)
        return 0;
    str_init(&stored);
    found = dict_lookup_list(maps, user, &stored);
    if (found < 0) {
        str_set(why, "credential table lookup failed");
        str_free(&stored);
        return -1;
    }
    hash = found > 0 ? trim(stored.data) : dummy_hash();
    cd = xcalloc(1, sizeof(*cd));
    out = crypt_r(password, hash, cd);
    if (out == NULL || out[0] == '*') {
        if (found > 0) {
            str_printf(why, "unusable password hash for user %.64s", user);
            rc = -1;
        } else {
            rc = 0;
        }
    } else {
        rc = found > 0 && same_string(out, hash);
    }
    explicit_bzero(cd, sizeof(*cd));
    free(cd);
    str_free(&stored);
    return rc;
}

char *passwd_hash(const char *password, const char *method, char **err)
{
    const char *prefix;
    char *setting, *result = NULL;
    struct crypt_data *cd;

    *err = NULL;
    if (method == NULL || *method == 0 || strcasecmp(method, "yescrypt") == 0)
        prefix = "$y$";
    else if (strcasecmp(method, "sha512") == 0 || strcasecmp(method, "sha512crypt") == 0)
        prefix = "$6$";
    else {
        *err = xasprintf("unknown password hash method \"%s\" (yescrypt or sha512)", method);
        return NULL;
    }
    if (strlen(password) > PASSWD_PASSWORD_MAX) {
        *err = xasprintf("password longer than %d bytes", PASSWD_PASSWORD_MAX);
        return NULL;
    }
    setting = crypt_gensalt_ra(prefix, 0, NULL, 0);
    if (setting == NULL) {
        *err = xasprintf("crypt_gensalt: %s", strerror(errno));
        return NULL;
    }
    cd = xcalloc(1, sizeof(*cd));
    const char *out = crypt_r(password, setting, cd);
    if (out == NULL || out[0] == '*')
        *err = xasprintf("crypt: %s", strerror(errno ? errno : EINVAL));
    else
        result = xstrdup(out);
    explicit_bzero(cd, sizeof(*cd));
    free(cd);
    free(setting);
    return result;
}

/* ------------------------------------------------------------------ table edits */

/* "hash:/path" or "btree:/path" -> "/path" (the text source); NULL if another type. */
static const char *source_of(const char *spec)
{
    if (strncmp(spec, "hash:", 5) == 0)
        return spec + 5;
    if (strncmp(spec, "btree:", 6) == 0)
        return spec + 6;
    return NULL;
}

static int read_source(const char *path, str *s, char **err)
{
    str_reset(s);
    if (readfile(path, PASSWD_SOURCE_MAX, s, err) == 0)
        return 0;
    if (errno == ENOENT && strstr(*err, ": cannot open: ") != NULL) {
        free(*err);                    /* a new table */
        *err = NULL;
        str_reset(s);
        return 0;
    }
    return -1;
}

static int write_source(const char *path, const str *s, char **err)
{
    char *tmp = xasprintf("%s.%ld.tmp", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    int ok = fd >= 0;
    size_t off = 0;

    while (ok && off < s->len) {
        ssize_t n = write(fd, s->data + off, s->len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            ok = 0;
        else
            off += (size_t)n;
    }
    if (ok && (fchmod(fd, 0600) != 0 || fsync(fd) != 0))
        ok = 0;
    if (fd >= 0 && close(fd) != 0)
        ok = 0;
    if (ok && rename(tmp, path) != 0)
        ok = 0;
    if (!ok) {
        *err = xasprintf("%s: %s", path, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    return ok ? 0 : -1;
}

/* Copy `in` to `out` without the entry for `user` (its line and any continuation
 * lines); returns how many entries were dropped. */
static int drop_user(const str *in, const char *user, str *out)
{
    const char *p = in->data, *end = in->data + in->len;
    size_t ulen = strlen(user);
    int dropping = 0, dropped = 0;

    str_reset(out);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *next = nl ? nl + 1 : end;
        size_t len = (size_t)(next - p);
        if (p[0] == ' ' || p[0] == '\t') {
            if (!dropping)
                str_append(out, p, len);
        } else {
            dropping = len > ulen && strncasecmp(p, user, ulen) == 0
                && (p[ulen] == ' ' || p[ulen] == '\t');
            dropped += dropping;
            if (!dropping)
                str_append(out, p, len);
        }
        p = next;
    }
    if (out->len > 0 && out->data[out->len - 1] != '\n')
        str_putc(out, '\n');
    return dropped;
}

/* Shared part of set/delete: hash == NULL deletes. */
static int edit(const char *spec, const char *user, const char *hash, char **err)
{
    const char *src = source_of(spec);
    str in, out;
    int rc = -1, dropped;

    *err = NULL;
    if (src == NULL || *src == 0) {
        *err = xasprintf("%s: credential tables must be hash: or btree: tables", spec);
        return -1;
    }
    if (!passwd_user_ok(user)) {
        *err = xasprintf("bad user name (1-%d printable characters, no spaces or ':')",
                         PASSWD_USER_MAX);
        return -1;
    }
    if (hash != NULL && (strpbrk(hash, " \t\r\n") != NULL || *hash == 0)) {
        *err = xasprintf("bad password hash");
        return -1;
    }
    str_init(&in);
    str_init(&out);
    if (read_source(src, &in, err) < 0)
        goto done;
    dropped = drop_user(&in, user, &out);
    if (hash != NULL) {
        char *lower = xstrdup(user);
        lowercase(lower);
        str_appendf(&out, "%s %s\n", lower, hash);
        free(lower);
    } else if (dropped == 0) {
        rc = 0;
        goto done;
    }
    if (write_source(src, &out, err) < 0 || dict_build(spec, src, DICT_SRC_MAP, err) < 0)
        goto done;
    rc = hash != NULL ? 0 : 1;
done:
    explicit_bzero(in.data, in.len);
    str_free(&in);
    str_free(&out);
    return rc;
}

int passwd_table_set(const char *spec, const char *user, const char *hash, char **err)
{
    return edit(spec, user, hash, err);
}

int passwd_table_delete(const char *spec, const char *user, char **err)
{
    return edit(spec, user, NULL, err);
}

struct list_ctx {
    void (*fn)(const char *user, void *ctx);
    void *ctx;
};

static int list_one(const char *key, const char *value, void *ctx)
{
    struct list_ctx *lc = ctx;
    (void)value;
    lc->fn(key, lc->ctx);
    return 0;
}

int passwd_table_list(const char *spec, void (*fn)(const char *user, void *ctx), void *ctx,
                      char **err)
{
    struct list_ctx lc = { fn, ctx };
    dict *d;
    int rc;

    *err = NULL;
    if ((d = dict_open(spec, err)) == NULL)
        return -1;
    rc = dict_foreach(d, list_one, &lc);
    if (rc < 0)
        *err = xasprintf("%s: table cannot be listed", spec);
    dict_close(d);
    return rc;
}
