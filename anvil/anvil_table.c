/* anvil_table.c: per client address counters for anvil: simultaneous connections, and
 * connection/message/recipient counts (message/recipient counts also per authenticated
 * user) in a window of $anvil_rate_time_unit that starts at
 * the address's first event (as Postfix's anvil does), plus abuse events in a window of
 * $smtpd_ban_window.
 *
 * The table is bounded (TABLE_MAX keys) and found through a hash (seeded at start, so a
 * client cannot choose addresses that share a chain). A key's entry stays until its
 * slot is needed: when the table is full, an idle entry (no open connection, both
 * windows over) is reused, else the oldest one with no open connection, so a flood of
 * addresses cannot grow memory nor push out a connected client. "Oldest" is by the start
 * of the rate window: entries sit on an age list in that order (a window restart moves an
 * entry to the young end), so the victim is found from the old end without a full scan.
 * An idle entry, when looked up again, restarts both windows: the same as a new one. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include "anvil.h"
#include "mem.h"

#define TABLE_MAX 16384
#define NBUCKETS 32768                 /* power of two, 2 x TABLE_MAX: short chains */
#define NONE (-1)

/* Table keys: a client address as is, or USER_PREFIX + login name (no address starts
 * with "user:", so the two never meet). */
#define USER_PREFIX "user:"
#define KEY_MAX (sizeof(USER_PREFIX) + ANVIL_USER_MAX)

struct entry {
    char addr[KEY_MAX];
    int conns;                         /* open connections */
    long long rate_start;              /* window of the rate counters */
    int conn_rate, msg_rate, rcpt_rate;
    long long abuse_start;
    int abuse;
    uint32_t hash;
    int hash_next;                     /* next entry of the same bucket */
    int older, younger;                /* age list, by rate_start */
};

static struct entry *table;
static int *buckets;                   /* first entry of each hash chain, or NONE */
static int table_used;
static int oldest = NONE, youngest = NONE;
static uint32_t hash_seed;
static long rate_window = 60, abuse_window = 600;
static long long fixed_now;            /* tests: anvil_table_set_time() */

static long long now_seconds(void)
{
    return fixed_now ? fixed_now : (long long) time(NULL);
}

void anvil_table_set_time(long long now)
{
    fixed_now = now;
}

void anvil_table_init(long rate_win, long ban_win)
{
    rate_window = rate_win > 0 ? rate_win : 1;
    abuse_window = ban_win > 0 ? ban_win : 1;
    if (table == NULL) {
        table = xcalloc(TABLE_MAX, sizeof(*table));
        buckets = xcalloc(NBUCKETS, sizeof(*buckets));
    }
    memset(table, 0, TABLE_MAX * sizeof(*table));
    for (int i = 0; i < NBUCKETS; i++)
        buckets[i] = NONE;
    table_used = 0;
    oldest = youngest = NONE;
    if (getrandom(&hash_seed, sizeof(hash_seed), GRND_NONBLOCK) != (ssize_t) sizeof(hash_seed))
        hash_seed = (uint32_t) time(NULL) ^ ((uint32_t) getpid() << 16);
}

/* FNV-1a over the key, starting from the per-process seed. */
static uint32_t key_hash(const char *key)
{
    uint32_t h = 2166136261u ^ hash_seed;

    for (const unsigned char *p = (const unsigned char *) key; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h ^ (h >> 15);
}

static void age_unlink(int i)
{
    struct entry *e = &table[i];

    if (e->older != NONE)
        table[e->older].younger = e->younger;
    else
        oldest = e->younger;
    if (e->younger != NONE)
        table[e->younger].older = e->older;
    else
        youngest = e->older;
    e->older = e->younger = NONE;
}

static void age_append(int i)
{
    table[i].older = youngest;
    table[i].younger = NONE;
    if (youngest != NONE)
        table[youngest].younger = i;
    else
        oldest = i;
    youngest = i;
}

static void hash_unlink(int i)
{
    int *link = &buckets[table[i].hash & (NBUCKETS - 1)];

    for (int steps = 0; *link != NONE && steps < TABLE_MAX; steps++) {
        if (*link == i) {
            *link = table[i].hash_next;
            return;
        }
        link = &table[*link].hash_next;
    }
}

static int idle(const struct entry *e, long long now)
{
    return e->conns == 0 && now >= e->rate_start + rate_window
        && now >= e->abuse_start + abuse_window;
}

static void reset_windows(int i, long long now)
{
    struct entry *e = &table[i];

    if (now >= e->rate_start + rate_window) {
        e->rate_start = now;
        e->conn_rate = e->msg_rate = e->rcpt_rate = 0;
        age_unlink(i);                          /* now the youngest window */
        age_append(i);
    }
    if (now >= e->abuse_start + abuse_window) {
        e->abuse_start = now;
        e->abuse = 0;
    }
}

/* The slot to reuse in a full table: the oldest idle entry, else the oldest one without
 * connections, else (every key connected) the oldest. Entries younger than one rate
 * window cannot be idle, so the walk stops there once a fallback is known. */
static int pick_victim(long long now)
{
    int fallback = NONE, steps = 0;

    for (int i = oldest; i != NONE && steps < TABLE_MAX; i = table[i].younger, steps++) {
        if (table[i].conns == 0) {
            if (idle(&table[i], now))
                return i;
            if (fallback == NONE)
                fallback = i;
        }
        if (fallback != NONE && now < table[i].rate_start + rate_window)
            break;
    }
    return fallback != NONE ? fallback : oldest;
}

/* The entry of key, created if need be. */
static struct entry *lookup(const char *key)
{
    long long now = now_seconds();
    uint32_t h = key_hash(key);
    int *bucket = &buckets[h & (NBUCKETS - 1)], victim, steps = 0;

    for (int i = *bucket; i != NONE && steps < TABLE_MAX; i = table[i].hash_next, steps++) {
        if (table[i].hash == h && strcmp(table[i].addr, key) == 0) {
            reset_windows(i, now);
            return &table[i];
        }
    }
    if (table_used < TABLE_MAX) {
        victim = table_used++;
    } else {
        victim = pick_victim(now);
        hash_unlink(victim);
        age_unlink(victim);
    }
    struct entry *e = &table[victim];
    memset(e, 0, sizeof(*e));
    snprintf(e->addr, sizeof(e->addr), "%s", key);
    e->rate_start = e->abuse_start = now;
    e->hash = h;
    e->hash_next = *bucket;
    *bucket = victim;
    age_append(victim);
    return e;
}

void anvil_table_connect(const char *addr, struct anvil_counts *out)
{
    struct entry *e = lookup(addr);

    e->conns++;
    e->conn_rate++;
    out->count = e->conns;
    out->rate = e->conn_rate;
}

void anvil_table_disconnect(const char *addr)
{
    struct entry *e = lookup(addr);

    if (e->conns > 0)
        e->conns--;
}

int anvil_table_message(const char *addr)
{
    return ++lookup(addr)->msg_rate;
}

int anvil_table_recipient(const char *addr)
{
    return ++lookup(addr)->rcpt_rate;
}

int anvil_table_abuse(const char *addr)
{
    return ++lookup(addr)->abuse;
}

void anvil_table_forget_abuse(const char *addr)
{
    lookup(addr)->abuse = 0;
}

/* The entry of an authenticated user; ANVIL_USER_MAX bounds the name (anvil.c checks). */
static struct entry *user_lookup(const char *user)
{
    char key[KEY_MAX];

    snprintf(key, sizeof(key), "%s%s", USER_PREFIX, user);
    return lookup(key);
}

int anvil_table_user_message(const char *user)
{
    return ++user_lookup(user)->msg_rate;
}

int anvil_table_user_recipient(const char *user)
{
    return ++user_lookup(user)->rcpt_rate;
}
