/* dict_static.c: the table types that need no file: static:value (every key maps to
 * value; static:{ text with spaces } also works), inline:{ key=value, { key = text } }
 * (a small literal table written in main.cf) and unix:passwd.byname (system accounts via
 * getpwnam; the value is the passwd line). See dict.h; dict.c lowercases keys. */
#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "dict_impl.h"
#include "mem.h"

/* --- static: ---------------------------------------------------------------------- */

typedef struct dict_static {
    struct dict dict;
    char *value;
} dict_static;

static int dict_static_lookup(dict *dd, const char *key, str *value)
{
    (void)key;
    str_set(value, ((dict_static *)dd)->value);
    return 1;
}

static void dict_static_close(dict *dd)
{
    free(((dict_static *)dd)->value);
    free(dd);
}

/* If s is "{ text }" return the trimmed text (malloc'd), else a copy of s. NULL if the
 * braces are unbalanced. */
static char *strip_braces(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || s[0] != '{')
        return xstrdup(s);
    if (s[len - 1] != '}')
        return NULL;
    char *inner = xstrndup(s + 1, len - 2);
    char *t = trim(inner);
    char *copy = xstrdup(t);
    free(inner);
    return copy;
}

dict *dict_static_open(const char *name, char **err)
{
    char *v = strip_braces(name);
    if (!v) {
        *err = xasprintf("static:%s: missing '}'", name);
        return NULL;
    }
    dict_static *d = xcalloc(1, sizeof(*d));
    d->value = v;
    d->dict.lookup = dict_static_lookup;
    d->dict.close = dict_static_close;
    return &d->dict;
}

/* --- inline: ---------------------------------------------------------------------- */

typedef struct dict_inline {
    struct dict dict;
    char **keys, **values;
    int count;
} dict_inline;

static int dict_inline_lookup(dict *dd, const char *key, str *value)
{
    dict_inline *d = (dict_inline *)dd;
    for (int i = d->count - 1; i >= 0; i--)      /* last definition wins */
        if (strcmp(d->keys[i], key) == 0) {
            str_set(value, d->values[i]);
            return 1;
        }
    return 0;
}

static int dict_inline_foreach(dict *dd, int (*fn)(const char *key, const char *value, void *ctx),
                               void *ctx)
{
    dict_inline *d = (dict_inline *)dd;
    for (int i = 0; i < d->count; i++)
        if (fn(d->keys[i], d->values[i], ctx))
            break;
    return 0;
}

static void dict_inline_close(dict *dd)
{
    dict_inline *d = (dict_inline *)dd;
    for (int i = 0; i < d->count; i++) {
        free(d->keys[i]);
        free(d->values[i]);
    }
    free(d->keys);
    free(d->values);
    free(d);
}

/* Add "key=value" (item[0..len)) to d. 0 or -1. */
static int inline_add(dict_inline *d, const char *item, size_t len)
{
    char *copy = xstrndup(item, len);
    char *eq = strchr(copy, '=');
    if (!eq) {
        free(copy);
        return -1;
    }
    *eq = 0;
    char *k = trim(copy), *v = trim(eq + 1);
    if (!*k) {
        free(copy);
        return -1;
    }
    d->keys = xrealloc(d->keys, (size_t)(d->count + 1) * sizeof(char *));
    d->values = xrealloc(d->values, (size_t)(d->count + 1) * sizeof(char *));
    d->keys[d->count] = xstrdup(k);
    lowercase(d->keys[d->count]);
    d->values[d->count] = xstrdup(v);
    d->count++;
    free(copy);
    return 0;
}

dict *dict_inline_open(const char *name, char **err)
{
    size_t len = strlen(name);
    if (len < 2 || name[0] != '{' || name[len - 1] != '}') {
        *err = xasprintf("inline:%s: expected inline:{ key=value, ... }", name);
        return NULL;
    }
    dict_inline *d = xcalloc(1, sizeof(*d));
    d->dict.lookup = dict_inline_lookup;
    d->dict.foreach = dict_inline_foreach;
    d->dict.close = dict_inline_close;
    const char *p = name + 1, *end = name + len - 1;
    for (;;) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ',' || *p == '\n' || *p == '\r'))
            p++;
        if (p >= end)
            break;
        const char *item = p;
        size_t ilen;
        if (*p == '{') {             /* { key = text with spaces or commas } */
            const char *close = memchr(p, '}', (size_t)(end - p));
            if (!close) {
                *err = xasprintf("inline:%s: missing '}'", name);
                goto fail;
            }
            item = p + 1;
            ilen = (size_t)(close - item);
            p = close + 1;
        } else {
            while (p < end && !strchr(" \t,\r\n{}", *p))
                p++;
            ilen = (size_t)(p - item);
            if (p < end && (*p == '{' || *p == '}')) {
                *err = xasprintf("inline:%s: unexpected brace", name);
                goto fail;
            }
        }
        if (inline_add(d, item, ilen) < 0) {
            *err = xasprintf("inline:%s: expected key=value, found \"%.*s\"", name,
                             (int)(ilen > 100 ? 100 : ilen), item);
            goto fail;
        }
    }
    return &d->dict;
fail:
    dict_inline_close(&d->dict);
    return NULL;
}

/* --- unix:passwd.byname -------------------------------------------------------------- */

static int dict_unix_lookup(dict *dd, const char *key, str *value)
{
    (void)dd;
    errno = 0;
    struct passwd *pw = getpwnam(key);
    if (!pw) {
        if (errno == EIO || errno == EMFILE || errno == ENFILE || errno == ENOMEM || errno == EINTR)
            return -1;
        return 0;
    }
    str_printf(value, "%s:%s:%ld:%ld:%s:%s:%s", pw->pw_name, pw->pw_passwd, (long)pw->pw_uid,
               (long)pw->pw_gid, pw->pw_gecos ? pw->pw_gecos : "", pw->pw_dir, pw->pw_shell);
    return 1;
}

static void dict_unix_close(dict *dd)
{
    free(dd);
}

dict *dict_unix_open(const char *name, char **err)
{
    if (strcmp(name, "passwd.byname") != 0) {
        *err = xasprintf("unix:%s: unsupported table (only unix:passwd.byname)", name);
        return NULL;
    }
    dict *d = xcalloc(1, sizeof(*d));
    d->lookup = dict_unix_lookup;
    d->close = dict_unix_close;
    return d;
}
