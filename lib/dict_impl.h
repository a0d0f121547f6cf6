/* dict_impl.h: private interface between the generic table layer (dict.c) and the table
 * types (dict_db.c: hash/btree via Berkeley DB; dict_static.c: static, inline, unix).
 * Only those files include this. Every table type embeds struct dict as its first member
 * and fills in the function pointers; dict.c lowercases keys before calling lookup. */
#ifndef POSTERN_DICT_IMPL_H
#define POSTERN_DICT_IMPL_H
#include "dict.h"

struct dict {
    char *spec;                                            /* "type:name", malloc'd */
    int (*lookup)(dict *d, const char *key, str *value);   /* 1 / 0 / -1 as dict_lookup */
    int (*foreach)(dict *d, int (*fn)(const char *key, const char *value, void *ctx),
                   void *ctx);                             /* NULL: not iterable */
    void (*close)(dict *d);                                /* frees everything but spec */
};

/* Openers: `name` is the part after "type:". NULL with *err (malloc'd) on error. */
dict *dict_db_open(const char *type, const char *name, char **err);
dict *dict_static_open(const char *name, char **err);
dict *dict_inline_open(const char *name, char **err);
dict *dict_unix_open(const char *name, char **err);

/* Writing a new Berkeley DB table next to PATH.db, renamed into place on commit. */
typedef struct dict_db_writer dict_db_writer;
dict_db_writer *dict_db_writer_create(const char *type, const char *path, char **err);
/* 0 new key, 1 replaced an existing key, -1 error (*err). */
int dict_db_writer_put(dict_db_writer *w, const char *key, const char *value, char **err);
/* Close, fsync and rename over PATH.db (frees w). 0 or -1 (*err). */
int dict_db_writer_commit(dict_db_writer *w, char **err);
/* Remove the temporary file (frees w). */
void dict_db_writer_abort(dict_db_writer *w);

#endif
