/* config.c: main.cf loading and parameter look-up for every program.
 *
 * Values come from three layers, highest first: overrides (-o name=value, config_set),
 * main.cf, compiled-in defaults (params.c; myhostname/mydomain computed at run time).
 * $name, ${name}, ${name?text}, ${name:text} and $$ are expanded on look-up; the
 * expanded value is cached per parameter until the configuration changes, and old
 * cached strings are kept until config_load/config_reset so returned pointers stay valid.
 * A load is parsed completely before it replaces the current main.cf settings. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "config.h"
#include "readfile.h"
#include "params.h"
#include "mem.h"
#include "log.h"
#include "str.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef POSTERN_SYSCONFDIR
#define POSTERN_SYSCONFDIR "/etc/postern"
#endif

#define CONFIG_FILE_MAX (4 * 1024 * 1024)   /* main.cf larger than this is refused */
#define CONFIG_NAME_MAX 128
#define EXPAND_DEPTH_MAX 64
#define EXPAND_LEN_MAX (256 * 1024)
#define HASH_SIZE 256

struct param {
    struct param *next;         /* hash chain */
    char *name;
    char *main_raw;             /* from main.cf, or NULL */
    int main_line;
    char *over_raw;             /* override, or NULL */
    char *cached;               /* expanded value, valid when cache_gen == config_gen */
    unsigned long cache_gen;
    int expanding;              /* loop detection */
    int warned;
};

static struct param *table[HASH_SIZE];
static unsigned long config_gen = 1;
static char **graveyard;        /* old cached values, freed at load/reset */
static size_t graveyard_len, graveyard_cap;
static char *conf_dir;
static char *conf_file;         /* label used in messages: path or name given to _string */
static char *computed_hostname;

static unsigned hash_name(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % HASH_SIZE;
}

static struct param *find_param(const char *name)
{
    for (struct param *p = table[hash_name(name)]; p; p = p->next)
        if (strcmp(p->name, name) == 0)
            return p;
    return NULL;
}

static struct param *get_param(const char *name)
{
    struct param *p = find_param(name);
    if (!p) {
        unsigned h = hash_name(name);
        p = xcalloc(1, sizeof *p);
        p->name = xstrdup(name);
        p->next = table[h];
        table[h] = p;
    }
    return p;
}

static void bury(char *s)
{
    if (!s)
        return;
    if (graveyard_len == graveyard_cap) {
        graveyard_cap = graveyard_cap ? graveyard_cap * 2 : 64;
        graveyard = xrealloc(graveyard, graveyard_cap * sizeof *graveyard);
    }
    graveyard[graveyard_len++] = s;
}

static void free_graveyard(void)
{
    for (size_t i = 0; i < graveyard_len; i++)
        free(graveyard[i]);
    graveyard_len = 0;
}

static void invalidate_cache(void)
{
    config_gen++;
}

static int valid_name(const char *s, size_t len)
{
    if (len == 0 || len > CONFIG_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

/* --- defaults ------------------------------------------------------------------- */

static const char *hostname_default(void)
{
    if (!computed_hostname) {
        char buf[256];
        if (gethostname(buf, sizeof buf - 1) != 0 || !buf[0])
            strcpy(buf, "localhost");
        buf[sizeof buf - 1] = 0;
        lowercase(buf);
        computed_hostname = strchr(buf, '.') ? xstrdup(buf) : xasprintf("%s.localdomain", buf);
    }
    return computed_hostname;
}

/* Effective unexpanded value of a parameter, or NULL if it has none. */
static const char *effective_raw(const struct param *p, const char *name)
{
    if (p && p->over_raw)
        return p->over_raw;
    if (p && p->main_raw)
        return p->main_raw;
    if (strcmp(name, "myhostname") == 0)
        return hostname_default();
    const struct param_def *d = param_find(name);
    return d ? d->def : NULL;
}

static int is_set(const struct param *p)
{
    return p && (p->over_raw || p->main_raw);
}

/* "main.cf:12", "command-line override" or "default" (for messages). */
static char *source_of(const char *name)
{
    struct param *p = find_param(name);
    if (p && p->over_raw)
        return xasprintf("override %s=%s", name, p->over_raw);
    if (p && p->main_raw)
        return xasprintf("%s:%d", conf_file ? conf_file : "main.cf", p->main_line);
    return xasprintf("default");
}

/* --- expansion ------------------------------------------------------------------ */

static int expand_param(const char *name, int depth, const char **out, char **err);

/* Expand `text` into `out`. 0 or -1 with *err (malloc'd). */
static int expand_text(const char *text, int depth, str *out, char **err)
{
    const char *s = text;
    if (depth > EXPAND_DEPTH_MAX) {
        *err = xasprintf("expansion nested too deeply");
        return -1;
    }
    while (*s) {
        if (out->len > EXPAND_LEN_MAX) {
            *err = xasprintf("expanded value is longer than %d bytes", EXPAND_LEN_MAX);
            return -1;
        }
        if (*s != '$') {
            const char *d = strchr(s, '$');
            size_t n = d ? (size_t)(d - s) : strlen(s);
            str_append(out, s, n);
            s += n;
            continue;
        }
        s++;
        if (*s == '$') {
            str_putc(out, '$');
            s++;
            continue;
        }
        char name[CONFIG_NAME_MAX + 1];
        const char *alt = NULL;     /* ${name?alt} / ${name:alt} text */
        size_t alt_len = 0;
        char alt_op = 0;
        size_t n;
        if (*s == '{' || *s == '(') {
            char close = *s == '{' ? '}' : ')';
            s++;
            n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
            if (!valid_name(s, n)) {
                *err = xasprintf("bad parameter name after \"$%c\"", close == '}' ? '{' : '(');
                return -1;
            }
            memcpy(name, s, n);
            name[n] = 0;
            s += n;
            if (*s == '?' || *s == ':') {
                alt_op = *s++;
                /* find the matching close, allowing nested braces */
                int level = 1;
                const char *e = s;
                for (; *e; e++) {
                    if (*e == '{' || *e == '(')
                        level++;
                    else if ((*e == '}' || *e == ')') && --level == 0)
                        break;
                }
                if (*e != close) {
                    *err = xasprintf("missing '%c' after \"${%s%c\"", close, name, alt_op);
                    return -1;
                }
                alt = s;
                alt_len = (size_t)(e - s);
                s = e;
            }
            if (*s != close) {
                *err = xasprintf("missing '%c' after \"$%c%s\"", close, close == '}' ? '{' : '(', name);
                return -1;
            }
            s++;
        } else {
            n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
            if (n == 0) {
                str_putc(out, '$');     /* lone '$' is literal */
                continue;
            }
            if (n > CONFIG_NAME_MAX) {
                *err = xasprintf("parameter name after '$' is too long");
                return -1;
            }
            memcpy(name, s, n);
            name[n] = 0;
            s += n;
        }
        const char *value = "";
        struct param *p = find_param(name);
        if (effective_raw(p, name) != NULL || strcmp(name, "mydomain") == 0) {
            if (expand_param(name, depth + 1, &value, err) != 0)
                return -1;
        }
        if (alt_op) {
            int nonempty = *value != 0;
            if ((alt_op == '?' && nonempty) || (alt_op == ':' && !nonempty)) {
                char *alt_copy = xstrndup(alt, alt_len);
                int rc = expand_text(alt_copy, depth + 1, out, err);
                free(alt_copy);
                if (rc != 0)
                    return -1;
            }
        } else {
            str_appends(out, value);
        }
    }
    if (out->len > EXPAND_LEN_MAX) {
        *err = xasprintf("expanded value is longer than %d bytes", EXPAND_LEN_MAX);
        return -1;
    }
    return 0;
}

/* Fully expanded value of `name` (cached). 0 or -1 with *err; unknown+unset -> "". */
static int expand_param(const char *name, int depth, const char **out, char **err)
{
    struct param *p = get_param(name);
    if (p->cached && p->cache_gen == config_gen) {
        *out = p->cached;
        return 0;
    }
    if (p->expanding) {
        *err = xasprintf("parameter %s: recursive expansion loop via $%s", name, name);
        return -1;
    }
    if (depth > EXPAND_DEPTH_MAX) {
        *err = xasprintf("parameter %s: expansion nested too deeply", name);
        return -1;
    }
    str val;
    str_init(&val);
    int rc;
    p->expanding = 1;
    if (strcmp(name, "mydomain") == 0 && !is_set(p)) {
        const char *host;
        rc = expand_param("myhostname", depth + 1, &host, err);
        if (rc == 0) {
            const char *dot = strchr(host, '.');
            str_set(&val, dot && dot[1] ? dot + 1 : "localdomain");
        }
    } else {
        const char *raw = effective_raw(p, name);
        rc = expand_text(raw ? raw : "", depth, &val, err);
    }
    p->expanding = 0;
    if (rc != 0) {
        str_free(&val);
        return -1;
    }
    bury(p->cached);
    p->cached = str_steal(&val);
    p->cache_gen = config_gen;
    str_free(&val);
    *out = p->cached;
    return 0;
}

/* Reset `expanding` flags after an aborted expansion. */
static void clear_expanding(void)
{
    for (int i = 0; i < HASH_SIZE; i++)
        for (struct param *p = table[i]; p; p = p->next)
            p->expanding = 0;
}

/* --- loading -------------------------------------------------------------------- */

struct pending { char *name; char *value; int line; };

static void pending_free(struct pending *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        free(v[i].value);
    }
    free(v);
}

static void apply_pending(struct pending *v, size_t n, const char *label)
{
    for (int i = 0; i < HASH_SIZE; i++)
        for (struct param *p = table[i]; p; p = p->next) {
            free(p->main_raw);
            p->main_raw = NULL;
            p->main_line = 0;
            p->warned = 0;
        }
    for (size_t i = 0; i < n; i++) {
        struct param *p = get_param(v[i].name);
        free(p->main_raw);
        p->main_raw = v[i].value;       /* duplicates: the last one wins */
        p->main_line = v[i].line;
        v[i].value = NULL;
    }
    free(conf_file);
    conf_file = xstrdup(label);
    free_graveyard();
    invalidate_cache();
}

/* Finish one logical line "name = value" (continuations already joined). */
static int parse_logical(const char *label, int line, str *logical,
                         struct pending **v, size_t *n, size_t *cap, char **err)
{
    char *text = logical->data;
    char *eq = strchr(text, '=');
    if (!eq) {
        *err = xasprintf("%s:%d: missing '=' after parameter name", label, line);
        return -1;
    }
    *eq = 0;
    char *name = trim(text);
    char *value = trim(eq + 1);
    if (!valid_name(name, strlen(name))) {
        *err = xasprintf("%s:%d: bad parameter name \"%.64s\"", label, line, name);
        return -1;
    }
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 32;
        *v = xrealloc(*v, *cap * sizeof **v);
    }
    (*v)[*n].name = xstrdup(name);
    (*v)[*n].value = xstrdup(value);
    (*v)[*n].line = line;
    (*n)++;
    return 0;
}

static int parse_text(const char *text, size_t len, const char *label, char **err)
{
    struct pending *v = NULL;
    size_t n = 0, cap = 0;
    str logical;
    int logical_line = 0, line = 0;
    const char *s = text, *end = text + len;

    str_init(&logical);
    if (memchr(text, 0, len)) {
        size_t off = (size_t)((const char *)memchr(text, 0, len) - text);
        int nul_line = 1;
        for (size_t i = 0; i < off; i++)
            nul_line += text[i] == '\n';
        *err = xasprintf("%s:%d: NUL byte in file", label, nul_line);
        goto fail;
    }
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t ll = nl ? (size_t)(nl - s) : (size_t)(end - s);
        line++;
        char *raw = xstrndup(s, ll);
        s += ll + (nl ? 1 : 0);
        char *t = trim(raw);
        if (*t == 0 || *t == '#') {
            free(raw);
            continue;
        }
        if (raw[0] == ' ' || raw[0] == '\t') {
            if (!logical_line) {
                *err = xasprintf("%s:%d: continuation line without a parameter before it", label, line);
                free(raw);
                goto fail;
            }
            if (logical.len && logical.data[logical.len - 1] != '=')
                str_putc(&logical, ' ');
            str_appends(&logical, t);
            free(raw);
            continue;
        }
        if (logical_line && parse_logical(label, logical_line, &logical, &v, &n, &cap, err) != 0) {
            free(raw);
            goto fail;
        }
        str_set(&logical, trim(raw));
        logical_line = line;
        free(raw);
    }
    if (logical_line && parse_logical(label, logical_line, &logical, &v, &n, &cap, err) != 0)
        goto fail;
    str_free(&logical);
    apply_pending(v, n, label);
    pending_free(v, n);
    return 0;
fail:
    str_free(&logical);
    pending_free(v, n);
    return -1;
}

int config_load_string(const char *text, const char *name, char **err)
{
    *err = NULL;
    return parse_text(text, strlen(text), name ? name : "main.cf", err);
}

int config_load(const char *confdir, char **err)
{
    *err = NULL;
    if (!confdir || !*confdir)
        confdir = POSTERN_SYSCONFDIR;
    char *path = xasprintf("%s/main.cf", confdir);
    str data;
    str_init(&data);
    if (readfile(path, CONFIG_FILE_MAX, &data, err) != 0) {
        if (errno != ENOENT || *err == NULL || strstr(*err, ": cannot open: ") == NULL) {
            str_free(&data);
            free(path);
            return -1;
        }
        free(*err);                          /* no main.cf: all defaults */
        *err = NULL;
        apply_pending(NULL, 0, path);
    } else if (parse_text(data.data, data.len, path, err) != 0) {
        str_free(&data);
        free(path);
        return -1;
    }
    str_free(&data);
    free(conf_dir);
    conf_dir = xstrdup(confdir);
    free(path);
    return 0;
}

void config_reset(void)
{
    for (int i = 0; i < HASH_SIZE; i++) {
        struct param *p = table[i];
        while (p) {
            struct param *next = p->next;
            free(p->name);
            free(p->main_raw);
            free(p->over_raw);
            free(p->cached);
            free(p);
            p = next;
        }
        table[i] = NULL;
    }
    free_graveyard();
    free(graveyard);
    graveyard = NULL;
    graveyard_cap = 0;
    free(conf_dir);
    conf_dir = NULL;
    free(conf_file);
    conf_file = NULL;
    free(computed_hostname);
    computed_hostname = NULL;
    invalidate_cache();
}

const char *config_dir(void)
{
    return conf_dir ? conf_dir : POSTERN_SYSCONFDIR;
}

const char *config_file_path(void)
{
    static char *path, *path_dir;       /* rebuilt only when the directory changes */
    const char *dir = config_dir();
    if (!path || strcmp(path_dir, dir) != 0) {
        free(path);
        free(path_dir);
        path = xasprintf("%s/main.cf", dir);
        path_dir = xstrdup(dir);
    }
    return path;
}

/* --- overrides ------------------------------------------------------------------ */

void config_set(const char *name, const char *value)
{
    struct param *p = get_param(name);
    free(p->over_raw);
    p->over_raw = xstrdup(value);
    invalidate_cache();
}

int config_override(const char *name_eq_value)
{
    const char *eq = strchr(name_eq_value, '=');
    if (!eq)
        return -1;
    char *name = xstrndup(name_eq_value, (size_t)(eq - name_eq_value));
    char *value = xstrdup(eq + 1);
    char *tn = trim(name), *tv = trim(value);
    int rc = -1;
    if (valid_name(tn, strlen(tn)) && !strpbrk(tv, "\n\r")) {
        config_set(tn, tv);
        rc = 0;
    }
    free(name);
    free(value);
    return rc;
}

/* --- look-ups ------------------------------------------------------------------- */

const char *config_str(const char *name)
{
    struct param *p = find_param(name);
    if (p && p->cached && p->cache_gen == config_gen)
        return p->cached;                   /* hot path */
    if (!effective_raw(p, name) && strcmp(name, "mydomain") != 0)
        msg_panic("config_str: unknown parameter \"%s\" has no value", name);
    const char *out;
    char *err = NULL;
    if (expand_param(name, 0, &out, &err) != 0) {
        clear_expanding();
        char *src = source_of(name);
        msg_fatal("%s: %s", src, err);
    }
    return out;
}

const char *config_raw(const char *name)
{
    return effective_raw(find_param(name), name);
}

int config_is_set(const char *name)
{
    return is_set(find_param(name));
}

int config_line(const char *name)
{
    struct param *p = find_param(name);
    return p && p->main_raw && !p->over_raw ? p->main_line : 0;
}

static void bad_value(const char *name, const char *value, const char *why)
{
    char *src = source_of(name);
    msg_fatal("%s: bad value for %s: \"%.200s\" (%s)", src, name, value, why);
}

static int parse_nonneg(const char *s, long *out)
{
    long v;
    if (parse_long(s, &v) != 0 || v < 0)
        return -1;
    *out = v;
    return 0;
}

long config_int(const char *name)
{
    const char *v = config_str(name);
    long n;
    if (parse_nonneg(v, &n) != 0)
        bad_value(name, v, "expected a non-negative decimal integer");
    return n;
}

int config_bool(const char *name)
{
    const char *v = config_str(name);
    int b;
    if (parse_bool(v, &b) != 0)
        bad_value(name, v, "expected yes or no");
    return b;
}

static char time_unit_of(const char *name)
{
    const struct param_def *d = param_find(name);
    return d && d->time_unit ? d->time_unit : 's';
}

long config_time(const char *name)
{
    const char *v = config_str(name);
    long secs;
    if (parse_time(v, time_unit_of(name), &secs) != 0)
        bad_value(name, v, "expected a time like 30s, 5m, 2h, 1d or 1w");
    return secs;
}

long config_size(const char *name)
{
    const char *v = config_str(name);
    long n;
    if (parse_nonneg(v, &n) != 0)
        bad_value(name, v, "expected a size in bytes");
    return n;
}

char **config_list(const char *name)
{
    return strv_split_braced(config_str(name), ", \t\r\n");
}

int parse_bool(const char *s, int *out)
{
    static const char *yes[] = { "yes", "true", "1", "on", NULL };
    static const char *no[] = { "no", "false", "0", "off", NULL };
    for (int i = 0; yes[i]; i++)
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
    for (int i = 0; no[i]; i++)
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    return -1;
}

int parse_time(const char *s, char default_unit, long *seconds)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    long n = 0;
    while (*s >= '0' && *s <= '9') {
        if (n > (LONG_MAX - 9) / 10)
            return -1;
        n = n * 10 + (*s++ - '0');
    }
    char unit = *s ? *s++ : default_unit;
    if (*s)
        return -1;
    long mult;
    switch (unit) {
    case 's': mult = 1; break;
    case 'm': mult = 60; break;
    case 'h': mult = 3600; break;
    case 'd': mult = 86400; break;
    case 'w': mult = 604800; break;
    default: return -1;
    }
    if (n > LONG_MAX / mult)
        return -1;
    *seconds = n * mult;
    return 0;
}

/* --- validation ----------------------------------------------------------------- */

/* Check one parameter's expanded value against its type; appends to report. */
static int validate_one(str *report, const char *name, const struct param_def *d)
{
    const char *value;
    char *err = NULL;
    if (expand_param(name, 0, &value, &err) != 0) {
        clear_expanding();
        char *src = source_of(name);
        str_appendf(report, "%s: %s\n", src, err);
        free(src);
        free(err);
        return 1;
    }
    if (!d)
        return 0;
    long l;
    int b;
    const char *why = NULL;
    switch (d->type) {
    case PARAM_INT:
    case PARAM_SIZE:
        if (parse_nonneg(value, &l) != 0)
            why = "expected a non-negative decimal integer";
        break;
    case PARAM_BOOL:
        if (parse_bool(value, &b) != 0)
            why = "expected yes or no";
        break;
    case PARAM_TIME:
        if (parse_time(value, d->time_unit ? d->time_unit : 's', &l) != 0)
            why = "expected a time like 30s, 5m, 2h, 1d or 1w";
        break;
    default:
        break;
    }
    if (!why)
        return 0;
    char *src = source_of(name);
    str_appendf(report, "%s: bad value for %s: \"%.200s\" (%s)\n", src, name, value, why);
    free(src);
    return 1;
}

int config_validate(str *report, int strict)
{
    int problems = 0;
    for (const struct param_def *d = param_table; d->name; d++)
        problems += validate_one(report, d->name, d);
    /* set parameters not in the table (collect first: validate_one may add entries) */
    char **names = NULL;
    size_t n = 0, cap = 0;
    for (int i = 0; i < HASH_SIZE; i++)
        for (struct param *p = table[i]; p; p = p->next)
            if (is_set(p) && !param_find(p->name)) {
                if (n == cap) {
                    cap = cap ? cap * 2 : 16;
                    names = xrealloc(names, cap * sizeof *names);
                }
                names[n++] = xstrdup(p->name);
            }
    for (size_t i = 0; i < n; i++) {
        if (strict) {
            char *src = source_of(names[i]);
            str_appendf(report, "%s: unknown parameter %s\n", src, names[i]);
            free(src);
            problems++;
        }
        problems += validate_one(report, names[i], NULL);
        free(names[i]);
    }
    free(names);
    return problems;
}

void config_warn_unknown(void)
{
    for (int i = 0; i < HASH_SIZE; i++)
        for (struct param *p = table[i]; p; p = p->next)
            if (is_set(p) && !p->warned && !param_find(p->name)) {
                char *src = source_of(p->name);
                msg_warn("%s: unknown parameter %s", src, p->name);
                free(src);
                p->warned = 1;
            }
}

static int cmp_names(const void *a, const void *b)
{
    const struct param *pa = *(struct param *const *)a, *pb = *(struct param *const *)b;
    return strcmp(pa->name, pb->name);
}

void config_foreach_set(void (*fn)(const char *name, const char *raw, void *ctx), void *ctx)
{
    struct param **v = NULL;
    size_t n = 0, cap = 0;
    for (int i = 0; i < HASH_SIZE; i++)
        for (struct param *p = table[i]; p; p = p->next)
            if (is_set(p)) {
                if (n == cap) {
                    cap = cap ? cap * 2 : 32;
                    v = xrealloc(v, cap * sizeof *v);
                }
                v[n++] = p;
            }
    if (n)
        qsort(v, n, sizeof *v, cmp_names);
    for (size_t i = 0; i < n; i++)
        fn(v[i]->name, effective_raw(v[i], v[i]->name), ctx);
    free(v);
}
