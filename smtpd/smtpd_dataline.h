/* smtpd_dataline.h: the DATA-phase line state machine of smtpd, as a pure function (no
 * I/O) so the fuzz target can drive it. smtpd_data.c feeds it the pieces returned by
 * bio_getline() and passes the resulting content to cleanup.
 *
 * Rules (RFC 5321 4.1.1.4, 4.5.2, and the SMTP smuggling fixes):
 *  - The end of data is ONLY a line that is exactly ".\r\n" and follows a CRLF (or is
 *    the first line). "\n.\n", "\r.\r", "\n.\r\n", "\r\n.\n" are never an end.
 *  - A leading dot is removed from lines that follow a CRLF ("..x" -> ".x").
 *  - A line ending in LF without CR sets bare_lf; a CR not followed by LF sets bare_cr.
 *    Either one makes smtpd reject the message when $smtpd_forbid_bare_newline is on;
 *    otherwise the bytes are passed on (a bare LF still ends a content line).
 *  - Pieces of long lines (complete = 0) are passed on as pieces; a CR at the end of a
 *    piece is held back until the next piece shows whether an LF follows. */
#ifndef POSTERN_SMTPD_DATALINE_H
#define POSTERN_SMTPD_DATALINE_H
#include <stddef.h>

struct smtpd_dataline {
    int at_crlf_bol;           /* next piece starts a line that followed CRLF (or 354) */
    int pending_cr;            /* last piece ended in CR, not yet known to be CRLF */
    int bare_lf, bare_cr;      /* sticky: seen anywhere in this message */
    unsigned long long bytes;  /* content bytes after unstuffing, line ends counted as 2 */
};

enum smtpd_dataline_action {
    SMTPD_DATALINE_CONTENT,    /* pass out.data/out.len (and a CR first if cr_first) */
    SMTPD_DATALINE_END         /* end of data: the message is complete */
};

struct smtpd_dataline_out {
    const char *data;          /* points into the piece given to smtpd_dataline_feed */
    size_t len;
    int complete;              /* 1: this piece ends a content line */
    int cr_first;              /* 1: emit one "\r" (a held-back bare CR) before data, as
                                * a partial piece */
};

void smtpd_dataline_init(struct smtpd_dataline *st);

/* Feed one piece: `complete` is 1 when it ends in '\n' (bio_getline's flag). */
enum smtpd_dataline_action smtpd_dataline_feed(struct smtpd_dataline *st,
                                               const char *data, size_t len, int complete,
                                               struct smtpd_dataline_out *out);

#endif
