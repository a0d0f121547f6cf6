/* deliver_request.h: the agent side of qmgr's delivery request (docs/PROTOCOLS.md
 * section 3), shared by the delivery agents (local/, smtp/). Nothing in the request is
 * trusted: the attribute set is checked exactly, the queue ID is validated before it
 * names a path, the queue file is opened read-only from active/ and its envelope read
 * (qfile_read_env), the sender must match, and every recipient offset must point at a
 * not-yet-done R record holding that very address. */
#ifndef POSTERN_DELIVER_REQUEST_H
#define POSTERN_DELIVER_REQUEST_H
#include <stddef.h>
#include "attr.h"
#include "deliver_status.h"
#include "qfile.h"
#include "str.h"

#define DELIVER_NEXTHOP_MAX 300

/* The message being delivered (one per request). */
struct deliver_msg {
    char queue_id[64];
    int fd;                             /* $queue_directory/active/ID, read-only */
    struct qfile_env env;               /* verified envelope */
    char nexthop[DELIVER_NEXTHOP_MAX];  /* printable, no spaces */
    double arrival;                     /* T record, seconds since the epoch */
    double active_time;                 /* entered active/: request's active_time, else
                                         * the queue file's ctime (qmgr's rename) */
    double request_time;                /* when qmgr's request arrived */
    size_t line_max;                    /* bound for one logical content line */
    int conn_use;                       /* agent sets it before logging: >1 when the
                                         * connection to the relay was reused (the log
                                         * line says conn_use=N) */
};

/* One request recipient as verified against the queue file. */
struct deliver_rcpt {
    const char *address;                /* R record data (request's until verified) */
    const char *orig;                   /* O record data or the address itself */
    int valid;                          /* 0: request did not match the queue file */
    struct deliver_result result;       /* what goes back to qmgr */
};

/* Validate the request (at most max_rcpts recipients) and open the queue file. Returns
 * 0 (m, *rcpts filled; *rcpts is malloc'd with *nrcpt entries whose results are
 * initialised), -1 malformed request (*why set, nothing to reply), -2 request fine but
 * the message cannot be delivered now: every recipient gets `fail`. In every case call
 * deliver_msg_free(m) and deliver_rcpts_free(*rcpts, *nrcpt) afterwards. */
int deliver_request_load(const attr_list *req, int max_rcpts, struct deliver_msg *m,
                         struct deliver_rcpt **rcpts, int *nrcpt, str *why,
                         struct deliver_result *fail);
void deliver_msg_free(struct deliver_msg *m);
void deliver_rcpts_free(struct deliver_rcpt *rcpts, int n);

#endif
