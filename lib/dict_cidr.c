/* dict_cidr.c: cidr: tables as in Postfix's cidr_table(5): each line is
 *     network/prefix result     e.g. 192.0.2.0/24 REJECT, 2001:db8::/32 OK
 *     address result            a single host (/32 or /128)
 *     !network/prefix result    matches every address of that family NOT in the block
 * IPv4 or IPv6, optionally inside [ ]. Address bits beyond the prefix must be zero (a
 * typo guard, as in Postfix). The first matching line wins. Keys are textual addresses
 * (optionally in brackets); an IPv4-mapped IPv6 key (::ffff:192.0.2.1) also matches IPv4
 * entries; a key that is not an address matches nothing. if/endif blocks are not
 * supported (an error at open). Errors at open name "file:LINE". */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "dict_impl.h"
#include "dict_text.h"
#include "mem.h"

struct cidr_rule {
    int family;                 /* AF_INET or AF_INET6 */
    unsigned char net[16];
    int prefix;
    int negate;
    char *result;
};

typedef struct dict_cidr {
    struct dict dict;
    struct cidr_rule *rules;
    int count, cap;
} dict_cidr;

struct cidr_ctx {
    dict_cidr *d;
    const char *name;
};

/* Parse "addr", "[addr]" into family/bytes. 0 or -1. */
static int parse_addr(const char *text, size_t len, int *family, unsigned char *bytes)
{
    char buf[INET6_ADDRSTRLEN + 2];

    if (len >= 2 && text[0] == '[' && text[len - 1] == ']') {
        text++;
        len -= 2;
    }
    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, text, len);
    buf[len] = 0;
    if (inet_pton(AF_INET, buf, bytes) == 1) {
        *family = AF_INET;
        return 0;
    }
    if (strchr(buf, ':') && inet_pton(AF_INET6, buf, bytes) == 1) {
        *family = AF_INET6;
        return 0;
    }
    return -1;
}

/* 1 if the first `prefix` bits of a and b agree. */
static int prefix_equal(const unsigned char *a, const unsigned char *b, int prefix)
{
    int full = prefix / 8, rest = prefix % 8;
    if (memcmp(a, b, (size_t)full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

static int host_bits_zero(const unsigned char *net, int prefix, int bytes)
{
    for (int bit = prefix; bit < bytes * 8; bit++)
        if (net[bit / 8] & (0x80 >> (bit % 8)))
            return 0;
    return 1;
}

static int parse_line(const char *line, int lineno, void *vctx, char **err)
{
    struct cidr_ctx *c = vctx;
    struct cidr_rule r;
    const char *p = line;

    memset(&r, 0, sizeof(r));
    if (strncmp(line, "if", 2) == 0 || strcmp(line, "endif") == 0) {
        if (line[2] == ' ' || line[2] == '\t' || line[2] == '!' || line[2] == 0
            || strcmp(line, "endif") == 0) {
            *err = xasprintf("%s:%d: if/endif is not supported in cidr tables", c->name, lineno);
            return -1;
        }
    }
    if (*p == '!') {
        r.negate = 1;
        p++;
    }
    size_t n = strcspn(p, " \t");
    const char *slash = memchr(p, '/', n);
    size_t alen = slash ? (size_t)(slash - p) : n;
    if (parse_addr(p, alen, &r.family, r.net) < 0) {
        *err = xasprintf("%s:%d: bad network address \"%.*s\"", c->name, lineno,
                         (int)(alen > 64 ? 64 : alen), p);
        return -1;
    }
    int maxbits = r.family == AF_INET ? 32 : 128;
    r.prefix = maxbits;
    if (slash) {
        const char *q = slash + 1;
        size_t plen = n - alen - 1;
        long v = 0;
        if (plen == 0 || plen > 3) {
            *err = xasprintf("%s:%d: bad network mask", c->name, lineno);
            return -1;
        }
        for (size_t i = 0; i < plen; i++) {
            if (q[i] < '0' || q[i] > '9') {
                *err = xasprintf("%s:%d: bad network mask", c->name, lineno);
                return -1;
            }
            v = v * 10 + (q[i] - '0');
        }
        if (v > maxbits) {
            *err = xasprintf("%s:%d: network mask /%ld too long for the address", c->name,
                             lineno, v);
            return -1;
        }
        r.prefix = (int)v;
    }
    if (!host_bits_zero(r.net, r.prefix, maxbits / 8)) {
        *err = xasprintf("%s:%d: non-null host address bits in \"%.*s\" (check the /%d mask)",
                         c->name, lineno, (int)(n > 64 ? 64 : n), p, r.prefix);
        return -1;
    }
    p += n;
    while (*p == ' ' || *p == '\t')
        p++;
    if (!*p) {
        *err = xasprintf("%s:%d: missing result after the network", c->name, lineno);
        return -1;
    }
    r.result = xstrdup(p);
    dict_cidr *d = c->d;
    if (d->count == d->cap) {
        d->cap = d->cap ? 2 * d->cap : 16;
        d->rules = xrealloc(d->rules, (size_t)d->cap * sizeof(*d->rules));
    }
    d->rules[d->count++] = r;
    return 0;
}

static int dict_cidr_lookup(dict *dd, const char *key, str *value)
{
    dict_cidr *d = (dict_cidr *)dd;
    unsigned char addr[16], v4[4];
    int family, have_v4 = 0;
    static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

    if (parse_addr(key, strlen(key), &family, addr) < 0)
        return 0;
    if (family == AF_INET) {
        memcpy(v4, addr, 4);
        have_v4 = 1;
    } else if (memcmp(addr, mapped, 12) == 0) {
        memcpy(v4, addr + 12, 4);
        have_v4 = 1;
    }
    for (int i = 0; i < d->count; i++) {
        const struct cidr_rule *r = &d->rules[i];
        int match;
        if (r->family == AF_INET) {
            if (!have_v4)
                continue;
            match = prefix_equal(r->net, v4, r->prefix);
        } else {
            if (family != AF_INET6)
                continue;
            match = prefix_equal(r->net, addr, r->prefix);
        }
        if (match != r->negate) {
            str_set(value, r->result);
            return 1;
        }
    }
    return 0;
}

static void dict_cidr_close(dict *dd)
{
    dict_cidr *d = (dict_cidr *)dd;
    for (int i = 0; i < d->count; i++)
        free(d->rules[i].result);
    free(d->rules);
    free(d);
}

dict *dict_cidr_open_buf(const char *name, const char *buf, size_t len, char **err)
{
    dict_cidr *d = xcalloc(1, sizeof(*d));
    struct cidr_ctx c = { d, name };

    d->dict.spec = xasprintf("cidr:%s", name);
    d->dict.lookup = dict_cidr_lookup;
    d->dict.close = dict_cidr_close;
    if (dict_text_parse(name, buf, len, parse_line, &c, err) < 0) {
        dict_close(&d->dict);
        return NULL;
    }
    return &d->dict;
}

dict *dict_cidr_open(const char *name, char **err)
{
    size_t len;
    char *buf = dict_text_read(name, &len, err);
    if (!buf)
        return NULL;
    dict *d = dict_cidr_open_buf(name, buf, len, err);
    free(buf);
    return d;
}
