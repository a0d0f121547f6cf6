/* cmd_passwd.c: `postern passwd [-t TABLE] [-m METHOD] add|delete|list [USER]`: manage
 * the SMTP AUTH credential table (lib/passwd.h). TABLE defaults to the first entry of
 * $smtpd_sasl_password_maps. The password is never taken from argv: it is read from the
 * terminal with echo off (asked twice), or as one line from standard input when that is
 * not a terminal (for scripts). */
#include "cmd.h"
#include "config.h"
#include "passwd.h"
#include "mem.h"
#include "str.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static void usage(void)
{
    cmd_error("usage: postern passwd [-t TYPE:TABLE] [-m yescrypt|sha512] add USER\n"
              "       postern passwd [-t TYPE:TABLE] delete USER\n"
              "       postern passwd [-t TYPE:TABLE] list\n"
              "(the password is read from the terminal, or from stdin when it is not one)");
}

/* Read one line (without its newline) into buf; 0 or -1 (EOF, error, too long). */
static int read_line(FILE *fp, char *buf, size_t size)
{
    if (fgets(buf, (int)size, fp) == NULL)
        return -1;
    size_t n = strlen(buf);
    if (n > 0 && buf[n - 1] == '\n')
        buf[--n] = 0;
    else if (!feof(fp))
        return -1;                     /* longer than the buffer */
    if (n > 0 && buf[n - 1] == '\r')
        buf[--n] = 0;
    return 0;
}

static int prompt_noecho(FILE *tty, const char *prompt, char *buf, size_t size)
{
    struct termios old, quiet;
    int fd = fileno(tty), rc;

    if (tcgetattr(fd, &old) != 0)
        return -1;
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
    quiet.c_lflag |= ICANON;
    fputs(prompt, tty);
    fflush(tty);
    if (tcsetattr(fd, TCSAFLUSH, &quiet) != 0)
        return -1;
    rc = read_line(tty, buf, size);
    tcsetattr(fd, TCSAFLUSH, &old);
    fputc('\n', tty);
    return rc;
}

/* The new password into buf (size > PASSWD_PASSWORD_MAX + 2); 0 or -1 (reported). */
static int get_password(char *buf, size_t size)
{
    if (isatty(STDIN_FILENO)) {
        char again[PASSWD_PASSWORD_MAX + 2];
        FILE *tty = fopen("/dev/tty", "r+");
        int rc = -1;
        if (tty == NULL) {
            cmd_error("passwd: cannot open the terminal");
            return -1;
        }
        if (prompt_noecho(tty, "Password: ", buf, size) < 0
            || prompt_noecho(tty, "Password again: ", again, sizeof(again)) < 0)
            cmd_error("passwd: no password read (at most %d bytes)", PASSWD_PASSWORD_MAX);
        else if (strcmp(buf, again) != 0)
            cmd_error("passwd: the passwords differ");
        else
            rc = 0;
        explicit_bzero(again, sizeof(again));
        fclose(tty);
        return rc;
    }
    if (read_line(stdin, buf, size) < 0) {
        cmd_error("passwd: no password on standard input (one line, at most %d bytes)",
                  PASSWD_PASSWORD_MAX);
        return -1;
    }
    return 0;
}

static void print_user(const char *user, void *ctx)
{
    (void)ctx;
    printf("%s\n", user);
}

int cmd_passwd(int argc, char **argv)
{
    const char *table = NULL, *method = NULL;
    char **maps = NULL;
    char *err = NULL;
    int ch, rc = CMD_ERROR;

    optind = 1;
    while ((ch = getopt(argc, argv, "t:m:")) != -1) {
        switch (ch) {
        case 't': table = optarg; break;
        case 'm': method = optarg; break;
        default: usage(); return CMD_ERROR;
        }
    }
    argc -= optind;
    argv += optind;
    if (argc < 1 || (strcmp(argv[0], "list") == 0 ? argc != 1 : argc != 2)) {
        usage();
        return CMD_ERROR;
    }
    if (cmd_load_config() < 0)
        return CMD_ERROR;
    if (table == NULL) {
        maps = config_list("smtpd_sasl_password_maps");
        if (maps[0] == NULL) {
            cmd_error("passwd: smtpd_sasl_password_maps is empty and no -t TABLE given");
            strv_free(maps);
            return CMD_ERROR;
        }
        table = maps[0];
    }
    if (strcmp(argv[0], "list") == 0) {
        if (passwd_table_list(table, print_user, NULL, &err) == 0)
            rc = CMD_OK;
    } else if (strcmp(argv[0], "delete") == 0) {
        int r = passwd_table_delete(table, argv[1], &err);
        if (r == 0)
            cmd_error("passwd: no user \"%s\" in %s", argv[1], table);
        rc = r > 0 ? CMD_OK : r == 0 ? CMD_FAIL : CMD_ERROR;
    } else if (strcmp(argv[0], "add") == 0) {
        char pw[PASSWD_PASSWORD_MAX + 2];
        char *hash = NULL;
        if (!passwd_user_ok(argv[1]))
            cmd_error("passwd: bad user name \"%s\"", argv[1]);
        else if (get_password(pw, sizeof(pw)) == 0) {
            if (*pw == 0)
                cmd_error("passwd: empty password refused");
            else if ((hash = passwd_hash(pw, method, &err)) != NULL
                     && passwd_table_set(table, argv[1], hash, &err) == 0)
                rc = CMD_OK;
        }
        explicit_bzero(pw, sizeof(pw));
        free(hash);
    } else {
        usage();
    }
    if (err != NULL) {
        cmd_error("passwd: %s", err);
        free(err);
    }
    strv_free(maps);
    return rc;
}
