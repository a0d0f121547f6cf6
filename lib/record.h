/* record.h: typed records, the unit of queue files and of the message stream that
 * smtpd (and other submitters) send to cleanup.
 *
 * A record is: one type byte, the data length as an unsigned LEB128 varint (at most 4
 * bytes, so at most REC_MAX_LEN), then the data. Types are printable letters (below).
 * The type byte of a recipient record can be overwritten in place (R -> D) to mark it
 * done without rewriting the file. */
#ifndef POSTERN_RECORD_H
#define POSTERN_RECORD_H
#include <stddef.h>
#include <sys/types.h>
#include "bio.h"
#include "str.h"

#define REC_MAX_LEN (1 << 24)

/* Record types. Queue file order:
 *   V  version ("postern-queue-1")
 *   C  content size info, fixed width (see qfile.h)
 *   T  arrival time "SECONDS.MICROSECONDS"
 *   A  attribute "name=value" (client_name, client_addr, helo_name, protocol, ...)
 *   F  envelope sender ("" for the null sender)
 *   O  original recipient for the R record that follows (optional)
 *   R  recipient (still to do)  |  D  recipient done (R overwritten in place)
 *   M  start of message content (empty data)
 *   N  one content line without its line terminator
 *   L  part of a content line that continues in the next N/L record
 *   X  end of message content (empty data)
 *   (O/R/D may also follow X: recipients extracted from headers)
 *   E  end of file: the file is complete (empty data) */
enum {
    REC_VERSION = 'V', REC_SIZE = 'C', REC_TIME = 'T', REC_ATTR = 'A', REC_FROM = 'F',
    REC_ORCPT = 'O', REC_RCPT = 'R', REC_DONE = 'D', REC_MESG = 'M', REC_NORM = 'N',
    REC_CONT = 'L', REC_XTRA = 'X', REC_END = 'E'
};

/* Append a record to a bio (buffered). 0 or -1. */
int rec_put(bio *b, int type, const void *data, size_t len);
int rec_puts(bio *b, int type, const char *s);
/* Encode a record into a string (append). */
void rec_encode(str *out, int type, const void *data, size_t len);
/* Read one record: type into *type, data into `data` (replaced, NUL-terminated).
 * Returns 0; -1 on EOF/IO error; -2 on malformed record (bad type byte, length too long
 * or > maxlen, truncated); *err describes it. */
int rec_get(bio *b, int *type, str *data, size_t maxlen, const char **err);
/* Decode from memory: returns bytes consumed, 0 if incomplete, -1 malformed. */
long rec_decode(const char *buf, size_t len, int *type, const char **data, size_t *dlen, const char **err);
int rec_type_valid(int type);

#endif
