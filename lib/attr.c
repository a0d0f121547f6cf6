/* attr.c: the name=value attribute-list codec (see attr.h) that every postern daemon
 * uses for requests and replies over UNIX sockets.
 *
 * Encoding is byte-exact: bytes 0x21..0x7e except '%' and the space are written as they
 * are, everything else as %XX with uppercase hex. Decoding is strict: it rejects bad names,
 * missing '=', raw bytes that the encoder would have escaped, bad or lowercase escapes,
 * duplicate names, over-long lines or values, too many attributes and lists whose total
 * size exceeds ATTR_MAX_TOTAL, so a hostile peer cannot make a reader allocate without
 * bound. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attr.h"
#include "log.h"
#include "mem.h"

/* Longest encoded line: name, '=', every value byte escaped, newline. */
#define ATTR_MAX_NAME 64
#define ATTR_MAX_LINE (ATTR_MAX_NAME + 1 + 3 * (size_t)ATTR_MAX_VALUE + 1)

static const char hexdigits[] = "0123456789ABCDEF";

void attr_init(attr_list *l)
{
    l->items = NULL;
    l->count = 0;
    l->cap = 0;
}

void attr_clear(attr_list *l)
{
    for (int i = 0; i < l->count; i++) {
        free(l->items[i].name);
        free(l->items[i].value);
    }
    l->count = 0;
}

void attr_free(attr_list *l)
{
    attr_clear(l);
    free(l->items);
    attr_init(l);
}

/* 1 if name matches [a-z0-9_]{1,64}. */
static int attr_name_valid(const char *name, size_t len)
{
    if (len == 0 || len > ATTR_MAX_NAME)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

static struct attr *attr_find_mutable(const attr_list *l, const char *name)
{
    for (int i = 0; i < l->count; i++)
        if (strcmp(l->items[i].name, name) == 0)
            return &l->items[i];
    return NULL;
}

/* Append without validation (callers have checked name and duplicates). Takes ownership
 * of value, which must be NUL-terminated at value[vlen]. */
static void attr_append_owned(attr_list *l, const char *name, size_t nlen, char *value, size_t vlen)
{
    if (l->count == l->cap) {
        int ncap = l->cap ? l->cap * 2 : 8;
        l->items = xrealloc(l->items, (size_t)ncap * sizeof(*l->items));
        l->cap = ncap;
    }
    struct attr *a = &l->items[l->count++];
    a->name = xstrndup(name, nlen);
    a->value = value;
    a->vlen = vlen;
}

void attr_addn(attr_list *l, const char *name, const void *value, size_t vlen)
{
    size_t nlen = strlen(name);
    if (!attr_name_valid(name, nlen))
        msg_panic("attr_addn: invalid attribute name \"%.80s\"", name);
    if (vlen > ATTR_MAX_VALUE)
        msg_panic("attr_addn: value of %s too long (%zu bytes)", name, vlen);
    char *copy = xmalloc(vlen + 1);
    if (vlen)
        memcpy(copy, value, vlen);
    copy[vlen] = 0;
    struct attr *old = attr_find_mutable(l, name);
    if (old) {                       /* adding an existing name replaces its value */
        free(old->value);
        old->value = copy;
        old->vlen = vlen;
        return;
    }
    if (l->count >= ATTR_MAX_COUNT)
        msg_panic("attr_addn: more than %d attributes", ATTR_MAX_COUNT);
    attr_append_owned(l, name, nlen, copy, vlen);
}

void attr_add(attr_list *l, const char *name, const char *value)
{
    attr_addn(l, name, value, strlen(value));
}

void attr_addf(attr_list *l, const char *name, const char *fmt, ...)
{
    va_list ap;
    str s;
    str_init(&s);
    va_start(ap, fmt);
    str_vappendf(&s, fmt, ap);
    va_end(ap);
    attr_addn(l, name, s.data, s.len);
    str_free(&s);
}

void attr_add_long(attr_list *l, const char *name, long v)
{
    attr_addf(l, name, "%ld", v);
}

const struct attr *attr_find(const attr_list *l, const char *name)
{
    return attr_find_mutable(l, name);
}

const char *attr_get(const attr_list *l, const char *name)
{
    const struct attr *a = attr_find(l, name);
    return a ? a->value : NULL;
}

int attr_get_long(const attr_list *l, const char *name, long *out)
{
    const struct attr *a = attr_find(l, name);
    long v;
    if (!a || strlen(a->value) != a->vlen || parse_long(a->value, &v) < 0)
        return -1;
    *out = v;
    return 0;
}

/* --- encoding ---------------------------------------------------------------------- */

static int attr_byte_plain(unsigned char c)
{
    return (c == ' ' || (c >= 0x21 && c <= 0x7e)) && c != '%';
}

void attr_encode(const attr_list *l, str *out)
{
    for (int i = 0; i < l->count; i++) {
        const struct attr *a = &l->items[i];
        str_appends(out, a->name);
        str_putc(out, '=');
        const unsigned char *v = (const unsigned char *)a->value;
        size_t run = 0;          /* copy runs of plain bytes in one call */
        for (size_t j = 0; j < a->vlen; j++) {
            if (attr_byte_plain(v[j])) {
                run++;
                continue;
            }
            if (run)
                str_append(out, v + j - run, run);
            run = 0;
            char esc[3] = { '%', hexdigits[v[j] >> 4], hexdigits[v[j] & 15] };
            str_append(out, esc, 3);
        }
        if (run)
            str_append(out, v + a->vlen - run, run);
        str_putc(out, '\n');
    }
    str_putc(out, '\n');
}

/* --- decoding ---------------------------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Parse one attribute line (without its '\n') and append it to out. *total counts the
 * decoded bytes of the list so far. 0 or -1 with *err. */
static int attr_parse_line(const char *line, size_t len, attr_list *out, size_t *total,
                           const char **err)
{
    const char *eq = memchr(line, '=', len);
    if (!eq) {
        *err = "attribute without '='";
        return -1;
    }
    size_t nlen = (size_t)(eq - line);
    if (!attr_name_valid(line, nlen)) {
        *err = "bad attribute name";
        return -1;
    }
    if (out->count >= ATTR_MAX_COUNT) {
        *err = "too many attributes";
        return -1;
    }
    for (int i = 0; i < out->count; i++)
        if (strlen(out->items[i].name) == nlen && memcmp(out->items[i].name, line, nlen) == 0) {
            *err = "duplicate attribute";
            return -1;
        }
    const char *v = eq + 1;
    size_t elen = len - nlen - 1;
    /* First pass: validate and count, so the allocation is exact and bounded. */
    size_t vlen = 0;
    for (size_t i = 0; i < elen; i++, vlen++) {
        unsigned char c = (unsigned char)v[i];
        if (c == '%') {
            if (i + 2 >= elen) {
                *err = "truncated %XX escape in attribute value";
                return -1;
            }
            if (hexval(v[i + 1]) < 0 || hexval(v[i + 2]) < 0) {
                *err = "bad %XX escape in attribute value";
                return -1;
            }
            i += 2;
        } else if (!attr_byte_plain(c)) {
            *err = "unescaped control or 8-bit byte in attribute value";
            return -1;
        }
    }
    if (vlen > ATTR_MAX_VALUE) {
        *err = "attribute value too long";
        return -1;
    }
    if (*total + vlen > ATTR_MAX_TOTAL) {
        *err = "attribute list too large";
        return -1;
    }
    *total += vlen;
    char *value = xmalloc(vlen + 1);
    size_t o = 0;
    for (size_t i = 0; i < elen; i++) {
        if (v[i] == '%') {
            value[o++] = (char)(hexval(v[i + 1]) << 4 | hexval(v[i + 2]));
            i += 2;
        } else {
            value[o++] = v[i];
        }
    }
    value[o] = 0;
    attr_append_owned(out, line, nlen, value, vlen);
    return 0;
}

long attr_decode(const char *buf, size_t len, attr_list *out, const char **err)
{
    size_t pos = 0, total = 0;
    attr_clear(out);
    for (;;) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        if (!nl) {
            if (len - pos > ATTR_MAX_LINE) {
                *err = "attribute line too long";
                attr_clear(out);
                return -1;
            }
            attr_clear(out);
            return 0;                    /* incomplete */
        }
        size_t llen = (size_t)(nl - (buf + pos));
        if (llen == 0)
            return (long)(pos + 1);      /* empty line ends the list */
        if (llen + 1 > ATTR_MAX_LINE) {
            *err = "attribute line too long";
            attr_clear(out);
            return -1;
        }
        if (attr_parse_line(buf + pos, llen, out, &total, err) < 0) {
            attr_clear(out);
            return -1;
        }
        pos += llen + 1;
    }
}

/* --- stream I/O ---------------------------------------------------------------------- */

int attr_write(bio *b, const attr_list *l)
{
    str s;
    str_init(&s);
    attr_encode(l, &s);
    int rc = bio_write(b, s.data, s.len);
    str_free(&s);
    if (rc < 0)
        return -1;
    return bio_flush(b);
}

int attr_read(bio *b, attr_list *out, const char **err)
{
    str line;
    size_t total = 0;
    int rc = -1;
    attr_clear(out);
    str_init(&line);
    for (;;) {
        int complete = 0;
        ssize_t n = bio_getline(b, &line, ATTR_MAX_LINE, &complete);
        if (n < 0) {
            *err = out->count ? "unexpected end of attribute list" : bio_strerror(b);
            break;
        }
        if (!complete || line.len == 0 || line.data[line.len - 1] != '\n') {
            *err = line.len >= ATTR_MAX_LINE ? "attribute line too long"
                                             : "unexpected end of attribute list";
            break;
        }
        if (line.len == 1) {             /* empty line: end of list */
            rc = 0;
            break;
        }
        if (attr_parse_line(line.data, line.len - 1, out, &total, err) < 0)
            break;
    }
    str_free(&line);
    if (rc < 0)
        attr_clear(out);
    return rc;
}

int attr_send_protocol(bio *b, const char *name)
{
    attr_list l;
    attr_init(&l);
    attr_add(&l, "protocol", name);
    int rc = attr_write(b, &l);
    attr_free(&l);
    return rc;
}

int attr_expect_protocol(bio *b, const char *name, const char **err)
{
    attr_list l;
    attr_init(&l);
    int rc = attr_read(b, &l, err);
    if (rc == 0) {
        const struct attr *p = attr_find(&l, "protocol");
        if (!p || l.count != 1) {
            *err = "expected a protocol announcement";
            rc = -1;
        } else if (strlen(p->value) != p->vlen || strcmp(p->value, name) != 0) {
            *err = "unexpected protocol name";
            rc = -1;
        }
    }
    attr_free(&l);
    return rc;
}
