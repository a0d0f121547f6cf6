/* sendmail.h: shared pieces of the `sendmail` compatibility command (also run as
 * `mailq` and `newaliases`). sendmail.c parses the command line and dispatches;
 * sendmail_message.c reads the message from stdin into a private spool file of
 * content records (handling line ends, the lone-dot rule, -t recipient extraction and
 * Bcc removal); sendmail_submit.c hands envelope and spool to the pickup service over
 * $queue_directory/public/$pickup_service_name (protocol in pickup/pickup.h).
 * Exit codes follow <sysexits.h>. */
#ifndef POSTERN_SENDMAIL_H
#define POSTERN_SENDMAIL_H
#include "bio.h"
#include "str.h"

#define SENDMAIL_LINE_PIECE (64 * 1024)   /* largest N/L record; <= PICKUP_MAX_LINE_REC */

struct sendmail_opts {
    const char *sender;         /* -f / -r; NULL = login name @ $myorigin */
    const char *full_name;      /* -F */
    int extract;                /* -t: recipients from To/Cc/Bcc (Bcc removed) */
    int ignore_dots;            /* -i / -oi: a lone "." does not end the message */
    int verbose;                /* -v: report the queue ID */
    char **rcpts;               /* command-line recipients (not yet parsed) */
};

struct sendmail_msg {
    int spool_fd;               /* unlinked temp file: the content as N/L records */
    long size;                  /* content bytes with LF line ends */
    char **hdr_rcpts;           /* -t: addresses from To/Cc/Bcc, as written (strv) */
};

/* Read the message from `in` into m (spool_fd rewound to 0 on success). Returns 0 or a
 * sysexits code after printing the reason to stderr. */
int sendmail_read_message(bio *in, const struct sendmail_opts *o, struct sendmail_msg *m);
void sendmail_msg_free(struct sendmail_msg *m);

/* Build the envelope (sender, recipients qualified with @$myorigin and checked) and
 * submit it with the spooled content through pickup. Returns 0 or a sysexits code after
 * printing the reason to stderr. */
int sendmail_submit(const struct sendmail_opts *o, struct sendmail_msg *m);

/* Print "sendmail: ..." to stderr. */
void sendmail_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
