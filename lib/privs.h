/* privs.h: privilege handling. Started as root, master drops network-facing and queue
 * daemons to $mail_owner; local switches its effective ids per delivery. Started as an
 * ordinary user, everything runs as that user and these calls are no-ops. */
#ifndef POSTERN_PRIVS_H
#define POSTERN_PRIVS_H
#include <sys/types.h>

int privs_is_root(void);                       /* real uid 0 */
/* Look up a user: 0 and uid/gid set, or -1 if unknown. */
int privs_lookup_user(const char *name, uid_t *uid, gid_t *gid);
/* Permanently become user `name` (setgroups/setgid/setuid, verified). Fatal on failure.
 * No-op when not root. */
void privs_drop_to(const char *name);
/* Temporarily set effective ids (root only; no-op otherwise). 0 or -1. */
int privs_set_effective(uid_t uid, gid_t gid);
int privs_restore_root(void);

#endif
