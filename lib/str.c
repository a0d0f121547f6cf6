/* str.c: growable byte strings (NUL-terminated, may hold NULs) plus the small C-string
 * helpers (trim, lowercase, list splitting, strict integer parsing) every program uses. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "str.h"
#include "mem.h"
#include "log.h"
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STR_INITIAL_CAP 32

void str_init(str *s)
{
    s->cap = STR_INITIAL_CAP;
    s->data = xmalloc(s->cap);
    s->data[0] = 0;
    s->len = 0;
}

void str_free(str *s)
{
    free(s->data);
    s->data = 0;
    s->len = s->cap = 0;
}

void str_reset(str *s)
{
    s->len = 0;
    s->data[0] = 0;
}

void str_truncate(str *s, size_t len)
{
    if (len < s->len) {
        s->len = len;
        s->data[len] = 0;
    }
}

/* Make room for `extra` more bytes plus the terminating NUL. */
static void str_reserve(str *s, size_t extra)
{
    if (extra > SIZE_MAX - s->len - 1)
        msg_fatal("str: length overflow");
    size_t need = s->len + extra + 1;
    if (need <= s->cap)
        return;
    size_t cap = s->cap ? s->cap : STR_INITIAL_CAP;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    s->data = xrealloc(s->data, cap);
    s->cap = cap;
}

void str_append(str *s, const void *data, size_t len)
{
    /* data may point into s itself: find it again after a reallocation */
    uintptr_t d = (uintptr_t)data, base = (uintptr_t)s->data;
    int inside = s->data && d >= base && d < base + s->cap;
    size_t off = inside ? (size_t)(d - base) : 0;
    str_reserve(s, len);
    if (inside)
        data = s->data + off;
    if (len)
        memmove(s->data + s->len, data, len);
    s->len += len;
    s->data[s->len] = 0;
}

void str_appends(str *s, const char *cstr)
{
    str_append(s, cstr, strlen(cstr));
}

void str_putc(str *s, int c)
{
    str_reserve(s, 1);
    s->data[s->len++] = (char)c;
    s->data[s->len] = 0;
}

void str_set(str *s, const char *cstr)
{
    str_setn(s, cstr, strlen(cstr));
}

void str_setn(str *s, const void *data, size_t len)
{
    /* data may point into s itself: move it down in place (no reallocation) */
    uintptr_t d = (uintptr_t)data, base = (uintptr_t)s->data;
    if (d >= base && d < base + s->cap) {
        memmove(s->data, data, len);
        s->len = len;
        s->data[len] = 0;
        return;
    }
    s->len = 0;
    str_append(s, data, len);
}

void str_vappendf(str *s, const char *fmt, va_list ap)
{
    /* Format into a separate buffer, then append: an argument may point into s itself
     * (str_appendf(s, "%s", s->data)), and growing s in place would free it. */
    char small[512];
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        msg_panic("str_vappendf: bad format \"%s\"", fmt);
    if ((size_t)n < sizeof small) {
        str_append(s, small, (size_t)n);
        return;
    }
    char *big = xmalloc((size_t)n + 1);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    str_append(s, big, (size_t)n);
    free(big);
}

void str_appendf(str *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    str_vappendf(s, fmt, ap);
    va_end(ap);
}

void str_printf(str *s, const char *fmt, ...)
{
    va_list ap;
    str_reset(s);
    va_start(ap, fmt);
    str_vappendf(s, fmt, ap);
    va_end(ap);
}

char *str_steal(str *s)
{
    char *p = s->data;
    str_init(s);
    return p;
}

/* --- helpers on C strings --- */

void lowercase(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

static int is_ascii_space(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

char *trim(char *s)
{
    while (is_ascii_space((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && is_ascii_space((unsigned char)s[n - 1]))
        s[--n] = 0;
    return s;
}

int strcaseprefix(const char *s, const char *prefix)
{
    for (; *prefix; s++, prefix++) {
        int a = (unsigned char)*s, b = (unsigned char)*prefix;
        if (a >= 'A' && a <= 'Z') a += 'a' - 'A';
        if (b >= 'A' && b <= 'Z') b += 'a' - 'A';
        if (a != b)
            return 0;
    }
    return 1;
}

char **strv_split(const char *s, const char *seps)
{
    size_t count = 0, cap = 4;
    char **v = xmalloc(cap * sizeof *v);
    while (*s) {
        s += strspn(s, seps);
        if (!*s)
            break;
        size_t n = strcspn(s, seps);
        if (count + 2 > cap) {
            cap *= 2;
            v = xrealloc(v, cap * sizeof *v);
        }
        v[count++] = xstrndup(s, n);
        s += n;
    }
    v[count] = 0;
    return v;
}

char **strv_split_braced(const char *s, const char *seps)
{
    size_t count = 0, cap = 4;
    char **v = xmalloc(cap * sizeof *v);
    while (*s) {
        s += strspn(s, seps);
        if (!*s)
            break;
        size_t n = 0, depth = 0;
        for (; s[n]; n++) {
            if (s[n] == '{')
                depth++;
            else if (s[n] == '}' && depth > 0)
                depth--;
            else if (depth == 0 && strchr(seps, s[n]))
                break;
        }
        if (count + 2 > cap) {
            cap *= 2;
            v = xrealloc(v, cap * sizeof *v);
        }
        v[count++] = xstrndup(s, n);
        s += n;
    }
    v[count] = 0;
    return v;
}

void strv_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

size_t strv_len(char **v)
{
    size_t n = 0;
    if (v)
        while (v[n])
            n++;
    return n;
}

int parse_long(const char *s, long *out)
{
    if (!s || !*s || is_ascii_space((unsigned char)*s))
        return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end)
        return -1;
    *out = v;
    return 0;
}
