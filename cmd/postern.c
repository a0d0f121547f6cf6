/* postern.c: `postern [-c CONFDIR] [-v] COMMAND ...`, the administration command.
 * Parses the global options and dispatches to the command implementations (cmd.h). */
#define _GNU_SOURCE 1
#include "cmd.h"
#include "cmd_check.h"
#include "config.h"
#include "log.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <sys/stat.h>

#ifndef POSTERN_SYSCONFDIR
#define POSTERN_SYSCONFDIR "/etc/postern"
#endif

const char *cmd_confdir;
int cmd_verbose;

void cmd_error(const char *fmt, ...)
{
    va_list ap;
    fputs("postern: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cmd_load_config(void)
{
    char *err = NULL;
    struct stat st;
    if (stat(cmd_confdir, &st) != 0) {
        cmd_error("configuration directory %s: %s", cmd_confdir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        cmd_error("configuration directory %s: not a directory", cmd_confdir);
        return -1;
    }
    if (config_load(cmd_confdir, &err) != 0) {
        cmd_error("%s", err);
        free(err);
        return -1;
    }
    return 0;
}

static void usage(FILE *fp)
{
    fprintf(fp,
        "usage: postern [-c CONFDIR] [-v] COMMAND [ARGS]\n"
        "\n"
        "commands:\n"
        "  start [-f]                        check the configuration and start the master\n"
        "                                    (-f: run it in the foreground)\n"
        "  stop                              stop the master and its processes (waits up to 15 s)\n"
        "  reload                            re-read main.cf and master.cf (SIGHUP to master)\n"
        "  check                             report every configuration problem (FILE:LINE)\n"
        "  status                            say whether the master is running\n"
        "  map build [-a] TYPE:PATH [SOURCE] build a hash:/btree: table from a text file\n"
        "                                    (-a: aliases(5) format; SOURCE defaults to PATH)\n"
        "  map query TYPE:PATH KEY           print the value for KEY\n"
        "  config [-n] [--json] [NAME...]    print effective parameter values (-n: only\n"
        "                                    those set in main.cf)\n"
        "  passwd [-t TABLE] add|delete USER | list\n"
        "                                    manage SMTP AUTH users (password from the\n"
        "                                    terminal or stdin, never the command line)\n"
        "  init DIR [--port N] [--hostname H]\n"
        "                                    create a self-contained instance (see init --help)\n"
        "  queue list [--json] | show ID | delete [--deferred] ID...|ALL | hold ID...|ALL\n"
        "        | release ID...|ALL | requeue ID...|ALL | flush\n"
        "                                    inspect and manage the mail queue (queue --help)\n"
        "  dkim keygen DOMAIN SELECTOR [--type rsa|ed25519] [--dir DIR]\n"
        "                                    create a DKIM key, print the DNS record\n"
        "  metrics                           print the Prometheus metrics once\n"
        "  ban list | remove ADDR            list / lift bans of abusive clients (anvil)\n"
        "\n"
        "CONFDIR defaults to $POSTERN_CONFIG, else %s.\n"
        "exit status: 0 success; 1 not running / key not found / start or stop failed;\n"
        "             2 usage error, configuration error or lookup error.\n",
        POSTERN_SYSCONFDIR);
}

int cmd_passwd(int argc, char **argv);   /* cmd_passwd.c */
int cmd_queue(int argc, char **argv);    /* cmd_queue.c */
int cmd_dkim(int argc, char **argv);     /* cmd_dkim.c (mailauth) */
int cmd_ban(int argc, char **argv);      /* cmd_ban.c (abuse) */
int cmd_metrics(int argc, char **argv);  /* cmd_metrics.c */

int main(int argc, char **argv)
{
    int ch;
    /* '+': stop at the command name; its own options are parsed by the command */
    while ((ch = getopt(argc, argv, "+c:vh")) != -1) {
        switch (ch) {
        case 'c': cmd_confdir = optarg; break;
        case 'v': cmd_verbose++; break;
        case 'h': usage(stdout); return CMD_OK;
        default: usage(stderr); return CMD_ERROR;
        }
    }
    if (!cmd_confdir || !*cmd_confdir)
        cmd_confdir = getenv("POSTERN_CONFIG");
    if (!cmd_confdir || !*cmd_confdir)
        cmd_confdir = POSTERN_SYSCONFDIR;
    if (optind >= argc) {
        usage(stderr);
        return CMD_ERROR;
    }
    log_open("postern", "postern", "-");
    log_set_verbose(cmd_verbose);
    static const struct { const char *name; int (*fn)(int, char **); } commands[] = {
        { "start", cmd_start }, { "stop", cmd_stop }, { "reload", cmd_check_reload },
        { "check", cmd_check },
        { "status", cmd_status }, { "map", cmd_map }, { "config", cmd_config },
        { "init", cmd_init }, { "passwd", cmd_passwd }, { "queue", cmd_queue },
        { "dkim", cmd_dkim }, { "ban", cmd_ban },
        { "metrics", cmd_metrics },   /* cmd_metrics.c */
    };
    const char *name = argv[optind];
    if (strcmp(name, "help") == 0 || strcmp(name, "--help") == 0) {
        usage(stdout);
        return CMD_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, name) == 0) {
            optind++;
            /* hand the command its own argv: argv[0] = command name */
            return commands[i].fn(argc - optind + 1, argv + optind - 1);
        }
    cmd_error("unknown command \"%s\" (try postern --help)", name);
    return CMD_ERROR;
}
