/* dns.h: the one DNS resolver every postern program uses (MX for smtp, A/AAAA for smtp
 * and later TXT for SPF/DKIM/DMARC). It wraps the glibc resolver (res_nquery) with one
 * res_state per process that honours the `dns_servers` parameter (a list of IPv4
 * address[:port]; empty = /etc/resolv.conf), `dns_timeout` (per try) and `dns_retries`.
 *
 * Replies are parsed with ns_initparse/ns_parserr and are not trusted: record lengths are
 * checked against the rdata, names are bounded (DNS_NAME_MAX), the number of records kept
 * is bounded, and a malformed reply is a temporary failure with a reason.
 *
 * Results: DNS_OK, DNS_NOTFOUND (NXDOMAIN), DNS_NODATA (name exists, no such record),
 * DNS_TEMPFAIL (SERVFAIL, timeout, malformed reply), DNS_PERMFAIL (e.g. bad name).
 * Every lookup writes a one-line reason into `why` when it fails, e.g.
 * "Name service error for name=example.test type=MX: Host not found". */
#ifndef POSTERN_DNS_H
#define POSTERN_DNS_H
#include <stddef.h>
#include "str.h"

#define DNS_NAME_MAX 255              /* presentation form, without trailing dot */
#define DNS_MAX_RECORDS 100           /* records kept per lookup */
#define DNS_TXT_MAX 65535             /* joined TXT record bytes */

enum dns_status { DNS_OK = 0, DNS_NOTFOUND, DNS_NODATA, DNS_TEMPFAIL, DNS_PERMFAIL };

struct dns_mx {
    char host[DNS_NAME_MAX + 1];      /* lowercase, no trailing dot; "" = null MX target "." */
    int pref;
};
struct dns_mx_list {
    struct dns_mx *items;
    int count;
};

struct dns_addr {
    int family;                       /* AF_INET or AF_INET6 */
    unsigned char bytes[16];          /* 4 or 16 bytes, network order */
    char text[46];                    /* inet_ntop form */
};
struct dns_addr_list {
    struct dns_addr *items;
    int count;
};

/* (Re)read dns_servers/dns_timeout/dns_retries and set up the resolver. Called implicitly
 * by the first lookup; call again after a config reload. 0, or -1 with a warning logged
 * (bad dns_servers entry: that entry is ignored). */
int dns_init(void);

/* MX records of domain, sorted by preference with equal preferences shuffled. A null MX
 * (RFC 7505: one MX, target ".") is returned as DNS_OK with one item whose host is "".
 * Extra "." targets next to real ones are dropped. */
int dns_lookup_mx(const char *domain, struct dns_mx_list *out, str *why);
/* A and AAAA records of host (per $inet_protocols: all, ipv4, ipv6); IPv4 first.
 * A numeric IPv4/IPv6 address is returned as is without a query. DNS_OK only when at
 * least one address was found; DNS_NODATA when the name has neither. */
int dns_lookup_addr(const char *host, struct dns_addr_list *out, str *why);
/* TXT records of name: each record's character-strings joined without separator,
 * NUL-terminated, records containing NUL bytes skipped. *out is a NULL-terminated
 * strv (free with strv_free). */
int dns_lookup_txt(const char *name, char ***out, str *why);
/* PTR records of a reverse name ("4.3.2.1.in-addr.arpa", as SPF builds it): the host
 * names (lowercase, no trailing dot, syntax-checked) as a NULL-terminated strv. */
int dns_lookup_ptr(const char *name, char ***out, str *why);

void dns_mx_free(struct dns_mx_list *l);
void dns_addr_free(struct dns_addr_list *l);
const char *dns_status_name(int status);   /* "OK", "NXDOMAIN", ... for logs */
/* 1 if the list is a null MX ("this domain accepts no mail"). */
int dns_mx_is_null(const struct dns_mx_list *l);

/* --- pure reply parsers (exported for unit tests and fuzzing) --- */
/* Parse a complete DNS reply `msg` of `len` bytes for records of `type` (ns_t_mx, ns_t_a,
 * ns_t_aaaa, ns_t_txt) owned by qname or the end of a CNAME chain starting at qname.
 * Append results (addresses for A/AAAA, MX items, TXT strings). Return DNS_OK with
 * records, DNS_NODATA when the reply has none, DNS_NOTFOUND for an NXDOMAIN rcode,
 * DNS_TEMPFAIL for SERVFAIL or a malformed reply (why set). */
int dns_parse_mx(const unsigned char *msg, size_t len, const char *qname,
                 struct dns_mx_list *out, str *why);
int dns_parse_addr(const unsigned char *msg, size_t len, const char *qname, int type,
                   struct dns_addr_list *out, str *why);
int dns_parse_txt(const unsigned char *msg, size_t len, const char *qname,
                  char ***out, str *why);
int dns_parse_ptr(const unsigned char *msg, size_t len, const char *qname,
                  char ***out, str *why);
/* Sort by preference and shuffle equal preferences (random source: random()); drops
 * "." targets when real targets exist. */
void dns_mx_sort(struct dns_mx_list *l);

/* --- client names (smtpd_peername_lookup) --- */
#define DNS_HOSTS_FILE "/etc/hosts"
#define DNS_HOSTS_SIZE_MAX (1024 * 1024)  /* a bigger hosts file is ignored */
#define DNS_HOSTS_LINE_MAX 1024           /* longer lines are ignored */
#define DNS_CLIENT_PTR_MAX 4              /* PTR names tried for forward confirmation */

/* The reverse-lookup name of a numeric IPv4 or IPv6 address: "4.3.2.1.in-addr.arpa" or
 * the 32-nibble "....ip6.arpa". 0, or -1 for a bad address or a too small buffer. */
int dns_reverse_name(const char *addr, char *out, size_t outlen);
/* Pure hosts(5) parser: the first name of the first line of `text` (len bytes) whose
 * address equals the numeric address addr (compared in binary, so "::1" matches
 * "0:0::1"). Comments (#), malformed lines, over-long lines and names that are not
 * host names are skipped. 1 with name (lowercase) filled, 0 when not found. */
int dns_hosts_find(const char *text, size_t len, const char *addr, char *name,
                   size_t namelen);
/* The name of client address addr, as glibc "hosts: files dns" would give it, but
 * forward-confirmed:
 *  1. DNS_HOSTS_FILE (read once per process, bounded): a listed address gets its name
 *     without any DNS query (the administrator's word is taken as confirmed);
 *  2. a loopback address (127/8, ::1) that is not listed there gets DNS_NOTFOUND without
 *     a query unless $dns_servers is set: 127.in-addr.arpa is a locally served zone
 *     (RFC 6303) and the system resolver may be unreachable;
 *  3. PTR lookup, then for at most DNS_CLIENT_PTR_MAX of the PTR names an A (IPv4
 *     client) or AAAA (IPv6 client) lookup: the first name whose addresses include addr
 *     is the answer (FCrDNS). Names that are numeric addresses are never accepted.
 * DNS_OK with name (lowercase, no trailing dot); DNS_NOTFOUND (no PTR, NXDOMAIN, or not
 * confirmed); DNS_TEMPFAIL (a lookup failed temporarily and nothing was confirmed);
 * why says what happened when not DNS_OK. */
int dns_lookup_client_name(const char *addr, char *name, size_t namelen, str *why);
/* Both names of client address addr, for restrictions that tell unknown clients apart:
 *  name, *name_status: as dns_lookup_client_name() above (the forward-confirmed name);
 *  reverse, *reverse_status: the first usable PTR name whether or not it forward-confirms
 *  (DNS_OK), DNS_NOTFOUND when there is none (no PTR, only numeric PTR names, or a
 *  loopback address as in step 2), DNS_TEMPFAIL when the PTR lookup failed temporarily.
 *  A name from DNS_HOSTS_FILE is both. Each buffer is "" unless its status is DNS_OK. */
void dns_lookup_client_names(const char *addr, char *name, size_t namelen, int *name_status,
                             char *reverse, size_t reverselen, int *reverse_status, str *why);

#endif
