/* anvil.h: internal interface of anvil, the one-process service that counts per client
 * address what smtpd processes cannot see alone (each serves one client): simultaneous
 * connections, connection/message/recipient rates per $anvil_rate_time_unit, and abuse
 * events leading to a ban (the ban list lives in $anvil_ban_state_file, anvil_banfile.c,
 * shared with `postern ban`).
 *
 * Protocol over private/anvil (lib/attr.h lists; one reply per request):
 *   anvil -> client : protocol=anvil
 *   request=connect   ident=ADDR   -> status=0 count=N rate=N banned=0|1 [reason=TEXT]
 *   request=disconnect ident=ADDR  -> status=0        (also implied by closing the socket)
 *   request=message   ident=ADDR   -> status=0 rate=N
 *   request=recipient ident=ADDR   -> status=0 rate=N
 *   request=abuse     ident=ADDR reason=TEXT -> status=0 events=N banned=0|1
 *   request=ban_remove ident=ADDR  -> status=0 removed=0|1
 *   request=user_message   ident=USER -> status=0 rate=N
 *   request=user_recipient ident=USER -> status=0 rate=N
 * ADDR must be a numeric IPv4/IPv6 address; USER an authenticated (SASL) login name of
 * 1..ANVIL_USER_MAX bytes without control characters, counted apart from any address
 * (a user hopping addresses is still one user). A malformed request gets status=1 and
 * reason=TEXT, and the connection is closed.
 *
 *   anvil.c          main(), the event loop, connections and request dispatch
 *   anvil_table.c    the per-address counters (a bounded hash table)
 *   check_anvil_table.c  unit test of anvil_table.c (many keys, eviction)
 *   anvil_banfile.c  the ban list and its state file (also linked into cmd/postern) */
#ifndef POSTERN_ANVIL_H
#define POSTERN_ANVIL_H
#include <stddef.h>
#include "str.h"

#define ANVIL_ADDR_MAX 64              /* incl. NUL */
#define ANVIL_REASON_MAX 100           /* ban reason bytes */
#define ANVIL_USER_MAX 255             /* login name bytes in user_* requests */

/* 1 if s is an acceptable user_* ident (see the protocol above). */
int anvil_user_ok(const char *s);

/* anvil_table.c */
struct anvil_counts { int count, rate; };
/* Set the windows and start with an empty table (call once per process). */
void anvil_table_init(long rate_window, long ban_window);
/* Tests only: use this clock (epoch seconds) instead of time(NULL); 0 = the real one. */
void anvil_table_set_time(long long now);
void anvil_table_connect(const char *addr, struct anvil_counts *out);
void anvil_table_disconnect(const char *addr);
int anvil_table_message(const char *addr);     /* rate including this one */
int anvil_table_recipient(const char *addr);
int anvil_table_user_message(const char *user);  /* per login name, not per address */
int anvil_table_user_recipient(const char *user);
int anvil_table_abuse(const char *addr);       /* abuse events in the ban window */
void anvil_table_forget_abuse(const char *addr);

/* anvil_banfile.c: the ban list ("ADDR EXPIRES REASON" lines; EXPIRES in epoch seconds). */
struct anvil_ban {
    char addr[ANVIL_ADDR_MAX];
    long long expires;
    char reason[ANVIL_REASON_MAX + 1];
};
struct anvil_ban_list {
    struct anvil_ban *items;
    int count, cap;
};
#define ANVIL_BAN_MAX 10000            /* entries kept; the file is read up to 1 MB */

/* 1 if s is a numeric IPv4 or IPv6 address that fits ANVIL_ADDR_MAX. */
int anvil_addr_ok(const char *s);
/* Open (creating, mode 0600) the state file; fd or -1 with a warning. */
int anvil_banfile_open(const char *path);
/* Whole-file fcntl lock (F_RDLCK, F_WRLCK, F_UNLCK), bounded wait; 0 or -1. */
int anvil_banfile_lock(int fd, int type);
/* Read the list (replacing l's contents), dropping entries expired at `now` and bad
 * lines (counted in *bad when not NULL). 0 or -1 (I/O error, warning logged). */
int anvil_banfile_read(int fd, struct anvil_ban_list *l, long long now, int *bad);
/* The parser behind anvil_banfile_read(), on a buffer of len bytes (at most 1 MB is
 * looked at; NUL bytes make a line bad): replaces l's contents as above. */
void anvil_banfile_parse(const char *data, size_t len, struct anvil_ban_list *l,
                         long long now, int *bad);
/* Rewrite the file with l's entries and fsync. 0 or -1 (warning logged). */
int anvil_banfile_write(int fd, const struct anvil_ban_list *l);
/* Index of addr in l, or -1. */
int anvil_ban_find(const struct anvil_ban_list *l, const char *addr);
/* Add or replace (reason made printable and bounded). */
void anvil_ban_add(struct anvil_ban_list *l, const char *addr, long long expires,
                   const char *reason);
void anvil_ban_remove(struct anvil_ban_list *l, int index);
void anvil_ban_free(struct anvil_ban_list *l);

#endif
