/* privs.c: privilege handling. master (started as root) runs network-facing and queue
 * daemons as $mail_owner via privs_drop_to(); local switches effective ids per delivery
 * with privs_set_effective()/privs_restore_root(). As an ordinary user all are no-ops. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "privs.h"
#include "log.h"
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#define PRIVS_MAX_GROUPS 256

static gid_t saved_groups[PRIVS_MAX_GROUPS];
static int saved_ngroups = -1;          /* root's supplementary groups, saved on first switch */

int privs_is_root(void)
{
    return getuid() == 0;
}

int privs_lookup_user(const char *name, uid_t *uid, gid_t *gid)
{
    if (!name || !*name)
        return -1;
    errno = 0;
    struct passwd *pw = getpwnam(name);
    if (!pw)
        return -1;
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    return 0;
}

void privs_drop_to(const char *name)
{
    if (getuid() != 0 && geteuid() != 0)
        return;
    uid_t uid;
    gid_t gid;
    if (privs_lookup_user(name, &uid, &gid) != 0)
        msg_fatal("unknown user \"%s\" (parameter mail_owner?)", name);
    if (uid == 0)
        msg_fatal("refusing to run as user \"%s\": it has uid 0", name);
    if (geteuid() != 0 && seteuid(0) != 0)
        msg_fatal("cannot regain root before dropping privileges: %s", strerror(errno));
    if (initgroups(name, gid) != 0)
        msg_fatal("initgroups(%s): %s", name, strerror(errno));
    if (setresgid(gid, gid, gid) != 0)
        msg_fatal("setresgid(%ld): %s", (long)gid, strerror(errno));
    if (setresuid(uid, uid, uid) != 0)
        msg_fatal("setresuid(%ld): %s", (long)uid, strerror(errno));
    /* verify: ids are what we asked for and root cannot be regained */
    uid_t ru, eu, su;
    gid_t rg, eg, sg;
    if (getresuid(&ru, &eu, &su) != 0 || ru != uid || eu != uid || su != uid
        || getresgid(&rg, &eg, &sg) != 0 || rg != gid || eg != gid || sg != gid)
        msg_fatal("privilege drop to %s did not take effect", name);
    if (setuid(0) == 0 || seteuid(0) == 0)
        msg_fatal("privilege drop to %s failed: root can be regained", name);
}

int privs_set_effective(uid_t uid, gid_t gid)
{
    if (getuid() != 0)
        return 0;
    if (geteuid() != 0 && seteuid(0) != 0)
        return -1;
    if (saved_ngroups < 0) {
        int n = getgroups(PRIVS_MAX_GROUPS, saved_groups);
        saved_ngroups = n < 0 ? 0 : n;
    }
    if (setgroups(1, &gid) != 0)
        return -1;
    if (setegid(gid) != 0)
        return -1;
    if (seteuid(uid) != 0) {
        privs_restore_root();
        return -1;
    }
    return 0;
}

int privs_restore_root(void)
{
    if (getuid() != 0)
        return 0;
    if (seteuid(0) != 0)
        return -1;
    if (setegid(getgid()) != 0)
        return -1;
    if (saved_ngroups >= 0 && setgroups((size_t)saved_ngroups, saved_groups) != 0)
        return -1;
    return 0;
}
