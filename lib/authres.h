/* authres.h: the Authentication-Results header field (RFC 8601) that cleanup adds to
 * inbound mail, and recognition of forged ones that claim our authserv-id (they are
 * removed before ours is added, RFC 8601 section 5). */
#ifndef POSTERN_AUTHRES_H
#define POSTERN_AUTHRES_H
#include <stddef.h>
#include "str.h"

/* Start "Authentication-Results: ID;" in out (replaces). */
void authres_begin(str *out, const char *authserv_id);
/* Append one result: "\n\tMETHOD=RESULT[ (REASON)] PROPS;" — props like
 * "smtp.mailfrom=example.test" (may be NULL). Unsafe bytes in reason/props are replaced. */
void authres_add(str *out, const char *method, const char *result, const char *reason,
                 const char *props);
/* Finish: no results -> " none"; strips the last ';'. */
void authres_end(str *out, int count);

/* Is this header field (the whole field, possibly folded, "Name: value") an
 * Authentication-Results field whose authserv-id equals `authserv_id` (ASCII
 * case-insensitive)? Comments before the id are skipped. */
int authres_is_ours(const char *field, size_t len, const char *authserv_id);

#endif
