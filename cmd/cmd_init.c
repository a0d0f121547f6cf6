/* cmd_init.c: `postern init DIR [--port N] [--hostname H]`: create a self-contained
 * instance for trying postern out and for the integration tests. Deterministic: the
 * same arguments (as the same user) always produce the same files. Re-running it
 * rewrites the configuration files and tables but keeps DIR/queue, DIR/mail and the log. */
#define _GNU_SOURCE 1
#include "cmd.h"
#include "dict.h"
#include "mem.h"
#include "privs.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#define INIT_DEFAULT_PORT 2525
#define INIT_DEFAULT_HOSTNAME "mail.example.test"
#define INIT_DOMAIN "example.test"

static void init_help(FILE *fp)
{
    fprintf(fp,
        "usage: postern init DIR [--port N] [--hostname H]\n"
        "\n"
        "Creates a self-contained postern instance in DIR (created if missing):\n"
        "  DIR/conf/main.cf     queue_directory = DIR/queue, maillog_file = DIR/maillog,\n"
        "                       myhostname = H (default " INIT_DEFAULT_HOSTNAME "),\n"
        "                       mynetworks = 127.0.0.0/8, virtual mailbox domain " INIT_DOMAIN "\n"
        "                       (virtual_mailbox_maps = hash:DIR/conf/vmailbox, mailboxes under\n"
        "                       DIR/mail, owned by the uid/gid in virtual_uid_maps/_gid_maps),\n"
        "                       alias_maps = hash:DIR/conf/aliases\n"
        "  DIR/conf/master.cf   smtpd on 127.0.0.1:N (default %d), cleanup, qmgr, local\n"
        "  DIR/conf/vmailbox    \"demo@" INIT_DOMAIN " " INIT_DOMAIN "/demo/\" (+ .db built)\n"
        "  DIR/conf/aliases     postmaster -> demo@" INIT_DOMAIN " (+ .db built)\n"
        "  DIR/mail/            Maildirs: demo's mail arrives in DIR/mail/" INIT_DOMAIN "/demo/new/\n"
        "Mailbox owner: the invoking user; when run as root, the mail_owner account\n"
        "(\"postern\" if it exists, else \"nobody\"), and DIR is made traversable (0755).\n"
        "Re-running init rewrites conf/ and keeps queue/, mail/ and the log.\n"
        "Start the instance with: postern -c DIR/conf start\n"
        "exit status: 0 created; 2 usage error or a file could not be written.\n",
        INIT_DEFAULT_PORT);
}

/* Characters that would need quoting in main.cf or master.cf are refused. */
static int path_is_plain(const char *p)
{
    for (; *p; p++)
        if (*p <= ' ' || *p == '$' || *p == ',' || *p == '#' || *p == '\\' || *p == 0x7f)
            return 0;
    return 1;
}

static int hostname_valid(const char *h)
{
    size_t n = strlen(h);
    if (n == 0 || n > 253 || h[0] == '.' || h[0] == '-' || h[n - 1] == '.')
        return 0;
    for (; *h; h++)
        if (!((*h >= 'a' && *h <= 'z') || (*h >= 'A' && *h <= 'Z') || (*h >= '0' && *h <= '9')
              || *h == '.' || *h == '-'))
            return 0;
    return 1;
}

static int mkdir_p(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    if (strlen(path) >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(buf, path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buf, mode) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, mode) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

/* Write PATH atomically (temp file + rename). */
static int write_file(const char *path, const char *text)
{
    char *tmp = xasprintf("%s.%ld.tmp", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    size_t len = strlen(text);
    int ok = fd >= 0 && write(fd, text, len) == (ssize_t)len;
    if (fd >= 0 && (fsync(fd) != 0 || close(fd) != 0))
        ok = 0;
    if (ok && rename(tmp, path) != 0)
        ok = 0;
    if (!ok) {
        cmd_error("write %s: %s", path, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    return ok ? 0 : -1;
}

struct init_opts {
    const char *dir;
    long port;
    const char *hostname;
};

static int parse_init_args(int argc, char **argv, struct init_opts *o)
{
    o->dir = NULL;
    o->port = INIT_DEFAULT_PORT;
    o->hostname = INIT_DEFAULT_HOSTNAME;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            init_help(stdout);
            exit(CMD_OK);
        } else if (strcmp(a, "--port") == 0 && i + 1 < argc) {
            if (parse_long(argv[++i], &o->port) != 0 || o->port < 1 || o->port > 65535) {
                cmd_error("init: bad port \"%s\" (1..65535)", argv[i]);
                return -1;
            }
        } else if (strcmp(a, "--hostname") == 0 && i + 1 < argc) {
            o->hostname = argv[++i];
            if (!hostname_valid(o->hostname)) {
                cmd_error("init: bad host name \"%s\"", o->hostname);
                return -1;
            }
        } else if (a[0] == '-' && a[1]) {
            cmd_error("init: unknown or incomplete option \"%s\"", a);
            init_help(stderr);
            return -1;
        } else if (!o->dir) {
            o->dir = a;
        } else {
            cmd_error("init: more than one directory given");
            return -1;
        }
    }
    if (!o->dir) {
        init_help(stderr);
        return -1;
    }
    return 0;
}

/* Who owns the mailboxes; sets owner name (malloc'd, may be NULL), uid, gid. */
static int mailbox_owner(char **owner, uid_t *uid, gid_t *gid, int *fallback)
{
    *owner = NULL;
    *fallback = 0;
    if (privs_is_root()) {
        const char *name = "postern";
        if (privs_lookup_user(name, uid, gid) != 0) {
            name = "nobody";
            *fallback = 1;
            if (privs_lookup_user(name, uid, gid) != 0) {
                cmd_error("init: neither a \"postern\" nor a \"nobody\" account exists");
                return -1;
            }
        }
        *owner = xstrdup(name);
        return 0;
    }
    *uid = getuid();
    *gid = getgid();
    struct passwd *pw = getpwuid(*uid);
    if (pw)
        *owner = xstrdup(pw->pw_name);
    return 0;
}

/* As root: make DIR traversable for mail_owner, give it the mailbox tree and the log. */
static int init_root_setup(const char *dir, const char *mail, const char *maillog,
                           uid_t uid, gid_t gid)
{
    struct stat st;
    if (stat(dir, &st) == 0 && (st.st_mode & 0055) != 0055 && chmod(dir, (st.st_mode & 07777) | 0055) != 0) {
        cmd_error("init: chmod %s: %s", dir, strerror(errno));
        return -1;
    }
    if (chown(mail, uid, gid) != 0) {
        cmd_error("init: chown %s: %s", mail, strerror(errno));
        return -1;
    }
    int fd = open(maillog, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0 || fchown(fd, uid, gid) != 0) {
        cmd_error("init: %s: %s", maillog, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

int cmd_init(int argc, char **argv)
{
    struct init_opts o;
    if (parse_init_args(argc, argv, &o) != 0)
        return CMD_ERROR;
    if (mkdir_p(o.dir, 0755) != 0) {
        cmd_error("init: create %s: %s", o.dir, strerror(errno));
        return CMD_ERROR;
    }
    char dir[PATH_MAX];
    if (!realpath(o.dir, dir)) {
        cmd_error("init: %s: %s", o.dir, strerror(errno));
        return CMD_ERROR;
    }
    if (!path_is_plain(dir) || strlen(dir) > 80) {
        cmd_error("init: directory path \"%s\" must be at most 80 characters without "
                  "spaces, '$', ',', '#' or '\\' (it is written into main.cf and socket paths)", dir);
        return CMD_ERROR;
    }
    char *owner;
    uid_t uid;
    gid_t gid;
    int fallback;
    if (mailbox_owner(&owner, &uid, &gid, &fallback) != 0)
        return CMD_ERROR;

    char *conf = xasprintf("%s/conf", dir);
    char *mail = xasprintf("%s/mail", dir);
    char *maillog = xasprintf("%s/maillog", dir);
    if (mkdir_p(conf, 0755) != 0 || mkdir_p(mail, 0700) != 0) {
        cmd_error("init: create %s/{conf,mail}: %s", dir, strerror(errno));
        free(owner), free(conf), free(mail), free(maillog);
        return CMD_ERROR;
    }
    if (privs_is_root() && init_root_setup(dir, mail, maillog, uid, gid) != 0) {
        free(owner), free(conf), free(mail), free(maillog);
        return CMD_ERROR;
    }

    char *owner_line = owner ? xasprintf("mail_owner = %s\n", owner) : xstrdup("");
    char *main_cf = xasprintf(
        "# main.cf generated by `postern init` for a self-contained instance in %s.\n"
        "# Re-running init rewrites this file. Append your own settings below.\n"
        "queue_directory = %s/queue\n"
        "maillog_file = %s\n"
        "myhostname = %s\n"
        "mynetworks = 127.0.0.0/8\n"
        "inet_interfaces = loopback-only\n"
        "%s"
        "%s"
        "# Virtual mailboxes: demo@" INIT_DOMAIN " -> %s/" INIT_DOMAIN "/demo/ (Maildir)\n"
        "virtual_mailbox_domains = " INIT_DOMAIN "\n"
        "virtual_mailbox_maps = hash:%s/vmailbox\n"
        "virtual_mailbox_base = %s\n"
        "virtual_uid_maps = static:%ld\n"
        "virtual_gid_maps = static:%ld\n"
        "virtual_minimum_uid = %ld\n"
        "alias_maps = hash:%s/aliases\n"
        "alias_database = hash:%s/aliases\n",
        dir, dir, maillog, o.hostname,
        fallback ? "# no \"postern\" account exists: the daemons run as nobody\n" : "",
        owner_line, mail, conf, mail, (long)uid, (long)gid, (long)(uid < 100 ? uid : 100),
        conf, conf);
    char *master_cf = xasprintf(
        "# master.cf generated by `postern init` (see the shipped conf/master.cf for the\n"
        "# meaning of each column). Re-running init rewrites this file.\n"
        "# service  type  private unpriv  chroot  wakeup  maxproc command + args\n"
        "127.0.0.1:%ld inet n     -       n       -       -       smtpd\n"
        "cleanup    unix  y       -       n       -       0       cleanup\n"
        "qmgr       unix  y       -       n       300     1       qmgr\n"
        "local      unix  y       n       n       -       -       local\n"
        "virtual    unix  y       n       n       -       -       local\n"
        "bounce     unix  y       -       n       -       0       bounce\n"
        "anvil      unix  y       -       n       -       1       anvil\n"
        "pickup     unix  n       -       n       -       -       pickup\n"
        "smtp       unix  y       -       n       -       -       smtp\n"
        "lmtp       unix  y       -       n       -       -       smtp\n",
        o.port);
    const char *vmailbox =
        "# virtual mailboxes: address  Maildir (relative to virtual_mailbox_base, ending in /)\n"
        "# rebuild after a change: postern map build hash:DIR/conf/vmailbox\n"
        "demo@" INIT_DOMAIN " " INIT_DOMAIN "/demo/\n";
    const char *aliases =
        "# aliases(5): rebuild after a change: postern map build -a hash:DIR/conf/aliases\n"
        "postmaster: demo@" INIT_DOMAIN "\n"
        "abuse: postmaster\n"
        "mailer-daemon: postmaster\n";

    char *main_path = xasprintf("%s/main.cf", conf);
    char *master_path = xasprintf("%s/master.cf", conf);
    char *vmb_path = xasprintf("%s/vmailbox", conf);
    char *alias_path = xasprintf("%s/aliases", conf);
    char *vmb_spec = xasprintf("hash:%s", vmb_path);
    char *alias_spec = xasprintf("hash:%s", alias_path);
    char *err = NULL;
    int rc = CMD_ERROR;
    if (write_file(main_path, main_cf) != 0 || write_file(master_path, master_cf) != 0
        || write_file(vmb_path, vmailbox) != 0 || write_file(alias_path, aliases) != 0)
        goto out;
    if (dict_build(vmb_spec, vmb_path, DICT_SRC_MAP, &err) != 0
        || dict_build(alias_spec, alias_path, DICT_SRC_ALIASES, &err) != 0) {
        cmd_error("init: %s", err ? err : "map build failed");
        goto out;
    }
    printf("postern: initialized an instance in %s\n"
           "  %s      (queue %s/queue, log %s)\n"
           "  %s    (smtpd on 127.0.0.1:%ld)\n"
           "  %s(.db) demo@" INIT_DOMAIN " -> %s/" INIT_DOMAIN "/demo/\n"
           "  %s(.db)  postmaster -> demo@" INIT_DOMAIN "\n"
           "  mailboxes owned by uid %ld gid %ld%s\n"
           "start it with: postern -c %s start\n",
           dir, main_path, dir, maillog, master_path, o.port, vmb_path, mail, alias_path,
           (long)uid, (long)gid, fallback ? " (nobody: no \"postern\" account)" : "", conf);
    rc = CMD_OK;
out:
    free(err);
    free(vmb_spec);
    free(alias_spec);
    free(main_path);
    free(master_path);
    free(vmb_path);
    free(alias_path);
    free(main_cf);
    free(master_cf);
    free(owner_line);
    free(owner);
    free(conf);
    free(mail);
    free(maillog);
    return rc;
}
