/* cleanup_auth.h: mail authentication inside cleanup (cleanup_auth.c): DKIM verification,
 * DMARC evaluation, Received-SPF and Authentication-Results for inbound mail, DKIM signing
 * for local and authenticated submissions. Hooks called by cleanup_content.c and
 * cleanup.c; state is per submission (one at a time per process). */
#ifndef POSTERN_CLEANUP_AUTH_H
#define POSTERN_CLEANUP_AUTH_H
#include <stddef.h>
#include "cleanup.h"
#include "str.h"

/* Still privileged (pre_init): open $dmarc_history_file for appending. */
void cleanup_auth_pre_init(void);
/* Read the parameters once (post_init). */
void cleanup_auth_init(void);
/* The client's header block (encoded N/L records, as cleanup_header.c keeps it) is
 * complete: collect fields for DKIM and remove forged Authentication-Results with our
 * authserv-id from `block`; *bytes (header bytes with LF line ends) is reduced to match. */
void cleanup_auth_headers(struct cleanup_state *st, str *block, size_t *bytes);
/* Header lines cleanup added itself ("Name: value\n"...), e.g. From: for local mail. */
void cleanup_auth_added(struct cleanup_state *st, const str *lines);
/* One body record (REC_NORM or REC_CONT) as written to the queue file. */
void cleanup_auth_body(struct cleanup_state *st, int type, const char *data, size_t len);
/* End of message, before the commit: finish verification/signing, apply DMARC policy
 * (may cleanup_reject), insert our header fields at the top of the content. */
void cleanup_auth_finish(struct cleanup_state *st);
/* After a successful commit: move a quarantined message to hold/ when so configured. */
void cleanup_auth_committed(struct cleanup_state *st);

#endif
