/* bounce.h: the bounce daemon's internal interfaces, shared by the files in bounce/ only.
 *
 *   bounce.c         server entry point: protocol=bounce, request, reply
 *   bounce_log.c     reads and checks $queue_directory/bounce/ID (written by qmgr)
 *   bounce_notify.c  builds the RFC 3464 report and submits it (lib/submit.h)
 *
 * See man/bounce.8. */
#ifndef POSTERN_BOUNCE_H
#define POSTERN_BOUNCE_H
#include "qfile.h"
#include "str.h"

#define BOUNCE_LOG_MAX_BYTES (32L * 1024 * 1024)   /* bounce/ID larger than this: refused */
#define BOUNCE_MAX_RCPTS 20000                     /* entries used from one log */
#define BOUNCE_REASON_MAX 2000                     /* reason bytes shown per recipient */

/* What a request asks for: a non-delivery report (bounce/ID) or a delay warning
 * (defer/ID, Action: delayed). */
enum bounce_kind { BOUNCE_FAILURE, BOUNCE_DELAY };

/* One failed recipient, checked against the queue file. */
struct bounce_rcpt {
    char *address;          /* printable form, from the queue file */
    char *orig;             /* original recipient (printable) or NULL */
    char dsn[16];           /* x.y.z, class 4 or 5 */
    char *reason;           /* printable, bounded */
};

struct bounce_list {
    struct bounce_rcpt *items;
    int count;
};

/* Read bounce/ID (BOUNCE_FAILURE) or defer/ID (BOUNCE_DELAY: only recipients not done
 * in the queue file, Status class forced to 4) of the message whose envelope is env.
 * Entries naming an address that is not a recipient of the message, or malformed, are
 * logged and skipped; the last entry for an address wins. 0 ok (list may be empty); -1
 * the log cannot be read now (why set). */
int bounce_log_read(const char *qdir, const char *id, const struct qfile_env *env,
                    enum bounce_kind kind, struct bounce_list *out, str *why);
void bounce_list_free(struct bounce_list *l);

/* Copy s into out, replacing control and non-ASCII bytes by '?', at most max bytes. */
void bounce_printable(str *out, const char *s, size_t max);

/* Send the notification of the given kind for message id (file fd, envelope env) about
 * the recipients in l. Returns 0 with new_id set (empty when nothing was sent: a failed
 * double bounce, a delay warning for the null sender, an empty list; logged), or -1
 * with why set (try again later). */
int bounce_notify(const char *id, int fd, const struct qfile_env *env, enum bounce_kind kind,
                  const struct bounce_list *l, str *new_id, str *why);

#endif
