/* local_privs.c: run a delivery with the recipient's privileges. The agent is started
 * as root (not with -u) and switches effective ids per delivery; without root it can
 * only deliver as its own user. Also decides the rights of "|command" and "/file" alias
 * targets: the owner of the alias table file, $default_privs for a root-owned table
 * (Postfix semantics), ourselves when not root. */
#include "local.h"
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "config.h"
#include "log.h"
#include "privs.h"

/* Fill name and home from the account of p->uid (if any). */
static void privs_identity(struct local_privs *p, const struct passwd *pw)
{
    p->user[0] = 0;
    snprintf(p->home, sizeof(p->home), "/");
    if (pw && strlen(pw->pw_name) < sizeof(p->user))
        snprintf(p->user, sizeof(p->user), "%s", pw->pw_name);
    if (pw && pw->pw_dir[0] == '/' && strlen(pw->pw_dir) < sizeof(p->home))
        snprintf(p->home, sizeof(p->home), "%s", pw->pw_dir);
}

/* The uid owning the file of a "hash:/path" or "btree:/path" table; -1 if none. */
static long table_owner(const char *spec, gid_t *gid)
{
    char path[4200];
    struct stat st;

    if (strncmp(spec, "hash:", 5) == 0)
        spec += 5;
    else if (strncmp(spec, "btree:", 6) == 0)
        spec += 6;
    else
        return -1;
    if (*spec != '/' || strlen(spec) > 4096)
        return -1;
    snprintf(path, sizeof(path), "%s.db", spec);
    if (stat(path, &st) < 0)
        return -1;
    *gid = st.st_gid;
    return (long) st.st_uid;
}

int local_alias_privs(const char *spec, struct local_privs *p, struct deliver_result *r)
{
    const char *def = config_str("default_privs");
    struct passwd *pw;
    gid_t gid = 0;
    long owner;

    if (!privs_is_root()) {
        p->uid = getuid();
        p->gid = getgid();
        privs_identity(p, getpwuid(p->uid));
        return 0;
    }
    owner = spec ? table_owner(spec, &gid) : -1;
    if (owner > 0) {
        pw = getpwuid((uid_t) owner);
        p->uid = (uid_t) owner;
        p->gid = pw ? pw->pw_gid : gid;
        privs_identity(p, pw);
        return 0;
    }
    pw = getpwnam(def);
    if (!pw) {
        deliver_result_set(r, DELIVER_DEFER, "4.3.0", "unknown default_privs user \"%s\"",
                           def);
        return -1;
    }
    if (pw->pw_uid == 0 || pw->pw_gid == 0) {
        msg_warn("default_privs \"%s\" is a privileged account: not used", def);
        deliver_result_set(r, DELIVER_DEFER, "4.3.0", "default_privs must not be root");
        return -1;
    }
    p->uid = pw->pw_uid;
    p->gid = pw->pw_gid;
    privs_identity(p, pw);
    return 0;
}

int local_become(uid_t uid, gid_t gid, struct deliver_result *r)
{
    if (privs_is_root()) {
        if (privs_set_effective(uid, gid) < 0) {
            deliver_result_errno(r, errno, "cannot switch to uid %ld gid %ld",
                                 (long) uid, (long) gid);
            return -1;
        }
        return 0;
    }
    if (uid != getuid()) {
        deliver_result_set(r, DELIVER_DEFER, "4.3.0",
                           "cannot deliver as uid %ld: postern is not running as root",
                           (long) uid);
        return -1;
    }
    return 0;
}

void local_unbecome(void)
{
    if (privs_is_root() && privs_restore_root() < 0)
        msg_fatal("cannot restore root privileges: %s", strerror(errno));
}
