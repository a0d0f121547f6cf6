/* netmatch.c: matching client IP addresses against network lists such as mynetworks
 * (see netmatch.h). Entries: a.b.c.d, a.b.c.d/len, [v6], [v6]/len, v6, v6/len; a leading
 * '!' negates an entry (the first entry that matches decides). Host bits beyond the prefix
 * length are an error, as in Postfix. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d), both in
 * entries and in the addresses matched, are treated as IPv4. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "netmatch.h"

#define NETMATCH_MAX_ENTRY 128

struct net_entry {
    int family;                  /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    int prefix;                  /* bits */
    int negate;
};

struct netmatch {
    struct net_entry *entries;
    int count;
};

static const unsigned char v4mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* Parse a textual address (optionally in [brackets]) into family/bytes. 0 or -1. */
static int parse_ip(const char *s, size_t len, int *family, unsigned char addr[16])
{
    char buf[INET6_ADDRSTRLEN + 8];
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
        s++;
        len -= 2;
    }
    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, s, len);
    buf[len] = 0;
    if (strchr(buf, ':')) {
        if (inet_pton(AF_INET6, buf, addr) != 1)
            return -1;
        if (memcmp(addr, v4mapped_prefix, 12) == 0) {
            memmove(addr, addr + 12, 4);
            *family = AF_INET;
            return 1;                /* tell the caller it was mapped */
        }
        *family = AF_INET6;
        return 0;
    }
    if (inet_pton(AF_INET, buf, addr) != 1)
        return -1;
    *family = AF_INET;
    return 0;
}

static int prefix_match(const unsigned char *a, const unsigned char *net, int bits)
{
    int bytes = bits / 8, rest = bits % 8;
    if (memcmp(a, net, (size_t)bytes) != 0)
        return 0;
    if (rest) {
        unsigned char mask = (unsigned char)(0xff << (8 - rest));
        if ((a[bytes] & mask) != (net[bytes] & mask))
            return 0;
    }
    return 1;
}

/* 1 if no bits are set after the first `bits`. */
static int host_bits_clear(const unsigned char *a, int bits, int total)
{
    for (int i = bits; i < total; i++)
        if (a[i / 8] & (0x80 >> (i % 8)))
            return 0;
    return 1;
}

static int parse_entry(const char *pat, struct net_entry *e, char **err)
{
    const char *p = pat;
    memset(e, 0, sizeof(*e));
    if (*p == '!') {
        e->negate = 1;
        p++;
    }
    size_t len = strlen(p);
    if (len == 0 || len > NETMATCH_MAX_ENTRY) {
        *err = xasprintf("bad network pattern \"%.200s\"", pat);
        return -1;
    }
    const char *slash = strchr(p, '/');
    size_t alen = slash ? (size_t)(slash - p) : len;
    int mapped = parse_ip(p, alen, &e->family, e->addr);
    if (mapped < 0) {
        *err = xasprintf("bad network address in \"%.200s\"", pat);
        return -1;
    }
    int total = e->family == AF_INET ? 32 : 128;
    if (slash) {
        long bits = 0;
        const char *b = slash + 1;
        if (!*b || strlen(b) > 3) {
            *err = xasprintf("bad prefix length in \"%.200s\"", pat);
            return -1;
        }
        for (; *b; b++) {
            if (*b < '0' || *b > '9') {
                *err = xasprintf("bad prefix length in \"%.200s\"", pat);
                return -1;
            }
            bits = bits * 10 + (*b - '0');
        }
        if (mapped) {                /* ::ffff:a.b.c.d/len counts the IPv6 bits */
            if (bits < 96) {
                *err = xasprintf("prefix length too short for an IPv4-mapped address in \"%.200s\"", pat);
                return -1;
            }
            bits -= 96;
        }
        if (bits > total) {
            *err = xasprintf("prefix length too long in \"%.200s\"", pat);
            return -1;
        }
        e->prefix = (int)bits;
    } else {
        e->prefix = total;
    }
    if (!host_bits_clear(e->addr, e->prefix, total)) {
        *err = xasprintf("non-null host address bits in \"%.200s\"", pat);
        return -1;
    }
    return 0;
}

netmatch *netmatch_parse(char **patterns, char **err)
{
    netmatch *m = xcalloc(1, sizeof(*m));
    size_t n = 0;
    while (patterns && patterns[n])
        n++;
    m->entries = xcalloc(n ? n : 1, sizeof(*m->entries));
    for (size_t i = 0; i < n; i++) {
        if (parse_entry(patterns[i], &m->entries[m->count], err) < 0) {
            netmatch_free(m);
            return NULL;
        }
        m->count++;
    }
    return m;
}

void netmatch_free(netmatch *m)
{
    if (!m)
        return;
    free(m->entries);
    free(m);
}

int netmatch_match(const netmatch *m, const char *addr)
{
    int family;
    unsigned char a[16];
    if (!m || !addr || parse_ip(addr, strlen(addr), &family, a) < 0)
        return 0;
    for (int i = 0; i < m->count; i++) {
        const struct net_entry *e = &m->entries[i];
        if (e->family == family && prefix_match(a, e->addr, e->prefix))
            return !e->negate;
    }
    return 0;
}
