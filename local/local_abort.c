/* local_abort.c: what a delivery leaves behind when the agent is killed by its own
 * watchdog (SIGALRM from local_delivery_timeout, armed in local.c). The mbox and Maildir
 * code register what they hold while they hold it: a dot-lock to remove, an mbox to
 * truncate back to its size before the append, a Maildir tmp file to remove, the
 * process group of a running "|command" to kill. The
 * handler undoes exactly that with async-signal-safe calls and the effective ids that
 * are current (the ones that created those files: no root action on a user's path),
 * then exits; qmgr counts the request as deferred. */
#include "local.h"
#include <signal.h>
#include <string.h>
#include <unistd.h>

static char abort_lock[LOCAL_ABORT_PATH_MAX];
static char abort_tmp[LOCAL_ABORT_PATH_MAX];
static volatile sig_atomic_t have_lock, have_tmp, have_mbox;
static int abort_mbox_fd = -1;
static off_t abort_mbox_size;
static volatile sig_atomic_t abort_command_pid;

/* Copy a path for the handler; a path that does not fit is not registered (the normal
 * error paths still clean it up). */
static int set_path(char *dst, const char *path)
{
    size_t n = strlen(path);

    if (n >= LOCAL_ABORT_PATH_MAX)
        return 0;
    memcpy(dst, path, n + 1);
    return 1;
}

void local_abort_lock(const char *lock_path)
{
    have_lock = 0;
    if (lock_path)
        have_lock = set_path(abort_lock, lock_path);
}

void local_abort_tmp(const char *tmp_path)
{
    have_tmp = 0;
    if (tmp_path)
        have_tmp = set_path(abort_tmp, tmp_path);
}

void local_abort_mbox(int fd, off_t old_size)
{
    have_mbox = 0;
    if (fd >= 0) {
        abort_mbox_fd = fd;
        abort_mbox_size = old_size;
        have_mbox = 1;
    }
}

void local_abort_command(pid_t pid)
{
    abort_command_pid = pid > 0 ? (sig_atomic_t) pid : 0;
}

static void local_abort_handler(int sig)
{
    static const char msg[] = "postern/local: delivery timed out, aborted\n";

    (void) sig;
    if (abort_command_pid > 0) {
        (void) kill(-(pid_t) abort_command_pid, SIGKILL);
        (void) kill((pid_t) abort_command_pid, SIGKILL);   /* before its setsid() */
    }
    if (have_mbox)
        (void) ftruncate(abort_mbox_fd, abort_mbox_size);
    if (have_tmp)
        (void) unlink(abort_tmp);
    if (have_lock)
        (void) unlink(abort_lock);
    (void) !write(STDERR_FILENO, msg, sizeof(msg) - 1);
    _exit(1);
}

void local_abort_install(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = local_abort_handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
}
