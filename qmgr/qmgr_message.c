/* qmgr_message.c: one message in the active queue, from the moment its file lands in
 * active/ until it is removed or moved to deferred/.
 *
 * Activation reads the envelope with qfile_read_env() (a malformed file goes to corrupt/),
 * logs "from=<..>, size=N, nrcpt=N (queue active)", resolves every recipient that is not
 * done yet to (transport, nexthop) and files it as part of a job (qmgr_entry.c). Job
 * results come back here: sent/bounced recipients are marked done in the file (no fsync,
 * see DESIGN.md 2), deferred ones are only counted. When the last job finishes, an
 * expired message's deferred recipients become bounces (qmgr_defer.c); if bounce/ID
 * exists the bounce service is asked to notify the sender (qmgr_bounce.c) and the
 * message waits for its answer (a failure keeps the message, deferred, and the
 * notification is retried). A message still deferred may then get its one delay
 * warning (qmgr_delay.c; a failed one is retried at the next deferral and never holds
 * delivery up). Then the file is removed (nothing left) or handed to
 * qmgr_defer.c. The file is not kept open between
 * jobs, so the number of open descriptors does not grow with the active queue. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "events.h"
#include "log.h"
#include "mem.h"
#include "queue.h"
#include "resolve.h"
#include "str.h"
#include "qmgr.h"
#include "qmgr_special.h"

static struct qmgr_message *messages;   /* all messages in memory */
static int mark_fd = -1;                /* open active file while a job's results apply */
static struct qmgr_message *mark_msg;

static void message_unlink(struct qmgr_message *m)
{
    if (m->prev)
        m->prev->next = m->next;
    else
        messages = m->next;
    if (m->next)
        m->next->prev = m->prev;
    m->prev = m->next = NULL;
}

static void message_free(struct qmgr_message *m)
{
    if (mark_msg == m) {
        close(mark_fd);
        mark_fd = -1;
        mark_msg = NULL;
    }
    message_unlink(m);
    qfile_env_free(&m->env);
    free(m->rcpt_state);
    free(m);
    qmgr_message_count--;
}

/* The file could not be read (I/O error, not corruption): try again later. */
static void retry_later(const char *id)
{
    char path[4096];
    queue_path(path, sizeof(path), qmgr_qdir, "active", id);
    long delay = qmgr_backoff_seconds(0);
    struct timespec ts[2] = { { 0, UTIME_NOW }, { time(NULL) + delay, 0 } };
    if (utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) < 0)
        msg_warn("%s: set retry time: %s", id, strerror(errno));
    if (queue_move(qmgr_qdir, "active", "deferred", id) < 0)
        msg_warn("%s: move active -> deferred: %s", id, strerror(errno));
    else
        qmgr_note_retry_time(event_now_ms() + delay * 1000LL);
}

static void move_corrupt(const char *id, const char *reason)
{
    msg_warn("%s: corrupt queue file: %s", id, reason);
    if (queue_move(qmgr_qdir, "active", "corrupt", id) < 0)
        msg_warn("%s: move active -> corrupt: %s", id, strerror(errno));
}

/* Read the envelope of active/ID into env. 0 ok; -1 handled (file moved away). */
static int read_envelope(const char *id, struct qfile_env *env)
{
    char path[4096];
    queue_path(path, sizeof(path), qmgr_qdir, "active", id);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ELOOP) {
            move_corrupt(id, "not a regular file");
        } else if (errno != ENOENT) {
            msg_warn("%s: open %s: %s", id, path, strerror(errno));
            retry_later(id);                   /* do not strand it in active/ */
        }
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        move_corrupt(id, "not a regular file");
        return -1;
    }
    char errbuf[256] = "";
    memset(env, 0, sizeof(*env));
    int rc = qfile_read_env(fd, env, errbuf);
    close(fd);
    if (rc == -2 || (rc == 0 && (!env->complete || env->rcpt_count <= 0))) {
        const char *why = rc == -2 ? (errbuf[0] ? errbuf : "malformed")
                        : !env->complete ? "no end record" : "no recipients";
        move_corrupt(id, why);
        qfile_env_free(env);
        return -1;
    }
    if (rc != 0) {
        msg_warn("%s: read queue file: %s", id, errbuf[0] ? errbuf : strerror(errno));
        qfile_env_free(env);
        retry_later(id);
        return -1;
    }
    return 0;
}

/* Remove the message (nothing left to do) or defer it; then forget it. */
static void message_done(struct qmgr_message *m, int notification_failed)
{
    if (m->deferred_count == 0 && !notification_failed) {
        if (queue_remove(qmgr_qdir, "active", m->id) < 0 && errno != ENOENT) {
            msg_warn("%s: remove: %s", m->id, strerror(errno));
        } else {
            qmgr_defer_log_remove(m->id);
            qmgr_bounce_log_remove(m->id);
            msg_info("%s: removed", m->id);
        }
    } else {
        qmgr_defer_message(m);
    }
    message_free(m);
}

/* Notifications are done: send a due delay warning first, then finish. */
static void after_notification(struct qmgr_message *m, int notification_failed)
{
    if (m->deferred_count > 0 && qmgr_delay_warning_due(m) && qmgr_delay_notify(m) == 0) {
        m->notifying = 1;              /* qmgr_delay_notified() continues */
        m->notify_failed = notification_failed;
        return;
    }
    message_done(m, notification_failed);
}

void qmgr_delay_notified(struct qmgr_message *m, int ok)
{
    m->notifying = 0;
    if (ok)
        qmgr_delay_mark_warned(m);
    message_done(m, m->notify_failed);
}

static void message_finish(struct qmgr_message *m)
{
    qmgr_expire_message(m);
    if (qmgr_bounce_pending(m->id)) {
        if (mark_msg == m) {           /* nothing more to mark while we wait */
            close(mark_fd);
            mark_fd = -1;
            mark_msg = NULL;
        }
        if (qmgr_bounce_notify(m) == 0) {
            m->notifying = 1;          /* qmgr_message_notified() continues */
            return;
        }
        after_notification(m, 1);
        return;
    }
    after_notification(m, 0);
}

void qmgr_message_notified(struct qmgr_message *m, int ok)
{
    m->notifying = 0;
    if (ok)
        qmgr_bounce_log_remove(m->id);
    after_notification(m, !ok);
}

void qmgr_message_activate(const char *id)
{
    struct qmgr_message *m = xcalloc(1, sizeof(*m));
    snprintf(m->id, sizeof(m->id), "%s", id);
    if (read_envelope(m->id, &m->env) < 0) {
        free(m);
        return;
    }
    m->active_since_ms = event_now_ms();
    m->rcpt_state = xcalloc((size_t)m->env.rcpt_count, 1);
    m->next = messages;
    if (messages)
        messages->prev = m;
    messages = m;
    qmgr_message_count++;

    str sender;
    str_init(&sender);
    qmgr_printable(&sender, m->env.sender);
    msg_info("%s: from=<%s>, size=%ld, nrcpt=%d (queue active)",
             m->id, sender.data, m->env.message_size, m->env.rcpt_count);
    str_free(&sender);

    m->jobs_pending = 1;               /* hold the message while filing recipients */
    for (int i = 0; i < m->env.rcpt_count; i++) {
        if (m->env.rcpts[i].done) {
            m->rcpt_state[i] = RCPT_DONE;
            continue;
        }
        struct resolved r;
        resolve_addr(m->env.rcpts[i].address, &r);
        if (qmgr_special_route(m, i, &r))      /* error:, discard:, retry: */
            continue;
        struct qmgr_transport *t = qmgr_transport_find(r.transport);
        if (!t) {
            qmgr_log_rcpt(m, i, m->active_since_ms, "4.3.5", "deferred",
                          "mail transport unavailable (bad transport name)");
            qmgr_defer_log_add(m->id, m->env.rcpts[i].address, "4.3.5",
                               "mail transport unavailable (bad transport name)");
            m->rcpt_state[i] = RCPT_DEFERRED;
            m->deferred_count++;
            continue;
        }
        qmgr_entry_add_rcpt(m, qmgr_dest_find(t, r.nexthop), i);
    }
    qmgr_entry_message_filed(m);
    if (--m->jobs_pending == 0)
        message_finish(m);
}

static int open_for_marking(struct qmgr_message *m)
{
    if (mark_msg == m)
        return mark_fd;
    if (mark_fd >= 0)
        close(mark_fd);
    mark_msg = NULL;
    char path[4096];
    queue_path(path, sizeof(path), qmgr_qdir, "active", m->id);
    mark_fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (mark_fd < 0) {
        msg_warn("%s: open %s: %s", m->id, path, strerror(errno));
        return -1;
    }
    mark_msg = m;
    return mark_fd;
}

void qmgr_message_mark_done(struct qmgr_message *m, int ri)
{
    int fd = open_for_marking(m);
    if (fd < 0 || qfile_mark_done(fd, m->env.rcpts[ri].offset) < 0)
        msg_warn("%s: cannot mark recipient %d done (it may be delivered again): %s",
                 m->id, ri, strerror(errno));
}

void qmgr_message_rcpt_done(struct qmgr_job *job, int j)
{
    struct qmgr_message *m = job->msg;
    int ri = job->rcpt_index[j];
    m->rcpt_state[ri] = RCPT_DONE;
    int fd = open_for_marking(m);
    if (fd < 0 || qfile_mark_done(fd, m->env.rcpts[ri].offset) < 0)
        msg_warn("%s: cannot mark recipient %d done (it may be delivered again): %s",
                 m->id, ri, strerror(errno));
}

void qmgr_message_rcpt_deferred(struct qmgr_job *job, int j, const char *dsn,
                                const char *reason)
{
    struct qmgr_message *m = job->msg;
    int ri = job->rcpt_index[j];
    qmgr_defer_log_add(m->id, m->env.rcpts[ri].address, dsn, reason);
    if (m->rcpt_state[ri] != RCPT_DEFERRED) {
        m->rcpt_state[ri] = RCPT_DEFERRED;
        m->deferred_count++;
    }
}

void qmgr_message_defer_job(struct qmgr_job *job, const char *dsn, const char *reason)
{
    for (int j = 0; j < job->nrcpt; j++) {
        qmgr_log_rcpt(job->msg, job->rcpt_index[j], job->started_ms, dsn, "deferred", reason);
        qmgr_message_rcpt_deferred(job, j, dsn, reason);
    }
}

void qmgr_message_job_done(struct qmgr_job *job)
{
    struct qmgr_message *m = job->msg;
    if (mark_msg == m) {
        close(mark_fd);
        mark_fd = -1;
        mark_msg = NULL;
    }
    free(job->rcpt_index);
    free(job);
    if (--m->jobs_pending == 0)
        message_finish(m);
}

void qmgr_message_free_all(void)
{
    while (messages)
        message_free(messages);
}
