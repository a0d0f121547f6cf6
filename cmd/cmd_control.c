/* cmd_control.c: `postern start|stop|reload|status`. Whether the master runs is decided
 * by the lock on $queue_directory/pid/master.pid (master/pidfile.h), never by a stale
 * pid alone. The master binary is found with the daemon_directory rule
 * (master/daemon_path.h), so a build tree's cmd/postern starts the build tree's master. */
#define _GNU_SOURCE 1
#include "cmd.h"
#include "config.h"
#include "../master/daemon_path.h"
#include "../master/pidfile.h"
#include "mastercf.h"
#include "mem.h"
#include "str.h"
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#define START_WAIT_MS 10000
#define STOP_WAIT_MS  15000

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static int no_args(int argc, char **argv)
{
    if (argc > 1) {
        cmd_error("%s takes no arguments", argv[0]);
        return -1;
    }
    return 0;
}

/* Load the config and return the pid file path (static), or NULL after an error. */
static const char *control_setup(void)
{
    static char path[PATH_MAX];
    if (cmd_load_config() != 0)
        return NULL;
    char *p = pidfile_path(config_str("queue_directory"));
    int fits = strlen(p) < sizeof path;
    if (fits)
        strcpy(path, p);
    else
        cmd_error("queue_directory path too long");
    free(p);
    return fits ? path : NULL;
}

/* The common start of stop, reload and status: no operands, config loaded. The pid file
 * path, or NULL after an error (printed). */
static const char *control_begin(int argc, char **argv)
{
    return no_args(argc, argv) == 0 ? control_setup() : NULL;
}

/* Poll the pid file every 100 ms for up to ms: until a master runs (want_up = 1; its pid
 * into *pid) or none does (want_up = 0). 1 when reached, 0 on timeout. */
static int wait_for_master(const char *pidpath, int want_up, int ms, pid_t *pid)
{
    for (int waited = 0; waited < ms; waited += 100) {
        pid_t running = pidfile_running(pidpath);
        if (want_up ? running > 0 : running == 0) {
            if (want_up)
                *pid = running;
            return 1;
        }
        sleep_ms(100);
    }
    return 0;
}

/* master.cf must parse; prints the error. */
static int mastercf_ok(const char *what)
{
    char *err = NULL;
    char *path = xasprintf("%s/master.cf", config_dir());
    struct mastercf mcf;
    int rc = mastercf_load(path, &mcf, &err);
    free(path);
    if (rc != 0) {
        cmd_error("%s%s", err, what);
        free(err);
        return 0;
    }
    mastercf_free(&mcf);
    return 1;
}

/* Every parameter set in main.cf must parse as its type (the daemons would die on it). */
static int config_values_ok(void)
{
    str report;
    str_init(&report);
    int problems = config_validate(&report, 0);
    if (problems > 0)
        fprintf(stderr, "%s%s", report.data,
                report.len && report.data[report.len - 1] == '\n' ? "" : "\n");
    str_free(&report);
    return problems == 0;
}

/* >0 running pid; 0 not running; -1 error (printed). Waits briefly for a master that
 * holds the lock but has not written its pid yet. */
static pid_t master_pid(const char *pidpath)
{
    for (int tries = 0; tries < 20; tries++) {
        pid_t pid = pidfile_running(pidpath);
        if (pid >= 0)
            return pid;
        if (errno != EAGAIN) {
            cmd_error("cannot read %s: %s", pidpath, strerror(errno));
            return -1;
        }
        sleep_ms(50);
    }
    cmd_error("%s is locked but names no process", pidpath);
    return -1;
}

int cmd_start(int argc, char **argv)
{
    int foreground = 0, ch;
    optind = 0;
    while ((ch = getopt(argc, argv, "+f")) != -1) {
        if (ch != 'f') {
            cmd_error("usage: postern start [-f]");
            return CMD_ERROR;
        }
        foreground = 1;
    }
    if (optind != argc) {
        cmd_error("usage: postern start [-f]");
        return CMD_ERROR;
    }
    const char *pidpath = control_setup();
    if (!pidpath || !config_values_ok() || !mastercf_ok(""))
        return CMD_ERROR;
    pid_t pid = master_pid(pidpath);
    if (pid < 0)
        return CMD_ERROR;
    if (pid > 0) {
        cmd_error("the postern master is already running as PID %ld", (long)pid);
        return CMD_FAIL;
    }
    char master[PATH_MAX];
    char *mpath = daemon_path(config_str("daemon_directory"), "master");
    int fits = strlen(mpath) < sizeof master;
    snprintf(master, sizeof master, "%s", fits ? mpath : "(daemon_directory)");
    free(mpath);
    if (!fits || access(master, X_OK) != 0) {
        cmd_error("cannot execute the master program %s: %s", master,
                  fits ? strerror(errno) : "path too long");
        return CMD_FAIL;
    }
    char confdir[PATH_MAX];
    if (!realpath(config_dir(), confdir)) {
        cmd_error("%s: %s", config_dir(), strerror(errno));
        return CMD_ERROR;
    }
    char *margv[6];
    int n = 0;
    margv[n++] = "master";
    margv[n++] = "-c";
    margv[n++] = confdir;
    if (foreground)
        margv[n++] = "-f";
    if (cmd_verbose)
        margv[n++] = "-v";
    margv[n] = NULL;
    if (foreground) {
        execv(master, margv);
        cmd_error("exec %s: %s", master, strerror(errno));
        return CMD_FAIL;
    }
    fflush(NULL);
    pid_t child = fork();
    if (child < 0) {
        cmd_error("fork: %s", strerror(errno));
        return CMD_FAIL;
    }
    if (child == 0) {
        execv(master, margv);
        fprintf(stderr, "postern: exec %s: %s\n", master, strerror(errno));
        _exit(127);
    }
    /* master daemonizes: its foreground process exits 0 once the pid file is written */
    int status;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        cmd_error("the master failed to start (%s %d); see the messages above or the log",
                  WIFEXITED(status) ? "exit status" : "signal",
                  WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        return CMD_FAIL;
    }
    if (wait_for_master(pidpath, 1, START_WAIT_MS, &pid)) {
        printf("postern: started, master PID %ld\n", (long)pid);
        return CMD_OK;
    }
    cmd_error("the master did not come up within %d s (no lock on %s); see the log",
              START_WAIT_MS / 1000, pidpath);
    return CMD_FAIL;
}

/* Send sig to the running master (stop, reload). CMD_OK with *pid set, CMD_ERROR when
 * the pid file cannot be read, CMD_FAIL when no master runs or kill fails. */
static int signal_master(const char *pidpath, int sig, const char *name, pid_t *pid)
{
    *pid = master_pid(pidpath);
    if (*pid < 0)
        return CMD_ERROR;
    if (*pid == 0) {
        cmd_error("the postern master is not running");
        return CMD_FAIL;
    }
    if (kill(*pid, sig) != 0) {
        cmd_error("kill -%s %ld: %s", name, (long)*pid, strerror(errno));
        return CMD_FAIL;
    }
    return CMD_OK;
}

int cmd_stop(int argc, char **argv)
{
    const char *pidpath = control_begin(argc, argv);
    if (!pidpath)
        return CMD_ERROR;
    pid_t pid;
    int rc = signal_master(pidpath, SIGTERM, "TERM", &pid);
    if (rc != CMD_OK)
        return rc;
    if (wait_for_master(pidpath, 0, STOP_WAIT_MS, &pid)) {
        printf("postern: stopped (master PID %ld)\n", (long)pid);
        return CMD_OK;
    }
    cmd_error("the master (PID %ld) did not stop within %d s", (long)pid, STOP_WAIT_MS / 1000);
    return CMD_FAIL;
}

int cmd_reload(int argc, char **argv)
{
    const char *pidpath = control_begin(argc, argv);
    if (!pidpath || !config_values_ok() || !mastercf_ok("; not reloading"))
        return CMD_ERROR;
    pid_t pid;
    int rc = signal_master(pidpath, SIGHUP, "HUP", &pid);
    if (rc != CMD_OK)
        return rc;
    printf("postern: reload signal sent to master PID %ld\n", (long)pid);
    return CMD_OK;
}

int cmd_status(int argc, char **argv)
{
    const char *pidpath = control_begin(argc, argv);
    if (!pidpath)
        return CMD_ERROR;
    pid_t pid = master_pid(pidpath);
    if (pid < 0)
        return CMD_ERROR;
    if (pid == 0) {
        printf("postern is not running\n");
        return CMD_FAIL;
    }
    printf("postern is running as PID %ld\n", (long)pid);
    return CMD_OK;
}
