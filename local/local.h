/* local.h: internal interfaces of the local delivery agent (the local/ sources only).
 *
 * local serves one qmgr delivery request per connection (docs/PROTOCOLS.md section 3);
 * the request, results, log line and reply are lib/deliver_*.h, shared with smtp/:
 *   local.c            main: the deliver_service() agent, one recipient at a time
 *   local_recipient.c  decide where a recipient goes (virtual, alias, system user)
 *   local_alias.c      alias expansion (recursive, loop-safe) and forwarding decisions
 *   local_forward.c    resubmit a message to non-local alias targets via cleanup
 *   local_deliver.c    the shared copy loop (Return-Path, Delivered-To, content) + loop check
 *   local_maildir.c    Maildir delivery (tmp -> fsync -> new)
 *   local_mbox.c       mbox delivery (dotlock + fcntl lock, >From quoting)
 *   local_privs.c      switch to and back from a recipient's privileges; the rights of
 *                      "|command" and "/file" alias targets (alias table owner)
 *   local_command.c    "|command" delivery: a forked child with dropped ids, time limit
 *   local_file.c       "/file" (mbox) and "/dir/" (Maildir) alias target delivery
 *   local_abort.c      undo a delivery in progress when the watchdog kills the agent */
#ifndef POSTERN_LOCAL_H
#define POSTERN_LOCAL_H
#include <sys/types.h>
#include "bio.h"
#include "deliver_request.h"
#include "str.h"

/* recipients per request: the reply (rcpt_count + 3 attributes per recipient) must fit
 * one attribute list (ATTR_MAX_COUNT, checked in local.c) */
#define LOCAL_MAX_RCPTS 341
#define LOCAL_ALIAS_DEPTH 20        /* nested alias expansions */
#define LOCAL_ADDR_MAX 256          /* any address we handle */

/* --- local_privs.c --- */
/* Run as uid/gid (root only; when not root the ids must be our own). 0 or -1 (r set). */
int local_become(uid_t uid, gid_t gid, struct deliver_result *r);
void local_unbecome(void);

/* Who a "|command" or "/file" alias target runs as (see local_alias_privs). */
#define LOCAL_PRIVS_NAME_MAX 64
#define LOCAL_PRIVS_HOME_MAX 1024
struct local_privs {
    uid_t uid;
    gid_t gid;
    char user[LOCAL_PRIVS_NAME_MAX];  /* LOGNAME / USER ("" when the uid has no account) */
    char home[LOCAL_PRIVS_HOME_MAX];  /* HOME and working directory ("/" when unknown) */
};
/* The rights for targets found in the alias table `spec`: when we run as root, the
 * owner of its file (hash:/btree:), or $default_privs when that owner is root or the
 * table is no file; otherwise ourselves. 0, or -1 with r set (defer). */
int local_alias_privs(const char *spec, struct local_privs *p, struct deliver_result *r);

/* --- local_recipient.c --- */
/* Deliver one request recipient (with alias expansion); logs every final delivery and
 * leaves the combined outcome in rc->result. */
void local_deliver_rcpt(struct deliver_msg *m, struct deliver_rcpt *rc);

/* State of one top-level recipient while aliases expand (local_recipient.c). */
struct local_expansion {
    struct deliver_msg *msg;
    const char *orig;               /* orig_to for logs */
    double start;
    char *chain[LOCAL_ALIAS_DEPTH + 1];  /* alias names being expanded (lowercase) */
    int depth;
    char **done; int ndone, cap_done;    /* final addresses delivered (dedupe) */
    int nleaves;
    char **expanded; int nexpanded, cap_expanded;  /* aliases already expanded (dedupe) */
    struct deliver_result outcome;  /* worst result so far */
};
/* Record a final result: log it and merge it into the outcome. */
void local_leaf(struct local_expansion *x, const char *to, const struct deliver_result *r);
/* 1 if the alias `key` was already expanded for this recipient; else remembers it. */
int local_alias_seen(struct local_expansion *x, const char *key);
/* Deliver a LOCAL-class address: aliases unless `self` names it, then the system user. */
void local_deliver_local(struct local_expansion *x, const char *addr, const char *self);

/* --- local_alias.c --- */
/* Look the local part up in $alias_maps. 1 found (value), 0 not, -1 table error.
 * *key receives the key that matched and *spec the table it was found in (both
 * malloc'd) when found. */
int local_alias_lookup(const char *localpart, str *value, char **key, char **spec);
/* Expand the alias `key` (value = its right-hand side, found in table `spec`) reached
 * via address `addr`. */
void local_alias_expand(struct local_expansion *x, const char *addr, const char *key,
                        const char *value, const char *spec);
/* Strip a $recipient_delimiter extension: copy of localpart without it, or NULL if none. */
char *local_strip_extension(const char *localpart);

/* --- local_forward.c --- */
void local_forward(struct deliver_msg *m, const char *alias_addr, char **targets, int ntargets,
                   const char *orig, struct deliver_result *r);

/* --- local_deliver.c --- */
/* 1 when the headers already hold "Delivered-To: rcpt" (r = bounce 5.4.6), 0 none,
 * -1 queue file read error (r = defer). */
int local_check_loop(struct deliver_msg *m, const char *rcpt, struct deliver_result *r);
/* Write the delivered form of the message to out: optional mbox "From " line,
 * Return-Path, Delivered-To, content with LF line ends (">From " quoting when mbox),
 * and for mbox a final blank line. Flushes. 0, or -1 with r set (defer). */
int local_write_message(struct deliver_msg *m, bio *out, const char *rcpt, int mbox,
                        struct deliver_result *r);
/* Deliver to a mailbox path as uid/gid: Maildir when it ends in '/', else mbox.
 * spool: mbox in the shared spool directory (locks and creation done with our
 * privileges, the file then given to uid/gid). Checks the Delivered-To loop first. */
void local_deliver_mailbox(struct deliver_msg *m, const char *rcpt, const char *path,
                           uid_t uid, gid_t gid, int spool, struct deliver_result *r);
/* mkdir -p for the components of path below base (base must exist). 0 or -1 (errno). */
int local_make_dirs(const char *base, const char *rel_dir);
/* 1 if base/rel_dir is an existing directory (then local_make_dirs has nothing to do). */
int local_dir_exists(const char *base, const char *rel_dir);

/* --- local_maildir.c --- */
void local_maildir_deliver(struct deliver_msg *m, const char *dir, const char *rcpt,
                           struct deliver_result *r);
/* --- local_mbox.c --- */
void local_mbox_deliver(struct deliver_msg *m, const char *path, const char *rcpt,
                        uid_t uid, gid_t gid, int spool, struct deliver_result *r);

/* --- local_command.c --- */
#define LOCAL_COMMAND_OUTPUT_MAX 400     /* bytes of command output kept for the reason */
/* Run `command` with the shell ($local_command_shell or /bin/sh -c) as p, the
 * delivered message (for rcpt) on its stdin, within $command_time_limit. */
void local_command_deliver(struct deliver_msg *m, const char *rcpt, const char *orig,
                           const char *command, const struct local_privs *p,
                           struct deliver_result *r);
/* --- local_file.c --- */
/* Append to the absolute path (mbox), or deliver into it as a Maildir when it ends
 * in '/', with p's rights. */
void local_file_deliver(struct deliver_msg *m, const char *rcpt, const char *path,
                        const struct local_privs *p, struct deliver_result *r);

/* --- local_abort.c --- */
#define LOCAL_ABORT_PATH_MAX 4300
/* Install the SIGALRM (delivery timeout) handler that undoes what is registered below. */
void local_abort_install(void);
/* Register (non-NULL / fd >= 0) or clear (NULL / -1) what a killed delivery must undo:
 * a dot-lock to remove, a Maildir tmp file to remove, an mbox to truncate to old_size. */
void local_abort_lock(const char *lock_path);
void local_abort_tmp(const char *tmp_path);
void local_abort_mbox(int fd, off_t old_size);
/* A running command whose process group is killed (pid > 0), or none (0). */
void local_abort_command(pid_t pid);

#endif
