/* local_deliver.c: what every mailbox delivery shares: the Delivered-To loop check,
 * the copy loop that writes the delivered form of a message (Return-Path, Delivered-To,
 * the queue file content with LF line ends, mbox "From " line and quoting), and the
 * dispatch of a mailbox path to Maildir or mbox. */
#include "local.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include "mem.h"

/* The header value of "Delivered-To:" lines, <> stripped, compared without case. */
static int delivered_to_matches(const str *line, const char *rcpt)
{
    const char *v;
    size_t n, rl = strlen(rcpt);

    if (line->len < 13 || strncasecmp(line->data, "Delivered-To:", 13) != 0)
        return 0;
    v = line->data + 13;
    n = line->len - 13;
    while (n > 0 && (*v == ' ' || *v == '\t'))
        v++, n--;
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    if (n >= 2 && v[0] == '<' && v[n - 1] == '>')
        v++, n -= 2;
    return n == rl && strncasecmp(v, rcpt, n) == 0;
}

int local_check_loop(struct deliver_msg *m, const char *rcpt, struct deliver_result *r)
{
    qfile_reader reader;
    const char *err = NULL;
    str line;
    int rc, found = 0;

    if (qfile_content_open(&reader, m->fd, m->env.content_offset) < 0) {
        deliver_result_set(r, DELIVER_DEFER, "4.3.0", "cannot read queue file");
        return -1;
    }
    str_init(&line);
    while ((rc = qfile_next_line(&reader, &line, m->line_max, &err)) == 1) {
        if (line.len == 0)
            break;                          /* end of headers */
        if (delivered_to_matches(&line, rcpt)) {
            found = 1;
            break;
        }
    }
    qfile_content_close(&reader);
    str_free(&line);
    if (rc < 0) {
        deliver_result_set(r, DELIVER_DEFER, "4.3.0", "error reading queue file: %s",
                           err ? err : "unknown error");
        return -1;
    }
    if (found) {
        deliver_result_set(r, DELIVER_BOUNCE, "5.4.6", "mail forwarding loop for %s", rcpt);
        return 1;
    }
    return 0;
}

/* "From " after any number of '>' gets one more '>' (mboxrd). */
static int needs_from_quote(const str *line)
{
    size_t i = 0;

    while (i < line->len && line->data[i] == '>')
        i++;
    return line->len - i >= 5 && memcmp(line->data + i, "From ", 5) == 0;
}

int local_write_message(struct deliver_msg *m, bio *out, const char *rcpt, int mbox,
                        struct deliver_result *r)
{
    qfile_reader reader;
    const char *err = NULL;
    str line, tmp;
    int rc, werr = 0;

    str_init(&line);
    str_init(&tmp);
    if (mbox) {
        char date[64];
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Y", &tm);
        deliver_printable(&tmp, *m->env.sender ? m->env.sender : "MAILER-DAEMON", 1);
        bio_printf(out, "From %s %s\n", tmp.data, date);
    }
    deliver_printable(&tmp, m->env.sender, 0);
    bio_printf(out, "Return-Path: <%s>\n", tmp.data);
    deliver_printable(&tmp, rcpt, 0);
    bio_printf(out, "Delivered-To: %s\n", tmp.data);
    if (qfile_content_open(&reader, m->fd, m->env.content_offset) < 0) {
        deliver_result_set(r, DELIVER_DEFER, "4.3.0", "cannot read queue file");
        str_free(&line);
        str_free(&tmp);
        return -1;
    }
    while ((rc = qfile_next_line(&reader, &line, m->line_max, &err)) == 1) {
        if (mbox && needs_from_quote(&line))
            bio_write(out, ">", 1);
        str_putc(&line, '\n');
        if (bio_write(out, line.data, line.len) < 0) {
            werr = errno;
            break;
        }
    }
    qfile_content_close(&reader);
    str_free(&line);
    str_free(&tmp);
    if (rc < 0) {
        deliver_result_set(r, DELIVER_DEFER, "4.3.0", "error reading queue file: %s",
                           err ? err : "unknown error");
        return -1;
    }
    if (mbox && !werr && bio_write(out, "\n", 1) < 0)
        werr = errno;
    if (!werr && bio_flush(out) < 0)
        werr = errno;
    if (werr || bio_error(out)) {
        deliver_result_errno(r, werr ? werr : EIO, "cannot write mailbox");
        return -1;
    }
    return 0;
}

int local_dir_exists(const char *base, const char *rel_dir)
{
    struct stat st;
    str path;
    int yes;

    str_init(&path);
    str_printf(&path, "%s/%s", base, rel_dir);
    yes = stat(path.data, &st) == 0 && S_ISDIR(st.st_mode);
    str_free(&path);
    return yes;
}

int local_make_dirs(const char *base, const char *rel_dir)
{
    str path;
    const char *p = rel_dir;
    int rc = 0;

    str_init(&path);
    str_set(&path, base);
    while (*p) {
        size_t n = strcspn(p, "/");
        if (n > 0) {
            str_putc(&path, '/');
            str_append(&path, p, n);
            if (mkdir(path.data, 0700) < 0 && errno != EEXIST) {
                rc = -1;
                break;
            }
        }
        p += n;
        while (*p == '/')
            p++;
    }
    {
        int saved = errno;
        str_free(&path);
        errno = saved;
    }
    return rc;
}

void local_deliver_mailbox(struct deliver_msg *m, const char *rcpt, const char *path,
                           uid_t uid, gid_t gid, int spool, struct deliver_result *r)
{
    size_t n = strlen(path);

    if (local_check_loop(m, rcpt, r) != 0)
        return;
    if (n > 0 && path[n - 1] == '/')
        local_maildir_deliver(m, path, rcpt, r);
    else
        local_mbox_deliver(m, path, rcpt, uid, gid, spool, r);
}
