/* qfile.h: reading queue files written by cleanup (record.h) and updating recipient
 * status in place. Used by qmgr (scheduling), local and smtp (delivery) and the queue
 * inspection commands. Nothing read from a queue file is trusted: every record is checked
 * and a malformed file is reported (the caller moves it to corrupt/).
 *
 * The C (size) record, first after V, has fixed width so it can be written before the
 * sizes are known and rewritten in place: "%15ld %15ld %6d" =
 * content_offset (file offset of the M record), message_size (bytes of content as
 * delivered with LF line ends), recipient count. */
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
int qfile_content_open(qfile_reader *r, int fd, off_t content_offset);
int qfile_next_line(qfile_reader *r, str *line, size_t maxlen, const char **err); /* 1 line, 0 end, -1 err */
void qfile_content_close(qfile_reader *r);

/* Mark the recipient record at `offset` done (write 'D' over 'R'). No fsync. 0 or -1. */
int qfile_mark_done(int fd, off_t offset);

#endif
