/* queue.c: the queue directory layout, queue IDs and the create/commit rule for queue
 * files (see queue.h). cleanup creates files here, qmgr moves them between queues, the
 * admin command lists them; everyone validates IDs with queue_id_valid() before building
 * a path from them.
 *
 * ID = 6 base-62 digits of seconds + 4 base-62 digits of microseconds + the inode number
 * in base 62. The inode is read with fstat() from a temporary file created O_EXCL; the file
 * is then renamed (without replacing anything) to its ID. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "queue.h"

const char *const queue_names[] = {
    "incoming", "active", "deferred", "hold", "corrupt",
    "bounce", "defer", "private", "public", "pid", NULL
};

const char *const queue_message_queues[] = {
    "incoming", "active", "deferred", "hold", "corrupt", NULL
};

#define QUEUE_SEC_DIGITS 6
#define QUEUE_USEC_DIGITS 4
#define QUEUE_INO_DIGITS_MAX 11
#define QUEUE_CREATE_TRIES 50

static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static int b62_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'Z')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 36;
    return -1;
}

/* Fixed-width base-62, most significant digit first. */
static void b62_fixed(char *out, unsigned long long v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        out[i] = b62[v % 62];
        v /= 62;
    }
}

static unsigned long long b62_decode(const char *s, int n)
{
    unsigned long long v = 0;
    for (int i = 0; i < n; i++)
        v = v * 62 + (unsigned long long)b62_value(s[i]);
    return v;
}

void queue_id_make(char out[QUEUE_ID_MAX], long sec, long usec, unsigned long long ino)
{
    if (sec < 0)
        sec = 0;
    if (usec < 0 || usec > 999999)
        usec = 0;
    b62_fixed(out, (unsigned long long)sec, QUEUE_SEC_DIGITS);
    b62_fixed(out + QUEUE_SEC_DIGITS, (unsigned long long)usec, QUEUE_USEC_DIGITS);
    char tmp[QUEUE_INO_DIGITS_MAX + 1];
    int n = 0;
    do {
        tmp[n++] = b62[ino % 62];
        ino /= 62;
    } while (ino);
    char *p = out + QUEUE_SEC_DIGITS + QUEUE_USEC_DIGITS;
    while (n > 0)
        *p++ = tmp[--n];
    *p = 0;
}

int queue_id_valid(const char *id)
{
    size_t len = 0;
    for (; id[len]; len++) {
        if (len >= QUEUE_SEC_DIGITS + QUEUE_USEC_DIGITS + QUEUE_INO_DIGITS_MAX)
            return 0;
        if (b62_value(id[len]) < 0)
            return 0;
    }
    if (len < QUEUE_SEC_DIGITS + QUEUE_USEC_DIGITS + 1)
        return 0;
    if (b62_decode(id + QUEUE_SEC_DIGITS, QUEUE_USEC_DIGITS) > 999999)
        return 0;
    /* no leading zero digits in the inode part, except the inode 0 itself */
    const char *ino = id + QUEUE_SEC_DIGITS + QUEUE_USEC_DIGITS;
    if (ino[0] == '0' && ino[1])
        return 0;
    return 1;
}

long queue_id_time(const char *id)
{
    if (!queue_id_valid(id))
        return -1;
    return (long)b62_decode(id, QUEUE_SEC_DIGITS);
}

const char *queue_path(char *buf, size_t len, const char *qdir, const char *queue, const char *id)
{
    int n = snprintf(buf, len, "%s/%s/%s", qdir, queue, id);
    if (n < 0 || (size_t)n >= len) {
        if (len)
            buf[0] = 0;
        return NULL;
    }
    return buf;
}

static int mkdir_mode(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
    if (mkdir(path, mode) < 0 && errno != EEXIST)
        return -1;
    struct stat st;
    if (stat(path, &st) < 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    if ((st.st_mode & 07777) != mode && chmod(path, mode) < 0)
        return -1;
    if ((uid != (uid_t)-1 || gid != (gid_t)-1) && chown(path, uid, gid) < 0)
        return -1;
    return 0;
}

int queue_dirs_create(const char *qdir, uid_t uid, gid_t gid)
{
    char path[4096];
    if (mkdir(qdir, 0755) < 0 && errno != EEXIST)
        return -1;
    for (int i = 0; queue_names[i]; i++) {
        if (snprintf(path, sizeof(path), "%s/%s", qdir, queue_names[i]) >= (int)sizeof(path)) {
            errno = ENAMETOOLONG;
            return -1;
        }
        mode_t mode = strcmp(queue_names[i], "public") == 0 ? 0711 : 0700;
        if (mkdir_mode(path, mode, uid, gid) < 0)
            return -1;
    }
    return 0;
}

/* rename without replacing an existing target: RENAME_NOREPLACE, or link+unlink where
 * the file system does not support it. */
static int rename_noreplace(const char *from, const char *to)
{
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
    if (link(from, to) < 0)
        return -1;
    if (unlink(from) < 0) {
        int saved = errno;
        (void)unlink(to);
        errno = saved;
        return -1;
    }
    return 0;
}

int queue_create(const char *qdir, const char *queue, char id[QUEUE_ID_MAX])
{
    static unsigned long counter;
    char tmp[4096], path[4096];
    struct stat st;
    struct timeval tv;
    int fd = -1;

    for (int tries = 0; fd < 0; tries++) {
        if (tries >= QUEUE_CREATE_TRIES) {
            errno = EEXIST;
            return -1;
        }
        /* leading '.' keeps the temporary name outside the queue ID syntax */
        if (snprintf(tmp, sizeof(tmp), "%s/%s/.tmp.%ld.%lu", qdir, queue, (long)getpid(),
                     counter++) >= (int)sizeof(tmp)) {
            errno = ENAMETOOLONG;
            return -1;
        }
        fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, QUEUE_MODE_WRITING);
        if (fd < 0 && errno != EEXIST)
            return -1;
    }
    /* The writer holds this lock until it closes the file (or dies): a file that is not
     * complete and not locked was abandoned (queue_remove_if_abandoned). Taken before the
     * rename, so a file under its queue ID name is never unlocked while being written. */
    if (flock(fd, LOCK_EX | LOCK_NB) < 0)
        goto fail;
    if (fstat(fd, &st) < 0 || fchmod(fd, QUEUE_MODE_WRITING) < 0)
        goto fail;
    for (int tries = 0;; tries++) {
        gettimeofday(&tv, NULL);
        queue_id_make(id, (long)tv.tv_sec, (long)tv.tv_usec, (unsigned long long)st.st_ino);
        if (!queue_path(path, sizeof(path), qdir, queue, id)) {
            errno = ENAMETOOLONG;
            goto fail;
        }
        if (rename_noreplace(tmp, path) == 0)
            return fd;
        if (errno != EEXIST || tries >= QUEUE_CREATE_TRIES)
            goto fail;
        usleep(1000);                /* a stale file with this name: try a new time */
    }
fail:;
    int saved = errno;
    close(fd);
    (void)unlink(tmp);
    errno = saved;
    return -1;
}

int queue_remove_if_abandoned(const char *qdir, const char *queue, const char *name,
                              int min_age)
{
    char path[4096];
    struct stat st;
    int fd, removed = 0;

    if (snprintf(path, sizeof(path), "%s/%s/%s", qdir, queue, name) >= (int)sizeof(path)
        || strchr(name, '/') != NULL) {
        errno = ENAMETOOLONG;
        return -1;
    }
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return -1;
    }
    if (S_ISREG(st.st_mode) && !queue_file_ready(&st)
        && time(NULL) - st.st_mtime >= min_age
        && flock(fd, LOCK_EX | LOCK_NB) == 0) {
        /* Nobody writes it any more. Re-check under the lock: the mode may have changed. */
        if (fstat(fd, &st) == 0 && !queue_file_ready(&st) && unlink(path) == 0)
            removed = 1;
    }
    close(fd);
    return removed;
}

int queue_commit(int fd)
{
    if (fchmod(fd, QUEUE_MODE_READY) < 0)
        return -1;
    return fsync(fd);
}

int queue_file_ready(const struct stat *st)
{
    return S_ISREG(st->st_mode) && (st->st_mode & S_IXUSR) != 0;
}

int queue_move(const char *qdir, const char *from, const char *to, const char *id)
{
    char a[4096], b[4096];
    if (!queue_id_valid(id)) {
        errno = EINVAL;
        return -1;
    }
    if (!queue_path(a, sizeof(a), qdir, from, id) || !queue_path(b, sizeof(b), qdir, to, id)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return rename(a, b);
}

int queue_remove(const char *qdir, const char *queue, const char *id)
{
    char a[4096];
    if (!queue_id_valid(id)) {
        errno = EINVAL;
        return -1;
    }
    if (!queue_path(a, sizeof(a), qdir, queue, id)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return unlink(a);
}
