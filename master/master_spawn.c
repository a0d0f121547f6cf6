/* master_spawn.c: starting, reaping and throttling children.
 *
 * A child is exec'd as  $daemon_directory/COMMAND -c CONFDIR -n SERVICE -t TYPE [-u] [-v]
 * [args from master.cf]  with its pool's listening socket on fd 3, the service's status
 * pipe on fd 4, the in_flow_delay token pipe on fds 5 and 6 (flow.h), fds 0-2 inherited
 * and every other fd closed (server.h).
 *
 * Policy: each pool (listener) keeps at least one idle child while it has fewer than
 * maxproc children; a new child counts as idle until it reports otherwise.
 * Throttling: a child that dies abnormally (non-zero exit, or a signal other than
 * SIGKILL/SIGTERM/SIGINT/SIGHUP: killing a daemon by hand is not its fault) before it ever
 * reported busy is a startup failure. Such deaths restart at once, unless more than 5
 * happened within 10 s: then the service waits min(60 s, $service_throttle_time). */
#define _GNU_SOURCE 1
#include "master.h"
#include "daemon_path.h"
#include "events.h"
#include "flow.h"
#include "log.h"
#include "mem.h"
#include "str.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static struct child *children;
static int nchildren;

struct child *spawn_find(pid_t pid)
{
    for (struct child *c = children; c; c = c->next)
        if (c->pid == pid)
            return c;
    return NULL;
}

int spawn_count(void)
{
    return nchildren;
}

void spawn_signal_all(int sig)
{
    for (struct child *c = children; c; c = c->next)
        if (kill(c->pid, sig) != 0 && errno != ESRCH)
            msg_warn("kill %s pid %ld: %m", c->path, (long)c->pid);
}

/* Close every fd >= lowfd (child side, before exec). */
static void close_from(int lowfd)
{
#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned)lowfd, ~0U, 0) == 0)
        return;
#endif
    struct rlimit rl;
    long maxfd = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                 ? (long)rl.rlim_cur : 65536;
    if (maxfd > 1048576)
        maxfd = 1048576;
    for (long fd = lowfd; fd < maxfd; fd++)
        close((int)fd);
}

static void child_exec(const char *path, char **argv, int listen_fd, int status_fd)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    const int sigs[] = { SIGCHLD, SIGHUP, SIGTERM, SIGINT, SIGPIPE, SIGQUIT, SIGUSR1, SIGUSR2 };
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal(sigs[i], SIG_DFL);
    int lfd = fcntl(listen_fd, F_DUPFD, 10);
    int sfd = fcntl(status_fd, F_DUPFD, 10);
    if (lfd < 0 || sfd < 0)
        _exit(126);
    /* the flow pipe (flow.h) is optional for the child: without it, no in_flow_delay */
    int flow_rd, flow_wr, frd = -1, fwr = -1;
    flow_master_fds(&flow_rd, &flow_wr);
    if (flow_rd >= 0 && flow_wr >= 0) {
        frd = fcntl(flow_rd, F_DUPFD, 10);
        fwr = fcntl(flow_wr, F_DUPFD, 10);
    }
    if (dup2(lfd, SERVER_LISTEN_FD) < 0 || dup2(sfd, SERVER_STATUS_FD) < 0)
        _exit(126);
    if (frd >= 0 && fwr >= 0 && dup2(frd, SERVER_FLOW_READ_FD) >= 0
        && dup2(fwr, SERVER_FLOW_WRITE_FD) >= 0)
        close_from(SERVER_FLOW_WRITE_FD + 1);
    else
        close_from(SERVER_STATUS_FD + 1);
    execv(path, argv);
    _exit(127);
}

static int spawn_one(struct service *svc, int li)
{
    char *path = daemon_path(master_params.daemon_directory, svc->command);
    if (access(path, X_OK) != 0) {
        msg_error("service %s: cannot execute %s: %m", svc->name, path);
        free(path);
        return -1;
    }
    size_t nargs = svc->args ? strv_len(svc->args) : 0;
    char **argv = xcalloc(nargs + 12, sizeof *argv);
    size_t n = 0;
    const char *base = strrchr(svc->command, '/');
    argv[n++] = (char *)(base ? base + 1 : svc->command);
    argv[n++] = "-c";
    argv[n++] = master_params.confdir;
    argv[n++] = "-n";
    argv[n++] = svc->name;
    argv[n++] = "-t";
    argv[n++] = (char *)service_type_name(svc->type);
    if (svc->unpriv)
        argv[n++] = "-u";
    if (master_verbose)
        argv[n++] = "-v";
    for (size_t i = 0; i < nargs; i++)
        argv[n++] = svc->args[i];
    argv[n] = NULL;

    pid_t pid = fork();
    if (pid == 0)
        child_exec(path, argv, svc->listeners[li].fd, svc->status_wr);
    free(argv);
    if (pid < 0) {
        msg_warn("service %s: fork: %m", svc->name);
        free(path);
        return -1;
    }
    struct child *c = xcalloc(1, sizeof *c);
    c->pid = pid;
    c->svc = svc;
    c->listener = li;
    c->avail = 1;
    c->path = path;
    c->next = children;
    children = c;
    nchildren++;
    svc->listeners[li].nproc++;
    svc->listeners[li].navail++;
    if (master_verbose)
        msg_debug("service %s: started %s pid %ld", svc->name, path, (long)pid);
    return 0;
}

static void retry_later(void *ctx)
{
    struct service *svc = ctx;
    svc->retry_timer = 0;
    spawn_adjust(svc);
}

void spawn_adjust(struct service *svc)
{
    if (master_stopping || svc->throttled || svc->status_wr < 0)
        return;
    for (int li = 0; li < svc->nlisteners; li++) {
        struct listener *l = &svc->listeners[li];
        if (l->fd < 0 || l->navail > 0 || l->nproc >= svc->maxproc)
            continue;
        if (spawn_one(svc, li) != 0) {
            /* exec target missing or fork failed: try again in a second, no busy loop */
            if (!svc->retry_timer)
                svc->retry_timer = event_timer(1000, retry_later, svc);
            return;
        }
    }
}

void spawn_adjust_all(void)
{
    for (struct service *s = master_services; s; s = s->next)
        spawn_adjust(s);
}

/* Detach the service's current children: they no longer count for its pools. The caller
 * then closes the status pipe, which makes them exit (idle at once, busy after the client). */
void spawn_retire(struct service *svc)
{
    for (struct child *c = children; c; c = c->next)
        if (c->svc == svc)
            c->svc = NULL;
    for (int i = 0; i < svc->nlisteners; i++)
        svc->listeners[i].nproc = svc->listeners[i].navail = 0;
    service_close_status_pipe(svc);
}

static void unthrottle(void *ctx)
{
    struct service *svc = ctx;
    svc->throttle_timer = 0;
    svc->throttled = 0;
    msg_info("service %s: throttle ended, starting processes again", svc->name);
    spawn_adjust(svc);
}

static void note_startup_death(struct service *svc, const char *path)
{
    long long now = event_now_ms();
    svc->deaths[svc->death_next] = now;
    svc->death_next = (svc->death_next + 1) % MASTER_DEATH_WINDOW;
    long long oldest = svc->deaths[svc->death_next];    /* 6th most recent */
    if (oldest == 0 || now - oldest > MASTER_DEATH_SECONDS * 1000LL || svc->throttled)
        return;
    long secs = master_params.service_throttle_time;
    if (secs > MASTER_MAX_THROTTLE)
        secs = MASTER_MAX_THROTTLE;
    if (secs < 1)
        secs = 1;
    msg_warn("%s: bad command startup -- throttling service %s for %ld s", path, svc->name, secs);
    svc->throttled = 1;
    svc->throttle_timer = event_timer(secs * 1000L, unthrottle, svc);
}

static void child_exited(struct child *c, int status)
{
    int abnormal = 0, startup_failure = 0;
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        abnormal = 1;
        startup_failure = sig != SIGKILL && sig != SIGTERM && sig != SIGINT && sig != SIGHUP;
        msg_warn("process %s pid %ld killed by signal %d", c->path, (long)c->pid, sig);
    } else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
        abnormal = startup_failure = 1;
        msg_warn("process %s pid %ld exit status %d", c->path, (long)c->pid, WEXITSTATUS(status));
    }
    struct service *svc = c->svc;
    if (!svc)
        return;
    struct listener *l = &svc->listeners[c->listener];
    l->nproc--;
    if (c->avail)
        l->navail--;
    if (abnormal && startup_failure && !c->served && !master_stopping)
        note_startup_death(svc, c->path);
}

void spawn_reap(void)
{
    int status;
    pid_t pid;
    for (int rounds = 0; rounds < 100000 && (pid = waitpid(-1, &status, WNOHANG)) > 0; rounds++) {
        struct child **pp = &children;
        while (*pp && (*pp)->pid != pid)
            pp = &(*pp)->next;
        if (!*pp) {
            if (master_verbose)
                msg_debug("reaped unknown pid %ld", (long)pid);
            continue;
        }
        struct child *c = *pp;
        *pp = c->next;
        nchildren--;
        child_exited(c, status);
        free(c->path);
        free(c);
    }
    spawn_adjust_all();
}
