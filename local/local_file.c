/* local_file.c: delivery to a "/file" alias target: the mbox writer (local_mbox.c:
 * dot-lock + fcntl lock, From_ line, >From quoting, fsync, O_APPEND|O_NOFOLLOW, regular
 * file with one link owned by the delivering user) or, for a path ending in '/', the
 * Maildir writer (local_maildir.c), both reached through local_deliver_mailbox() with
 * the effective ids of the target's rights (local_alias_privs). Paths must be absolute
 * and may not contain "/../" steps. */
#include "local.h"
#include <string.h>

/* An absolute path without ".." components. */
static int safe_absolute_path(const char *path)
{
    const char *c = path;

    if (*path != '/')
        return 0;
    while (*c) {
        size_t n;
        while (*c == '/')
            c++;
        n = strcspn(c, "/");
        if (n == 2 && c[0] == '.' && c[1] == '.')
            return 0;
        c += n;
    }
    return 1;
}

void local_file_deliver(struct deliver_msg *m, const char *rcpt, const char *path,
                        const struct local_privs *p, struct deliver_result *r)
{
    str shown;

    if (!safe_absolute_path(path)) {
        deliver_result_set(r, DELIVER_BOUNCE, "5.3.0", "bad file alias target: the path "
                           "must be absolute without \"..\"");
        return;
    }
    if (local_become(p->uid, p->gid, r) < 0)
        return;
    local_deliver_mailbox(m, rcpt, path, p->uid, p->gid, 0, r);
    local_unbecome();
    if (r->status == DELIVER_SENT) {
        str_init(&shown);
        deliver_printable(&shown, path, 0);
        deliver_result_set(r, DELIVER_SENT, "2.0.0", "delivered to file: %s", shown.data);
        str_free(&shown);
    }
}
