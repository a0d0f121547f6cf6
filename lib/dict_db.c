/* dict_db.c: hash: and btree: tables in Berkeley DB 5.3 files (PATH.db), for reading
 * (dict_db_open) and for building (dict_db_writer_*). See dict.h for the conventions:
 * keys and values are stored with a trailing NUL (readers also accept keys without),
 * a table is rebuilt by writing PATH.db.<pid>.tmp and renaming it over PATH.db, and a
 * reader stat()s the path at most once per second and reopens when the inode changed, so
 * it never sees half a table and needs no locks. BDB's own messages go to msg_warn. */
#include <db.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dict_impl.h"
#include "log.h"
#include "mem.h"

typedef struct dict_db {
    struct dict dict;
    DB *db;
    DBTYPE type;
    char *path;                  /* PATH.db */
    dev_t dev;                   /* identity of the open file */
    ino_t ino;
    time_t checked;              /* last stat() of path */
} dict_db;

static void dict_db_errcall(const DB_ENV *env, const char *prefix, const char *msg)
{
    (void)env;
    msg_warn("%s: Berkeley DB: %s", prefix ? prefix : "table", msg);
}

static int dict_db_type(const char *type, DBTYPE *out)
{
    if (strcmp(type, "hash") == 0)
        *out = DB_HASH;
    else if (strcmp(type, "btree") == 0)
        *out = DB_BTREE;
    else
        return -1;
    return 0;
}

/* Open path read-only and check its type. Returns the handle and fills dev/ino. */
static DB *dict_db_open_file(const char *path, DBTYPE want, dev_t *dev, ino_t *ino, char **err)
{
    DB *db;
    int rc = db_create(&db, NULL, 0);
    if (rc != 0) {
        *err = xasprintf("db_create: %s", db_strerror(rc));
        return NULL;
    }
    db->set_errcall(db, dict_db_errcall);
    db->set_errpfx(db, path);
    rc = db->open(db, NULL, path, NULL, DB_UNKNOWN, DB_RDONLY, 0);
    if (rc != 0) {
        *err = xasprintf("open database %s: %s", path, rc > 0 ? strerror(rc) : db_strerror(rc));
        db->close(db, 0);
        return NULL;
    }
    DBTYPE got;
    int fd;
    struct stat st;
    if (db->get_type(db, &got) != 0 || got != want) {
        *err = xasprintf("open database %s: not a %s file", path, want == DB_HASH ? "hash" : "btree");
        db->close(db, 0);
        return NULL;
    }
    if (db->fd(db, &fd) != 0 || fstat(fd, &st) < 0) {
        *err = xasprintf("open database %s: cannot stat", path);
        db->close(db, 0);
        return NULL;
    }
    *dev = st.st_dev;
    *ino = st.st_ino;
    return db;
}

/* Reopen when PATH.db has been replaced (checked at most once per second). A failed
 * reopen keeps the old handle, which still reads the old (complete) file. */
static void dict_db_refresh(dict_db *d)
{
    time_t now = time(NULL);
    struct stat st;
    if (now == d->checked)
        return;
    d->checked = now;
    if (stat(d->path, &st) < 0 || (st.st_dev == d->dev && st.st_ino == d->ino))
        return;
    char *err = NULL;
    dev_t dev;
    ino_t ino;
    DB *db = dict_db_open_file(d->path, d->type, &dev, &ino, &err);
    if (!db) {
        msg_warn("%s: cannot reopen rebuilt table: %s", d->dict.spec, err);
        free(err);
        return;
    }
    d->db->close(d->db, 0);
    d->db = db;
    d->dev = dev;
    d->ino = ino;
}

static int dict_db_lookup(dict *dd, const char *key, str *value)
{
    dict_db *d = (dict_db *)dd;
    DBT k, v;
    int rc = DB_NOTFOUND;
    dict_db_refresh(d);
    for (int with_nul = 1; with_nul >= 0 && rc == DB_NOTFOUND; with_nul--) {
        memset(&k, 0, sizeof(k));
        memset(&v, 0, sizeof(v));
        k.data = (void *)key;
        k.size = (u_int32_t)(strlen(key) + (size_t)with_nul);
        rc = d->db->get(d->db, NULL, &k, &v, 0);
    }
    if (rc == DB_NOTFOUND)
        return 0;
    if (rc != 0) {
        msg_warn("%s: lookup error: %s", dd->spec, db_strerror(rc));
        return -1;
    }
    size_t len = v.size;
    if (len && ((char *)v.data)[len - 1] == 0)
        len--;
    str_setn(value, v.data, len);
    return 1;
}

static int dict_db_foreach(dict *dd, int (*fn)(const char *key, const char *value, void *ctx),
                           void *ctx)
{
    dict_db *d = (dict_db *)dd;
    DBC *c;
    DBT k, v;
    str ks, vs;
    int rc;
    dict_db_refresh(d);
    if (d->db->cursor(d->db, NULL, &c, 0) != 0)
        return -1;
    str_init(&ks);
    str_init(&vs);
    memset(&k, 0, sizeof(k));
    memset(&v, 0, sizeof(v));
    while ((rc = c->get(c, &k, &v, DB_NEXT)) == 0) {
        size_t kl = k.size, vl = v.size;
        if (kl && ((char *)k.data)[kl - 1] == 0)
            kl--;
        if (vl && ((char *)v.data)[vl - 1] == 0)
            vl--;
        str_setn(&ks, k.data, kl);
        str_setn(&vs, v.data, vl);
        if (fn(ks.data, vs.data, ctx))
            break;
    }
    c->close(c);
    str_free(&ks);
    str_free(&vs);
    return rc == 0 || rc == DB_NOTFOUND ? 0 : -1;
}

static void dict_db_close(dict *dd)
{
    dict_db *d = (dict_db *)dd;
    d->db->close(d->db, 0);
    free(d->path);
    free(d);
}

dict *dict_db_open(const char *type, const char *name, char **err)
{
    DBTYPE t;
    if (dict_db_type(type, &t) < 0 || !*name) {
        *err = xasprintf("bad table type or name \"%s:%s\"", type, name);
        return NULL;
    }
    dict_db *d = xcalloc(1, sizeof(*d));
    d->type = t;
    d->path = xasprintf("%s.db", name);
    d->db = dict_db_open_file(d->path, t, &d->dev, &d->ino, err);
    if (!d->db) {
        free(d->path);
        free(d);
        return NULL;
    }
    d->checked = time(NULL);
    d->dict.lookup = dict_db_lookup;
    d->dict.foreach = dict_db_foreach;
    d->dict.close = dict_db_close;
    return &d->dict;
}

/* --- building ------------------------------------------------------------------------ */

struct dict_db_writer {
    DB *db;
    char *path;                  /* PATH.db */
    char *tmp;                   /* PATH.db.<pid>.tmp */
};

dict_db_writer *dict_db_writer_create(const char *type, const char *path, char **err)
{
    DBTYPE t;
    if (dict_db_type(type, &t) < 0) {
        *err = xasprintf("cannot build a table of type \"%s\"", type);
        return NULL;
    }
    dict_db_writer *w = xcalloc(1, sizeof(*w));
    w->path = xasprintf("%s.db", path);
    w->tmp = xasprintf("%s.db.%ld.tmp", path, (long)getpid());
    (void)unlink(w->tmp);            /* a stale file of an earlier run with our pid */
    int rc = db_create(&w->db, NULL, 0);
    if (rc == 0) {
        w->db->set_errcall(w->db, dict_db_errcall);
        w->db->set_errpfx(w->db, w->tmp);
        rc = w->db->open(w->db, NULL, w->tmp, NULL, t, DB_CREATE | DB_EXCL, 0644);
    }
    if (rc != 0) {
        *err = xasprintf("create database %s: %s", w->tmp, rc > 0 ? strerror(rc) : db_strerror(rc));
        if (w->db)
            w->db->close(w->db, 0);
        (void)unlink(w->tmp);
        free(w->tmp);
        free(w->path);
        free(w);
        return NULL;
    }
    return w;
}

int dict_db_writer_put(dict_db_writer *w, const char *key, const char *value, char **err)
{
    DBT k, v;
    memset(&k, 0, sizeof(k));
    memset(&v, 0, sizeof(v));
    k.data = (void *)key;
    k.size = (u_int32_t)(strlen(key) + 1);
    v.data = (void *)value;
    v.size = (u_int32_t)(strlen(value) + 1);
    int rc = w->db->put(w->db, NULL, &k, &v, DB_NOOVERWRITE);
    if (rc == DB_KEYEXIST) {
        rc = w->db->put(w->db, NULL, &k, &v, 0);
        if (rc == 0)
            return 1;
    }
    if (rc != 0) {
        *err = xasprintf("write %s: %s", w->tmp, rc > 0 ? strerror(rc) : db_strerror(rc));
        return -1;
    }
    return 0;
}

static void dict_db_writer_free(dict_db_writer *w)
{
    free(w->tmp);
    free(w->path);
    free(w);
}

void dict_db_writer_abort(dict_db_writer *w)
{
    w->db->close(w->db, DB_NOSYNC);
    (void)unlink(w->tmp);
    dict_db_writer_free(w);
}

/* fsync the directory holding path so the rename itself is durable. */
static void fsync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? (slash == path ? xstrdup("/") : xstrndup(path, (size_t)(slash - path)))
                      : xstrdup(".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

int dict_db_writer_commit(dict_db_writer *w, char **err)
{
    int rc = w->db->close(w->db, 0);
    w->db = NULL;
    if (rc != 0) {
        *err = xasprintf("close %s: %s", w->tmp, rc > 0 ? strerror(rc) : db_strerror(rc));
        goto fail;
    }
    int fd = open(w->tmp, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0) {
        *err = xasprintf("fsync %s: %s", w->tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        goto fail;
    }
    close(fd);
    if (rename(w->tmp, w->path) < 0) {
        *err = xasprintf("rename %s to %s: %s", w->tmp, w->path, strerror(errno));
        goto fail;
    }
    fsync_parent_dir(w->path);
    dict_db_writer_free(w);
    return 0;
fail:
    (void)unlink(w->tmp);
    dict_db_writer_free(w);
    return -1;
}
