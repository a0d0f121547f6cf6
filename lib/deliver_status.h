/* deliver_status.h: per-recipient delivery results shared by the delivery agents
 * (local/, smtp/): the status/dsn/reason triple they send back to qmgr
 * (docs/PROTOCOLS.md section 3) and the per-recipient log line of section 4:
 *   <ID>: to=<..>, orig_to=<..>, relay=.., delay=.., delays=a/b/c/d, dsn=.., status=.. (..)
 * with Postfix's delay rounding. */
#ifndef POSTERN_DELIVER_STATUS_H
#define POSTERN_DELIVER_STATUS_H
#include "str.h"

#define DELIVER_DSN_MAX 16
#define DELIVER_REASON_MAX 8192         /* reason text kept (bytes) */

enum deliver_status { DELIVER_SENT = 0, DELIVER_DEFER = 4, DELIVER_BOUNCE = 5 };

struct deliver_result {
    int status;                         /* enum deliver_status */
    char dsn[DELIVER_DSN_MAX];          /* "2.0.0", "4.3.0", "5.1.1" */
    str reason;                         /* "delivered to maildir", "host x said: ..." */
};

/* init: deferred, 4.3.0, empty reason (a result nobody set never claims delivery). */
void deliver_result_init(struct deliver_result *r);
void deliver_result_free(struct deliver_result *r);
/* Set all three; the reason is cut at DELIVER_REASON_MAX bytes. */
void deliver_result_set(struct deliver_result *r, int status, const char *dsn,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void deliver_result_copy(struct deliver_result *dst, const struct deliver_result *src);
/* A deferral from an errno value: "<fmt>: strerror(err)"; dsn 4.2.2 for a full
 * mailbox (EDQUOT, EFBIG), 4.2.0 for a busy resource, else 4.3.0. */
void deliver_result_errno(struct deliver_result *r, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "sent", "deferred" or "bounced" (the reply and log spelling). */
const char *deliver_status_name(int status);

/* Seconds since the epoch with microseconds. */
double deliver_now(void);
/* Copy s into out replacing control bytes with '?' (and, if nospace, ' ' with '_'). */
void deliver_printable(str *out, const char *s, int nospace);

/* Log the section 4 line for one final address. relay: "local", "host[addr]:port", or
 * NULL/"" for "none". conn_setup and xfer are delays c and d; a and b come from the
 * message's arrival, active and request times. */
struct deliver_msg;
void deliver_log_result(const struct deliver_msg *m, const char *to, const char *orig,
                        const char *relay, double conn_setup, double xfer,
                        const struct deliver_result *r);

#endif
