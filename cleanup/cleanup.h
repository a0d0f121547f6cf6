/* cleanup.h: state shared by the parts of the cleanup daemon, one submission at a time.
 *   cleanup.c           service entry: protocol greeting, sequencing, verdict, reply
 *   cleanup_envelope.c  reads and validates the flags list and the A/F/O/R records
 *   cleanup_content.c   reads M..X: header block (cleanup_header.c), added headers
 *                       (cleanup_addhdr.c), body streamed to the queue file
 *   cleanup_out.c       the queue file: create, records, size record, commit, remove
 *   cleanup_checks.c    header_checks / body_checks and their actions */
#ifndef POSTERN_CLEANUP_H
#define POSTERN_CLEANUP_H
#include <sys/types.h>
#include <sys/time.h>
#include "bio.h"
#include "str.h"
#include "queue.h"

#define CLEANUP_MAX_RCPT     100000      /* recipients per message */
#define CLEANUP_MAX_ATTR_REC 8192        /* bytes of one A record ("name=value") */
#define CLEANUP_MAX_ADDR     4096        /* bytes of one F, O or R record */
#define CLEANUP_MAX_FULL_NAME 256        /* bytes of the full_name attribute */
#define CLEANUP_MAX_CONTENT  REC_MAX_LEN /* bytes of one N or L record */

/* Known client attributes (A records); index into cleanup_state.attrs. */
enum cleanup_attr {
    CA_CLIENT_NAME, CA_CLIENT_ADDR, CA_CLIENT_PORT, CA_HELO_NAME, CA_PROTOCOL,
    CA_SASL_USERNAME, CA_TLS_INFO, CA_LOG_IDENT, CA_UID,
    CA_SPF_RESULT, CA_SPF_SCOPE, CA_SPF_DOMAIN, CA_RECEIVED_SPF,   /* mailauth (smtpd_spf.c) */
    CA_FULL_NAME,                  /* sendmail -F (via pickup): phrase of an added From: */
    CA_COUNT
};

/* Result codes of the reading functions. */
enum { CLEANUP_OK = 0, CLEANUP_LOST = -1, CLEANUP_PROTO = -2 };

struct cleanup_state {
    char queue_id[QUEUE_ID_MAX];
    const char *qdir;
    struct timeval arrival;
    uid_t peer_uid;                /* from SO_PEERCRED, (uid_t)-1 if unknown */

    bio *client;                   /* the submitter's connection */
    str rec;                       /* reused buffer for incoming records */
    char why[256];                 /* protocol error / lost connection detail */

    /* queue file */
    int qfd;                       /* -1 when none */
    bio *out;
    off_t out_offset;              /* bytes written so far (buffered or not) */
    off_t size_data_offset;        /* file offset of the C record's data */
    off_t content_offset;          /* file offset of the M record */
    long message_size;             /* content bytes with LF line ends */
    long client_content_bytes;     /* same, but only the client's lines (for size limit) */

    /* envelope */
    int flags;                     /* SUBMIT_FLAG_* */
    char *attrs[CA_COUNT];
    char *sender;
    long rcpt_count;
    char *first_rcpt;

    /* header/body check results (cleanup_checks.c) */
    int checks_on;                 /* header_checks or body_checks is set */
    int hold;                      /* HOLD: commit into hold/ instead of incoming/ */
    int in_hold;                   /* the file now lives in hold/ */
    int discard;                   /* DISCARD: say "queued", keep nothing */
    char *redirect;                /* REDIRECT address, or NULL */
    off_t *rcpt_offsets;           /* file offsets of the R records (for REDIRECT) */
    long rcpt_offsets_len, rcpt_offsets_cap;
    str line;                      /* body line being assembled for body_checks */

    /* verdict: first rejection wins */
    int status;                    /* 0, 4 or 5 */
    char dsn[16];
    char reason[256];
};

/* cleanup.c */
void cleanup_reject(struct cleanup_state *st, int status, const char *dsn, const char *reason);
void cleanup_protocol_error(struct cleanup_state *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
const char *cleanup_attr_name(enum cleanup_attr a);

/* cleanup_envelope.c */
int cleanup_read_flags(struct cleanup_state *st);
int cleanup_read_envelope(struct cleanup_state *st);   /* returns after the M record */

/* cleanup_content.c */
int cleanup_read_content(struct cleanup_state *st);    /* returns after the X record */

/* cleanup_out.c */
int cleanup_out_open(struct cleanup_state *st);        /* queue_create + V, C, T; 0/-1 */
void cleanup_out_rec(struct cleanup_state *st, int type, const void *data, size_t len);
void cleanup_out_encoded(struct cleanup_state *st, const void *records, size_t len);
void cleanup_out_mark_content(struct cleanup_state *st);  /* remember the M offset */
int cleanup_out_commit(struct cleanup_state *st);      /* E, C rewrite, flush, commit; 0/-1 */
void cleanup_out_remove(struct cleanup_state *st);     /* close and unlink */
void cleanup_out_close(struct cleanup_state *st);      /* close after a commit */

#endif
