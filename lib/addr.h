/* addr.h: RFC 5321 envelope address parsing (MAIL FROM / RCPT TO paths and their ESMTP
 * parameters) and small helpers on addresses. Everything here parses untrusted input:
 * it never reads past the given length, rejects what RFC 5321 forbids with a short reason,
 * and bounds every length (local part 64, domain 255, path 256 octets).
 *
 * Canonical form returned: "local@domain" with the local part kept as the client wrote
 * it (quoted local parts keep their quotes unless quoting is unnecessary), the domain
 * lowercased, a source route (<@a,@b:user@dom>) dropped; "" for the null path <>. */
#ifndef POSTERN_ADDR_H
#define POSTERN_ADDR_H
#include <stddef.h>
#include "str.h"

#define ADDR_LOCAL_MAX 64
#define ADDR_DOMAIN_MAX 255
#define ADDR_PATH_MAX 256

#define ADDR_ALLOW_NULL   0x1   /* <> is acceptable (MAIL FROM) */
#define ADDR_ALLOW_NOBRACKETS 0x2 /* tolerate a missing <...> (Postfix-style leniency) */
#define ADDR_ALLOW_NODOMAIN 0x4 /* "user" without @domain (RCPT TO:<postmaster>) */

/* Parse the text after "MAIL FROM:" / "RCPT TO:" (leading spaces allowed).
 * On success returns 0, stores the canonical address in `out` and sets *params to the
 * rest of the line after the path (leading spaces skipped; may be ""). On failure returns
 * -1 with *err a static reason suitable for a 501 reply ("Bad address syntax", ...). */
int addr_parse_path(const char *text, size_t len, int flags, str *out,
                    const char **params, const char **err);

/* ESMTP parameters "KEY=VALUE KEY2 ..." (RFC 5321 4.1.2 esmtp-param). Parsed into a
 * NULL-terminated array of malloc'd "KEY" / "VALUE" pairs (keys uppercased, value NULL
 * when absent). 0 or -1 (syntax) with *err. Free with strv_free on both arrays. */
int addr_parse_params(const char *text, char ***keys, char ***values, const char **err);

/* 1 if `domain` is a syntactically valid domain name or address literal. */
int addr_domain_valid(const char *domain, size_t len);
/* Pointer to the domain part (after the last '@'), or NULL when there is none. */
const char *addr_domain(const char *addr);
/* Copy the local part (before the last '@', unquoted) into out. */
void addr_local(const char *addr, str *out);
/* xtext (RFC 3461) decode for ORCPT/ENVID; 0 or -1. */
int xtext_decode(const char *in, str *out);

#endif
