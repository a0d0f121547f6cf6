/* qfile.h: reading queue files written by cleanup (record.h) and updating recipient
 * status in place. Used by qmgr (scheduling), local and smtp (delivery) and the queue
 * inspection commands. Nothing read from a queue file is trusted: every record is checked
 * and a malformed file is reported (the caller moves it to corrupt/).
 *
 * The C (size) record, first after V, has fixed width so it can be written before the
 * sizes are known and rewritten in place: "%15ld %15ld %6d" =
 * content_offset (file offset of the M record), message_size (bytes of content as
 * delivered with LF line ends), recipient count.
 *
 * What qfile_read_env() checks (a failure is -2 with the reason and file offset):
 *   V first (exactly QFILE_VERSION), C second (exact format above); then T, A, F and
 *   [O] R/D records in any order, exactly one T ("SEC.USEC", 1-6 fraction digits) and one F;
 *   M (empty) at exactly content_offset; only N/L until X (X not right after L); then only
 *   [O] R/D; E last and nothing after it. An O must be followed by R or D.
 *   message_size must equal sum(len(N) + 1) + sum(len(L)); the recipient count must equal
 *   the number of R + D records (at least 1). A file without E is malformed ("incomplete"),
 *   so on success env->complete is always 1. Envelope records are at most 64 KiB, addresses
 *   at most 4096 bytes, no NUL bytes in envelope records. */
#ifndef POSTERN_QFILE_H
#define POSTERN_QFILE_H
#include <sys/types.h>
#include "bio.h"
#include "str.h"

#define QFILE_VERSION "postern-queue-1"
#define QFILE_SIZE_FORMAT "%15ld %15ld %6d"
#define QFILE_SIZE_LEN 38

struct qfile_rcpt {
    char *address;         /* R/D record data */
    char *orig;            /* preceding O record, or NULL */
    off_t offset;          /* file offset of the record's type byte (for marking done) */
    int done;              /* 1 if the record was D */
};

struct qfile_env {
    char *version;
    long arrival_sec, arrival_usec;
    char *sender;                /* "" for null sender */
    char **attr_names, **attr_values; int attr_count;  /* A records, in order */
    struct qfile_rcpt *rcpts; int rcpt_count;
    off_t content_offset;        /* offset of the M record (from C record, verified) */
    off_t content_end;           /* offset just after the X record */
    long message_size;           /* from C record */
    int complete;                /* saw E */
};

/* Read the whole envelope (all records except content, which is skipped but validated
 * for record syntax) from an open queue file. Returns 0; -1 on I/O error; -2 malformed
 * (with *err, static or malloc'd into errbuf). errbuf must hold 256 bytes. */
int qfile_read_env(int fd, struct qfile_env *env, char *errbuf);
void qfile_env_free(struct qfile_env *env);
const char *qfile_env_attr(const struct qfile_env *env, const char *name);

/* Content iteration: position at env->content_offset, then call qfile_next_line until it
 * returns 0 (end, X record seen) or -1 (error, *err). Each call returns one complete logical
 * line (L records joined) in `line`, without terminator. */
typedef struct qfile_reader { bio *b; int done; } qfile_reader;
int qfile_content_open(qfile_reader *r, int fd, off_t content_offset); /* 0 or -1 (no M there) */
int qfile_next_line(qfile_reader *r, str *line, size_t maxlen, const char **err); /* 1 line, 0 end, -1 err */
void qfile_content_close(qfile_reader *r);

/* Mark the recipient record at `offset` done (write 'D' over 'R'). No fsync. 0 or -1
 * (EINVAL when the byte there is neither 'R' nor 'D'; already 'D' is a no-op success). */
int qfile_mark_done(int fd, off_t offset);

#endif
