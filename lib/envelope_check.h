/* envelope_check.h: the one reader of a submitted envelope (the A, F, O, R records up to
 * M of docs/PROTOCOLS.md section 1), shared by cleanup (records from smtpd, local and
 * pickup) and pickup (records from the untrusted sendmail client). It enforces what both
 * require of any submitter: record order (attributes, then one sender, then recipients,
 * each O directly followed by its R, M with no data), a size bound per record, a bound
 * on the record count, printable values (no control characters) and bounded address
 * lengths; it splits A records into name and value against an allow-list. What differs
 * (which attributes, address canonicalization, where the records go) is left to the
 * caller's handlers.
 *
 *   struct envelope_reader r = { .max_record = ..., .attr_names = names, ... };
 *   switch (envelope_read(client, &r, ctx, &why)) { ENVELOPE_OK: M seen ... }
 *
 * Handlers return 0 to go on, or -1 after setting *why (the read stops: ENVELOPE_BAD). */
#ifndef POSTERN_ENVELOPE_CHECK_H
#define POSTERN_ENVELOPE_CHECK_H
#include <stddef.h>
#include "bio.h"
#include "str.h"

enum { ENVELOPE_OK = 0, ENVELOPE_LOST = -1, ENVELOPE_BAD = -2 };

struct envelope_reader {
    size_t max_record;             /* bytes of one envelope record (rec_get limit) */
    size_t max_addr;               /* bytes of one F, O or R address */
    long max_rcpt;                 /* R records per envelope */
    int need_rcpt;                 /* 1: M before any R is an error */
    const char *const *attr_names; /* allowed A names, attr_count of them */
    int attr_count;
    /* An allowed A record (name index, value printable and NUL-terminated at value[len]). */
    int (*on_attr)(void *ctx, int index, const char *value, size_t len, str *why);
    /* The F record ("" for the null sender); printable, at most max_addr bytes. */
    int (*on_sender)(void *ctx, const char *addr, size_t len, str *why);
    /* An O or R record (type REC_ORCPT/REC_RCPT); printable, 1..max_addr bytes. */
    int (*on_rcpt)(void *ctx, int type, const char *addr, size_t len, str *why);
};

/* Read envelope records from `client` up to and including M. ENVELOPE_OK when M was read,
 * ENVELOPE_LOST when the connection failed (why: "reading envelope: ..."), ENVELOPE_BAD
 * for a protocol violation (why says which). */
int envelope_read(bio *client, const struct envelope_reader *r, void *ctx, str *why);

/* 1 if s[0..len) has no control characters (bytes < 0x20, 0x7f); UTF-8 is allowed. */
int envelope_printable(const char *s, size_t len);

/* Read one record of `part` ("envelope", "content") with the usual error texts:
 * ENVELOPE_OK, ENVELOPE_LOST ("reading PART: ...") or ENVELOPE_BAD ("bad PART record: ..."). */
int envelope_rec_get(bio *client, int *type, str *data, size_t max, const char *part, str *why);

#endif
