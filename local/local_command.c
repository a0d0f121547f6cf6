/* local_command.c: delivery to a "|command" alias target.
 *
 * The delivered form of the message (Return-Path, Delivered-To, content: the writer the
 * mailbox code uses, local_deliver.c) is first written to an anonymous memory file, so
 * the command can read it at its own pace while we only read its output (no pipe
 * deadlock). A forked child then starts a new session (its own process group), takes
 * that file as stdin and one pipe as stdout and stderr, closes every other descriptor,
 * drops its ids for good (setgroups, setresgid, setresuid; only when we run as root),
 * clears the environment to a small fixed set, changes to the home directory (or /) and
 * runs $local_command_shell COMMAND, or /bin/sh -c COMMAND. The agent itself never
 * changes ids for this.
 * The parent keeps the first LOCAL_COMMAND_OUTPUT_MAX bytes of output (for the bounce
 * reason) and waits at most $command_time_limit, then kills the process group.
 * Result: exit 0 sent; 75 (EX_TEMPFAIL), a signal or the time limit: deferred; any other
 * status: bounced 5.3.0 with the output. */
#define _GNU_SOURCE
#include "local.h"
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "addr.h"
#include "config.h"
#include "log.h"
#include "mem.h"
#include "privs.h"

#define LOCAL_COMMAND_EX_TEMPFAIL 75
#define LOCAL_COMMAND_ENV_MAX 12
#define LOCAL_COMMAND_SHELL_ARGS 16
#define LOCAL_COMMAND_FD_LIMIT 65536      /* highest descriptor the child closes */
#define LOCAL_COMMAND_DRAIN_MS 200        /* output still read after the command exited */

static double now_mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The environment: NAME=value with control bytes replaced. */
static void env_add(char **envp, int *n, const char *name, const char *value)
{
    str v, e;

    if (*n >= LOCAL_COMMAND_ENV_MAX)
        return;
    str_init(&v);
    str_init(&e);
    deliver_printable(&v, value ? value : "", 0);
    str_printf(&e, "%s=%s", name, v.data);
    envp[(*n)++] = e.data;                     /* ownership moves to envp */
    str_free(&v);
}

static void build_env(char **envp, struct deliver_msg *m, const char *rcpt, const char *orig,
                      const struct local_privs *p)
{
    const char *at = strrchr(rcpt, '@');
    str local;
    int n = 0;

    str_init(&local);
    if (at)
        str_append(&local, rcpt, (size_t) (at - rcpt));
    else
        str_set(&local, rcpt);
    env_add(envp, &n, "HOME", p->home);
    env_add(envp, &n, "LOGNAME", p->user);
    env_add(envp, &n, "USER", p->user);
    env_add(envp, &n, "SHELL", "/bin/sh");
    env_add(envp, &n, "PATH", "/usr/bin:/bin");
    env_add(envp, &n, "SENDER", m->env.sender);
    env_add(envp, &n, "RECIPIENT", rcpt);
    env_add(envp, &n, "LOCAL", local.data);
    env_add(envp, &n, "DOMAIN", at ? at + 1 : "");
    env_add(envp, &n, "ORIGINAL_RECIPIENT", orig);
    env_add(envp, &n, "QUEUE_ID", m->queue_id);
    envp[n] = NULL;
    str_free(&local);
}

/* argv: the words of $local_command_shell + COMMAND, or /bin/sh -c COMMAND. NULL when
 * the parameter is malformed (not an absolute path, too many words). */
static char **build_argv(const char *command)
{
    const char *shell = config_str("local_command_shell");
    char **words, **argv;
    int n;

    if (!*shell) {
        argv = xcalloc(4, sizeof(*argv));
        argv[0] = xstrdup("/bin/sh");
        argv[1] = xstrdup("-c");
        argv[2] = xstrdup(command);
        return argv;
    }
    words = strv_split(shell, " \t");
    n = strv_len(words);
    if (n == 0 || n > LOCAL_COMMAND_SHELL_ARGS || words[0][0] != '/') {
        strv_free(words);
        return NULL;
    }
    argv = xcalloc((size_t) n + 2, sizeof(*argv));
    for (int i = 0; i < n; i++)
        argv[i] = words[i];
    argv[n] = xstrdup(command);
    free(words);                              /* the strings now belong to argv */
    return argv;
}

/* In the child: write a short diagnostic to the output pipe and exit (deferred). */
_Noreturn static void child_fail(const char *what)
{
    char buf[256];
    int n = snprintf(buf, sizeof(buf), "postern/local: %s: %s\n", what, strerror(errno));

    if (n > 0)
        (void) !write(STDOUT_FILENO, buf, (size_t) n < sizeof(buf) ? (size_t) n : sizeof(buf) - 1);
    _exit(LOCAL_COMMAND_EX_TEMPFAIL);
}

_Noreturn static void run_child(int input_fd, int output_fd, const struct local_privs *p,
                                char **argv, char **envp)
{
    long maxfd = sysconf(_SC_OPEN_MAX);
    sigset_t none;

    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    setsid();
    signal(SIGPIPE, SIG_DFL);
    signal(SIGXFSZ, SIG_DFL);
    signal(SIGALRM, SIG_DFL);
    if (dup2(output_fd, STDOUT_FILENO) < 0 || dup2(output_fd, STDERR_FILENO) < 0)
        _exit(LOCAL_COMMAND_EX_TEMPFAIL);
    if (dup2(input_fd, STDIN_FILENO) < 0)
        child_fail("cannot set up standard input");
    if (maxfd < 0 || maxfd > LOCAL_COMMAND_FD_LIMIT)
        maxfd = LOCAL_COMMAND_FD_LIMIT;
    for (int fd = 3; fd < maxfd; fd++)       /* queue file, sockets, flow pipes, logs */
        (void) close(fd);
    if (privs_is_root()) {
        if (geteuid() != 0 && privs_restore_root() < 0)
            child_fail("cannot restore root privileges");
        if (setgroups(1, &p->gid) < 0 || setresgid(p->gid, p->gid, p->gid) < 0
            || setresuid(p->uid, p->uid, p->uid) < 0)
            child_fail("cannot switch user ids");
        if (getuid() != p->uid || geteuid() != p->uid || getgid() != p->gid
            || getegid() != p->gid || (p->uid != 0 && setuid(0) == 0))
            child_fail("user id switch did not stick");
    }
    if (chdir(p->home) < 0 && chdir("/") < 0)
        child_fail("cannot change directory");
    execve(argv[0], argv, envp);
    child_fail(argv[0]);
}

/* Read the output until EOF (or the command exited and LOCAL_COMMAND_DRAIN_MS passed),
 * keep the start in out. Reap the child. Returns 0 with *status, or -1 on time-out
 * (process group killed). */
static int supervise(pid_t pid, int fd, long limit, str *out, int *status)
{
    double deadline = now_mono() + (double) limit, exited_at = 0;
    int reaped = 0, eof = 0;
    char buf[4096];

    while (!(reaped && (eof || now_mono() - exited_at > LOCAL_COMMAND_DRAIN_MS / 1000.0))) {
        double left = deadline - now_mono();
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int wait_ms = reaped ? 20 : 100;

        if (left <= 0) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            if (!reaped)
                while (waitpid(pid, status, 0) < 0 && errno == EINTR)
                    ;
            return -1;
        }
        if (!reaped) {
            pid_t w = waitpid(pid, status, WNOHANG);
            if (w == pid || (w < 0 && errno == ECHILD)) {
                reaped = 1;
                exited_at = now_mono();
                if (w < 0)
                    *status = LOCAL_COMMAND_EX_TEMPFAIL << 8;
            }
        }
        if (eof) {
            if (!reaped)
                usleep(20000);
            continue;
        }
        if (poll(&pfd, 1, wait_ms) > 0) {
            ssize_t n = read(fd, buf, sizeof(buf));
            if (n > 0) {
                if (out->len < LOCAL_COMMAND_OUTPUT_MAX)
                    str_append(out, buf, (size_t) n < LOCAL_COMMAND_OUTPUT_MAX - out->len
                               ? (size_t) n : LOCAL_COMMAND_OUTPUT_MAX - out->len);
            } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
                eof = 1;
            }
        }
    }
    return 0;
}

/* Output as one printable line: newlines and tabs become spaces, trailing blanks go. */
static void output_text(const str *raw, str *text)
{
    str tmp;

    str_init(&tmp);
    str_set(&tmp, "");
    for (size_t i = 0; i < raw->len; i++)
        str_putc(&tmp, raw->data[i] == '\n' || raw->data[i] == '\r' || raw->data[i] == '\t'
                 || raw->data[i] == 0 ? ' ' : raw->data[i]);
    deliver_printable(text, trim(tmp.data), 0);
    str_free(&tmp);
}

/* Write the delivered message to an anonymous file; its fd (at offset 0) or -1. */
static int message_file(struct deliver_msg *m, const char *rcpt, struct deliver_result *r)
{
    int fd = memfd_create("postern-command-input", MFD_CLOEXEC);
    bio *out;
    int rc;

    if (fd < 0) {
        deliver_result_errno(r, errno, "cannot create command input");
        return -1;
    }
    out = bio_open_file(fd);
    rc = local_write_message(m, out, rcpt, 0, r);
    bio_free(out);
    if (rc == 0 && lseek(fd, 0, SEEK_SET) < 0) {
        deliver_result_errno(r, errno, "cannot rewind command input");
        rc = -1;
    }
    if (rc < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

void local_command_deliver(struct deliver_msg *m, const char *rcpt, const char *orig,
                           const char *command, const struct local_privs *p,
                           struct deliver_result *r)
{
    long limit = config_time("command_time_limit");
    char *envp[LOCAL_COMMAND_ENV_MAX + 1];
    char **argv;
    int input_fd, pipefd[2], status = 0;
    str output, text, shown;
    pid_t pid;

    if (local_check_loop(m, rcpt, r) != 0)
        return;
    if ((argv = build_argv(command)) == NULL) {
        msg_warn("bad local_command_shell \"%s\"", config_str("local_command_shell"));
        deliver_result_set(r, DELIVER_DEFER, "4.3.0", "bad local_command_shell setting");
        return;
    }
    if (limit <= 0)
        limit = 1;
    if ((input_fd = message_file(m, rcpt, r)) < 0) {
        strv_free(argv);
        return;
    }
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        deliver_result_errno(r, errno, "cannot create command pipe");
        close(input_fd);
        strv_free(argv);
        return;
    }
    build_env(envp, m, rcpt, orig, p);
    str_init(&output);
    str_init(&text);
    str_init(&shown);
    str_set(&output, "");
    deliver_printable(&shown, command, 0);
    pid = fork();
    if (pid == 0) {
        close(pipefd[0]);
        run_child(input_fd, pipefd[1], p, argv, envp);
    }
    close(pipefd[1]);
    close(input_fd);
    if (pid > 0)
        local_abort_command(pid);             /* the agent's watchdog kills it too */
    if (pid < 0) {
        deliver_result_errno(r, errno, "cannot fork command");
    } else if (supervise(pid, pipefd[0], limit, &output, &status) < 0) {
        msg_warn("%s: command time limit exceeded: %s", m->queue_id, shown.data);
        deliver_result_set(r, DELIVER_DEFER, "4.3.0", "command time limit exceeded: \"%s\"",
                           shown.data);
    } else {
        output_text(&output, &text);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
            deliver_result_set(r, DELIVER_SENT, "2.0.0", "delivered to command: %s",
                               shown.data);
        else if (WIFSIGNALED(status))
            deliver_result_set(r, DELIVER_DEFER, "4.3.0", "command \"%s\" killed by signal "
                               "%d%s%s", shown.data, WTERMSIG(status),
                               text.len ? ". Command output: " : "", text.data);
        else if (WIFEXITED(status))
            deliver_result_set(r, WEXITSTATUS(status) == LOCAL_COMMAND_EX_TEMPFAIL
                               ? DELIVER_DEFER : DELIVER_BOUNCE,
                               WEXITSTATUS(status) == LOCAL_COMMAND_EX_TEMPFAIL
                               ? "4.3.0" : "5.3.0",
                               "command \"%s\" died with status %d%s%s", shown.data,
                               WEXITSTATUS(status), text.len ? ". Command output: " : "",
                               text.data);
        else
            deliver_result_set(r, DELIVER_DEFER, "4.3.0", "command \"%s\" ended abnormally",
                               shown.data);
    }
    local_abort_command(0);
    close(pipefd[0]);
    for (int i = 0; envp[i]; i++)
        free(envp[i]);
    strv_free(argv);
    str_free(&output);
    str_free(&text);
    str_free(&shown);
}
