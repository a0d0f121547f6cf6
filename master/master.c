/* master.c: the postern master: `master [-c CONFDIR] [-f] [-v]`.
 *
 * Start-up order: load main.cf and master.cf, open the log, create the queue directories,
 * take the pid-file lock (a second master stops here naming the first one's pid), open
 * every listening socket, create the in_flow_delay token pipe (lib/flow.h), then (without
 * -f) daemonize: the foreground process writes the daemon's pid into the pid file and
 * exits 0, so a caller that waits for it knows the master is up; every error before that
 * point goes to stderr and exits 1.
 * Then the event loop: SIGCHLD reaps children, status pipes say busy/idle, SIGHUP reloads,
 * SIGTERM/SIGINT stop: listeners closed, children sent SIGTERM, stragglers SIGKILLed after
 * a few seconds, pid file removed, exit 0. */
#define _GNU_SOURCE 1
#include "master.h"
#include "config.h"
#include "events.h"
#include "flow.h"
#include "log.h"
#include "mem.h"
#include "pidfile.h"
#include "queue.h"
#include "str.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#ifndef POSTERN_VERSION
#define POSTERN_VERSION "unknown"
#endif
#ifndef POSTERN_SYSCONFDIR
#define POSTERN_SYSCONFDIR "/etc/postern"
#endif

#define STOP_GRACE_MS 5000

int master_verbose;
int master_stopping;
static int log_is_stderr;
static int daemonized;
static volatile int pending_stop_signal, pending_reload;

/* Fatal error during start-up: to stderr (the caller of `postern start` sees it) and
 * to the log once it is open. */
static void __attribute__((noreturn, format(printf, 1, 2))) startup_fatal(const char *fmt, ...)
{
    va_list ap;
    char buf[2048];
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (!daemonized && !log_is_stderr)
        fprintf(stderr, "postern/master: fatal: %s\n", buf);
    msg_fatal("%s", buf);
}

static void usage(void)
{
    fprintf(stderr, "usage: master [-c CONFDIR] [-f] [-v]\n"
                    "  -c CONFDIR  configuration directory (default $POSTERN_CONFIG or %s)\n"
                    "  -f          stay in the foreground\n"
                    "  -v          verbose logging (also passed to children)\n"
                    "Normally started by `postern start`.\n", POSTERN_SYSCONFDIR);
    exit(2);
}

static void on_signal(int signo, void *ctx)
{
    (void)ctx;
    if (signo == SIGCHLD)
        spawn_reap();
    else if (signo == SIGHUP)
        pending_reload = 1;
    else
        pending_stop_signal = signo;
}

/* Fork; the foreground process records the daemon's pid and exits 0. */
static void daemonize(int pidfd, const char *logdest)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        startup_fatal("fork: %s", strerror(errno));
    if (pid > 0) {
        if (pidfile_write(pidfd, pid) != 0) {
            fprintf(stderr, "postern/master: fatal: write pid file: %s\n", strerror(errno));
            kill(pid, SIGKILL);
            _exit(1);
        }
        _exit(0);
    }
    daemonized = 1;
    if (setsid() < 0)
        msg_warn("setsid: %m");
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        if (!log_is_stderr)
            dup2(null, 2);
        if (null > 2)
            close(null);
    }
    /* With a log file, stderr goes there too, so that whatever a daemon prints outside
     * the log API (sanitizer reports, library complaints) is not lost. */
    if (!log_is_stderr && logdest[0] == '/') {
        int fd = open(logdest, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
        if (fd >= 0) {
            dup2(fd, 2);
            close(fd);
        }
    }
}

static void stop_master(int signo, const char *pidpath)
{
    msg_info("terminating on signal %d", signo);
    master_stopping = 1;
    for (struct service *s = master_services; s; s = s->next) {
        service_close_listeners(s);
        if (s->wakeup_timer) {
            event_cancel_timer(s->wakeup_timer);
            s->wakeup_timer = 0;
        }
    }
    spawn_signal_all(SIGTERM);
    long long deadline = event_now_ms() + STOP_GRACE_MS;
    while (spawn_count() > 0 && event_now_ms() < deadline)
        event_loop_once(100);
    if (spawn_count() > 0) {
        msg_warn("%d child process(es) still running after %d s; killing them",
                 spawn_count(), STOP_GRACE_MS / 1000);
        spawn_signal_all(SIGKILL);
        deadline = event_now_ms() + 2000;
        while (spawn_count() > 0 && event_now_ms() < deadline)
            event_loop_once(100);
    }
    unlink(pidpath);
    exit(0);
}

int main(int argc, char **argv)
{
    const char *confdir_arg = NULL;
    int foreground = 0, ch;
    while ((ch = getopt(argc, argv, "c:fv")) != -1) {
        switch (ch) {
        case 'c': confdir_arg = optarg; break;
        case 'f': foreground = 1; break;
        case 'v': master_verbose++; break;
        default: usage();
        }
    }
    if (optind != argc)
        usage();
    if (!confdir_arg)
        confdir_arg = getenv("POSTERN_CONFIG");
    if (!confdir_arg || !*confdir_arg)
        confdir_arg = POSTERN_SYSCONFDIR;
    char confdir[PATH_MAX];
    if (!realpath(confdir_arg, confdir)) {
        fprintf(stderr, "postern/master: fatal: configuration directory %s: %s\n",
                confdir_arg, strerror(errno));
        return 1;
    }
    master_params.confdir = xstrdup(confdir);

    char *err = NULL;
    if (master_conf_load(confdir, &err) != 0) {
        fprintf(stderr, "postern/master: fatal: %s\n", err);
        return 1;
    }
    struct mastercf mcf = { 0 };
    if (master_conf_load_services(&mcf, &err) != 0) {
        fprintf(stderr, "postern/master: fatal: %s\n", err);
        return 1;
    }
    const char *logdest = config_str("maillog_file");
    log_is_stderr = strcmp(logdest, "-") == 0 || strcmp(logdest, "/dev/stderr") == 0;
    log_open(config_str("syslog_name"), "master", logdest);
    log_set_verbose(master_verbose);

    const char *qdir = master_params.queue_directory;
    if (mkdir(qdir, 0755) != 0 && errno != EEXIST)
        startup_fatal("create queue directory %s: %s", qdir, strerror(errno));
    if (queue_dirs_create(qdir, master_params.owner_uid, master_params.owner_gid) != 0)
        startup_fatal("create queue directories under %s: %s", qdir, strerror(errno));
    if (chdir(qdir) != 0)
        startup_fatal("chdir %s: %s", qdir, strerror(errno));

    char *pidpath = pidfile_path(qdir);
    pid_t holder;
    int pidfd = pidfile_lock(pidpath, &holder);
    if (pidfd < 0) {
        if (errno == EWOULDBLOCK)
            startup_fatal("the postern master is already running (pid %ld, lock on %s)",
                          (long)holder, pidpath);
        startup_fatal("open pid file %s: %s", pidpath, strerror(errno));
    }
    if (pidfile_write(pidfd, getpid()) != 0)
        startup_fatal("write pid file %s: %s", pidpath, strerror(errno));

    signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < mcf.count; i++) {
        const struct mastercf_entry *e = &mcf.entries[i];
        if (service_find(e->service, e->type)) {
            msg_warn("master.cf:%d: duplicate service %s/%s ignored", e->line, e->service,
                     service_type_name(e->type));
            continue;
        }
        struct service *s = service_create(e, &err, 10000);
        if (!s)
            startup_fatal("%s", err);
        s->next = master_services;
        master_services = s;
    }
    mastercf_free(&mcf);
    if (master_metrics_init(&err) != 0)
        startup_fatal("%s", err);
    /* in_flow_delay tokens: one per process a service may have; kept across reloads */
    if (flow_master_init((int)(master_params.default_process_limit > FLOW_MAX_TOKENS
                               ? FLOW_MAX_TOKENS : master_params.default_process_limit)) != 0)
        startup_fatal("create the flow control pipe: %s", strerror(errno));

    if (!foreground)
        daemonize(pidfd, logdest);
    msg_info("daemon started -- version %s, configuration %s", POSTERN_VERSION, confdir);

    event_signal(SIGCHLD, on_signal, NULL);
    event_signal(SIGHUP, on_signal, NULL);
    event_signal(SIGTERM, on_signal, NULL);
    event_signal(SIGINT, on_signal, NULL);
    spawn_adjust_all();
    for (;;) {
        event_loop_once(-1);
        if (pending_stop_signal)
            stop_master(pending_stop_signal, pidpath);
        if (pending_reload) {
            pending_reload = 0;
            master_reload();
        }
    }
}
