/* anvil_banfile.c: the list of banned client addresses and its state file, shared by
 * anvil (which adds bans and rewrites the file on every change) and `postern ban`
 * (which lists the file, and edits it when anvil does not answer). Both take a whole-file
 * fcntl lock around a read-modify-write. Format, one ban per line:
 *     ADDR EXPIRES REASON\n
 * ADDR numeric IPv4/IPv6, EXPIRES decimal epoch seconds, REASON printable text. The file
 * is not trusted: it is read up to 1 MB, bad lines are skipped, the count is bounded. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "anvil.h"
#include "log.h"
#include "mem.h"

#define BANFILE_READ_MAX (1024 * 1024)
#define LOCK_TRIES 400                 /* x 5 ms */

int anvil_addr_ok(const char *s)
{
    unsigned char buf[16];

    if (s == NULL || strlen(s) >= ANVIL_ADDR_MAX)
        return 0;
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

int anvil_user_ok(const char *s)
{
    size_t n;

    if (s == NULL || (n = strlen(s)) == 0 || n > ANVIL_USER_MAX)
        return 0;
    for (; *s; s++)
        if ((unsigned char) *s < ' ' || *s == 0x7f)
            return 0;
    return 1;
}

int anvil_banfile_open(const char *path)
{
    int fd;

    if (path == NULL || *path == 0)
        return -1;
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        msg_warn("open ban state file %s: %s", path, strerror(errno));
    return fd;
}

int anvil_banfile_lock(int fd, int type)
{
    struct flock fl = { .l_type = (short) type, .l_whence = SEEK_SET };

    for (int i = 0; i < LOCK_TRIES; i++) {
        if (fcntl(fd, F_SETLK, &fl) == 0)
            return 0;
        if (errno != EACCES && errno != EAGAIN && errno != EINTR)
            break;
        usleep(5000);
    }
    msg_warn("ban state file: lock: %s", strerror(errno));
    return -1;
}

int anvil_ban_find(const struct anvil_ban_list *l, const char *addr)
{
    for (int i = 0; i < l->count; i++)
        if (strcmp(l->items[i].addr, addr) == 0)
            return i;
    return -1;
}

void anvil_ban_add(struct anvil_ban_list *l, const char *addr, long long expires,
                   const char *reason)
{
    int i = anvil_ban_find(l, addr);
    struct anvil_ban *b;
    size_t n;

    if (i < 0) {
        if (l->count >= ANVIL_BAN_MAX) {             /* full: replace the soonest to expire */
            i = 0;
            for (int k = 1; k < l->count; k++)
                if (l->items[k].expires < l->items[i].expires)
                    i = k;
        } else {
            if (l->count == l->cap) {
                l->cap = l->cap ? 2 * l->cap : 16;
                l->items = xrealloc(l->items, (size_t) l->cap * sizeof(*l->items));
            }
            i = l->count++;
        }
    }
    b = &l->items[i];
    memset(b, 0, sizeof(*b));
    snprintf(b->addr, sizeof(b->addr), "%s", addr);
    b->expires = expires;
    n = 0;
    for (const char *p = reason ? reason : ""; *p && n < ANVIL_REASON_MAX; p++)
        b->reason[n++] = (*p >= ' ' && *p < 0x7f) ? *p : '?';
    b->reason[n] = 0;
}

void anvil_ban_remove(struct anvil_ban_list *l, int index)
{
    if (index < 0 || index >= l->count)
        return;
    l->items[index] = l->items[l->count - 1];
    l->count--;
}

void anvil_ban_free(struct anvil_ban_list *l)
{
    free(l->items);
    memset(l, 0, sizeof(*l));
}

/* One line "ADDR EXPIRES REASON" (NUL-terminated, no newline); 0 or -1. */
static int parse_line(char *line, char **addr, long long *expires, char **reason)
{
    char *sp1 = strchr(line, ' '), *sp2, *end;

    if (sp1 == NULL)
        return -1;
    *sp1 = 0;
    sp2 = strchr(sp1 + 1, ' ');
    if (sp2 != NULL)
        *sp2 = 0;
    if (!anvil_addr_ok(line) || sp1[1] < '0' || sp1[1] > '9')
        return -1;
    errno = 0;
    *expires = strtoll(sp1 + 1, &end, 10);
    if (errno != 0 || *end != 0 || *expires <= 0)
        return -1;
    *addr = line;
    *reason = sp2 ? sp2 + 1 : "";
    return 0;
}

void anvil_banfile_parse(const char *data, size_t len, struct anvil_ban_list *l,
                         long long now, int *bad)
{
    char *buf, *p, *nl, *addr, *reason;
    long long expires;
    int nbad = 0;

    if (len > BANFILE_READ_MAX)
        len = BANFILE_READ_MAX;
    buf = xmalloc(len + 1);                      /* private copy: parse_line() cuts it */
    memcpy(buf, data, len);
    buf[len] = 0;
    l->count = 0;
    for (p = buf; p < buf + len; p = nl + 1) {
        nl = memchr(p, '\n', (size_t) (buf + len - p));
        if (nl == NULL) {                            /* torn last line */
            nbad++;
            break;
        }
        *nl = 0;
        if (strlen(p) != (size_t) (nl - p) || parse_line(p, &addr, &expires, &reason) < 0) {
            nbad++;
            continue;
        }
        if (expires > now)
            anvil_ban_add(l, addr, expires, reason);
    }
    free(buf);
    if (bad)
        *bad = nbad;
}

int anvil_banfile_read(int fd, struct anvil_ban_list *l, long long now, int *bad)
{
    char *buf = xmalloc(BANFILE_READ_MAX);
    size_t len = 0;
    ssize_t n;

    while (len < BANFILE_READ_MAX) {
        n = pread(fd, buf + len, BANFILE_READ_MAX - len, (off_t) len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            msg_warn("ban state file: read: %s", strerror(errno));
            free(buf);
            return -1;
        }
        if (n == 0)
            break;
        len += (size_t) n;
    }
    anvil_banfile_parse(buf, len, l, now, bad);
    free(buf);
    return 0;
}

int anvil_banfile_write(int fd, const struct anvil_ban_list *l)
{
    str out;
    size_t off = 0;
    int rc = 0;

    str_init(&out);
    for (int i = 0; i < l->count; i++)
        str_appendf(&out, "%s %lld %s\n", l->items[i].addr, l->items[i].expires,
                    l->items[i].reason);
    while (off < out.len) {
        ssize_t n = pwrite(fd, out.data + off, out.len - off, (off_t) off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = -1;
            break;
        }
        off += (size_t) n;
    }
    if (rc == 0 && (ftruncate(fd, (off_t) out.len) < 0 || fsync(fd) < 0))
        rc = -1;
    if (rc < 0)
        msg_warn("ban state file: write: %s", strerror(errno));
    str_free(&out);
    return rc;
}
