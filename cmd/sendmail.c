/* sendmail.c: the sendmail-compatible command line of postern, for programs and users
 * that submit mail the traditional way (`sendmail -t -i`, `mail`, cron). Also `mailq`
 * (= sendmail -bp) and `newaliases` (= sendmail -bi), chosen by argv[0].
 *
 *   sendmail [-C confdir] [-f sender] [-F fullname] [-t] [-i] [-oi] [-odb|-odi] [-oXXX]
 *            [-bm|-bp|-bi|-bs] [-q[interval]] [-v] [--] recipient...  < message
 *
 * Mail mode (-bm, the default) reads the message (sendmail_message.c) and submits it
 * through the pickup service (sendmail_submit.c); no queue access is needed, so any user
 * may run it. -bp lists the queues (queue_list.c; needs read access to the queue), -bi
 * rebuilds $alias_database, -q asks qmgr for a queue run. -bs (SMTP on stdin) is not
 * supported yet. Exit codes are <sysexits.h> values. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "config.h"
#include "dict.h"
#include "ipc.h"
#include "log.h"
#include "mem.h"
#include "queue_list.h"
#include "sendmail.h"

#ifndef POSTERN_SYSCONFDIR
#define POSTERN_SYSCONFDIR "/etc/postern"
#endif

enum mode { MODE_MAIL, MODE_LIST, MODE_ALIASES, MODE_SMTP, MODE_FLUSH };

static void usage(void)
{
    fprintf(stderr,
        "usage: sendmail [-C confdir] [-f sender] [-F fullname] [-t] [-i] [-oi] [-v]\n"
        "                [-bm|-bp|-bi|-bs] [-q] [--] recipient... < message\n"
        "       mailq     (same as sendmail -bp)\n"
        "       newaliases (same as sendmail -bi)\n");
}

/* Option value: the rest of this argument, else the next one. NULL if missing. */
static const char *opt_value(int argc, char **argv, int *i, const char *rest)
{
    if (*rest)
        return rest;
    if (*i + 1 < argc)
        return argv[++*i];
    return NULL;
}

static int rebuild_aliases(void)
{
    char **specs = config_list("alias_database");
    int rc = 0;

    if (specs[0] == NULL)
        fprintf(stderr, "newaliases: alias_database is empty: nothing to rebuild\n");
    for (int i = 0; specs[i]; i++) {
        char *err = NULL;
        if (strncmp(specs[i], "hash:", 5) != 0 && strncmp(specs[i], "btree:", 6) != 0) {
            fprintf(stderr, "newaliases: %s: only hash: and btree: tables can be built\n", specs[i]);
            rc = EX_CONFIG;
            continue;
        }
        if (dict_build(specs[i], NULL, DICT_SRC_ALIASES, &err) != 0) {
            fprintf(stderr, "newaliases: %s\n", err ? err : "build failed");
            free(err);
            rc = EX_DATAERR;
        }
    }
    strv_free(specs);
    return rc;
}

int main(int argc, char **argv)
{
    struct sendmail_opts o;
    struct sendmail_msg m;
    enum mode mode = MODE_MAIL;
    const char *confdir = getenv("POSTERN_CONFIG");
    const char *prog = argc > 0 && argv[0] ? argv[0] : "sendmail";
    const char *base = strrchr(prog, '/') ? strrchr(prog, '/') + 1 : prog;
    char *err = NULL;
    int i, rc;

    memset(&o, 0, sizeof(o));
    if (strcmp(base, "mailq") == 0)
        mode = MODE_LIST;
    else if (strcmp(base, "newaliases") == 0)
        mode = MODE_ALIASES;
    /* Hand-parsed: sendmail options take attached letters (-oi, -bp, -fuser). */
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] == 0)
            break;
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        switch (a[1]) {
        case 'f': case 'r': case 'F': case 'C': {
            const char *v = opt_value(argc, argv, &i, a + 2);
            if (v == NULL) {
                fprintf(stderr, "sendmail: option -%c needs a value\n", a[1]);
                usage();
                return EX_USAGE;
            }
            if (a[1] == 'F')
                o.full_name = v;
            else if (a[1] == 'C')
                confdir = v;
            else
                o.sender = v;
            break;
        }
        case 't': o.extract = 1; break;
        case 'i': o.ignore_dots = 1; break;
        case 'v': o.verbose = 1; break;
        case 'o':
            if (strcmp(a, "-oi") == 0)
                o.ignore_dots = 1;
            /* other -oX (e.g. -odb, -odi, -oem) are accepted and ignored, as Postfix does */
            break;
        case 'q': mode = MODE_FLUSH; break;      /* -q[interval]: interval ignored */
        case 'b':
            if (strcmp(a, "-bm") == 0) mode = MODE_MAIL;
            else if (strcmp(a, "-bp") == 0) mode = MODE_LIST;
            else if (strcmp(a, "-bi") == 0) mode = MODE_ALIASES;
            else if (strcmp(a, "-bs") == 0) mode = MODE_SMTP;
            else {
                fprintf(stderr, "sendmail: unsupported mode %s\n", a);
                usage();
                return EX_USAGE;
            }
            break;
        case 'N': case 'R': case 'V': case 'X':   /* DSN/logging options: value ignored */
            if (opt_value(argc, argv, &i, a + 2) == NULL) {
                usage();
                return EX_USAGE;
            }
            break;
        default:
            fprintf(stderr, "sendmail: unknown option %s\n", a);
            usage();
            return EX_USAGE;
        }
    }
    o.rcpts = argv + i;
    if (mode == MODE_SMTP) {
        fprintf(stderr, "sendmail: -bs (SMTP on standard input) is not supported; "
                        "connect to the SMTP service instead\n");
        return EX_USAGE;
    }
    log_open("postern", "sendmail", "/dev/stderr");
    if (confdir == NULL || *confdir == 0)
        confdir = POSTERN_SYSCONFDIR;
    if (config_load(confdir, &err) != 0) {
        fprintf(stderr, "sendmail: %s\n", err ? err : "cannot load main.cf");
        free(err);
        return EX_CONFIG;
    }
    switch (mode) {
    case MODE_LIST:
        rc = queue_list_print(stdout, stderr, config_str("queue_directory")) == 0 ? 0
                                                                                  : EX_NOPERM;
        break;
    case MODE_ALIASES:
        rc = rebuild_aliases();
        break;
    case MODE_FLUSH:
        ipc_flush_qmgr();           /* scan incoming/ and the due files of deferred/ now */
        rc = 0;
        break;
    default:
        if (o.rcpts[0] == NULL && !o.extract) {
            fprintf(stderr, "sendmail: no recipients specified (give them as arguments or use -t)\n");
            rc = EX_USAGE;
            break;
        }
        bio *in = bio_open(0, -1);
        rc = sendmail_read_message(in, &o, &m);
        bio_free(in);
        if (rc == 0)
            rc = sendmail_submit(&o, &m);
        sendmail_msg_free(&m);
        break;
    }
    if (fflush(stdout) != 0 && rc == 0)
        rc = EX_IOERR;
    return rc;
}
