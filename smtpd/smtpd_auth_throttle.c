/* smtpd_auth_throttle.c: counts failed AUTH attempts per client address and per attempted
 * user name across all smtpd processes (each process serves one client at a time, so
 * in-process counting alone would not stop a client that reconnects, nor a guesser that
 * spreads one user name over many addresses). The state is a file of fixed-size slots
 * (opened in pre_init while privileged, mode 0600): the address table (1024 slots of 64
 * bytes) comes first, the user-name table (1024 slots of 272 bytes) after it. A key is
 * hashed to a short linear probe, read and written under a brief fcntl lock; a full probe
 * reuses the oldest slot. If the file cannot be used, counting falls back to this process.
 * A window starts at a key's first failure; once the limit is reached within the window,
 * AUTH is refused until the window ends. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "smtpd.h"
#include "log.h"

#define SLOTS 1024
#define PROBE 8
#define LOCK_TRIES 200                 /* x 5 ms */
#define KEY_MAX 256                    /* user names: 255 bytes + NUL */

/* One table of the state file. On disk a slot is key[key_size], uint32 count, uint32
 * unused, int64 start (native byte order: the file is private to this host). */
struct table {
    off_t base;                        /* file offset of slot 0 */
    size_t key_size;                   /* bytes of the key field, NUL included */
};

static const struct table addr_table = { 0, 48 };
static const struct table user_table = { (off_t)SLOTS * 64, KEY_MAX };

struct slot {
    char key[KEY_MAX];
    uint32_t count;
    uint32_t unused;
    int64_t start;
};

static size_t slot_size(const struct table *t)
{
    return t->key_size + 2 * sizeof(uint32_t) + sizeof(int64_t);
}

static int state_fd = -1;
static struct slot local_addr, local_user;  /* fallback: this process only */

void smtpd_auth_throttle_open(const char *path)
{
    if (path == NULL || *path == 0)
        return;
    state_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (state_fd < 0)
        msg_warn("open %s: %s; failed AUTH attempts are counted per process only",
                 path, strerror(errno));
}

static int lock(int type)
{
    struct flock fl = { .l_type = (short)type, .l_whence = SEEK_SET };

    for (int i = 0; i < LOCK_TRIES; i++) {
        if (fcntl(state_fd, F_SETLK, &fl) == 0)
            return 0;
        if (errno != EACCES && errno != EAGAIN && errno != EINTR)
            return -1;
        usleep(5000);
    }
    return -1;
}

static unsigned hash(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static off_t slot_offset(const struct table *t, unsigned i)
{
    return t->base + (off_t)i * (off_t)slot_size(t);
}

static int read_slot(const struct table *t, unsigned i, struct slot *sl)
{
    unsigned char buf[sizeof(struct slot)];
    size_t size = slot_size(t);
    ssize_t n = pread(state_fd, buf, size, slot_offset(t, i));

    memset(sl, 0, sizeof(*sl));
    if (n < 0)
        return -1;
    if ((size_t)n < size)
        return 0;                      /* beyond the end: empty */
    memcpy(sl->key, buf, t->key_size);
    sl->key[t->key_size - 1] = 0;
    memcpy(&sl->count, buf + t->key_size, sizeof(sl->count));
    memcpy(&sl->start, buf + t->key_size + 2 * sizeof(uint32_t), sizeof(sl->start));
    return 0;
}

static int write_slot(const struct table *t, unsigned i, const struct slot *sl)
{
    unsigned char buf[sizeof(struct slot)];
    size_t size = slot_size(t);

    memset(buf, 0, sizeof(buf));
    memcpy(buf, sl->key, t->key_size);
    buf[t->key_size - 1] = 0;
    memcpy(buf + t->key_size, &sl->count, sizeof(sl->count));
    memcpy(buf + t->key_size + 2 * sizeof(uint32_t), &sl->start, sizeof(sl->start));
    return pwrite(state_fd, buf, size, slot_offset(t, i)) == (ssize_t)size ? 0 : -1;
}

/* Find the slot of key (or the slot to use for it). Returns its index or -1. */
static int find(const struct table *t, const char *key, struct slot *out)
{
    unsigned base = hash(key) % SLOTS, best = base;
    int64_t oldest = INT64_MAX;
    struct slot sl;

    for (unsigned k = 0; k < PROBE; k++) {
        unsigned i = (base + k) % SLOTS;
        if (read_slot(t, i, &sl) < 0)
            return -1;
        if (strcmp(sl.key, key) == 0) {
            *out = sl;
            return (int)i;
        }
        if (sl.start < oldest) {
            oldest = sl.start;
            best = i;
        }
    }
    memset(out, 0, sizeof(*out));
    return (int)best;
}

static int throttled(const struct table *t, struct slot *local, const char *key,
                     long limit, long window)
{
    struct slot sl;
    int64_t now = (int64_t)time(NULL);
    int idx = -1;

    if (strlen(key) >= t->key_size)
        return 0;
    if (state_fd >= 0 && lock(F_RDLCK) == 0) {
        idx = find(t, key, &sl);
        lock(F_UNLCK);
    }
    if (idx < 0 || strcmp(sl.key, key) != 0)
        sl = strcmp(local->key, key) == 0 ? *local : (struct slot){ .count = 0 };
    return sl.count >= (uint64_t)limit && now < sl.start + window;
}

static void failed(const struct table *t, struct slot *local, const char *key, long window)
{
    struct slot sl;
    int64_t now = (int64_t)time(NULL);
    int idx;

    if (strlen(key) >= t->key_size)
        return;
    if (state_fd >= 0 && lock(F_WRLCK) == 0) {
        idx = find(t, key, &sl);
        if (idx >= 0) {
            if (strcmp(sl.key, key) != 0 || now >= sl.start + window) {
                memset(&sl, 0, sizeof(sl));
                strcpy(sl.key, key);
                sl.start = now;
            }
            if (sl.count < UINT32_MAX)
                sl.count++;
            if (write_slot(t, (unsigned)idx, &sl) < 0)
                msg_warn("AUTH failure state file: write: %s", strerror(errno));
        }
        lock(F_UNLCK);
        if (idx >= 0)
            return;
    }
    if (strcmp(local->key, key) != 0 || now >= local->start + window) {
        memset(local, 0, sizeof(*local));
        strcpy(local->key, key);
        local->start = now;
    }
    if (local->count < UINT32_MAX)
        local->count++;
}

int smtpd_auth_throttled(const char *addr, long limit, long window)
{
    return throttled(&addr_table, &local_addr, addr, limit, window);
}

void smtpd_auth_failed(const char *addr, long window)
{
    failed(&addr_table, &local_addr, addr, window);
}

/* The user-name key: lowercase ASCII, control characters (and DEL) -> '?', at most 255
 * bytes; `out` must hold 256. */
void smtpd_auth_user_key(const char *user, size_t len, char *out)
{
    size_t i;

    if (len > KEY_MAX - 1)
        len = KEY_MAX - 1;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)user[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        else if (c < 0x20 || c == 0x7f)
            c = '?';
        out[i] = (char)c;
    }
    out[i] = 0;
}

int smtpd_auth_user_throttled(const char *user_key, long limit, long window)
{
    return throttled(&user_table, &local_user, user_key, limit, window);
}

void smtpd_auth_user_failed(const char *user_key, long window)
{
    failed(&user_table, &local_user, user_key, window);
}
