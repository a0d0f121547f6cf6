/* local.h: internal interfaces of the local delivery agent (the local/ sources only).
 *
 * local serves one qmgr delivery request per connection (docs/PROTOCOLS.md section 3):
 *   local.c            main, service loop: request in, per-recipient replies out
 *   local_request.c    parse and validate the request, open and verify the queue file
 *   local_recipient.c  decide where a recipient goes (virtual, alias, system user)
 *   local_alias.c      alias expansion (recursive, loop-safe) and forwarding decisions
 *   local_forward.c    resubmit a message to non-local alias targets via cleanup
 *   local_deliver.c    the shared copy loop (Return-Path, Delivered-To, content) + loop check
 *   local_maildir.c    Maildir delivery (tmp -> fsync -> new)
 *   local_mbox.c       mbox delivery (dotlock + fcntl lock, >From quoting)
 *   local_status.c     delivery results, privilege switching and the log line
 *   local_abort.c      undo a delivery in progress when the watchdog kills the agent */
#ifndef POSTERN_LOCAL_H
#define POSTERN_LOCAL_H
#include <sys/types.h>
#include "qfile.h"
#include "bio.h"
#include "str.h"

/* recipients per request: the reply (rcpt_count + 3 attributes per recipient) must fit
 * one attribute list (ATTR_MAX_COUNT, checked in local.c) */
#define LOCAL_MAX_RCPTS 341
#define LOCAL_ALIAS_DEPTH 20        /* nested alias expansions */
#define LOCAL_ADDR_MAX 256          /* any address we handle */
#define LOCAL_DSN_MAX 16

enum local_status { LOCAL_SENT = 0, LOCAL_DEFER = 4, LOCAL_BOUNCE = 5 };

struct local_result {
    int status;                     /* enum local_status */
    char dsn[LOCAL_DSN_MAX];        /* "2.0.0", "4.3.0", "5.1.1" */
    str reason;                     /* "delivered to maildir", "unknown user: \"x\"" */
};

/* The message being delivered (one per request). */
struct local_msg {
    char queue_id[64];
    int fd;                         /* $queue_directory/active/ID, read-only */
    struct qfile_env env;           /* verified envelope */
    double arrival;                 /* T record, seconds since the epoch */
    double active_time;             /* estimated time it entered active/ */
    double request_time;            /* when qmgr's request arrived */
    size_t line_max;                /* bound for one logical content line */
};

/* One request recipient as verified against the queue file. */
struct local_rcpt {
    const char *address;            /* R record data */
    const char *orig;               /* O record data or the address itself */
    int valid;                      /* 0: request did not match the queue file */
};

/* --- local_status.c --- */
void local_result_init(struct local_result *r);
void local_result_free(struct local_result *r);
void local_result_set(struct local_result *r, int status, const char *dsn,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void local_result_copy(struct local_result *dst, const struct local_result *src);
/* Set a deferral (or bounce for errors that cannot heal) from an errno value. */
void local_result_errno(struct local_result *r, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
double local_now(void);
/* Log the PROTOCOLS.md section 4 line for one final address. */
void local_log_result(const struct local_msg *m, const char *to, const char *orig,
                      double rcpt_start, const struct local_result *r);
/* Copy s into out replacing control bytes (and, if nospace, spaces) with '?'/'_'. */
void local_printable(str *out, const char *s, int nospace);
/* Run as uid/gid (root only; when not root the ids must be our own). 0 or -1 (r set). */
int local_become(uid_t uid, gid_t gid, struct local_result *r);
void local_unbecome(void);

/* --- local_request.c --- */
/* Validate the request and open the queue file. Returns 0 (msg, rcpts filled; rcpts is
 * malloc'd with *nrcpt entries), -1 malformed request (*why set, nothing to reply),
 * -2 request OK but the message cannot be delivered now: every recipient gets `fail`. */
struct attr_list;
int local_request_load(const struct attr_list *req, struct local_msg *m,
                       struct local_rcpt **rcpts, int *nrcpt, str *why,
                       struct local_result *fail);
void local_msg_free(struct local_msg *m);

/* --- local_recipient.c --- */
/* Deliver one request recipient (with alias expansion); logs every final delivery and
 * leaves the combined outcome in r. */
void local_deliver_rcpt(struct local_msg *m, const struct local_rcpt *rc, struct local_result *r);

/* State of one top-level recipient while aliases expand (local_recipient.c). */
struct local_expansion {
    struct local_msg *msg;
    const char *orig;               /* orig_to for logs */
    double start;
    char *chain[LOCAL_ALIAS_DEPTH + 1];  /* alias names being expanded (lowercase) */
    int depth;
    char **done; int ndone, cap_done;    /* final addresses delivered (dedupe) */
    int nleaves;
    char **expanded; int nexpanded, cap_expanded;  /* aliases already expanded (dedupe) */
    struct local_result outcome;    /* worst result so far */
};
/* Record a final result: log it and merge it into the outcome. */
void local_leaf(struct local_expansion *x, const char *to, const struct local_result *r);
/* 1 if the alias `key` was already expanded for this recipient; else remembers it. */
int local_alias_seen(struct local_expansion *x, const char *key);
/* Deliver a LOCAL-class address: aliases unless `self` names it, then the system user. */
void local_deliver_local(struct local_expansion *x, const char *addr, const char *self);

/* --- local_alias.c --- */
/* Look the local part up in $alias_maps. 1 found (value), 0 not, -1 table error.
 * *key receives the key that matched (malloc'd) when found. */
int local_alias_lookup(const char *localpart, str *value, char **key);
/* Expand the alias `key` (value = its right-hand side) reached via address `addr`. */
void local_alias_expand(struct local_expansion *x, const char *addr, const char *key,
                        const char *value);
/* Strip a $recipient_delimiter extension: copy of localpart without it, or NULL if none. */
char *local_strip_extension(const char *localpart);

/* --- local_forward.c --- */
void local_forward(struct local_msg *m, const char *alias_addr, char **targets, int ntargets,
                   const char *orig, struct local_result *r);

/* --- local_deliver.c --- */
/* 1 when the headers already hold "Delivered-To: rcpt" (r = bounce 5.4.6), 0 none,
 * -1 queue file read error (r = defer). */
int local_check_loop(struct local_msg *m, const char *rcpt, struct local_result *r);
/* Write the delivered form of the message to out: optional mbox "From " line,
 * Return-Path, Delivered-To, content with LF line ends (">From " quoting when mbox),
 * and for mbox a final blank line. Flushes. 0, or -1 with r set (defer). */
int local_write_message(struct local_msg *m, bio *out, const char *rcpt, int mbox,
                        struct local_result *r);
/* Deliver to a mailbox path as uid/gid: Maildir when it ends in '/', else mbox.
 * spool: mbox in the shared spool directory (locks and creation done with our
 * privileges, the file then given to uid/gid). Checks the Delivered-To loop first. */
void local_deliver_mailbox(struct local_msg *m, const char *rcpt, const char *path,
                           uid_t uid, gid_t gid, int spool, struct local_result *r);
/* mkdir -p for the components of path below base (base must exist). 0 or -1 (errno). */
int local_make_dirs(const char *base, const char *rel_dir);

/* --- local_maildir.c --- */
void local_maildir_deliver(struct local_msg *m, const char *dir, const char *rcpt,
                           struct local_result *r);
/* --- local_mbox.c --- */
void local_mbox_deliver(struct local_msg *m, const char *path, const char *rcpt,
                        uid_t uid, gid_t gid, int spool, struct local_result *r);

/* --- local_abort.c --- */
#define LOCAL_ABORT_PATH_MAX 4300
/* Install the SIGALRM (delivery timeout) handler that undoes what is registered below. */
void local_abort_install(void);
/* Register (non-NULL / fd >= 0) or clear (NULL / -1) what a killed delivery must undo:
 * a dot-lock to remove, a Maildir tmp file to remove, an mbox to truncate to old_size. */
void local_abort_lock(const char *lock_path);
void local_abort_tmp(const char *tmp_path);
void local_abort_mbox(int fd, off_t old_size);

#endif
