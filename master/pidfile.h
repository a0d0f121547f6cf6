/* pidfile.h: the master's pid file $queue_directory/pid/master.pid. The running master
 * holds an exclusive flock(2) on it for its whole life, so "is postern running?" is
 * answered by the lock, never by a possibly stale pid. Shared by master and `postern`. */
#ifndef POSTERN_PIDFILE_H
#define POSTERN_PIDFILE_H
#include <sys/types.h>

/* "QDIR/pid/master.pid" (malloc'd). */
char *pidfile_path(const char *queue_directory);
/* Create/open PATH and take the exclusive lock (non-blocking). Returns the fd
 * (close-on-exec), or -1: errno EWOULDBLOCK when another process holds it (*holder = its
 * pid as written in the file, 0 if unreadable), other errno on I/O errors. */
int pidfile_lock(const char *path, pid_t *holder);
/* Replace the file's contents with "PID\n" and flush it to disk. 0 or -1. */
int pidfile_write(int fd, pid_t pid);
/* Is a master running? Returns its pid (> 0) when the file is locked, 0 when it is not
 * (or does not exist), -1 on errors (errno). A locked file that names no pid yet returns
 * -1 with errno EAGAIN ("starting"). */
pid_t pidfile_running(const char *path);

#endif
