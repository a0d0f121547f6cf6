/* dict.h: the lookup-table interface ("type:name" as in Postfix). Types:
 *   hash:/path     Berkeley DB hash file /path.db  (built by `postern map build`)
 *   btree:/path    Berkeley DB btree file /path.db
 *   static:value   every lookup returns value
 *   inline:{ key=value, key2=value2 }   small literal table (in main.cf)
 *   unix:passwd.byname   system accounts (getpwnam); value is the passwd line
 * Keys are looked up lowercased (tables are built with lowercased keys). Berkeley DB keys
 * and values include a trailing NUL (Postfix convention); readers also accept keys without.
 *
 * A BDB table is rebuilt by writing PATH.db.<pid>.tmp and renaming it over PATH.db; readers
 * notice the new inode (checked at most once per second) and reopen, so they never see
 * half a table and need no locks. */
#ifndef POSTERN_DICT_H
#define POSTERN_DICT_H
#include <stddef.h>
#include "str.h"

typedef struct dict dict;

enum dict_src_format { DICT_SRC_MAP = 0,    /* "key whitespace value" (postmap) */
                       DICT_SRC_ALIASES = 1 /* "name: value, value" (aliases(5)) */ };

/* Open a table by spec. NULL on error with *err (malloc'd) naming the table and reason. */
dict *dict_open(const char *spec, char **err);
/* Cached open: one handle per spec per process; never NULL: fatal on error. */
dict *dict_get(const char *spec);
void dict_close(dict *d);
/* 1 found (value in `value`), 0 not found, -1 lookup error (table unreadable). */
int dict_lookup(dict *d, const char *key, str *value);
const char *dict_spec(const dict *d);
/* Iterate all entries (hash/btree/inline only); fn returns nonzero to stop.
 * Returns 0, or -1 if the type cannot be iterated. */
int dict_foreach(dict *d, int (*fn)(const char *key, const char *value, void *ctx), void *ctx);

/* Build a BDB table "hash:/path" or "btree:/path" from the text file `source` (default:
 * the path itself without .db). Syntax errors are reported as "source:LINE: ..." and abort
 * the build (the old table stays). Returns 0, or -1 with *err (malloc'd).
 * For DICT_SRC_ALIASES, continuation lines start with whitespace and values are kept as
 * written (comma-separated list). Duplicate keys: last wins with a warning. */
int dict_build(const char *spec, const char *source, enum dict_src_format fmt, char **err);

/* Look a key up in each table of a list of specs ("hash:/a, hash:/b"), first match wins.
 * Returns like dict_lookup; a lookup error in any table stops the search (-1). */
int dict_lookup_list(char **specs, const char *key, str *value);

/* Close every handle dict_get() has cached (tests, reload). */
void dict_cache_clear(void);

/* The source parser dict_build uses, on a buffer (also for `postern map` and fuzzing).
 * Blank lines and lines whose first non-blank is '#' are skipped; a line starting with
 * whitespace continues the previous entry (joined with one space). DICT_SRC_MAP entries
 * are "key whitespace value" (value may not be empty); DICT_SRC_ALIASES "name: value"
 * (name without whitespace). Keys are lowercased, values trimmed. Lines are limited to
 * 64 KiB, entries to 1 MiB, NUL bytes rejected. fn gets each entry with the line where it
 * starts and returns 0 to go on or nonzero to stop (then dict_parse_source returns -1,
 * with *err if fn did not set it). Returns 0, or -1 with *err = "name:LINE: reason"
 * (malloc'd). */
typedef int (*dict_src_fn)(const char *key, const char *value, int line, void *ctx);
int dict_parse_source(const char *name, const char *buf, size_t len, enum dict_src_format fmt,
                      dict_src_fn fn, void *ctx, char **err);

#endif
