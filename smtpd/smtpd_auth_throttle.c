/* smtpd_auth_throttle.c: counts failed AUTH attempts per client address across all smtpd
 * processes (each process serves one client at a time, so in-process counting alone
 * would not stop a client that reconnects). The state is a fixed-size file of slots
 * (opened in pre_init while privileged, mode 0600), hashed by address with a short
 * linear probe, read and written under a brief fcntl lock; a full table reuses the
 * oldest probed slot. If the file cannot be used, counting falls back to this process.
 * A window starts at an address's first failure; once the limit is reached within the
 * window, AUTH is refused until the window ends. */
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

struct slot {
    char addr[48];
    uint32_t count;
    uint32_t unused;
    int64_t start;
};
_Static_assert(sizeof(struct slot) == 64, "slot layout");

static int state_fd = -1;
static struct slot local_slot;         /* fallback: this process only */

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

static int read_slot(unsigned i, struct slot *sl)
{
    ssize_t n = pread(state_fd, sl, sizeof(*sl), (off_t)i * (off_t)sizeof(*sl));
    if (n == 0 || (n > 0 && (size_t)n < sizeof(*sl)))
        memset(sl, 0, sizeof(*sl));    /* beyond the end: empty */
    else if (n < 0)
        return -1;
    sl->addr[sizeof(sl->addr) - 1] = 0;
    return 0;
}

/* Find the slot of addr (or the slot to use for it). Returns its index or -1. */
static int find(const char *addr, struct slot *out)
{
    unsigned base = hash(addr) % SLOTS, best = base;
    int64_t oldest = INT64_MAX;
    struct slot sl;

    for (unsigned k = 0; k < PROBE; k++) {
        unsigned i = (base + k) % SLOTS;
        if (read_slot(i, &sl) < 0)
            return -1;
        if (strcmp(sl.addr, addr) == 0) {
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

int smtpd_auth_throttled(const char *addr, long limit, long window)
{
    struct slot sl;
    int64_t now = (int64_t)time(NULL);
    int idx = -1;

    if (state_fd >= 0 && lock(F_RDLCK) == 0) {
        idx = find(addr, &sl);
        lock(F_UNLCK);
    }
    if (idx < 0 || strcmp(sl.addr, addr) != 0)
        sl = strcmp(local_slot.addr, addr) == 0 ? local_slot : (struct slot){ 0 };
    return sl.count >= (uint64_t)limit && now < sl.start + window;
}

void smtpd_auth_failed(const char *addr, long window)
{
    struct slot sl;
    int64_t now = (int64_t)time(NULL);
    int idx;

    if (strlen(addr) >= sizeof(sl.addr))
        return;
    if (state_fd >= 0 && lock(F_WRLCK) == 0) {
        idx = find(addr, &sl);
        if (idx >= 0) {
            if (strcmp(sl.addr, addr) != 0 || now >= sl.start + window) {
                memset(&sl, 0, sizeof(sl));
                strcpy(sl.addr, addr);
                sl.start = now;
            }
            sl.count++;
            if (pwrite(state_fd, &sl, sizeof(sl), (off_t)idx * (off_t)sizeof(sl))
                != (ssize_t)sizeof(sl))
                msg_warn("AUTH failure state file: write: %s", strerror(errno));
        }
        lock(F_UNLCK);
        if (idx >= 0)
            return;
    }
    if (strcmp(local_slot.addr, addr) != 0 || now >= local_slot.start + window) {
        memset(&local_slot, 0, sizeof(local_slot));
        strcpy(local_slot.addr, addr);
        local_slot.start = now;
    }
    local_slot.count++;
}
