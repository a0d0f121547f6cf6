/* qmgr_defer.c: what happens to a message some of whose recipients were deferred.
 *
 * Backoff (DESIGN.md 2): the next retry is now + the message's age clamped to
 * [$minimal_backoff_time, $maximal_backoff_time]; the retry time is stored as the file's
 * mtime and the file moves to deferred/, where qmgr_scan.c finds it when the time comes.
 * A message older than $maximal_queue_lifetime ($bounce_queue_lifetime for the null
 * sender) is not deferred again: qmgr_expire_message() turns its remaining recipients
 * into bounces (bounce_add, marked done) and qmgr_message.c has the sender notified. */
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "config.h"
#include "events.h"
#include "log.h"
#include "queue.h"
#include "qmgr.h"

static long min_backoff = -1, max_backoff, queue_lifetime, bounce_lifetime;

static void load_times(void)
{
    if (min_backoff >= 0)
        return;
    min_backoff = config_time("minimal_backoff_time");
    max_backoff = config_time("maximal_backoff_time");
    queue_lifetime = config_time("maximal_queue_lifetime");
    bounce_lifetime = config_time("bounce_queue_lifetime");
    if (min_backoff < 1)
        min_backoff = 1;
    if (max_backoff < min_backoff)
        max_backoff = min_backoff;
    if (bounce_lifetime > queue_lifetime)
        bounce_lifetime = queue_lifetime;
}

long qmgr_backoff_seconds(long age)
{
    load_times();
    if (age < min_backoff)
        return min_backoff;
    if (age > max_backoff)
        return max_backoff;
    return age;
}

int qmgr_expire_message(struct qmgr_message *m)
{
    load_times();
    long age = (long)(time(NULL) - m->env.arrival_sec);
    if (age < 0)
        age = 0;
    long lifetime = m->env.sender[0] ? queue_lifetime : bounce_lifetime;
    if (age < lifetime || m->deferred_count == 0)
        return 0;
    char why[128];
    snprintf(why, sizeof(why), "message expired after %ld seconds in the queue", age);
    for (int i = 0; i < m->env.rcpt_count; i++) {
        if (m->rcpt_state[i] != RCPT_DEFERRED)
            continue;
        qmgr_log_rcpt(m, i, m->active_since_ms, "4.4.7", "expired", why);
        bounce_add(m->id, m->env.rcpts[i].address, "4.4.7", why);
        qmgr_message_mark_done(m, i);
        m->rcpt_state[i] = RCPT_DONE;
    }
    m->deferred_count = 0;
    return 1;
}

void qmgr_defer_message(struct qmgr_message *m)
{
    load_times();
    time_t now = time(NULL);
    long age = (long)(now - m->env.arrival_sec);
    if (age < 0)
        age = 0;
    long backoff = qmgr_backoff_seconds(age);
    char path[4096];
    queue_path(path, sizeof(path), qmgr_qdir, "active", m->id);
    struct timespec ts[2] = { { 0, UTIME_NOW }, { now + backoff, 0 } };
    if (utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) < 0)
        msg_warn("%s: set retry time: %s", m->id, strerror(errno));
    if (queue_move(qmgr_qdir, "active", "deferred", m->id) < 0) {
        msg_warn("%s: move active -> deferred: %s", m->id, strerror(errno));
        return;
    }
    qmgr_note_retry_time(event_now_ms() + backoff * 1000LL);
    msg_debug("%s: %d recipient(s) deferred, next retry in %lds",
              m->id, m->deferred_count, backoff);
}
