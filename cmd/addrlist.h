/* addrlist.h: RFC 5322 address-list parsing for header fields such as To, Cc and Bcc
 * (`sendmail -t` extracts its recipients with it). The input is untrusted message text:
 * the parser never reads past the given length, bounds every length and count, and
 * rejects malformed lists with a short reason instead of guessing.
 *
 * Understood: mailboxes ("addr@dom", "Name <addr@dom>", "\"Quoted, Name\" <a@d>"),
 * groups ("Friends: a@d, b@d;", "undisclosed-recipients:;"), comments (nested,
 * with quoted-pairs), quoted local parts, domain literals, folding white space,
 * obsolete empty list elements ("a@d, , b@d") and source routes ("<@r1,@r2:a@d>",
 * route dropped). Addresses without "@domain" are returned as written; the caller
 * qualifies them. Bytes >= 0x80 are accepted in atoms (RFC 6532); the caller's
 * envelope address check decides whether it supports them. */
#ifndef POSTERN_ADDRLIST_H
#define POSTERN_ADDRLIST_H
#include <stddef.h>

#define ADDRLIST_MAX_ADDRS 10000     /* addresses per list */
#define ADDRLIST_MAX_ADDR_LEN 998    /* bytes per extracted address */
#define ADDRLIST_MAX_COMMENT_DEPTH 64

/* Parse text[0..len) (a header field body, folded or unfolded). Returns 0 and appends
 * each address (malloc'd, no comments or white space, quoted strings kept as written)
 * to the NULL-terminated array *addrs (which may be NULL at first; free with strv_free),
 * or -1 with *err a static reason. On error nothing is appended. */
int addrlist_parse(const char *text, size_t len, char ***addrs, const char **err);

#endif
