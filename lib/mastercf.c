/* mastercf.c: parser for master.cf (Postfix's column format, see mastercf.h). Used by
 * master to know which services to run and by `postern check`. Every column is
 * validated; errors name the file and line: "master.cf:LINE: message". */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "mastercf.h"
#include "readfile.h"
#include "mem.h"
#include "str.h"
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MASTERCF_FILE_MAX (1024 * 1024)
#define MASTERCF_MAX_ENTRIES 4096
#define MASTERCF_MAX_ARGS 1024
#define MASTERCF_FIELD_MAX 1024
#define MASTERCF_MAXPROC_MAX 100000
#define MASTERCF_WAKEUP_MAX (365L * 86400)

static void entry_free(struct mastercf_entry *e)
{
    free(e->service);
    free(e->command);
    strv_free(e->args);
    memset(e, 0, sizeof *e);
}

void mastercf_free(struct mastercf *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->count; i++)
        entry_free(&m->entries[i]);
    free(m->entries);
    m->entries = NULL;
    m->count = 0;
}

/* y/n/- column: 0 ok, -1 bad. */
static int parse_yn(const char *s, int def, int *out)
{
    if (strcmp(s, "-") == 0)
        *out = def;
    else if (strcmp(s, "y") == 0)
        *out = 1;
    else if (strcmp(s, "n") == 0)
        *out = 0;
    else
        return -1;
    return 0;
}

static int parse_number(const char *s, long max, long *out)
{
    long v;
    if (parse_long(s, &v) != 0 || v < 0 || v > max)
        return -1;
    *out = v;
    return 0;
}

static int printable_field(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x21 || (unsigned char)*s == 0x7f)
            return 0;
    return 1;
}

/* Parse one logical line (fields already split). 0 or -1 with *err. */
static int parse_entry(char **f, size_t nf, const char *label, int line,
                       struct mastercf_entry *e, char **err)
{
#define FAIL(...) do { char *m_ = xasprintf(__VA_ARGS__); \
        *err = xasprintf("%s:%d: %s", label, line, m_); free(m_); return -1; } while (0)
    memset(e, 0, sizeof *e);
    e->line = line;
    if (nf < 8)
        FAIL("too few fields (%zu): expected service type private unpriv chroot wakeup maxproc command", nf);
    if (nf - 8 > MASTERCF_MAX_ARGS)
        FAIL("too many command arguments");
    for (size_t i = 0; i < nf; i++)
        if (strlen(f[i]) > MASTERCF_FIELD_MAX)
            FAIL("field %zu is longer than %d bytes", i + 1, MASTERCF_FIELD_MAX);
    if (!printable_field(f[0]))
        FAIL("bad service name");
    if (strcmp(f[1], "inet") == 0)
        e->type = SVC_INET;
    else if (strcmp(f[1], "unix") == 0)
        e->type = SVC_UNIX;
    else if (strcmp(f[1], "pass") == 0)
        e->type = SVC_PASS;
    else if (strcmp(f[1], "fifo") == 0)
        e->type = SVC_FIFO;
    else
        FAIL("bad transport type \"%s\" for service %s: expected inet, unix, pass or fifo", f[1], f[0]);
    if (e->type != SVC_INET && (strchr(f[0], '/') || strcmp(f[0], ".") == 0 || strcmp(f[0], "..") == 0))
        FAIL("bad service name \"%s\": must not contain '/'", f[0]);
    if (parse_yn(f[2], 1, &e->private_) != 0)
        FAIL("bad private field \"%s\" for service %s: expected y, n or -", f[2], f[0]);
    if (parse_yn(f[3], 1, &e->unpriv) != 0)
        FAIL("bad unprivileged field \"%s\" for service %s: expected y, n or -", f[3], f[0]);
    if (parse_yn(f[4], 0, &e->chroot_) != 0)
        FAIL("bad chroot field \"%s\" for service %s: expected y, n or -", f[4], f[0]);
    if (strcmp(f[5], "-") == 0) {
        e->wakeup = 0;
    } else {
        char *w = xstrdup(f[5]);
        size_t wl = strlen(w);
        if (wl > 1 && w[wl - 1] == '?')
            w[wl - 1] = 0;
        long v;
        int rc = parse_number(w, MASTERCF_WAKEUP_MAX, &v);
        free(w);
        if (rc != 0)
            FAIL("bad wakeup time \"%s\" for service %s: expected seconds or -", f[5], f[0]);
        e->wakeup = (int)v;
    }
    if (strcmp(f[6], "-") == 0) {
        e->maxproc = -1;
    } else {
        long v;
        if (parse_number(f[6], MASTERCF_MAXPROC_MAX, &v) != 0)
            FAIL("bad process limit \"%s\" for service %s: expected a number or -", f[6], f[0]);
        e->maxproc = (int)v;
    }
    for (size_t i = 8; i < nf; i++) {
        if (strcmp(f[i], "-o") == 0) {
            if (i + 1 >= nf)
                FAIL("-o without name=value for service %s", f[0]);
            const char *eq = strchr(f[i + 1], '=');
            if (!eq || eq == f[i + 1])
                FAIL("bad -o argument \"%s\" for service %s: expected name=value", f[i + 1], f[0]);
            i++;
        }
    }
    e->service = xstrdup(f[0]);
    e->command = xstrdup(f[7]);
    e->args = xcalloc(nf - 8 + 1, sizeof *e->args);
    for (size_t i = 8; i < nf; i++)
        e->args[i - 8] = xstrdup(f[i]);
    return 0;
#undef FAIL
}

static int finish_logical(str *logical, const char *label, int line,
                          struct mastercf *out, int *cap, char **err)
{
    char **f = strv_split(logical->data, " \t\r");
    size_t nf = strv_len(f);
    struct mastercf_entry e;
    int rc = parse_entry(f, nf, label, line, &e, err);
    strv_free(f);
    if (rc != 0)
        return -1;
    for (int i = 0; i < out->count; i++) {
        struct mastercf_entry *o = &out->entries[i];
        if (o->type == e.type && strcmp(o->service, e.service) == 0) {
            *err = xasprintf("%s:%d: duplicate service %s (first defined at line %d)",
                             label, line, e.service, o->line);
            entry_free(&e);
            return -1;
        }
    }
    if (out->count >= MASTERCF_MAX_ENTRIES) {
        *err = xasprintf("%s:%d: too many services", label, line);
        entry_free(&e);
        return -1;
    }
    if (out->count == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        out->entries = xrealloc(out->entries, (size_t)*cap * sizeof *out->entries);
    }
    out->entries[out->count++] = e;
    return 0;
}

static int parse_buffer(const char *text, size_t len, const char *label,
                        struct mastercf *out, char **err)
{
    int cap = 0, line = 0, logical_line = 0;
    const char *s = text, *end = text + len;
    str logical;

    *err = NULL;
    out->entries = NULL;
    out->count = 0;
    str_init(&logical);
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t ll = nl ? (size_t)(nl - s) : (size_t)(end - s);
        line++;
        if (memchr(s, 0, ll)) {
            *err = xasprintf("%s:%d: NUL byte in file", label, line);
            goto fail;
        }
        char *raw = xstrndup(s, ll);
        s += ll + (nl ? 1 : 0);
        char *t = trim(raw);
        if (*t == 0 || *t == '#') {
            free(raw);
            continue;
        }
        if (raw[0] == ' ' || raw[0] == '\t') {
            if (!logical_line) {
                *err = xasprintf("%s:%d: continuation line without a service before it", label, line);
                free(raw);
                goto fail;
            }
            str_putc(&logical, ' ');
            str_appends(&logical, t);
            free(raw);
            continue;
        }
        if (logical_line && finish_logical(&logical, label, logical_line, out, &cap, err) != 0) {
            free(raw);
            goto fail;
        }
        str_set(&logical, t);
        logical_line = line;
        free(raw);
    }
    if (logical_line && finish_logical(&logical, label, logical_line, out, &cap, err) != 0)
        goto fail;
    str_free(&logical);
    return 0;
fail:
    str_free(&logical);
    mastercf_free(out);
    return -1;
}

int mastercf_parse_string(const char *text, const char *name, struct mastercf *out, char **err)
{
    return parse_buffer(text, strlen(text), name ? name : "master.cf", out, err);
}

int mastercf_load(const char *path, struct mastercf *out, char **err)
{
    out->entries = NULL;
    out->count = 0;
    *err = NULL;
    str data;
    str_init(&data);
    int rc = readfile(path, MASTERCF_FILE_MAX, &data, err);
    if (rc == 0)
        rc = parse_buffer(data.data, data.len, path, out, err);
    str_free(&data);
    return rc;
}

int mastercf_split_inet(const char *name, char **host, char **port, char **err)
{
    *host = *port = NULL;
    const char *colon;
    if (name[0] == '[') {
        const char *close = strchr(name, ']');
        if (!close || close[1] != ':' || close == name + 1) {
            *err = xasprintf("bad service address \"%s\" (expected [ADDR]:PORT)", name);
            return -1;
        }
        *host = xstrndup(name + 1, (size_t)(close - name - 1));
        *port = xstrdup(close + 2);
    } else if ((colon = strrchr(name, ':')) != NULL) {
        if (strchr(name, ':') != colon) {
            *err = xasprintf("bad service address \"%s\" (write IPv6 addresses as [ADDR]:PORT)", name);
            return -1;
        }
        *host = xstrndup(name, (size_t)(colon - name));
        *port = xstrdup(colon + 1);
        if (**host == 0 || strcmp(*host, "*") == 0) {
            free(*host);
            *host = NULL;
        }
    } else {
        *port = xstrdup(name);
    }
    if (**port == 0) {
        *err = xasprintf("missing port in service \"%s\"", name);
        free(*host);
        free(*port);
        return -1;
    }
    return 0;
}

int mastercf_port(const char *port)
{
    long n;
    if (parse_long(port, &n) == 0)
        return n >= 1 && n <= 65535 ? (int)n : -1;
    struct servent *se = getservbyname(port, "tcp");
    return se ? ntohs((unsigned short)se->s_port) : -1;
}
