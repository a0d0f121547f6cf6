/* check_anvil_table.c: unit test of anvil/anvil_table.c, the bounded hash table of
 * per-client counters: counts stay right for many distinct keys (more than the table
 * holds), a full table evicts idle entries first, then the oldest without connections,
 * and never a connected client while another can go; user keys never meet addresses.
 * Loops are bounded; the run time is printed, not asserted (machines are noisy).
 * Run: make anvil/check_anvil_table && ./anvil/check_anvil_table */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "anvil.h"

#define NKEYS 20000                    /* more than the table holds (16384) */
#define TABLE_CAPACITY 16384

static int failures;

#define CHECK(cond, ...) do { \
        if (!(cond)) { \
            failures++; \
            fprintf(stderr, "%s:%d: FAIL %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__); \
            fputc('\n', stderr); \
        } \
    } while (0)

static const char *key(int i)
{
    static char buf[ANVIL_ADDR_MAX];
    if (i % 2)
        snprintf(buf, sizeof(buf), "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255, i & 255);
    else
        snprintf(buf, sizeof(buf), "2001:db8::%x", i);
    return buf;
}

/* Many distinct keys within one window: each one's first counts are 1, repeated look-ups
 * of keys still in the table add up, the oldest ones were the ones evicted. */
static void many_keys(void)
{
    struct anvil_counts c;

    anvil_table_init(60, 600);
    anvil_table_set_time(1000000);
    for (int i = 0; i < NKEYS; i++) {
        anvil_table_connect(key(i), &c);
        CHECK(c.count == 1 && c.rate == 1, "key %d: count %d rate %d", i, c.count, c.rate);
        CHECK(anvil_table_message(key(i)) == 1, "key %d", i);
        anvil_table_disconnect(key(i));
    }
    /* the youngest TABLE_CAPACITY keys are all still there, newest first */
    int kept = 0;
    for (int i = NKEYS - 1; i >= NKEYS - TABLE_CAPACITY; i--)
        kept += anvil_table_message(key(i)) == 2;
    CHECK(kept == TABLE_CAPACITY, "kept %d of %d", kept, TABLE_CAPACITY);
    /* the oldest keys were evicted: they start again at 1 */
    CHECK(anvil_table_recipient(key(0)) == 1, "key 0 not evicted");
}

/* A connected client survives a flood of other addresses in the same window. */
static void connected_survives(void)
{
    struct anvil_counts c;

    anvil_table_init(60, 600);
    anvil_table_set_time(2000000);
    anvil_table_connect("192.0.2.1", &c);
    CHECK(c.count == 1, "count %d", c.count);
    for (int i = 0; i < NKEYS; i++) {
        anvil_table_connect(key(i), &c);
        anvil_table_disconnect(key(i));
    }
    anvil_table_connect("192.0.2.1", &c);
    CHECK(c.count == 2 && c.rate == 2, "connected client lost: count %d rate %d", c.count,
          c.rate);
}

/* With the table full, idle entries go before busy ones even when the busy ones are
 * older... by abuse window: an entry whose rate window is over but whose abuse window
 * is not is kept while an idle one exists. */
static void idle_first(void)
{
    anvil_table_init(60, 600);
    anvil_table_set_time(3000000);
    CHECK(anvil_table_abuse("198.51.100.7") == 1, "abuse");
    anvil_table_set_time(3000000 - 600 + 1);    /* clock went back: these are older */
    for (int i = 1; i < TABLE_CAPACITY; i++)
        anvil_table_message(key(i));
    anvil_table_set_time(3000000 + 100);        /* rate windows over; abuse windows of
                                                 * the filler keys over too (started
                                                 * 599 s earlier) */
    for (int i = TABLE_CAPACITY; i < TABLE_CAPACITY + 1000; i++)
        anvil_table_message(key(i));
    CHECK(anvil_table_abuse("198.51.100.7") == 2, "abusing client evicted before idle ones");
    /* users are counted apart from addresses */
    CHECK(anvil_table_user_message("198.51.100.7") == 1, "user key met address key");
    CHECK(anvil_table_user_message("198.51.100.7") == 2, "user count");
}

int main(void)
{
    struct timespec t0, t1;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    many_keys();
    connected_survives();
    idle_first();
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("check_anvil_table: %d failure(s); %.3f s for %d keys x 3 runs\n", failures,
           (double) (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9, NKEYS);
    return failures ? 1 : 0;
}
