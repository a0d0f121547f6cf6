/* local_mbox.c: mbox delivery. Locks with a dot-lock file (PATH.lock, O_EXCL, removed
 * when older than LOCAL_DOTLOCK_STALE seconds) and an fcntl write lock, appends
 * "From sender date", the message (">From " quoting) and a blank line in one buffered
 * stream, fsyncs once, and on any error truncates the mailbox back to its old size.
 * The mailbox must be a regular file with one link owned by the recipient; it is opened
 * non-blocking so that a FIFO put in its place cannot hang the agent.
 * While the lock is held, local_abort.c knows the lock and the old size, so a delivery
 * killed by the timeout leaves neither a stale lock nor a partial message.
 * spool = the shared $mail_spool_directory: locks and creation happen with our own
 * privileges (root may create there, users usually cannot) and a new file is given to
 * the recipient; otherwise the caller already runs with the recipient's ids. */
#include "local.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "log.h"
#include "privs.h"

#define LOCAL_LOCK_ATTEMPTS 5
#define LOCAL_LOCK_DELAY 1            /* seconds between attempts */
#define LOCAL_DOTLOCK_STALE 300       /* seconds */

/* 0 locked; -1 with r set. */
static int dotlock_acquire(const char *lock_path, struct deliver_result *r)
{
    for (int attempt = 0; attempt < LOCAL_LOCK_ATTEMPTS; attempt++) {
        struct stat st;
        int fd = open(lock_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0) {
            local_abort_lock(lock_path);
            close(fd);
            return 0;
        }
        if (errno != EEXIST) {
            deliver_result_errno(r, errno, "cannot create lock file %s", lock_path);
            return -1;
        }
        if (lstat(lock_path, &st) == 0 && time(NULL) - st.st_mtime > LOCAL_DOTLOCK_STALE) {
            msg_warn("removing stale lock file %s", lock_path);
            if (unlink(lock_path) == 0 || errno == ENOENT)
                continue;
        }
        if (attempt + 1 < LOCAL_LOCK_ATTEMPTS)
            sleep(LOCAL_LOCK_DELAY);
    }
    deliver_result_set(r, DELIVER_DEFER, "4.2.0", "mailbox busy: cannot lock %s", lock_path);
    return -1;
}

static int fcntl_lock(int fd, const char *path, struct deliver_result *r)
{
    struct flock fl;

    for (int attempt = 0; attempt < LOCAL_LOCK_ATTEMPTS; attempt++) {
        memset(&fl, 0, sizeof(fl));
        fl.l_type = F_WRLCK;
        fl.l_whence = SEEK_SET;
        if (fcntl(fd, F_SETLK, &fl) == 0)
            return 0;
        if (errno != EAGAIN && errno != EACCES && errno != EINTR) {
            deliver_result_errno(r, errno, "cannot lock mailbox %s", path);
            return -1;
        }
        if (attempt + 1 < LOCAL_LOCK_ATTEMPTS)
            sleep(LOCAL_LOCK_DELAY);
    }
    deliver_result_set(r, DELIVER_DEFER, "4.2.0", "mailbox busy: %s is locked", path);
    return -1;
}

/* Open (creating if needed) the mailbox for appending; -1 with r set. */
static int open_mailbox(const char *path, uid_t uid, gid_t gid, int spool,
                        struct deliver_result *r)
{
    struct stat st;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK
                  | O_CLOEXEC, 0600);

    if (fd >= 0) {
        if (spool && privs_is_root() && fchown(fd, uid, gid) < 0) {
            deliver_result_errno(r, errno, "cannot set owner of mailbox %s", path);
            unlink(path);
            close(fd);
            return -1;
        }
    } else if (errno == EEXIST) {
        fd = open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    }
    if (fd < 0) {
        deliver_result_errno(r, errno, "cannot open mailbox %s", path);
        return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 || st.st_uid != uid) {
        msg_warn("mailbox %s is not a regular file with one link owned by uid %ld",
                 path, (long) uid);
        deliver_result_set(r, DELIVER_DEFER, "4.3.0", "unsafe mailbox %s: not a regular file "
                           "with one link owned by the recipient", path);
        close(fd);
        return -1;
    }
    if (fcntl(fd, F_SETFL, O_APPEND) < 0) {      /* blocking writes from here on */
        deliver_result_errno(r, errno, "cannot set flags of mailbox %s", path);
        close(fd);
        return -1;
    }
    return fd;
}

static void dotlock_release(const char *lock_path)
{
    if (unlink(lock_path) < 0)
        msg_warn("cannot remove lock file %s: %s", lock_path, strerror(errno));
    local_abort_lock(NULL);
}

void local_mbox_deliver(struct deliver_msg *m, const char *path, const char *rcpt,
                        uid_t uid, gid_t gid, int spool, struct deliver_result *r)
{
    char lock_path[4200];
    off_t old_size;
    bio *out;
    int fd, failed = 0;

    if (strlen(path) > 4096) {
        deliver_result_set(r, DELIVER_DEFER, "4.3.0", "mailbox path too long");
        return;
    }
    snprintf(lock_path, sizeof(lock_path), "%s.lock", path);
    if (dotlock_acquire(lock_path, r) < 0)
        return;
    if ((fd = open_mailbox(path, uid, gid, spool, r)) < 0) {
        dotlock_release(lock_path);
        return;
    }
    if (fcntl_lock(fd, path, r) < 0) {
        close(fd);
        dotlock_release(lock_path);
        return;
    }
    old_size = lseek(fd, 0, SEEK_END);
    if (old_size >= 0)
        local_abort_mbox(fd, old_size);
    out = bio_open_file(fd);
    if (old_size < 0) {
        deliver_result_errno(r, errno, "cannot seek in mailbox %s", path);
        failed = 1;
    } else if (local_write_message(m, out, rcpt, 1, r) < 0) {
        failed = 1;
    } else if (fsync(fd) < 0) {
        deliver_result_errno(r, errno, "cannot fsync mailbox %s", path);
        failed = 1;
    }
    bio_free(out);
    if (failed && old_size >= 0 && ftruncate(fd, old_size) < 0)
        msg_warn("cannot truncate mailbox %s back to %ld bytes: %s", path, (long) old_size,
                 strerror(errno));
    local_abort_mbox(-1, 0);
    if (close(fd) < 0 && !failed) {
        deliver_result_errno(r, errno, "cannot write mailbox %s", path);
        failed = 1;
    }
    dotlock_release(lock_path);
    if (!failed)
        deliver_result_set(r, DELIVER_SENT, "2.0.0", "delivered to mailbox");
}
