/* local_maildir.c: Maildir delivery (the Maildir spec): make DIR/{tmp,new,cur} when
 * missing (found out by the failing open or rename, so a delivery to an existing Maildir
 * costs no mkdir calls), write the message to tmp/UNIQUE, fsync it (when $maildir_fsync), rename it
 * into new/. The directory is not fsynced (neither does Postfix). Any error removes the
 * tmp file and defers; so does the delivery timeout (local_abort.c knows the tmp file).
 * Runs with the recipient's effective ids (set by the caller). */
#include "local.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include "config.h"

static unsigned long maildir_counter;

/* $myhostname with '/' and ':' written as \057 and \072 (as the Maildir spec asks). */
static void safe_hostname(str *out)
{
    str_reset(out);
    for (const char *h = config_str("myhostname"); *h; h++) {
        if (*h == '/')
            str_appends(out, "\\057");
        else if (*h == ':')
            str_appends(out, "\\072");
        else if ((unsigned char) *h <= 0x20 || *h == 0x7f)
            str_putc(out, '_');
        else
            str_putc(out, *h);
    }
}

static int make_maildir(const char *dir)
{
    static const char *const subdirs[] = { "", "tmp", "new", "cur", NULL };
    char path[4096];

    for (int i = 0; subdirs[i]; i++) {
        snprintf(path, sizeof(path), "%s%s", dir, subdirs[i]);
        if (mkdir(path, 0700) < 0 && errno != EEXIST)
            return -1;
    }
    return 0;
}

void local_maildir_deliver(struct deliver_msg *m, const char *dir, const char *rcpt,
                           struct deliver_result *r)
{
    struct timeval tv;
    str host, name, tmp_path, new_path;
    int fd, failed = 0;
    bio *out;

    if (strlen(dir) > 3500) {
        deliver_result_set(r, DELIVER_DEFER, "4.3.0", "maildir path too long");
        return;
    }
    str_init(&host);
    str_init(&name);
    str_init(&tmp_path);
    str_init(&new_path);
    safe_hostname(&host);
    gettimeofday(&tv, 0);
    str_printf(&name, "%ld.M%ldP%ldQ%lu.%s", (long) tv.tv_sec, (long) tv.tv_usec,
               (long) getpid(), ++maildir_counter, host.data);
    str_printf(&tmp_path, "%stmp/%s", dir, name.data);
    str_printf(&new_path, "%snew/%s", dir, name.data);
    fd = open(tmp_path.data, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == ENOENT) {        /* first delivery: make the Maildir */
        if (make_maildir(dir) < 0) {
            deliver_result_errno(r, errno, "cannot create maildir %s", dir);
            goto out;
        }
        fd = open(tmp_path.data, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    }
    if (fd < 0) {
        deliver_result_errno(r, errno, "cannot create maildir file %s", tmp_path.data);
        goto out;
    }
    local_abort_tmp(tmp_path.data);
    out = bio_open_file(fd);
    if (local_write_message(m, out, rcpt, 0, r) < 0)
        failed = 1;
    bio_free(out);
    if (!failed && config_bool("maildir_fsync") && fsync(fd) < 0) {
        deliver_result_errno(r, errno, "cannot fsync maildir file %s", tmp_path.data);
        failed = 1;
    }
    if (close(fd) < 0 && !failed) {
        deliver_result_errno(r, errno, "cannot write maildir file %s", tmp_path.data);
        failed = 1;
    }
    if (!failed && rename(tmp_path.data, new_path.data) < 0
        && (errno != ENOENT || make_maildir(dir) < 0
            || rename(tmp_path.data, new_path.data) < 0)) {   /* new/ was missing */
        deliver_result_errno(r, errno, "cannot rename maildir file to %s", new_path.data);
        failed = 1;
    }
    if (failed)
        unlink(tmp_path.data);
    local_abort_tmp(NULL);
    if (!failed)
        deliver_result_set(r, DELIVER_SENT, "2.0.0", "delivered to maildir");
out:
    str_free(&host);
    str_free(&name);
    str_free(&tmp_path);
    str_free(&new_path);
}
