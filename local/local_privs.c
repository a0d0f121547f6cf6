/* local_privs.c: run a delivery with the recipient's privileges. The agent is started
 * as root (not with -u) and switches effective ids per delivery; without root it can
 * only deliver as its own user. */
#include "local.h"
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include "log.h"
#include "privs.h"

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
