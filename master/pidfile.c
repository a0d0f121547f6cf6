/* pidfile.c: lock, write and probe the master's pid file (see pidfile.h). */
#define _GNU_SOURCE 1
#include "pidfile.h"
#include "mem.h"
#include "str.h"
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>

char *pidfile_path(const char *queue_directory)
{
    return xasprintf("%s/pid/master.pid", queue_directory);
}

/* The pid written in the file, 0 if none or malformed. */
static pid_t pidfile_read_fd(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    char *nl = strchr(buf, '\n');
    if (nl)
        *nl = 0;
    long pid;
    if (parse_long(buf, &pid) != 0 || pid <= 0 || pid > 0x7fffffff)
        return 0;
    return (pid_t)pid;
}

int pidfile_lock(const char *path, pid_t *holder)
{
    *holder = 0;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return -1;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int saved = errno;
        if (saved == EWOULDBLOCK)
            *holder = pidfile_read_fd(fd);
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int pidfile_write(int fd, pid_t pid)
{
    char buf[32];
    int len = snprintf(buf, sizeof buf, "%ld\n", (long)pid);
    if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)len, 0) != len || fsync(fd) != 0)
        return -1;
    return 0;
}

pid_t pidfile_running(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
        close(fd);
        return 0;                       /* nobody holds it: not running */
    }
    if (errno != EWOULDBLOCK) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    pid_t pid = pidfile_read_fd(fd);
    close(fd);
    if (pid <= 0) {
        errno = EAGAIN;
        return -1;
    }
    return pid;
}
