/* attr.h: the name=value attribute codec used for every request and reply between
 * postern daemons over UNIX sockets.
 *
 * Wire format: one attribute per line "name=value\n"; a list ends with an empty line.
 * Names are [a-z0-9_]{1,64}. Values are byte-exact: every byte outside 0x21..0x7e
 * other than ' ' and every '%' is written as %XX (uppercase hex), so a value may
 * contain any bytes, including NUL and newlines. The reader rejects malformed input
 * (bad name, bad escape, no '=', too long, too many attributes, duplicate names)
 * with a message, never crashing.
 *
 * Convention: a server first sends "protocol=NAME" as a list of its own; the client
 * checks it with attr_expect_protocol(). */
#ifndef POSTERN_ATTR_H
#define POSTERN_ATTR_H
#include <stddef.h>
#include "bio.h"
#include "str.h"

#define ATTR_MAX_COUNT 1024          /* attributes per list */
#define ATTR_MAX_VALUE (1024 * 1024) /* decoded value bytes */
#define ATTR_MAX_TOTAL (8 * 1024 * 1024) /* decoded value bytes per list (reader bound) */

struct attr { char *name; char *value; size_t vlen; };
typedef struct attr_list {
    struct attr *items;
    int count, cap;
} attr_list;

void attr_init(attr_list *l);
void attr_free(attr_list *l);                  /* frees items; l may be reused after attr_init */
void attr_clear(attr_list *l);                 /* count = 0 */
/* Adding a name that is already present replaces its value. A bad name (not
 * [a-z0-9_]{1,64}) or a value over ATTR_MAX_VALUE is a programming error (panic). */
void attr_add(attr_list *l, const char *name, const char *value);  /* NUL-terminated value */
void attr_addn(attr_list *l, const char *name, const void *value, size_t vlen);
void attr_addf(attr_list *l, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void attr_add_long(attr_list *l, const char *name, long v);
/* Look-ups return NULL / default when missing. Values are NUL-terminated (vlen excludes NUL). */
const char *attr_get(const attr_list *l, const char *name);
const struct attr *attr_find(const attr_list *l, const char *name);
/* 0 and *out set if present and a valid decimal long; -1 otherwise. */
int attr_get_long(const attr_list *l, const char *name, long *out);

/* Encode to a string / decode from a buffer (both used by the bio functions and tests). */
void attr_encode(const attr_list *l, str *out);
/* Decode one complete list from buf[0..len). Returns bytes consumed (> 0), 0 if the
 * buffer holds no complete list yet, -1 on malformed input with *err set (static text). */
long attr_decode(const char *buf, size_t len, attr_list *out, const char **err);

/* Write the list and flush. 0 or -1. */
int attr_write(bio *b, const attr_list *l);
/* Read one list (clears `out` first). 0 on success; -1 on EOF/timeout/IO error or
 * malformed input, with *err pointing to a static description. */
int attr_read(bio *b, attr_list *out, const char **err);

/* Send "protocol=NAME" list (server side) / read it and check it (client side). */
int attr_send_protocol(bio *b, const char *name);
int attr_expect_protocol(bio *b, const char *name, const char **err);

#endif
