/* queue_defer_log.h: reading the per-message defer log $queue_directory/defer/ID, which
 * holds the latest reason each recipient of a deferred message was deferred. Used by the
 * queue listing (mailq, postern queue list/show) to print "(reason)" per recipient.
 *
 * Format (proposed to qmgr; see docs in man/postern.1): a sequence of attribute lists in
 * the lib/attr.h encoding, one per deferral, each with
 *   recipient=<address>   reason=<text>   [dsn=<x.y.z>]   (other attributes ignored)
 * A later list for the same recipient replaces an earlier one. The file is untrusted: it
 * is read up to DEFER_LOG_MAX_BYTES, a malformed tail is ignored (what parsed before it is
 * kept), and a missing file simply means "no reasons known". */
#ifndef POSTERN_QUEUE_DEFER_LOG_H
#define POSTERN_QUEUE_DEFER_LOG_H

#define DEFER_LOG_MAX_BYTES (1024 * 1024)
#define DEFER_LOG_MAX_ENTRIES 10000

struct defer_log_entry {
    char *rcpt;
    char *dsn;             /* "" when the log did not say */
    char *reason;
};

struct defer_log {
    struct defer_log_entry *entries;
    int count;
};

/* Read QDIR/defer/ID (id must be valid). Always leaves *log usable (maybe empty).
 * Returns 0 (also for a missing file), -1 if the file exists but could not be read or
 * was malformed (whatever parsed before the problem is kept). */
int defer_log_read(const char *qdir, const char *id, struct defer_log *log);
/* The entry for rcpt (exact match), or NULL. */
const struct defer_log_entry *defer_log_find(const struct defer_log *log, const char *rcpt);
void defer_log_free(struct defer_log *log);

#endif
