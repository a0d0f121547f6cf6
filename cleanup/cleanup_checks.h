/* cleanup_checks.h: header_checks and body_checks in cleanup (Postfix's header_checks(5)
 * with regexp: or any other table type). Each logical header (continuation lines joined
 * with "\n", as Postfix does) is looked up in $header_checks, each body line in
 * $body_checks; the result is an action (lib/access.h):
 *   REJECT [text]   the message is rejected (status 5, dsn 5.7.1 or a leading 5.x.y)
 *   DEFER [text]    temporary rejection (status 4)
 *   DISCARD [text]  the client is told "queued" but the queue file is removed
 *   HOLD [text]     the file is committed into hold/ instead of incoming/
 *   WARN [text]     logged only
 *   PREPEND text    (headers only) a header line is inserted before the current one
 *   REDIRECT addr   every recipient is marked done and addr is added as the only one
 *   IGNORE          (headers only) the header is dropped
 *   OK, DUNNO       nothing
 * Not supported: FILTER, BCC, PREPEND/IGNORE in body_checks (logged, ignored), MIME
 * (mime_header_checks, nested_header_checks): the whole body is plain lines.
 * Every action but IGNORE/PREPEND logs "ID: reject: header NAME: VALUE from
 * client[addr]; from=<s> to=<r> proto=P helo=<h>: 5.7.1 text" (Postfix's format). */
#ifndef POSTERN_CLEANUP_CHECKS_H
#define POSTERN_CLEANUP_CHECKS_H
#include "cleanup.h"
#include "cleanup_header.h"

#define CHECKS_TEXT_MAX 102400        /* bytes of a header/line that are checked */

/* Open the tables once at start-up (fatal with file:LINE on a bad table). */
void cleanup_checks_init(void);
/* Per message: note whether checks apply. */
void cleanup_checks_start(struct cleanup_state *st);
/* Called just before an R record is written: remember its offset (REDIRECT). */
void cleanup_checks_note_rcpt(struct cleanup_state *st);
/* Apply header_checks to the finished header block; rewrites h->block and h->bytes. */
void cleanup_checks_headers(struct cleanup_state *st, struct hdr_state *h);
/* Apply body_checks to one body piece (complete = N record). */
void cleanup_checks_body(struct cleanup_state *st, const char *data, size_t len, int complete);
/* Before the E record: carry out REDIRECT (bio flushed, R records marked done in
 * place, the new R record appended). 0 or -1 (write error, logged). */
int cleanup_checks_redirect(struct cleanup_state *st);
/* Free per-message state. */
void cleanup_checks_free(struct cleanup_state *st);

#endif
