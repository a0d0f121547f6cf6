/* cleanup_header.h: the message header parser of cleanup, kept free of I/O, global state
 * and configuration so it can be unit-tested and fuzzed (tests/unit/check_cleanup.c,
 * tests/fuzz/fuzz_header.c).
 *
 * The caller feeds every content piece (one N or L record of the client's stream) while
 * the header block is open. The parser classifies each line (header field, continuation,
 * blank line, body line), enforces the header size limit and the hop count limit, notes
 * the fields cleanup may have to add, and keeps the header block as encoded records
 * (lib/record.h) so cleanup can copy it to the queue file after its own Received header. */
#ifndef POSTERN_CLEANUP_HEADER_H
#define POSTERN_CLEANUP_HEADER_H
#include <stddef.h>
#include "str.h"

#define HDR_MSGID_MAX 998           /* bytes of the Message-ID value we keep for logging */

enum hdr_line_kind {
    HDR_LINE_FIELD,   /* "Name:" starts a header field */
    HDR_LINE_CONT,    /* starts with SP/TAB after a field: continuation (folded) line */
    HDR_LINE_BLANK,   /* empty line: end of headers */
    HDR_LINE_BODY     /* anything else: the header block ended, the body starts here */
};

enum hdr_result {
    HDR_MORE = 0,      /* piece consumed as part of the header block */
    HDR_BODY,          /* piece NOT consumed: it is the first piece of the body (or the
                          blank separator line); the header block is complete */
    HDR_TOO_BIG,       /* header block exceeds size_limit; piece not consumed */
    HDR_TOO_MANY_HOPS  /* Received fields reached hop_limit; piece not consumed */
};

struct hdr_state {
    /* settings (set by hdr_init) */
    size_t size_limit;          /* header bytes (content with LF line ends) allowed */
    long hop_limit;             /* reject when this many Received fields are present */
    /* progress */
    size_t bytes;               /* header bytes so far, each line counted with its LF */
    int in_line;                /* previous piece was incomplete (L record) */
    int seen_field;             /* at least one field seen (continuations allowed) */
    int done;                   /* header block complete (HDR_BODY returned) */
    int error;                  /* sticky HDR_TOO_BIG / HDR_TOO_MANY_HOPS, else 0 */
    int cur_field;              /* enum hdr_known of the field being read */
    /* findings */
    long received_count;
    int have_message_id, have_date, have_from;
    str message_id;             /* unfolded value of the first Message-ID field, trimmed */
    /* output */
    str block;                  /* the header block as encoded N/L records */
    long lines;                 /* physical lines in block */
};

void hdr_init(struct hdr_state *h, size_t size_limit, long hop_limit);
void hdr_free(struct hdr_state *h);

/* Classify the first piece of a line. have_field: a field was seen before (so a line
 * starting with whitespace continues it). complete: the piece is the whole line. */
enum hdr_line_kind hdr_classify(const char *data, size_t len, int complete, int have_field);

/* Feed one content piece; complete = 1 for an N record (line ends here), 0 for L.
 * Returns enum hdr_result. After anything but HDR_MORE, do not feed more. */
int hdr_feed(struct hdr_state *h, const char *data, size_t len, int complete);

/* Call when the content ends while the header block is still open (no body). */
void hdr_finish(struct hdr_state *h);

#endif
