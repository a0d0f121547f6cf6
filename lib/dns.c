/* dns.c: postern's DNS resolver (see dns.h): one glibc res_state per process pointed at
 * $dns_servers, lookups with res_nquery, and strict parsers for MX, A/AAAA and TXT
 * replies built on ns_initparse/ns_parserr. Nothing in a reply is trusted. At the end:
 * client names for smtpd (hosts file first, then PTR with forward confirmation). */
#include "dns.h"
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <errno.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <unistd.h>
#include "../lib/config.h"  /* not "config.h": the build dir holds autoconf's config.h */
#include "log.h"
#include "mem.h"
#include "readfile.h"

#define DNS_REPLY_MAX 65536
#define DNS_CNAME_MAX 8

static struct __res_state dns_state;
static int dns_ready;

/* "a.b.c.d", "a.b.c.d:port" or "[a.b.c.d]:port" into sin; 0 or -1. */
static int parse_server(const char *spec, struct sockaddr_in *sin)
{
    char host[64];
    const char *port = NULL, *end;
    size_t hlen;
    long p = 53;

    if (*spec == '[') {
        end = strchr(spec, ']');
        if (!end)
            return -1;
        hlen = (size_t) (end - spec - 1);
        spec++;
        if (end[1] == ':')
            port = end + 2;
        else if (end[1])
            return -1;
    } else {
        end = strchr(spec, ':');
        if (end && strchr(end + 1, ':'))
            return -1;                   /* bare IPv6: not supported */
        hlen = end ? (size_t) (end - spec) : strlen(spec);
        if (end)
            port = end + 1;
    }
    if (hlen == 0 || hlen >= sizeof(host))
        return -1;
    memcpy(host, spec, hlen);
    host[hlen] = 0;
    if (port && (parse_long(port, &p) < 0 || p < 1 || p > 65535))
        return -1;
    memset(sin, 0, sizeof(*sin));
    sin->sin_family = AF_INET;
    sin->sin_port = htons((unsigned short) p);
    if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
        return -1;
    return 0;
}

int dns_init(void)
{
    char **servers = config_list("dns_servers");
    long timeout = config_time("dns_timeout");
    long retries = config_int("dns_retries");
    struct timeval tv;
    int rc = 0, n = 0;

    if (dns_ready)
        res_nclose(&dns_state);
    memset(&dns_state, 0, sizeof(dns_state));
    if (res_ninit(&dns_state) != 0)
        msg_warn("dns: res_ninit failed; using resolver defaults");
    dns_state.options &= ~(unsigned long) (RES_DNSRCH | RES_DEFNAMES);
    dns_state.retrans = timeout < 1 ? 1 : timeout > 60 ? 60 : (int) timeout;
    dns_state.retry = retries < 1 ? 1 : retries > 5 ? 5 : (int) retries;
    for (int i = 0; servers[i]; i++) {
        struct sockaddr_in sin;
        if (n >= MAXNS) {
            msg_warn("dns_servers: more than %d servers; ignoring \"%.64s\"", MAXNS, servers[i]);
            rc = -1;
            continue;
        }
        if (parse_server(servers[i], &sin) < 0) {
            msg_warn("dns_servers: bad entry \"%.64s\" (use IPv4 address[:port])", servers[i]);
            rc = -1;
            continue;
        }
        dns_state.nsaddr_list[n++] = sin;
    }
    if (n > 0)
        dns_state.nscount = n;
    strv_free(servers);
    gettimeofday(&tv, NULL);
    srandom((unsigned) (tv.tv_sec ^ tv.tv_usec ^ ((unsigned) getpid() << 16)));
    dns_ready = 1;
    return rc;
}

const char *dns_status_name(int status)
{
    switch (status) {
    case DNS_OK: return "OK";
    case DNS_NOTFOUND: return "NXDOMAIN";
    case DNS_NODATA: return "NODATA";
    case DNS_TEMPFAIL: return "TEMPFAIL";
    default: return "PERMFAIL";
    }
}

static const char *type_name(int type)
{
    switch (type) {
    case ns_t_mx: return "MX";
    case ns_t_a: return "A";
    case ns_t_aaaa: return "AAAA";
    case ns_t_txt: return "TXT";
    case ns_t_ptr: return "PTR";
    default: return "?";
    }
}

/* Lowercase copy without the trailing dot ("." becomes ""); -1 if it does not fit. */
static int normalize_name(const char *in, char *out, size_t outlen)
{
    size_t n = strlen(in);

    if (n > 0 && in[n - 1] == '.')
        n--;
    if (n >= outlen)
        return -1;
    for (size_t i = 0; i < n; i++)
        out[i] = (char) ((in[i] >= 'A' && in[i] <= 'Z') ? in[i] + 32 : in[i]);
    out[n] = 0;
    return 0;
}

/* A host name we are willing to use: LDH labels (and '_'), 1..63 per label, no escapes. */
static int hostname_ok(const char *s)
{
    size_t label = 0, total = 0;

    if (!*s)
        return 0;
    for (; *s; s++, total++) {
        char c = *s;
        if (c == '.') {
            if (label == 0)
                return 0;
            label = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '-' || c == '_'))
            return 0;
        if (++label > 63)
            return 0;
    }
    return total <= DNS_NAME_MAX && label > 0;
}

struct reply {
    ns_msg msg;
    char chain[DNS_CNAME_MAX][DNS_NAME_MAX + 2];
    int nchain;
};

static int in_chain(const struct reply *r, const char *name)
{
    for (int i = 0; i < r->nchain; i++)
        if (strcmp(r->chain[i], name) == 0)
            return 1;
    return 0;
}

/* Open the reply, check its rcode and follow CNAMEs from qname. DNS_OK when there is an
 * answer section to look at; else the status for the whole reply. */
static int reply_open(struct reply *r, const unsigned char *msg, size_t len, const char *qname,
                      int type, str *why)
{
    int changed = 1;

    if (len > DNS_REPLY_MAX || ns_initparse(msg, (int) len, &r->msg) < 0) {
        str_printf(why, "malformed DNS reply for name=%.255s type=%s", qname, type_name(type));
        return DNS_TEMPFAIL;
    }
    switch (ns_msg_getflag(r->msg, ns_f_rcode)) {
    case ns_r_noerror:
        break;
    case ns_r_nxdomain:
        str_printf(why, "Name service error for name=%.255s type=%s: Host not found",
                   qname, type_name(type));
        return DNS_NOTFOUND;
    default:
        str_printf(why, "Name service error for name=%.255s type=%s: Host not found, "
                   "try again", qname, type_name(type));
        return DNS_TEMPFAIL;
    }
    if (normalize_name(qname, r->chain[0], sizeof(r->chain[0])) < 0) {
        str_printf(why, "name too long");
        return DNS_PERMFAIL;
    }
    r->nchain = 1;
    for (int pass = 0; changed && pass < DNS_CNAME_MAX; pass++) {
        changed = 0;
        for (int i = 0; i < ns_msg_count(r->msg, ns_s_an); i++) {
            ns_rr rr;
            char owner[DNS_NAME_MAX + 2], target[NS_MAXDNAME];
            if (ns_parserr(&r->msg, ns_s_an, i, &rr) < 0) {
                str_printf(why, "malformed DNS reply for name=%.255s type=%s", qname,
                           type_name(type));
                return DNS_TEMPFAIL;
            }
            if (ns_rr_type(rr) != ns_t_cname || ns_rr_class(rr) != ns_c_in)
                continue;
            if (normalize_name(ns_rr_name(rr), owner, sizeof(owner)) < 0
                || !in_chain(r, owner))
                continue;
            if (ns_name_uncompress(ns_msg_base(r->msg), ns_msg_end(r->msg), ns_rr_rdata(rr),
                                   target, sizeof(target)) < 0
                || normalize_name(target, owner, sizeof(owner)) < 0)
                continue;
            if (!in_chain(r, owner) && r->nchain < DNS_CNAME_MAX) {
                memcpy(r->chain[r->nchain++], owner, sizeof(owner));
                changed = 1;
            }
        }
    }
    return DNS_OK;
}

/* Walk answer records of `type` owned by a chain name; cb returns 0 to keep, -1 to flag
 * a malformed record (skipped). Returns the number of records cb kept. */
typedef int (*rr_cb)(const struct reply *r, const ns_rr *rr, void *ctx);
static int reply_walk(struct reply *r, int type, rr_cb cb, void *ctx, int *bad)
{
    int kept = 0;

    *bad = 0;
    for (int i = 0; i < ns_msg_count(r->msg, ns_s_an) && kept < DNS_MAX_RECORDS; i++) {
        ns_rr rr;
        char owner[DNS_NAME_MAX + 2];
        if (ns_parserr(&r->msg, ns_s_an, i, &rr) < 0) {
            (*bad)++;
            break;
        }
        if ((int) ns_rr_type(rr) != type || ns_rr_class(rr) != ns_c_in)
            continue;
        if (normalize_name(ns_rr_name(rr), owner, sizeof(owner)) < 0 || !in_chain(r, owner))
            continue;
        if (cb(r, &rr, ctx) == 0)
            kept++;
        else
            (*bad)++;
    }
    return kept;
}

static int finish_walk(int kept, int bad, const char *qname, int type, str *why)
{
    if (kept > 0)
        return DNS_OK;
    if (bad > 0) {
        str_printf(why, "malformed %s record in DNS reply for name=%.255s", type_name(type),
                   qname);
        return DNS_PERMFAIL;
    }
    str_printf(why, "Name service error for name=%.255s type=%s: No address associated "
               "with hostname", qname, type_name(type));
    return DNS_NODATA;
}

static int mx_cb(const struct reply *r, const ns_rr *rr, void *ctx)
{
    struct dns_mx_list *l = ctx;
    char name[NS_MAXDNAME];
    const unsigned char *rd = ns_rr_rdata(*rr);
    int used;
    struct dns_mx mx;

    if (ns_rr_rdlen(*rr) < 3)
        return -1;
    used = ns_name_uncompress(ns_msg_base(r->msg), ns_msg_end(r->msg), rd + 2, name,
                              sizeof(name));
    if (used < 1 || used > ns_rr_rdlen(*rr) - 2)
        return -1;
    if (normalize_name(name, mx.host, sizeof(mx.host)) < 0)
        return -1;
    if (mx.host[0] && !hostname_ok(mx.host))
        return -1;
    mx.pref = (rd[0] << 8) | rd[1];
    l->items = xrealloc(l->items, (size_t) (l->count + 1) * sizeof(*l->items));
    l->items[l->count++] = mx;
    return 0;
}

int dns_parse_mx(const unsigned char *msg, size_t len, const char *qname,
                 struct dns_mx_list *out, str *why)
{
    struct reply r;
    int bad, kept, rc = reply_open(&r, msg, len, qname, ns_t_mx, why);

    if (rc != DNS_OK)
        return rc;
    kept = reply_walk(&r, ns_t_mx, mx_cb, out, &bad);
    return finish_walk(kept, bad, qname, ns_t_mx, why);
}

struct addr_ctx { struct dns_addr_list *l; int type; };

static int addr_cb(const struct reply *r, const ns_rr *rr, void *ctxp)
{
    struct addr_ctx *c = ctxp;
    struct dns_addr a;
    size_t need = c->type == ns_t_a ? 4 : 16;

    (void) r;
    if (ns_rr_rdlen(*rr) != need)
        return -1;
    memset(&a, 0, sizeof(a));
    a.family = c->type == ns_t_a ? AF_INET : AF_INET6;
    memcpy(a.bytes, ns_rr_rdata(*rr), need);
    if (!inet_ntop(a.family, a.bytes, a.text, sizeof(a.text)))
        return -1;
    for (int i = 0; i < c->l->count; i++)
        if (c->l->items[i].family == a.family && memcmp(c->l->items[i].bytes, a.bytes, 16) == 0)
            return 0;                       /* duplicate: keep silently */
    c->l->items = xrealloc(c->l->items, (size_t) (c->l->count + 1) * sizeof(*c->l->items));
    c->l->items[c->l->count++] = a;
    return 0;
}

int dns_parse_addr(const unsigned char *msg, size_t len, const char *qname, int type,
                   struct dns_addr_list *out, str *why)
{
    struct reply r;
    struct addr_ctx c = { out, type };
    int bad, kept, rc;

    if (type != ns_t_a && type != ns_t_aaaa) {
        str_printf(why, "unsupported address type %d", type);
        return DNS_PERMFAIL;
    }
    rc = reply_open(&r, msg, len, qname, type, why);
    if (rc != DNS_OK)
        return rc;
    kept = reply_walk(&r, type, addr_cb, &c, &bad);
    return finish_walk(kept, bad, qname, type, why);
}

struct txt_ctx { char **v; size_t n; };

static int txt_cb(const struct reply *r, const ns_rr *rr, void *ctxp)
{
    struct txt_ctx *c = ctxp;
    const unsigned char *p = ns_rr_rdata(*rr), *end = p + ns_rr_rdlen(*rr);
    str s;

    (void) r;
    str_init(&s);
    while (p < end) {
        size_t n = *p++;
        if (n > (size_t) (end - p) || s.len + n > DNS_TXT_MAX || memchr(p, 0, n)) {
            str_free(&s);
            return -1;
        }
        str_append(&s, p, n);
        p += n;
    }
    c->v = xrealloc(c->v, (c->n + 2) * sizeof(*c->v));
    c->v[c->n++] = str_steal(&s);
    c->v[c->n] = NULL;
    str_free(&s);
    return 0;
}

int dns_parse_txt(const unsigned char *msg, size_t len, const char *qname, char ***out,
                  str *why)
{
    struct reply r;
    struct txt_ctx c = { NULL, 0 };
    int bad, kept, rc;

    if (*out)
        for (; (*out)[c.n]; c.n++)
            ;
    c.v = *out;
    rc = reply_open(&r, msg, len, qname, ns_t_txt, why);
    if (rc != DNS_OK)
        return rc;
    kept = reply_walk(&r, ns_t_txt, txt_cb, &c, &bad);
    *out = c.v;
    return finish_walk(kept, bad, qname, ns_t_txt, why);
}

struct ptr_ctx { char **v; size_t n; };

static int ptr_cb(const struct reply *r, const ns_rr *rr, void *ctxp)
{
    struct ptr_ctx *c = ctxp;
    char name[NS_MAXDNAME], host[DNS_NAME_MAX + 2];
    int used = ns_name_uncompress(ns_msg_base(r->msg), ns_msg_end(r->msg), ns_rr_rdata(*rr),
                                  name, sizeof(name));

    if (used < 1 || used > ns_rr_rdlen(*rr) || normalize_name(name, host, sizeof(host)) < 0
        || host[0] == 0 || !hostname_ok(host))
        return -1;
    c->v = xrealloc(c->v, (c->n + 2) * sizeof(*c->v));
    c->v[c->n++] = xstrdup(host);
    c->v[c->n] = NULL;
    return 0;
}

int dns_parse_ptr(const unsigned char *msg, size_t len, const char *qname, char ***out,
                  str *why)
{
    struct reply r;
    struct ptr_ctx c = { NULL, 0 };
    int bad, kept, rc;

    if (*out)
        for (; (*out)[c.n]; c.n++)
            ;
    c.v = *out;
    rc = reply_open(&r, msg, len, qname, ns_t_ptr, why);
    if (rc != DNS_OK)
        return rc;
    kept = reply_walk(&r, ns_t_ptr, ptr_cb, &c, &bad);
    *out = c.v;
    return finish_walk(kept, bad, qname, ns_t_ptr, why);
}

static int mx_cmp(const void *a, const void *b)
{
    const struct dns_mx *x = a, *y = b;
    return x->pref - y->pref;
}

void dns_mx_sort(struct dns_mx_list *l)
{
    int real = 0, j = 0;

    for (int i = 0; i < l->count; i++)
        real += l->items[i].host[0] != 0;
    if (real > 0 && real < l->count) {         /* "." next to real hosts: drop it */
        for (int i = 0; i < l->count; i++)
            if (l->items[i].host[0])
                l->items[j++] = l->items[i];
        l->count = j;
    }
    if (l->count > 1)
        qsort(l->items, (size_t) l->count, sizeof(*l->items), mx_cmp);
    for (int start = 0; start < l->count;) {   /* Fisher-Yates within each preference */
        int end = start;
        while (end < l->count && l->items[end].pref == l->items[start].pref)
            end++;
        for (int i = end - 1; i > start; i--) {
            int k = start + (int) (random() % (i - start + 1));
            struct dns_mx t = l->items[i];
            l->items[i] = l->items[k];
            l->items[k] = t;
        }
        start = end;
    }
}

int dns_mx_is_null(const struct dns_mx_list *l)
{
    return l->count == 1 && l->items[0].host[0] == 0;
}

void dns_mx_free(struct dns_mx_list *l)
{
    free(l->items);
    l->items = NULL;
    l->count = 0;
}

void dns_addr_free(struct dns_addr_list *l)
{
    free(l->items);
    l->items = NULL;
    l->count = 0;
}

/* Run one query. Returns DNS_OK with *ans (malloc'd) / *anslen, or a failure status. */
static int query(const char *name, int type, unsigned char **ans, int *anslen, str *why)
{
    char norm[DNS_NAME_MAX + 2];
    unsigned char *buf;
    int n;

    *ans = NULL;
    if (normalize_name(name, norm, sizeof(norm)) < 0 || !hostname_ok(norm)) {
        str_printf(why, "Name service error for name=%.255s type=%s: bad domain name syntax",
                   name, type_name(type));
        return DNS_PERMFAIL;
    }
    if (!dns_ready)
        dns_init();
    buf = xmalloc(DNS_REPLY_MAX);
    n = res_nquery(&dns_state, norm, ns_c_in, type, buf, DNS_REPLY_MAX);
    if (n < 0) {
        int h = dns_state.res_h_errno;
        free(buf);
        switch (h) {
        case HOST_NOT_FOUND:
            str_printf(why, "Name service error for name=%s type=%s: Host not found",
                       norm, type_name(type));
            return DNS_NOTFOUND;
        case NO_DATA:
            str_printf(why, "Name service error for name=%s type=%s: No address associated "
                       "with hostname", norm, type_name(type));
            return DNS_NODATA;
        case NO_RECOVERY:
            str_printf(why, "Name service error for name=%s type=%s: Non-recoverable error",
                       norm, type_name(type));
            return DNS_PERMFAIL;
        default:
            str_printf(why, "Name service error for name=%s type=%s: Host not found, "
                       "try again", norm, type_name(type));
            return DNS_TEMPFAIL;
        }
    }
    if (n > DNS_REPLY_MAX)
        n = DNS_REPLY_MAX;
    *ans = buf;
    *anslen = n;
    return DNS_OK;
}

int dns_lookup_mx(const char *domain, struct dns_mx_list *out, str *why)
{
    unsigned char *ans;
    int len, rc;

    out->items = NULL;
    out->count = 0;
    rc = query(domain, ns_t_mx, &ans, &len, why);
    if (rc != DNS_OK)
        return rc;
    rc = dns_parse_mx(ans, (size_t) len, domain, out, why);
    free(ans);
    if (rc == DNS_OK)
        dns_mx_sort(out);
    else
        dns_mx_free(out);
    return rc;
}

static int numeric_addr(const char *host, struct dns_addr_list *out)
{
    struct dns_addr a;

    memset(&a, 0, sizeof(a));
    if (inet_pton(AF_INET, host, a.bytes) == 1)
        a.family = AF_INET;
    else if (inet_pton(AF_INET6, host, a.bytes) == 1)
        a.family = AF_INET6;
    else
        return 0;
    inet_ntop(a.family, a.bytes, a.text, sizeof(a.text));
    out->items = xmalloc(sizeof(*out->items));
    out->items[0] = a;
    out->count = 1;
    return 1;
}

static int failure_rank(int status)
{
    return status == DNS_NOTFOUND ? 3 : status == DNS_TEMPFAIL ? 2
           : status == DNS_PERMFAIL ? 1 : 0;
}

int dns_lookup_addr(const char *host, struct dns_addr_list *out, str *why)
{
    char **protos = config_list("inet_protocols");
    int want4 = 0, want6 = 0, worst = DNS_NODATA, have_why = 0;
    const int types[2] = { ns_t_a, ns_t_aaaa };

    out->items = NULL;
    out->count = 0;
    for (int i = 0; protos[i]; i++) {
        if (strcasecmp(protos[i], "all") == 0)
            want4 = want6 = 1;
        else if (strcasecmp(protos[i], "ipv4") == 0)
            want4 = 1;
        else if (strcasecmp(protos[i], "ipv6") == 0)
            want6 = 1;
    }
    strv_free(protos);
    if (!want4 && !want6)
        want4 = want6 = 1;
    if (numeric_addr(host, out))
        return DNS_OK;
    for (int t = 0; t < 2; t++) {
        unsigned char *ans;
        int len, rc;
        str tmp;
        if ((t == 0 && !want4) || (t == 1 && !want6))
            continue;
        str_init(&tmp);
        rc = query(host, types[t], &ans, &len, &tmp);
        if (rc == DNS_OK) {
            rc = dns_parse_addr(ans, (size_t) len, host, types[t], out, &tmp);
            free(ans);
        }
        /* keep the most telling failure: NXDOMAIN > TEMPFAIL > PERMFAIL > NODATA */
        if (rc != DNS_OK && (failure_rank(rc) > failure_rank(worst) || !have_why)) {
            str_setn(why, tmp.data, tmp.len);
            worst = rc;
            have_why = 1;
        }
        str_free(&tmp);
        if (rc == DNS_NOTFOUND)
            break;                          /* the name does not exist at all */
    }
    if (out->count > 0)
        return DNS_OK;
    return worst;
}

int dns_lookup_txt(const char *name, char ***out, str *why)
{
    unsigned char *ans;
    int len, rc;

    *out = NULL;
    rc = query(name, ns_t_txt, &ans, &len, why);
    if (rc != DNS_OK)
        return rc;
    rc = dns_parse_txt(ans, (size_t) len, name, out, why);
    free(ans);
    if (rc != DNS_OK && *out) {
        strv_free(*out);
        *out = NULL;
    }
    return rc;
}

int dns_lookup_ptr(const char *name, char ***out, str *why)
{
    unsigned char *ans;
    int len, rc;

    *out = NULL;
    rc = query(name, ns_t_ptr, &ans, &len, why);
    if (rc != DNS_OK)
        return rc;
    rc = dns_parse_ptr(ans, (size_t) len, name, out, why);
    free(ans);
    if (rc != DNS_OK && *out) {
        strv_free(*out);
        *out = NULL;
    }
    return rc;
}

/* ---- client names (smtpd_peername_lookup): hosts file, then PTR + forward confirm ---- */

/* Parse a numeric address into family/bytes; 0 or -1. */
static int parse_numeric(const char *addr, int *family, unsigned char bytes[16])
{
    memset(bytes, 0, 16);
    if (inet_pton(AF_INET, addr, bytes) == 1)
        *family = AF_INET;
    else if (inet_pton(AF_INET6, addr, bytes) == 1)
        *family = AF_INET6;
    else
        return -1;
    return 0;
}

int dns_reverse_name(const char *addr, char *out, size_t outlen)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[16];
    int family, n;
    str r;

    if (!addr || strlen(addr) >= 64 || parse_numeric(addr, &family, b) < 0)
        return -1;
    str_init(&r);
    if (family == AF_INET) {
        str_printf(&r, "%u.%u.%u.%u.in-addr.arpa", b[3], b[2], b[1], b[0]);
    } else {
        for (int i = 15; i >= 0; i--)
            str_appendf(&r, "%c.%c.", hex[b[i] & 15], hex[b[i] >> 4]);
        str_appends(&r, "ip6.arpa");
    }
    n = r.len < outlen ? 0 : -1;
    if (n == 0)
        memcpy(out, r.data, r.len + 1);
    str_free(&r);
    return n;
}

/* One hosts(5) line (NUL-terminated, comment already cut): 1 with name when its address
 * is (family, want), else 0. */
static int hosts_line_match(char *line, int family, const unsigned char *want, char *name,
                            size_t namelen)
{
    const char *sep = " \t\r\v\f";
    char *save = NULL, *field_addr, *field_name;
    unsigned char got[16];
    int got_family;
    char norm[DNS_NAME_MAX + 2];

    field_addr = strtok_r(line, sep, &save);
    field_name = field_addr ? strtok_r(NULL, sep, &save) : NULL;
    if (!field_name || strlen(field_addr) >= 64
        || parse_numeric(field_addr, &got_family, got) < 0 || got_family != family
        || memcmp(got, want, family == AF_INET ? 4 : 16) != 0)
        return 0;
    if (normalize_name(field_name, norm, sizeof(norm)) < 0 || !hostname_ok(norm)
        || strlen(norm) >= namelen)
        return 0;
    memcpy(name, norm, strlen(norm) + 1);
    return 1;
}

int dns_hosts_find(const char *text, size_t len, const char *addr, char *name,
                   size_t namelen)
{
    unsigned char want[16];
    char line[DNS_HOSTS_LINE_MAX + 1];
    int family;
    size_t pos = 0;

    if (!text || !addr || strlen(addr) >= 64 || parse_numeric(addr, &family, want) < 0)
        return 0;
    while (pos < len) {
        const char *start = text + pos;
        const char *nl = memchr(start, '\n', len - pos);
        size_t llen = nl ? (size_t) (nl - start) : len - pos;
        pos += llen + (nl ? 1 : 0);
        if (llen > DNS_HOSTS_LINE_MAX || memchr(start, 0, llen))
            continue;                           /* over-long or binary: ignored */
        memcpy(line, start, llen);
        line[llen] = 0;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = 0;
        if (hosts_line_match(line, family, want, name, namelen))
            return 1;
    }
    return 0;
}

/* The hosts file, read once per process ("" when missing, unreadable or too big). */
static const str *hosts_text(void)
{
    static str text;
    static int loaded;
    char *err = NULL;

    if (!loaded) {
        loaded = 1;
        str_init(&text);
        if (readfile(DNS_HOSTS_FILE, DNS_HOSTS_SIZE_MAX, &text, &err) < 0) {
            if (errno != ENOENT)
                msg_warn("%s; not using it for client names", err);
            free(err);
            str_set(&text, "");
        }
    }
    return &text;
}

static int is_loopback(int family, const unsigned char *b)
{
    static const unsigned char v6_loopback[16] = { [15] = 1 };
    return family == AF_INET ? b[0] == 127 : memcmp(b, v6_loopback, 16) == 0;
}

/* Does name have an A/AAAA record (the client's family) equal to want? DNS_OK if so,
 * DNS_NOTFOUND if not, DNS_TEMPFAIL when the lookup failed temporarily. */
static int forward_confirms(const char *name, const char *addr, int family,
                            const unsigned char *want, str *why)
{
    int type = family == AF_INET ? ns_t_a : ns_t_aaaa;
    struct dns_addr_list list = { NULL, 0 };
    unsigned char *ans;
    int len, rc;

    rc = query(name, type, &ans, &len, why);
    if (rc == DNS_OK) {
        rc = dns_parse_addr(ans, (size_t) len, name, type, &list, why);
        free(ans);
    }
    if (rc == DNS_OK) {
        rc = DNS_NOTFOUND;
        for (int i = 0; i < list.count; i++)
            if (list.items[i].family == family
                && memcmp(list.items[i].bytes, want, family == AF_INET ? 4 : 16) == 0)
                rc = DNS_OK;
        if (rc != DNS_OK)
            str_printf(why, "hostname %s does not resolve to address %s", name, addr);
    }
    dns_addr_free(&list);
    return rc == DNS_OK || rc == DNS_TEMPFAIL ? rc : DNS_NOTFOUND;
}

/* The work of dns_lookup_client_names(); returns the name status. `reverse` (reverselen
 * bytes, both 0/NULL when the caller does not want it) gets the first usable PTR name and
 * *reverse_status its status. */
static int client_names(const char *addr, char *name, size_t namelen, char *reverse,
                        size_t reverselen, int *reverse_status, str *why)
{
    char rev[80], **ptrs = NULL;
    unsigned char want[16];
    int family, rc, tried = 0, tempfail = 0;
    const str *hosts;

    *reverse_status = DNS_NOTFOUND;
    if (!addr || strlen(addr) >= 64 || parse_numeric(addr, &family, want) < 0
        || dns_reverse_name(addr, rev, sizeof(rev)) < 0) {
        str_printf(why, "not a numeric address: %.64s", addr ? addr : "(null)");
        return DNS_NOTFOUND;
    }
    hosts = hosts_text();
    if (dns_hosts_find(hosts->data, hosts->len, addr, name, namelen)) {
        if (reverse != NULL && strlen(name) < reverselen) {
            memcpy(reverse, name, strlen(name) + 1);
            *reverse_status = DNS_OK;
        }
        return DNS_OK;
    }
    if (is_loopback(family, want)) {
        char **servers = config_list("dns_servers");
        int configured = servers[0] != NULL;
        strv_free(servers);
        if (!configured) {
            str_printf(why, "loopback address %s is not in %s", addr, DNS_HOSTS_FILE);
            return DNS_NOTFOUND;
        }
    }
    rc = dns_lookup_ptr(rev, &ptrs, why);
    if (rc != DNS_OK) {
        *reverse_status = rc == DNS_TEMPFAIL ? DNS_TEMPFAIL : DNS_NOTFOUND;
        return *reverse_status;
    }
    rc = DNS_NOTFOUND;
    for (int i = 0; ptrs[i] && tried < DNS_CLIENT_PTR_MAX; i++) {
        unsigned char scratch[16];
        int fam_scratch;
        if (parse_numeric(ptrs[i], &fam_scratch, scratch) == 0 || strlen(ptrs[i]) >= namelen)
            continue;                           /* "1.2.3.4" as a PTR name: never a name */
        if (reverse != NULL && *reverse_status != DNS_OK && strlen(ptrs[i]) < reverselen) {
            memcpy(reverse, ptrs[i], strlen(ptrs[i]) + 1);
            *reverse_status = DNS_OK;           /* the first usable PTR name */
        }
        tried++;
        int r = forward_confirms(ptrs[i], addr, family, want, why);
        if (r == DNS_OK) {
            memcpy(name, ptrs[i], strlen(ptrs[i]) + 1);
            rc = DNS_OK;
            break;
        }
        if (r == DNS_TEMPFAIL)
            tempfail = 1;
    }
    if (rc != DNS_OK && tried == 0)
        str_printf(why, "no usable PTR name for %s", addr);
    strv_free(ptrs);
    return rc == DNS_OK ? DNS_OK : tempfail ? DNS_TEMPFAIL : DNS_NOTFOUND;
}

int dns_lookup_client_name(const char *addr, char *name, size_t namelen, str *why)
{
    int reverse_status;
    return client_names(addr, name, namelen, NULL, 0, &reverse_status, why);
}

void dns_lookup_client_names(const char *addr, char *name, size_t namelen, int *name_status,
                             char *reverse, size_t reverselen, int *reverse_status, str *why)
{
    if (namelen > 0)
        name[0] = 0;
    if (reverselen > 0)
        reverse[0] = 0;
    if (namelen == 0 || reverselen == 0) {
        str_printf(why, "no room for the client name");
        *name_status = *reverse_status = DNS_NOTFOUND;
        return;
    }
    *name_status = client_names(addr, name, namelen, reverse, reverselen, reverse_status, why);
    if (*name_status != DNS_OK)
        name[0] = 0;
    if (*reverse_status != DNS_OK)
        reverse[0] = 0;
}
