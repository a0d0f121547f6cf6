/* submit.h: the client side of the cleanup protocol (docs/PROTOCOLS.md section 1), used by
 * every submitter: smtpd, local (forwarding) and later pickup/sendmail.
 *
 *   submit *s = submit_open(SUBMIT_FLAG_..., &err);   -> connects, reads queue_id
 *   submit_attr(s, "client_addr", "192.0.2.1"); ...
 *   submit_sender(s, "a@b"); submit_rcpt(s, "c@d", NULL); ...
 *   submit_begin_content(s);
 *   submit_line(s, data, len, complete);  (per line, no terminator; complete=0 for a
 *                                           partial piece of a long line)
 *   int rc = submit_finish(s, &result);   -> sends X, E; waits for cleanup's verdict
 *   submit_abort(s);                      -> drop the transaction (cleanup removes the file)
 * All writes are buffered; errors are sticky and reported by submit_finish. */
#ifndef POSTERN_SUBMIT_H
#define POSTERN_SUBMIT_H
#include <stddef.h>
#include "str.h"

#define SUBMIT_FLAG_LOCAL 0x1          /* local submission: add missing Message-ID/Date/From */
#define SUBMIT_FLAG_REQUEUE 0x2        /* `postern queue requeue`: a message that was already
                                        * accepted once: no new Received header, no second
                                        * round of DKIM/DMARC/Authentication-Results */

typedef struct submit submit;

struct submit_result {
    int status;                 /* 0 ok, 4 temporary failure, 5 permanent failure */
    char dsn[16];               /* "2.0.0", "4.3.0", "5.3.4" */
    str reason;                 /* cleanup's reason text (for the SMTP reply) */
};

/* Connect to private/$cleanup_service_name. NULL on failure with *err (static text). */
submit *submit_open(int flags, const char **err);
const char *submit_queue_id(const submit *s);
void submit_attr(submit *s, const char *name, const char *value);
void submit_sender(submit *s, const char *sender);
void submit_rcpt(submit *s, const char *rcpt, const char *orig_rcpt);
void submit_begin_content(submit *s);
void submit_line(submit *s, const char *data, size_t len, int complete);
/* Finish and wait for the verdict. Initializes *result itself (the caller frees it with
 * submit_result_free). Returns result->status (0/4/5); on a broken connection returns 4
 * with reason "cleanup service unavailable" or similar. Frees s. */
int submit_finish(submit *s, struct submit_result *result);
void submit_result_free(struct submit_result *r);
void submit_abort(submit *s);   /* frees s */

#endif
