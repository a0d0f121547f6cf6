/* ipc.c: UNIX-socket plumbing between postern daemons: connect to
 * $queue_directory/{private,public}/NAME with a bounded retry, create listening
 * sockets for master, and the best-effort qmgr wake-up sent after each commit. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "ipc.h"
#include "config.h"
#include "log.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define IPC_RETRY_MS 50

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int make_addr(const char *path, struct sockaddr_un *sun)
{
    memset(sun, 0, sizeof *sun);
    sun->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sun->sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(sun->sun_path, path);
    return 0;
}

/* One non-blocking connect attempt; returns fd (still non-blocking) or -1. */
static int try_connect(const struct sockaddr_un *sun)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (const struct sockaddr *)sun, sizeof *sun) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int ipc_connect(const char *class_, const char *service, int timeout_ms)
{
    char path[512];
    struct sockaddr_un sun;
    if (strchr(service, '/') || strchr(class_, '/')) {
        errno = EINVAL;
        return -1;
    }
    if ((size_t)snprintf(path, sizeof path, "%s/%s/%s", config_str("queue_directory"),
                         class_, service) >= sizeof path || make_addr(path, &sun) != 0) {
        errno = ENAMETOOLONG;
        return -1;
    }
    long long deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        int fd = try_connect(&sun);
        if (fd >= 0) {
            int fl = fcntl(fd, F_GETFL);
            if (fl >= 0)
                fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
            return fd;
        }
        int e = errno;
        if (e != ECONNREFUSED && e != EAGAIN && e != ENOENT && e != EINTR)
            return -1;
        long long left = deadline - now_ms();
        if (left <= 0) {
            errno = e;
            return -1;
        }
        poll(NULL, 0, (int)(left < IPC_RETRY_MS ? left : IPC_RETRY_MS));
    }
}

int ipc_listen_unix(const char *path, int mode, int backlog)
{
    struct sockaddr_un sun;
    if (make_addr(path, &sun) != 0)
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (unlink(path) != 0 && errno != ENOENT)
        goto fail;
    if (bind(fd, (struct sockaddr *)&sun, sizeof sun) != 0)
        goto fail;
    if (chmod(path, (mode_t)mode) != 0)
        goto fail;
    if (listen(fd, backlog > 0 ? backlog : 100) != 0)
        goto fail;
    return fd;
fail:;
    int e = errno;
    close(fd);
    errno = e;
    return -1;
}

static void send_qmgr_request(const char *request, size_t len);

void ipc_wakeup_qmgr(void)
{
    static const char request[] = "request=wakeup\n\n";   /* an attr list (attr.h) */
    send_qmgr_request(request, sizeof request - 1);
}

void ipc_flush_qmgr(void)
{
    static const char request[] = "request=flush\n\n";
    send_qmgr_request(request, sizeof request - 1);
}

static void send_qmgr_request(const char *request, size_t len)
{
    char path[512];
    struct sockaddr_un sun;
    if ((size_t)snprintf(path, sizeof path, "%s/private/qmgr",
                         config_str("queue_directory")) >= sizeof path
        || make_addr(path, &sun) != 0)
        return;
    int fd = try_connect(&sun);              /* non-blocking: never waits for a full backlog */
    if (fd < 0) {
        msg_debug("qmgr wakeup: connect %s: %s", path, strerror(errno));
        return;
    }
    struct pollfd pfd = { .fd = fd, .events = POLLOUT };
    if (poll(&pfd, 1, 100) == 1 && (pfd.revents & POLLOUT)) {
        ssize_t n = send(fd, request, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n != (ssize_t)len)
            msg_debug("qmgr wakeup: short write");
    }
    close(fd);
}
