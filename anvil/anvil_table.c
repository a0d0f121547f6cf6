/* anvil_table.c: per client address counters for anvil: simultaneous connections, and
 * connection/message/recipient counts (message/recipient counts also per authenticated
 * user) in a window of $anvil_rate_time_unit that starts at
 * the address's first event (as Postfix's anvil does), plus abuse events in a window of
 * $smtpd_ban_window. The table is bounded (TABLE_MAX addresses): idle entries whose
 * windows are over are reused first; when every entry is busy the oldest one with no
 * open connection is reused, so a flood of addresses cannot grow memory. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "anvil.h"
#include "mem.h"

#define TABLE_MAX 16384

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
};

static struct entry *table;
static int table_used;
static long rate_window = 60, abuse_window = 600;

void anvil_table_init(long rate_win, long ban_win)
{
    rate_window = rate_win > 0 ? rate_win : 1;
    abuse_window = ban_win > 0 ? ban_win : 1;
    if (table == NULL)
        table = xcalloc(TABLE_MAX, sizeof(*table));
}

static int idle(const struct entry *e, long long now)
{
    return e->conns == 0 && now >= e->rate_start + rate_window
        && now >= e->abuse_start + abuse_window;
}

static void reset_windows(struct entry *e, long long now)
{
    if (now >= e->rate_start + rate_window) {
        e->rate_start = now;
        e->conn_rate = e->msg_rate = e->rcpt_rate = 0;
    }
    if (now >= e->abuse_start + abuse_window) {
        e->abuse_start = now;
        e->abuse = 0;
    }
}

/* The entry of addr, created if need be. */
static struct entry *lookup(const char *addr)
{
    long long now = (long long) time(NULL);
    int victim = -1;

    for (int i = 0; i < table_used; i++) {
        if (strcmp(table[i].addr, addr) == 0) {
            reset_windows(&table[i], now);
            return &table[i];
        }
        if (victim < 0 && idle(&table[i], now))
            victim = i;
    }
    if (victim < 0 && table_used < TABLE_MAX)
        victim = table_used++;
    if (victim < 0) {                           /* all busy: oldest without connections */
        for (int i = 0; i < table_used; i++)
            if (table[i].conns == 0
                && (victim < 0 || table[i].rate_start < table[victim].rate_start))
                victim = i;
        if (victim < 0)
            victim = 0;
    }
    memset(&table[victim], 0, sizeof(table[victim]));
    snprintf(table[victim].addr, sizeof(table[victim].addr), "%s", addr);
    table[victim].rate_start = table[victim].abuse_start = now;
    return &table[victim];
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
