/* dict.c: the generic side of lookup tables (see dict.h): "type:name" parsing and
 * dispatch to the table types (dict_db.c, dict_static.c, dict_regexp.c, dict_cidr.c),
 * key lowercasing (not for regexp:), the per-process
 * handle cache behind dict_get(), list look-ups, and building BDB tables from text
 * sources: the map ("key value") and aliases ("name: value, value") source parser lives
 * here, reports "source:LINE: reason" and is also used directly by the fuzz target. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dict_impl.h"
#include "dict_text.h"
#include "log.h"
#include "mem.h"
#include "readfile.h"

#define DICT_KEY_MAX 4096            /* longer keys cannot be in any table */
#define DICT_SRC_LINE_MAX 65536      /* one physical source line */
#define DICT_SRC_ENTRY_MAX (1024 * 1024) /* one logical entry with its continuations */
#define DICT_SRC_FILE_MAX (1024L * 1024 * 1024)

/* --- opening and looking up ---------------------------------------------------------- */

dict *dict_open(const char *spec, char **err)
{
    const char *colon = strchr(spec, ':');
    dict *d = NULL;
    if (!colon || colon == spec) {
        *err = xasprintf("bad table name \"%s\": expected type:name", spec);
        return NULL;
    }
    char *type = xstrndup(spec, (size_t)(colon - spec));
    const char *name = colon + 1;
    char *why = NULL;
    if (strcmp(type, "hash") == 0 || strcmp(type, "btree") == 0)
        d = dict_db_open(type, name, &why);
    else if (strcmp(type, "static") == 0)
        d = dict_static_open(name, &why);
    else if (strcmp(type, "inline") == 0)
        d = dict_inline_open(name, &why);
    else if (strcmp(type, "unix") == 0)
        d = dict_unix_open(name, &why);
    else if (strcmp(type, "regexp") == 0)
        d = dict_regexp_open(name, &why);     /* dict_text.h */
    else if (strcmp(type, "cidr") == 0)
        d = dict_cidr_open(name, &why);
    else
        why = xasprintf("unsupported table type \"%s\"", type);
    free(type);
    if (!d) {
        *err = xasprintf("table %s: %s", spec, why);
        free(why);
        return NULL;
    }
    free(d->spec);                   /* a type may have set a provisional one */
    d->spec = xstrdup(spec);
    return d;
}

void dict_close(dict *d)
{
    if (!d)
        return;
    free(d->spec);
    d->close(d);
}

const char *dict_spec(const dict *d)
{
    return d->spec;
}

int dict_lookup(dict *d, const char *key, str *value)
{
    size_t len = strlen(key);
    /* regexp: tables match the key as given (case is the pattern's business). */
    if (strncmp(d->spec ? d->spec : "", "regexp:", 7) == 0)
        return len > DICT_REGEXP_KEY_MAX ? 0 : d->lookup(d, key, value);
    if (len == 0 || len > DICT_KEY_MAX)
        return 0;
    char *lower = xstrdup(key);
    lowercase(lower);
    int rc = d->lookup(d, lower, value);
    free(lower);
    return rc;
}

int dict_foreach(dict *d, int (*fn)(const char *key, const char *value, void *ctx), void *ctx)
{
    if (!d->foreach)
        return -1;
    return d->foreach(d, fn, ctx);
}

/* --- the per-process cache ------------------------------------------------------------ */

struct dict_cached {
    dict *d;
    struct dict_cached *next;
};
static struct dict_cached *dict_cache;

dict *dict_get(const char *spec)
{
    for (struct dict_cached *c = dict_cache; c; c = c->next)
        if (strcmp(c->d->spec, spec) == 0)
            return c->d;
    char *err = NULL;
    dict *d = dict_open(spec, &err);
    if (!d)
        msg_fatal("%s", err);
    static int exit_hook;
    if (!exit_hook++)
        atexit(dict_cache_clear);    /* close cached tables on exit (clean leak checks) */
    struct dict_cached *c = xmalloc(sizeof(*c));
    c->d = d;
    c->next = dict_cache;
    dict_cache = c;
    return d;
}

void dict_cache_clear(void)
{
    while (dict_cache) {
        struct dict_cached *c = dict_cache;
        dict_cache = c->next;
        dict_close(c->d);
        free(c);
    }
}

int dict_lookup_list(char **specs, const char *key, str *value)
{
    for (int i = 0; specs && specs[i]; i++) {
        int rc = dict_lookup(dict_get(specs[i]), key, value);
        if (rc != 0)
            return rc;               /* found, or an error that must not look like "unknown" */
    }
    return 0;
}

/* --- text sources ----------------------------------------------------------------------- */

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

/* Split one logical entry into key and value and hand it to fn. */
static int source_entry(const char *name, int line, str *entry, enum dict_src_format fmt,
                        dict_src_fn fn, void *ctx, char **err)
{
    char *text = trim(entry->data);
    char *key, *value;
    if (fmt == DICT_SRC_ALIASES) {
        char *colon = strchr(text, ':');
        if (!colon) {
            *err = xasprintf("%s:%d: expected format: name: value", name, line);
            return -1;
        }
        *colon = 0;
        key = trim(text);
        value = trim(colon + 1);
        if (!*key || !*value) {
            *err = xasprintf("%s:%d: expected format: name: value", name, line);
            return -1;
        }
        for (char *p = key; *p; p++)
            if (is_space(*p)) {
                *err = xasprintf("%s:%d: whitespace in alias name", name, line);
                return -1;
            }
    } else {
        key = text;
        char *p = text;
        while (*p && !is_space(*p))
            p++;
        if (!*p) {
            *err = xasprintf("%s:%d: expected format: key whitespace value", name, line);
            return -1;
        }
        *p = 0;
        value = trim(p + 1);
    }
    if (strlen(key) > DICT_KEY_MAX) {
        *err = xasprintf("%s:%d: key too long", name, line);
        return -1;
    }
    lowercase(key);
    if (fn(key, value, line, ctx) != 0) {
        if (!*err)
            *err = xasprintf("%s:%d: cannot store entry", name, line);
        return -1;
    }
    return 0;
}

int dict_parse_source(const char *name, const char *buf, size_t len, enum dict_src_format fmt,
                      dict_src_fn fn, void *ctx, char **err)
{
    str entry;
    int entry_line = 0, line = 0, rc = 0;
    size_t pos = 0;
    *err = NULL;
    str_init(&entry);
    while (pos < len && rc == 0) {
        const char *start = buf + pos;
        const char *nl = memchr(start, '\n', len - pos);
        size_t llen = nl ? (size_t)(nl - start) : len - pos;
        pos += llen + (nl ? 1 : 0);
        line++;
        if (llen > DICT_SRC_LINE_MAX) {
            *err = xasprintf("%s:%d: line too long", name, line);
            rc = -1;
            break;
        }
        if (memchr(start, 0, llen)) {
            *err = xasprintf("%s:%d: NUL byte in line", name, line);
            rc = -1;
            break;
        }
        if (llen && start[llen - 1] == '\r')
            llen--;
        size_t i = 0;
        while (i < llen && is_space(start[i]))
            i++;
        if (i == llen || start[i] == '#')
            continue;                /* blank line or comment */
        if (i > 0) {                 /* continuation of the previous entry */
            if (!entry_line) {
                *err = xasprintf("%s:%d: continuation line without a preceding entry", name, line);
                rc = -1;
                break;
            }
            if (entry.len + llen + 1 > DICT_SRC_ENTRY_MAX) {
                *err = xasprintf("%s:%d: entry too long", name, line);
                rc = -1;
                break;
            }
            str_putc(&entry, ' ');
            str_append(&entry, start + i, llen - i);
            continue;
        }
        if (entry_line)
            rc = source_entry(name, entry_line, &entry, fmt, fn, ctx, err);
        str_setn(&entry, start, llen);
        entry_line = line;
    }
    if (rc == 0 && entry_line)
        rc = source_entry(name, entry_line, &entry, fmt, fn, ctx, err);
    str_free(&entry);
    return rc;
}

/* --- building ---------------------------------------------------------------------------- */

struct build_ctx {
    dict_db_writer *w;
    const char *source;
    char **err;
};

static int build_put(const char *key, const char *value, int line, void *ctx)
{
    struct build_ctx *b = ctx;
    int rc = dict_db_writer_put(b->w, key, value, b->err);
    if (rc == 1)
        msg_warn("%s:%d: duplicate entry \"%s\": the last one wins", b->source, line, key);
    return rc < 0 ? -1 : 0;
}

/* Read a whole source file (bounded) into s. 0 or -1 with *err. */
static int read_file(const char *path, str *s, char **err)
{
    return readfile(path, DICT_SRC_FILE_MAX, s, err);
}

int dict_build(const char *spec, const char *source, enum dict_src_format fmt, char **err)
{
    const char *colon = strchr(spec, ':');
    if (!colon || !colon[1]) {
        *err = xasprintf("bad table name \"%s\": expected type:name", spec);
        return -1;
    }
    char *type = xstrndup(spec, (size_t)(colon - spec));
    const char *path = colon + 1;
    if (!source)
        source = path;
    str text;
    str_init(&text);
    int rc = -1;
    dict_db_writer *w = NULL;
    if (read_file(source, &text, err) == 0 && (w = dict_db_writer_create(type, path, err)) != NULL) {
        struct build_ctx b = { w, source, err };
        *err = NULL;
        if (dict_parse_source(source, text.data, text.len, fmt, build_put, &b, err) < 0)
            dict_db_writer_abort(w);
        else
            rc = dict_db_writer_commit(w, err);
    }
    str_free(&text);
    free(type);
    return rc;
}
