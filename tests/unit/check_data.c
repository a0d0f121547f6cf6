/* check_data.c: unit tests (Debian `check`) for the lib-data codecs and tables:
 * attr, record, queue, qfile, addr, dict (hash/btree/static/inline/unix and the source
 * parser), netmatch and resolve. Every codec is fed malformed input as well as good
 * input. Files are created in a fresh temporary directory per test. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "addr.h"
#include "attr.h"
#include "bio.h"
#include "config.h"
#include "dict.h"
#include "mem.h"
#include "netmatch.h"
#include "qfile.h"
#include "queue.h"
#include "record.h"
#include "resolve.h"
#include "str.h"

static char tmpdir[256];

static void setup_tmp(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/check_data.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown_tmp(void)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", tmpdir);
}

static void write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
}

/* A bio reading `data` from a temporary file. */
static bio *bio_from_data(const void *data, size_t len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/bio.%d", tmpdir, rand());
    write_file(path, data, len);
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    return bio_open(fd, 5000);
}

/* ================================ attr ================================= */

START_TEST(attr_roundtrip_all_bytes)
{
    char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (char)i;
    attr_list l, back;
    attr_init(&l);
    attr_init(&back);
    attr_addn(&l, "all", all, sizeof(all));
    attr_add(&l, "empty", "");
    attr_add_long(&l, "num", -42);
    attr_addf(&l, "fmt", "%s-%d", "x", 7);
    str enc;
    str_init(&enc);
    attr_encode(&l, &enc);
    const char *err = NULL;
    long n = attr_decode(enc.data, enc.len, &back, &err);
    ck_assert_int_eq(n, (long)enc.len);
    ck_assert_int_eq(back.count, 4);
    const struct attr *a = attr_find(&back, "all");
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(a->vlen, 256);
    ck_assert_mem_eq(a->value, all, 256);
    ck_assert_str_eq(attr_get(&back, "empty"), "");
    long v;
    ck_assert_int_eq(attr_get_long(&back, "num", &v), 0);
    ck_assert_int_eq(v, -42);
    ck_assert_int_eq(attr_get_long(&back, "fmt", &v), -1);
    ck_assert_int_eq(attr_get_long(&back, "missing", &v), -1);
    ck_assert_str_eq(attr_get(&back, "fmt"), "x-7");
    ck_assert_ptr_null(attr_get(&back, "nope"));
    /* every encoded byte is printable ASCII or newline */
    for (size_t i = 0; i < enc.len; i++)
        ck_assert(enc.data[i] == '\n' || (enc.data[i] >= 0x20 && enc.data[i] <= 0x7e));
    str_free(&enc);
    attr_free(&l);
    attr_free(&back);
}
END_TEST

START_TEST(attr_encode_exact)
{
    attr_list l;
    attr_init(&l);
    attr_add(&l, "a", "x y%\n\t\xff~!");
    attr_add(&l, "b_2", "z");
    attr_add(&l, "b_2", "replaced");
    str enc;
    str_init(&enc);
    attr_encode(&l, &enc);
    ck_assert_str_eq(enc.data, "a=x y%25%0A%09%FF~!\nb_2=replaced\n\n");
    str_reset(&enc);
    attr_clear(&l);
    attr_encode(&l, &enc);
    ck_assert_str_eq(enc.data, "\n");
    str_free(&enc);
    attr_free(&l);
}
END_TEST

static const char *attr_bad[] = {
    "a\n\n",                 /* no '=' */
    "A=1\n\n",               /* uppercase name */
    "=1\n\n",                /* empty name */
    "a-b=1\n\n",             /* bad name char */
    "a=%4\n\n",              /* truncated escape */
    "a=%\n\n",
    "a=%zz\n\n",             /* bad hex */
    "a=%4a\n\n",             /* lowercase hex */
    "a=1\na=2\n\n",          /* duplicate */
    "a=\t\n\n",              /* raw tab */
    "a=\r\n\n",              /* raw CR */
    "a=\x80\n\n",            /* raw 8-bit */
    "a=\x7f\n\n",            /* raw DEL */
    "a=b\0c\n\n",            /* raw NUL (length given explicitly below) */
    "x\xff=1\n\n",
};

START_TEST(attr_decode_rejects)
{
    attr_list l;
    attr_init(&l);
    for (size_t i = 0; i < sizeof(attr_bad) / sizeof(attr_bad[0]); i++) {
        const char *err = NULL;
        size_t len = strlen(attr_bad[i]);
        if (i == 13)
            len = 8;
        ck_assert_msg(attr_decode(attr_bad[i], len, &l, &err) == -1, "case %zu accepted", i);
        ck_assert_ptr_nonnull(err);
        ck_assert_int_eq(l.count, 0);
    }
    /* name of 65 chars */
    str s;
    str_init(&s);
    for (int i = 0; i < 65; i++)
        str_putc(&s, 'n');
    str_appends(&s, "=1\n\n");
    const char *err;
    ck_assert_int_eq(attr_decode(s.data, s.len, &l, &err), -1);
    /* 64 chars is fine */
    str_reset(&s);
    for (int i = 0; i < 64; i++)
        str_putc(&s, 'n');
    str_appends(&s, "=1\n\n");
    ck_assert_int_eq(attr_decode(s.data, s.len, &l, &err), (long)s.len);
    /* too many attributes */
    str_reset(&s);
    for (int i = 0; i <= ATTR_MAX_COUNT; i++)
        str_appendf(&s, "a%d=1\n", i);
    str_putc(&s, '\n');
    ck_assert_int_eq(attr_decode(s.data, s.len, &l, &err), -1);
    ck_assert_str_eq(err, "too many attributes");
    /* value too long */
    str_reset(&s);
    str_appends(&s, "v=");
    for (int i = 0; i <= ATTR_MAX_VALUE; i++)
        str_putc(&s, 'x');
    str_appends(&s, "\n\n");
    ck_assert_int_eq(attr_decode(s.data, s.len, &l, &err), -1);
    /* incomplete input is not an error */
    ck_assert_int_eq(attr_decode("a=1\n", 4, &l, &err), 0);
    ck_assert_int_eq(attr_decode("a=1", 3, &l, &err), 0);
    ck_assert_int_eq(attr_decode("", 0, &l, &err), 0);
    /* two lists in one buffer: only the first is consumed */
    ck_assert_int_eq(attr_decode("a=1\n\nb=2\n\n", 10, &l, &err), 5);
    ck_assert_int_eq(l.count, 1);
    str_free(&s);
    attr_free(&l);
}
END_TEST

START_TEST(attr_stream_io)
{
    int sv[2];
    ck_assert_int_eq(pipe(sv), 0);
    bio *w = bio_open(sv[1], 5000);
    attr_list l, r;
    attr_init(&l);
    attr_init(&r);
    ck_assert_int_eq(attr_send_protocol(w, "cleanup"), 0);
    attr_add(&l, "queue_id", "4Xb7Q2kL9mZ");
    attr_addn(&l, "bin", "a\0b\n", 4);
    ck_assert_int_eq(attr_write(w, &l), 0);
    ck_assert_int_eq(attr_send_protocol(w, "other"), 0);
    bio_close(w);
    bio *rd = bio_open(sv[0], 5000);
    const char *err = NULL;
    ck_assert_int_eq(attr_expect_protocol(rd, "cleanup", &err), 0);
    ck_assert_int_eq(attr_read(rd, &r, &err), 0);
    ck_assert_int_eq(r.count, 2);
    ck_assert_str_eq(attr_get(&r, "queue_id"), "4Xb7Q2kL9mZ");
    ck_assert_uint_eq(attr_find(&r, "bin")->vlen, 4);
    ck_assert_mem_eq(attr_find(&r, "bin")->value, "a\0b\n", 4);
    ck_assert_int_eq(attr_expect_protocol(rd, "cleanup", &err), -1);
    ck_assert_int_eq(attr_read(rd, &r, &err), -1);     /* EOF */
    bio_close(rd);
    attr_free(&l);
    attr_free(&r);
}
END_TEST

START_TEST(attr_read_rejects)
{
    static const char *bad[] = { "a=1\nb\n\n", "a=1\na=1\n\n", "a=1", "a=%GG\n\n",
                                 "protocol=x\nextra=1\n\n" };
    attr_list l;
    attr_init(&l);
    for (size_t i = 0; i < 4; i++) {
        bio *b = bio_from_data(bad[i], strlen(bad[i]));
        const char *err = NULL;
        ck_assert_int_eq(attr_read(b, &l, &err), -1);
        ck_assert_ptr_nonnull(err);
        ck_assert_int_eq(l.count, 0);
        bio_close(b);
    }
    bio *b = bio_from_data(bad[4], strlen(bad[4]));
    const char *err = NULL;
    ck_assert_int_eq(attr_expect_protocol(b, "x", &err), -1);
    bio_close(b);
    /* an endless line is cut off at the line limit */
    size_t big = 3 * (size_t)ATTR_MAX_VALUE + 200;
    char *data = xmalloc(big);
    memset(data, 'x', big);
    memcpy(data, "v=", 2);
    b = bio_from_data(data, big);
    ck_assert_int_eq(attr_read(b, &l, &err), -1);
    ck_assert_str_eq(err, "attribute line too long");
    bio_close(b);
    free(data);
    attr_free(&l);
}
END_TEST

/* ================================ record ================================= */

START_TEST(record_roundtrip)
{
    static const size_t lens[] = { 0, 1, 127, 128, 300, 16383, 16384, 70000, (1 << 21) + 5 };
    str enc, data;
    str_init(&enc);
    str_init(&data);
    char *buf = xmalloc((1 << 21) + 5);
    for (size_t i = 0; i < (1 << 21) + 5; i++)
        buf[i] = (char)(i * 7);
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
        rec_encode(&enc, REC_NORM, buf, lens[i]);
    /* memory decode */
    size_t pos = 0;
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        int type;
        const char *d, *err;
        size_t dl;
        long n = rec_decode(enc.data + pos, enc.len - pos, &type, &d, &dl, &err);
        ck_assert_int_gt(n, 0);
        ck_assert_int_eq(type, REC_NORM);
        ck_assert_uint_eq(dl, lens[i]);
        ck_assert(dl == 0 || memcmp(d, buf, dl) == 0);
        /* every shorter prefix is "incomplete" */
        ck_assert_int_eq(rec_decode(enc.data + pos, (size_t)n - 1, &type, &d, &dl, &err), 0);
        pos += (size_t)n;
    }
    ck_assert_uint_eq(pos, enc.len);
    /* stream decode */
    bio *b = bio_from_data(enc.data, enc.len);
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        int type;
        const char *err;
        ck_assert_int_eq(rec_get(b, &type, &data, REC_MAX_LEN, &err), 0);
        ck_assert_uint_eq(data.len, lens[i]);
        ck_assert(data.len == 0 || memcmp(data.data, buf, data.len) == 0);
    }
    int type;
    const char *err;
    ck_assert_int_eq(rec_get(b, &type, &data, REC_MAX_LEN, &err), -1);   /* clean EOF */
    bio_close(b);
    /* rec_put/rec_puts through a bio */
    char path[512];
    snprintf(path, sizeof(path), "%s/recs", tmpdir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    b = bio_open(fd, 0);
    ck_assert_int_eq(rec_puts(b, REC_FROM, "a@b"), 0);
    ck_assert_int_eq(rec_put(b, REC_END, NULL, 0), 0);
    ck_assert_int_eq(bio_flush(b), 0);
    bio_free(b);
    lseek(fd, 0, SEEK_SET);
    b = bio_open(fd, 0);
    ck_assert_int_eq(rec_get(b, &type, &data, 100, &err), 0);
    ck_assert_int_eq(type, 'F');
    ck_assert_str_eq(data.data, "a@b");
    ck_assert_int_eq(rec_get(b, &type, &data, 100, &err), 0);
    ck_assert_int_eq(type, 'E');
    bio_close(b);
    free(buf);
    str_free(&enc);
    str_free(&data);
}
END_TEST

START_TEST(record_rejects)
{
    int type;
    const char *d, *err;
    size_t dl;
    /* bad type */
    ck_assert_int_eq(rec_decode("Z\x00", 2, &type, &d, &dl, &err), -1);
    ck_assert_int_eq(rec_decode("\x00\x00", 2, &type, &d, &dl, &err), -1);
    /* five-byte varint */
    ck_assert_int_eq(rec_decode("N\x80\x80\x80\x80\x01", 6, &type, &d, &dl, &err), -1);
    /* non-minimal */
    ck_assert_int_eq(rec_decode("N\x80\x00", 3, &type, &d, &dl, &err), -1);
    /* over REC_MAX_LEN: 2^24 + 1 */
    ck_assert_int_eq(rec_decode("N\x81\x80\x80\x08", 5, &type, &d, &dl, &err), -1);
    /* exactly REC_MAX_LEN is a valid header (data incomplete) */
    ck_assert_int_eq(rec_decode("N\x80\x80\x80\x08", 5, &type, &d, &dl, &err), 0);
    ck_assert_int_eq(rec_type_valid('R'), 1);
    ck_assert_int_eq(rec_type_valid('r'), 0);

    static const struct { const char *data; size_t len; int rc; } cases[] = {
        { "Q\x01x", 3, -2 },                 /* unknown type */
        { "N\x05xy", 4, -2 },                /* truncated data */
        { "N", 1, -2 },                      /* truncated length */
        { "N\x80", 2, -2 },                  /* truncated length */
        { "N\x80\x80\x80\x80\x01", 6, -2 },  /* over-long varint */
        { "N\x80\x00", 3, -2 },              /* non-minimal */
        { "N\x0bhello world", 13, -2 },      /* longer than maxlen 10 */
        { "N\x81\x80\x80\x08", 5, -2 },      /* > REC_MAX_LEN, no data allocated */
        { "", 0, -1 },                       /* EOF */
    };
    str data;
    str_init(&data);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bio *b = bio_from_data(cases[i].data, cases[i].len);
        ck_assert_msg(rec_get(b, &type, &data, 10, &err) == cases[i].rc, "case %zu", i);
        bio_close(b);
    }
    /* a huge declared length on a short file fails without a huge allocation */
    bio *b = bio_from_data("N\xff\xff\xff\x07xyz", 8);
    ck_assert_int_eq(rec_get(b, &type, &data, REC_MAX_LEN, &err), -2);
    ck_assert_str_eq(err, "truncated record");
    ck_assert_uint_lt(data.cap, 100000);
    bio_close(b);
    str_free(&data);
}
END_TEST

/* ================================ queue ================================= */

START_TEST(queue_ids)
{
    char a[QUEUE_ID_MAX], b[QUEUE_ID_MAX], c[QUEUE_ID_MAX];
    queue_id_make(a, 1700000000, 5, 12345);
    queue_id_make(b, 1700000000, 6, 1);
    queue_id_make(c, 1700000001, 0, 99999999999ULL);
    ck_assert(strcmp(a, b) < 0 && strcmp(b, c) < 0);
    ck_assert(queue_id_valid(a) && queue_id_valid(b) && queue_id_valid(c));
    ck_assert_int_eq(queue_id_time(a), 1700000000);
    ck_assert_int_eq(queue_id_time(c), 1700000001);
    char m[QUEUE_ID_MAX];
    queue_id_make(m, 0x7fffffffL, 999999, ~0ULL);
    ck_assert(queue_id_valid(m));
    ck_assert_uint_le(strlen(m), 21);
    ck_assert(!queue_id_valid(""));
    ck_assert(!queue_id_valid("short"));
    ck_assert(!queue_id_valid("../../etc/passwd"));
    ck_assert(!queue_id_valid("1234567890a/"));
    ck_assert(!queue_id_valid("123456zzzz1"));        /* usec part >= 1000000 */
    ck_assert(!queue_id_valid("12345600000123456789012"));
    ck_assert(!queue_id_valid("1234560000012"));       /* leading zero in the inode */
    ck_assert(!queue_id_valid(".tmp.1.2"));
    ck_assert_int_eq(queue_id_time("bad"), -1);
    char path[64];
    ck_assert_ptr_nonnull(queue_path(path, sizeof(path), "/q", "active", a));
    ck_assert_ptr_null(queue_path(path, 10, "/q", "active", a));
}
END_TEST

START_TEST(queue_create_commit)
{
    char qdir[512], path[600];
    snprintf(qdir, sizeof(qdir), "%s/q", tmpdir);
    ck_assert_int_eq(queue_dirs_create(qdir, (uid_t)-1, (gid_t)-1), 0);
    ck_assert_int_eq(queue_dirs_create(qdir, (uid_t)-1, (gid_t)-1), 0);   /* idempotent */
    struct stat st;
    for (int i = 0; queue_names[i]; i++) {
        snprintf(path, sizeof(path), "%s/%s", qdir, queue_names[i]);
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_int_eq(st.st_mode & 0777, strcmp(queue_names[i], "public") ? 0700 : 0711);
    }
    char id[QUEUE_ID_MAX], id2[QUEUE_ID_MAX];
    int fd = queue_create(qdir, "incoming", id);
    ck_assert_int_ge(fd, 0);
    int fd2 = queue_create(qdir, "incoming", id2);
    ck_assert_int_ge(fd2, 0);
    ck_assert_str_ne(id, id2);
    ck_assert(queue_id_valid(id));
    ck_assert_int_eq(fstat(fd, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    ck_assert(!queue_file_ready(&st));
    ck_assert_int_eq(write(fd, "x", 1), 1);
    ck_assert_int_eq(queue_commit(fd), 0);
    ck_assert_int_eq(stat(queue_path(path, sizeof(path), qdir, "incoming", id), &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0700);
    ck_assert(queue_file_ready(&st));
    ck_assert_int_eq(queue_move(qdir, "incoming", "active", id), 0);
    ck_assert_int_eq(stat(queue_path(path, sizeof(path), qdir, "active", id), &st), 0);
    ck_assert_int_eq(queue_move(qdir, "incoming", "active", "../x"), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(queue_remove(qdir, "active", id), 0);
    ck_assert_int_eq(queue_remove(qdir, "active", id), -1);
    close(fd);
    close(fd2);
    /* no temporary file is left behind */
    snprintf(path, sizeof(path), "ls -A '%s/incoming' | grep -c tmp > /dev/null", qdir);
    ck_assert_int_ne(system(path), 0);
    ck_assert_int_eq(queue_create("/nonexistent/dir", "incoming", id), -1);
}
END_TEST


/* A file whose writer died before committing is removed; a live writer's file and a
 * complete file are left alone. */
START_TEST(queue_abandoned)
{
    char qdir[512], path[600];
    struct stat st;
    snprintf(qdir, sizeof(qdir), "%s/qa", tmpdir);
    ck_assert_int_eq(queue_dirs_create(qdir, (uid_t)-1, (gid_t)-1), 0);
    char live[QUEUE_ID_MAX], done[QUEUE_ID_MAX], dead[QUEUE_ID_MAX];
    int fd_live = queue_create(qdir, "incoming", live);
    ck_assert_int_ge(fd_live, 0);
    int fd_done = queue_create(qdir, "incoming", done);
    ck_assert_int_ge(fd_done, 0);
    ck_assert_int_eq(queue_commit(fd_done), 0);
    close(fd_done);
    int pipefd[2];
    ck_assert_int_eq(pipe(pipefd), 0);
    pid_t pid = fork();
    if (pid == 0) {                     /* a writer that dies mid-file */
        char id[QUEUE_ID_MAX];
        int fd = queue_create(qdir, "incoming", id);
        if (fd < 0 || write(fd, "partial", 7) != 7 || write(pipefd[1], id, QUEUE_ID_MAX) != QUEUE_ID_MAX)
            _exit(1);
        _exit(0);
    }
    ck_assert_int_eq(read(pipefd[0], dead, QUEUE_ID_MAX), QUEUE_ID_MAX);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    close(pipefd[0]);
    close(pipefd[1]);
    ck_assert_int_eq(queue_remove_if_abandoned(qdir, "incoming", live, 0), 0);
    ck_assert_int_eq(queue_remove_if_abandoned(qdir, "incoming", done, 0), 0);
    ck_assert_int_eq(queue_remove_if_abandoned(qdir, "incoming", dead, 3600), 0); /* too young */
    ck_assert_int_eq(queue_remove_if_abandoned(qdir, "incoming", dead, 0), 1);
    ck_assert_int_ne(stat(queue_path(path, sizeof(path), qdir, "incoming", dead), &st), 0);
    ck_assert_int_eq(stat(queue_path(path, sizeof(path), qdir, "incoming", live), &st), 0);
    ck_assert_int_eq(stat(queue_path(path, sizeof(path), qdir, "incoming", done), &st), 0);
    ck_assert_int_eq(queue_remove_if_abandoned(qdir, "incoming", "nonexistent", 0), 0);
    close(fd_live);                     /* writer closed without committing: abandoned too */
    ck_assert_int_eq(queue_remove_if_abandoned(qdir, "incoming", live, 0), 1);
}
END_TEST

/* ================================ qfile ================================= */

/* Ways to break a queue file in write_qfile(). */
enum qbreak { QB_NONE, QB_NO_END, QB_VERSION, QB_SIZE_FMT, QB_OFFSET, QB_SIZE, QB_NRCPT,
              QB_DUP_TIME, QB_ORCPT_M, QB_AFTER_END, QB_ATTR_IN_CONTENT, QB_TRUNC, QB_BADTYPE,
              QB_NO_FROM, QB_C_NOT_SECOND, QB_L_BEFORE_X, QB_TIME_FMT, QB_NUL_RCPT, QB_COUNT };

/* Write a queue file with the record.h calls; returns its path (static). */
static const char *write_qfile(enum qbreak brk, off_t *r2_offset)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/qf.%d", tmpdir, (int)brk);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    str f;
    str_init(&f);
    rec_encode(&f, REC_VERSION, brk == QB_VERSION ? "postern-queue-2" : QFILE_VERSION, 15);
    size_t size_pos = f.len;
    char size[QFILE_SIZE_LEN + 1];
    snprintf(size, sizeof(size), QFILE_SIZE_FORMAT, 0L, 0L, 0);
    if (brk == QB_C_NOT_SECOND)
        rec_encode(&f, REC_ATTR, "x=1", 3);
    rec_encode(&f, REC_SIZE, size, QFILE_SIZE_LEN);
    rec_encode(&f, REC_TIME, brk == QB_TIME_FMT ? "1700000000" : "1700000000.123456",
               brk == QB_TIME_FMT ? 10 : 17);
    if (brk == QB_DUP_TIME)
        rec_encode(&f, REC_TIME, "1.1", 3);
    rec_encode(&f, REC_ATTR, "client_name=localhost", 21);
    rec_encode(&f, REC_ATTR, "helo_name=x y", 13);
    if (brk != QB_NO_FROM)
        rec_encode(&f, REC_FROM, "sender@example.com", 18);
    rec_encode(&f, REC_ORCPT, "orig@example.com", 16);
    rec_encode(&f, REC_RCPT, "one@example.com", 15);
    off_t r2 = (off_t)f.len;
    rec_encode(&f, REC_RCPT, brk == QB_NUL_RCPT ? "two@ex\0mple.com" : "two@example.com", 15);
    if (brk == QB_ORCPT_M)
        rec_encode(&f, REC_ORCPT, "dangling", 8);
    long offset = (long)f.len;
    rec_encode(&f, REC_MESG, "", 0);
    rec_encode(&f, REC_NORM, "Subject: hi", 11);
    rec_encode(&f, REC_NORM, "", 0);
    rec_encode(&f, REC_CONT, "long ", 5);
    rec_encode(&f, REC_CONT, "line ", 5);
    rec_encode(&f, REC_NORM, "end", 3);
    if (brk == QB_ATTR_IN_CONTENT)
        rec_encode(&f, REC_ATTR, "a=b", 3);
    if (brk == QB_L_BEFORE_X)
        rec_encode(&f, REC_CONT, "x", 1);
    long msize = 12 + 1 + 13 + 1 + (brk == QB_L_BEFORE_X ? 1 : 0);
    rec_encode(&f, REC_XTRA, "", 0);
    rec_encode(&f, REC_RCPT, "three@example.com", 17);
    if (brk != QB_NO_END)
        rec_encode(&f, REC_END, "", 0);
    if (brk == QB_AFTER_END)
        rec_encode(&f, REC_RCPT, "late@example.com", 16);
    /* fill in the size record in place, as cleanup does */
    snprintf(size, sizeof(size), QFILE_SIZE_FORMAT, offset + (brk == QB_OFFSET ? 1 : 0),
             msize + (brk == QB_SIZE ? 1 : 0), 3 + (brk == QB_NRCPT ? 1 : 0));
    if (brk == QB_SIZE_FMT)
        size[3] = 'x';
    size_t c_at = size_pos + (brk == QB_C_NOT_SECOND ? 5 : 0) + 2;
    memcpy(f.data + c_at, size, QFILE_SIZE_LEN);
    if (brk == QB_BADTYPE)
        f.data[r2] = 'r';
    size_t len = f.len - (brk == QB_TRUNC ? 3 : 0);
    ck_assert_int_eq(write(fd, f.data, len), (ssize_t)len);
    close(fd);
    str_free(&f);
    if (r2_offset)
        *r2_offset = r2;
    return path;
}

START_TEST(qfile_roundtrip)
{
    off_t r2;
    const char *path = write_qfile(QB_NONE, &r2);
    int fd = open(path, O_RDWR);
    struct qfile_env env;
    char errbuf[256];
    ck_assert_msg(qfile_read_env(fd, &env, errbuf) == 0, "%s", errbuf);
    ck_assert_str_eq(env.version, QFILE_VERSION);
    ck_assert_int_eq(env.arrival_sec, 1700000000);
    ck_assert_int_eq(env.arrival_usec, 123456);
    ck_assert_str_eq(env.sender, "sender@example.com");
    ck_assert_int_eq(env.attr_count, 2);
    ck_assert_str_eq(qfile_env_attr(&env, "helo_name"), "x y");
    ck_assert_ptr_null(qfile_env_attr(&env, "nope"));
    ck_assert_int_eq(env.rcpt_count, 3);
    ck_assert_str_eq(env.rcpts[0].address, "one@example.com");
    ck_assert_str_eq(env.rcpts[0].orig, "orig@example.com");
    ck_assert_ptr_null(env.rcpts[1].orig);
    ck_assert_str_eq(env.rcpts[2].address, "three@example.com");
    ck_assert_int_eq(env.rcpts[1].offset, r2);
    ck_assert_int_eq(env.rcpts[1].done, 0);
    ck_assert_int_eq(env.message_size, 27);
    ck_assert_int_eq(env.complete, 1);
    ck_assert_int_gt(env.content_end, env.content_offset);

    /* content iteration */
    qfile_reader r;
    str line;
    str_init(&line);
    const char *err;
    ck_assert_int_eq(qfile_content_open(&r, fd, env.content_offset), 0);
    ck_assert_int_eq(qfile_next_line(&r, &line, 1000, &err), 1);
    ck_assert_str_eq(line.data, "Subject: hi");
    ck_assert_int_eq(qfile_next_line(&r, &line, 1000, &err), 1);
    ck_assert_str_eq(line.data, "");
    ck_assert_int_eq(qfile_next_line(&r, &line, 1000, &err), 1);
    ck_assert_str_eq(line.data, "long line end");
    ck_assert_int_eq(qfile_next_line(&r, &line, 1000, &err), 0);
    ck_assert_int_eq(qfile_next_line(&r, &line, 1000, &err), 0);
    qfile_content_close(&r);
    /* line limit */
    ck_assert_int_eq(qfile_content_open(&r, fd, env.content_offset), 0);
    ck_assert_int_eq(qfile_next_line(&r, &line, 1000, &err), 1);
    ck_assert_int_eq(qfile_next_line(&r, &line, 1000, &err), 1);
    ck_assert_int_eq(qfile_next_line(&r, &line, 5, &err), -1);
    qfile_content_close(&r);
    ck_assert_int_eq(qfile_content_open(&r, fd, r2), -1);   /* not an M record */

    /* mark done and reread */
    ck_assert_int_eq(qfile_mark_done(fd, env.rcpts[1].offset), 0);
    ck_assert_int_eq(qfile_mark_done(fd, env.rcpts[1].offset), 0);   /* idempotent */
    ck_assert_int_eq(qfile_mark_done(fd, env.rcpts[1].offset + 1), -1);
    ck_assert_int_eq(qfile_mark_done(fd, 0), -1);                     /* V record */
    ck_assert_int_eq(qfile_mark_done(fd, 1 << 20), -1);               /* past EOF */
    qfile_env_free(&env);
    ck_assert_int_eq(qfile_read_env(fd, &env, errbuf), 0);
    ck_assert_int_eq(env.rcpts[0].done, 0);
    ck_assert_int_eq(env.rcpts[1].done, 1);
    ck_assert_int_eq(env.rcpts[2].done, 0);
    qfile_env_free(&env);
    str_free(&line);
    close(fd);
}
END_TEST

START_TEST(qfile_rejects)
{
    for (int brk = QB_NO_END; brk < QB_COUNT; brk++) {
        const char *path = write_qfile((enum qbreak)brk, NULL);
        int fd = open(path, O_RDONLY);
        struct qfile_env env;
        char errbuf[256];
        int rc = qfile_read_env(fd, &env, errbuf);
        ck_assert_msg(rc == -2, "break %d: rc %d", brk, rc);
        ck_assert_msg(strncmp(errbuf, "malformed queue file", 20) == 0, "break %d: %s", brk, errbuf);
        ck_assert_ptr_null(env.rcpts);
        close(fd);
    }
    /* every truncation of a good file is rejected, never crashes */
    const char *path = write_qfile(QB_NONE, NULL);
    int fd = open(path, O_RDONLY);
    struct stat st;
    fstat(fd, &st);
    char *all = xmalloc((size_t)st.st_size);
    ck_assert_int_eq(read(fd, all, (size_t)st.st_size), st.st_size);
    close(fd);
    char p2[600];
    snprintf(p2, sizeof(p2), "%s/trunc", tmpdir);
    for (off_t len = 0; len < st.st_size; len++) {
        write_file(p2, all, (size_t)len);
        fd = open(p2, O_RDONLY);
        struct qfile_env env;
        char errbuf[256];
        ck_assert_int_eq(qfile_read_env(fd, &env, errbuf), -2);
        close(fd);
    }
    /* every single-byte corruption either still parses or is rejected cleanly */
    for (off_t i = 0; i < st.st_size; i++) {
        char saved = all[i];
        all[i] = (char)(saved ^ 0x41);
        write_file(p2, all, (size_t)st.st_size);
        all[i] = saved;
        fd = open(p2, O_RDONLY);
        struct qfile_env env;
        char errbuf[256];
        int rc = qfile_read_env(fd, &env, errbuf);
        ck_assert(rc == 0 || rc == -2);
        if (rc == 0)
            qfile_env_free(&env);
        close(fd);
    }
    free(all);
}
END_TEST

/* ================================ addr ================================= */

static const struct addr_case {
    const char *in;
    int flags;
    const char *out;         /* NULL = rejected */
    const char *params;
} addr_cases[] = {
    { "<user@example.com>", 0, "user@example.com", "" },
    { "  <user@Example.COM>", 0, "user@example.com", "" },
    { "<User.Name+tag@example.com> SIZE=100", 0, "User.Name+tag@example.com", "SIZE=100" },
    { "<a@b.c>   BODY=8BITMIME  SMTPUTF8", 0, "a@b.c", "BODY=8BITMIME  SMTPUTF8" },
    { "<>", ADDR_ALLOW_NULL, "", "" },
    { "<> SIZE=1", ADDR_ALLOW_NULL, "", "SIZE=1" },
    { "<>", 0, NULL, NULL },
    { "user@example.com", ADDR_ALLOW_NOBRACKETS, "user@example.com", "" },
    { "user@example.com SIZE=5", ADDR_ALLOW_NOBRACKETS, "user@example.com", "SIZE=5" },
    { "user@example.com", 0, NULL, NULL },
    { "<postmaster>", ADDR_ALLOW_NODOMAIN, "postmaster", "" },
    { "<postmaster>", 0, NULL, NULL },
    { "<\"john doe\"@example.com>", 0, "\"john doe\"@example.com", "" },
    { "<\"john\"@example.com>", 0, "john@example.com", "" },
    { "<\"a\\\"b\"@example.com>", 0, "\"a\\\"b\"@example.com", "" },
    { "<\"a>b\"@example.com>", 0, "\"a>b\"@example.com", "" },
    { "<\"\"@example.com>", 0, "\"\"@example.com", "" },
    { "<\"a@b\"@example.com>", 0, "\"a@b\"@example.com", "" },
    { "<@relay.example,@r2.example:user@example.com>", 0, "user@example.com", "" },
    { "<@relay.example:user@example.com>", 0, "user@example.com", "" },
    { "<@bad..example:user@example.com>", 0, NULL, NULL },
    { "<@relay.example user@example.com>", 0, NULL, NULL },
    { "<user@[192.0.2.1]>", 0, "user@[192.0.2.1]", "" },
    { "<user@[IPv6:2001:db8::1]>", 0, "user@[IPv6:2001:db8::1]", "" },
    { "<user@[IPv6:zz::1]>", 0, NULL, NULL },
    { "<user@[300.0.0.1]>", 0, NULL, NULL },
    { "<user@[1.2.3]>", 0, NULL, NULL },
    { "<user@[tag:content]>", 0, NULL, NULL },
    { "<user@[192.0.2.1>", 0, NULL, NULL },
    { "<user@example.com", 0, NULL, NULL },
    { "<user@example.com>x", 0, NULL, NULL },
    { "<user@@example.com>", 0, NULL, NULL },
    { "<user@>", 0, NULL, NULL },
    { "<@example.com>", 0, NULL, NULL },
    { "<user@-example.com>", 0, NULL, NULL },
    { "<user@example-.com>", 0, NULL, NULL },
    { "<user@exa_mple.com>", 0, NULL, NULL },
    { "<user@example..com>", 0, NULL, NULL },
    { "<user@.example.com>", 0, NULL, NULL },
    { "<user@example.com.>", 0, NULL, NULL },
    { "<.user@example.com>", 0, NULL, NULL },
    { "<user.@example.com>", 0, NULL, NULL },
    { "<us..er@example.com>", 0, NULL, NULL },
    { "<us er@example.com>", 0, NULL, NULL },
    { "<us(er@example.com>", 0, NULL, NULL },
    { "<user@exam\x01ple.com>", 0, NULL, NULL },
    { "<us\x7f" "er@example.com>", 0, NULL, NULL },
    { "<\xc3\xa9@example.com>", 0, NULL, NULL },
    { "<user@ex\xc3\xa9.com>", 0, NULL, NULL },
    { "<\"unterminated@example.com>", 0, NULL, NULL },
    { "<\"tab\there\"@example.com>", 0, NULL, NULL },
    { "<a@b>", 0, "a@b", "" },
    { "<1@2.3>", 0, "1@2.3", "" },
    { "<!#$%&'*+-/=?^_`{|}~@example.com>", 0, "!#$%&'*+-/=?^_`{|}~@example.com", "" },
    { "", 0, NULL, NULL },
    { "", ADDR_ALLOW_NOBRACKETS, NULL, NULL },
    { "<", 0, NULL, NULL },
    { ">", 0, NULL, NULL },
    { "<<a@b>>", 0, NULL, NULL },
};

START_TEST(addr_table)
{
    str out;
    str_init(&out);
    for (size_t i = 0; i < sizeof(addr_cases) / sizeof(addr_cases[0]); i++) {
        const struct addr_case *c = &addr_cases[i];
        const char *params = NULL, *err = NULL;
        int rc = addr_parse_path(c->in, strlen(c->in), c->flags, &out, &params, &err);
        if (c->out) {
            ck_assert_msg(rc == 0, "case %zu \"%s\" rejected: %s", i, c->in, err);
            ck_assert_msg(strcmp(out.data, c->out) == 0, "case %zu: got \"%s\"", i, out.data);
            ck_assert_msg(strcmp(params, c->params) == 0, "case %zu params \"%s\"", i, params);
        } else {
            ck_assert_msg(rc == -1, "case %zu \"%s\" accepted as \"%s\"", i, c->in, out.data);
            ck_assert_ptr_nonnull(err);
        }
    }
    str_free(&out);
}
END_TEST

START_TEST(addr_limits)
{
    str in, out;
    str_init(&in);
    str_init(&out);
    const char *params, *err;
    /* local part of 64 ok, 65 rejected */
    str_putc(&in, '<');
    for (int i = 0; i < 64; i++)
        str_putc(&in, 'a');
    str_appends(&in, "@example.com>");
    ck_assert_int_eq(addr_parse_path(in.data, in.len, 0, &out, &params, &err), 0);
    str_set(&in, "<");
    for (int i = 0; i < 65; i++)
        str_putc(&in, 'a');
    str_appends(&in, "@example.com>");
    ck_assert_int_eq(addr_parse_path(in.data, in.len, 0, &out, &params, &err), -1);
    /* label of 64 rejected */
    str_set(&in, "<a@");
    for (int i = 0; i < 64; i++)
        str_putc(&in, 'b');
    str_appends(&in, ".com>");
    ck_assert_int_eq(addr_parse_path(in.data, in.len, 0, &out, &params, &err), -1);
    /* path over 256 rejected */
    str_set(&in, "<a@");
    for (int i = 0; i < 60; i++)
        str_appends(&in, "abcd.");
    str_appends(&in, "com>");
    ck_assert_int_eq(addr_parse_path(in.data, in.len, 0, &out, &params, &err), -1);
    /* a NUL inside the given length is rejected; nothing past len is read */
    ck_assert_int_eq(addr_parse_path("<a\0b@c>", 7, 0, &out, &params, &err), -1);
    ck_assert_int_eq(addr_parse_path("<a@b.c>", 5, 0, &out, &params, &err), -1);
    ck_assert_int_eq(addr_domain_valid("example.com", 11), 1);
    ck_assert_int_eq(addr_domain_valid("[127.0.0.1]", 11), 1);
    ck_assert_int_eq(addr_domain_valid("", 0), 0);
    ck_assert_int_eq(addr_domain_valid("a..b", 4), 0);
    str_free(&in);
    str_free(&out);
}
END_TEST

START_TEST(addr_helpers)
{
    str s;
    str_init(&s);
    ck_assert_str_eq(addr_domain("user@example.com"), "example.com");
    ck_assert_str_eq(addr_domain("\"a@b\"@example.com"), "example.com");
    ck_assert_ptr_null(addr_domain("postmaster"));
    ck_assert_ptr_null(addr_domain("\"a@b\""));
    addr_local("user@example.com", &s);
    ck_assert_str_eq(s.data, "user");
    addr_local("\"john doe\"@example.com", &s);
    ck_assert_str_eq(s.data, "john doe");
    addr_local("\"a\\\"b\"@x", &s);
    ck_assert_str_eq(s.data, "a\"b");
    addr_local("postmaster", &s);
    ck_assert_str_eq(s.data, "postmaster");
    ck_assert_int_eq(xtext_decode("a+2Bb+3Dc", &s), 0);
    ck_assert_str_eq(s.data, "a+b=c");
    ck_assert_int_eq(xtext_decode("rfc822;user@example.com", &s), 0);
    ck_assert_int_eq(xtext_decode("a+2", &s), -1);
    ck_assert_int_eq(xtext_decode("a+2b", &s), -1);
    ck_assert_int_eq(xtext_decode("a=b", &s), -1);
    ck_assert_int_eq(xtext_decode("a b", &s), -1);
    ck_assert_int_eq(xtext_decode("\xff", &s), -1);
    str_free(&s);

    char **k, **v;
    const char *err;
    ck_assert_int_eq(addr_parse_params("size=100 BODY=8BITMIME smtputf8", &k, &v, &err), 0);
    ck_assert_int_eq(strv_len(k), 3);
    ck_assert_str_eq(k[0], "SIZE");
    ck_assert_str_eq(v[0], "100");
    ck_assert_str_eq(k[2], "SMTPUTF8");
    ck_assert_str_eq(v[2], "");
    strv_free(k);
    strv_free(v);
    ck_assert_int_eq(addr_parse_params("", &k, &v, &err), 0);
    ck_assert_ptr_null(k[0]);
    strv_free(k);
    strv_free(v);
    static const char *bad[] = { "SIZE=", "=1", "-X=1", "A_B=1", "A=b=c", "A=\x01", "A=\xff" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(addr_parse_params(bad[i], &k, &v, &err) == -1, "params %zu", i);
    str many;
    str_init(&many);
    for (int i = 0; i < 40; i++)
        str_appendf(&many, "P%d=1 ", i);
    ck_assert_int_eq(addr_parse_params(many.data, &k, &v, &err), -1);
    str_free(&many);
}
END_TEST

/* ================================ dict ================================= */

static int count_entries(const char *key, const char *value, void *ctx)
{
    (void)key;
    (void)value;
    (*(int *)ctx)++;
    return 0;
}

START_TEST(dict_build_lookup)
{
    char src[512], spec[600];
    snprintf(src, sizeof(src), "%s/virtual", tmpdir);
    const char *text = "# comment\n"
                       "User@Example.com   mailbox/one\n"
                       "\n"
                       "  # indented comment\n"
                       "two@example.com\tmailbox/two\n"
                       "multi@example.com first\n"
                       "   second part\n"
                       "crlf@example.com yes\r\n";
    write_file(src, text, strlen(text));
    char *err = NULL;
    for (int t = 0; t < 2; t++) {
        snprintf(spec, sizeof(spec), "%s:%s", t ? "btree" : "hash", src);
        ck_assert_msg(dict_build(spec, NULL, DICT_SRC_MAP, &err) == 0, "%s", err);
        dict *d = dict_open(spec, &err);
        ck_assert_msg(d != NULL, "%s", err);
        ck_assert_str_eq(dict_spec(d), spec);
        str v;
        str_init(&v);
        ck_assert_int_eq(dict_lookup(d, "user@example.com", &v), 1);
        ck_assert_str_eq(v.data, "mailbox/one");
        ck_assert_int_eq(dict_lookup(d, "USER@EXAMPLE.COM", &v), 1);
        ck_assert_int_eq(dict_lookup(d, "two@example.com", &v), 1);
        ck_assert_str_eq(v.data, "mailbox/two");
        ck_assert_int_eq(dict_lookup(d, "multi@example.com", &v), 1);
        ck_assert_str_eq(v.data, "first second part");
        ck_assert_int_eq(dict_lookup(d, "crlf@example.com", &v), 1);
        ck_assert_str_eq(v.data, "yes");
        ck_assert_int_eq(dict_lookup(d, "nobody@example.com", &v), 0);
        ck_assert_int_eq(dict_lookup(d, "", &v), 0);
        int n = 0;
        ck_assert_int_eq(dict_foreach(d, count_entries, &n), 0);
        ck_assert_int_eq(n, 4);
        str_free(&v);
        dict_close(d);
    }
    /* a hash file is not a btree */
    snprintf(spec, sizeof(spec), "hash:%s", src);
    ck_assert_int_eq(dict_build(spec, NULL, DICT_SRC_MAP, &err), 0);
    snprintf(spec, sizeof(spec), "btree:%s", src);
    ck_assert_ptr_null(dict_open(spec, &err));
    free(err);
}
END_TEST

START_TEST(dict_rebuild_while_open)
{
    char src[512], spec[600];
    snprintf(src, sizeof(src), "%s/map", tmpdir);
    snprintf(spec, sizeof(spec), "hash:%s", src);
    write_file(src, "key old\n", 8);
    char *err = NULL;
    ck_assert_int_eq(dict_build(spec, NULL, DICT_SRC_MAP, &err), 0);
    dict *d = dict_open(spec, &err);
    ck_assert_ptr_nonnull(d);
    str v;
    str_init(&v);
    ck_assert_int_eq(dict_lookup(d, "key", &v), 1);
    ck_assert_str_eq(v.data, "old");
    write_file(src, "key new\nkey2 added\n", 19);
    ck_assert_int_eq(dict_build(spec, NULL, DICT_SRC_MAP, &err), 0);
    sleep(1);
    usleep(100000);
    ck_assert_int_eq(dict_lookup(d, "key", &v), 1);
    ck_assert_str_eq(v.data, "new");
    ck_assert_int_eq(dict_lookup(d, "key2", &v), 1);
    /* a failed build leaves the old table in place and no temporary file */
    write_file(src, "good value\nbadline\n", 19);
    ck_assert_int_eq(dict_build(spec, NULL, DICT_SRC_MAP, &err), -1);
    ck_assert_ptr_nonnull(strstr(err, "map:2: expected format"));
    free(err);
    sleep(1);
    usleep(100000);
    ck_assert_int_eq(dict_lookup(d, "key", &v), 1);
    ck_assert_str_eq(v.data, "new");
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "ls '%s' | grep -q tmp", tmpdir);
    ck_assert_int_ne(system(cmd), 0);
    /* the cached handle is the same object */
    ck_assert_ptr_eq(dict_get(spec), dict_get(spec));
    str_free(&v);
    dict_close(d);
}
END_TEST

struct src_case { const char *text; enum dict_src_format fmt; const char *err; };

static int src_noop(const char *k, const char *v, int line, void *ctx)
{
    (void)k; (void)v; (void)line;
    (*(int *)ctx)++;
    return 0;
}

START_TEST(dict_source_errors)
{
    static const struct src_case cases[] = {
        { "a b\nlonely\n", DICT_SRC_MAP, "src:2: expected format: key whitespace value" },
        { "  leading\n", DICT_SRC_MAP, "src:1: continuation line without a preceding entry" },
        { "# c\n\n# c\nx y\n\nnovalue  \n", DICT_SRC_MAP, "src:6: expected format" },
        { "a b\n\nc\n  d\ne\n", DICT_SRC_MAP, "src:5: expected format" },
        { "a b\nc d\0e\n", DICT_SRC_MAP, "src:2: NUL byte" },
        { "root: admin\nnocolon\n", DICT_SRC_ALIASES, "src:2: expected format: name: value" },
        { "root:\n", DICT_SRC_ALIASES, "src:1: expected format" },
        { ": x\n", DICT_SRC_ALIASES, "src:1: expected format" },
        { "a b: x\n", DICT_SRC_ALIASES, "src:1: whitespace in alias name" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *err = NULL;
        int n = 0;
        size_t len = strlen(cases[i].text);
        if (i == 4)
            len = 10;
        ck_assert_int_eq(dict_parse_source("src", cases[i].text, len, cases[i].fmt, src_noop, &n, &err), -1);
        ck_assert_msg(err && strncmp(err, cases[i].err, strlen(cases[i].err)) == 0,
                      "case %zu: %s", i, err ? err : "(null)");
        free(err);
    }
    /* a line that is too long */
    size_t big = 70000;
    char *text = xmalloc(big);
    memset(text, 'k', big);
    text[big - 1] = '\n';
    char *err = NULL;
    int n = 0;
    ck_assert_int_eq(dict_parse_source("src", text, big, DICT_SRC_MAP, src_noop, &n, &err), -1);
    ck_assert_str_eq(err, "src:1: line too long");
    free(err);
    free(text);
    /* aliases with continuation lines; the last duplicate wins */
    char src[512], spec[600];
    snprintf(src, sizeof(src), "%s/aliases", tmpdir);
    const char *al = "postmaster: root\nRoot: admin,\n\tother@example.com\nroot: final\n";
    write_file(src, al, strlen(al));
    snprintf(spec, sizeof(spec), "hash:%s", src);
    ck_assert_int_eq(dict_build(spec, NULL, DICT_SRC_ALIASES, &err), 0);
    dict *d = dict_open(spec, &err);
    str v;
    str_init(&v);
    ck_assert_int_eq(dict_lookup(d, "postmaster", &v), 1);
    ck_assert_str_eq(v.data, "root");
    ck_assert_int_eq(dict_lookup(d, "root", &v), 1);
    ck_assert_str_eq(v.data, "final");
    dict_close(d);
    /* errors from dict_build name the source file and line */
    write_file(src, "a: b\nbad\n", 9);
    ck_assert_int_eq(dict_build(spec, NULL, DICT_SRC_ALIASES, &err), -1);
    ck_assert_ptr_nonnull(strstr(err, "/aliases:2: "));
    free(err);
    ck_assert_int_eq(dict_build("static:x", NULL, DICT_SRC_MAP, &err), -1);
    free(err);
    ck_assert_int_eq(dict_build("hash:/nonexistent/x", NULL, DICT_SRC_MAP, &err), -1);
    free(err);
    str_free(&v);
}
END_TEST

START_TEST(dict_other_types)
{
    char *err = NULL;
    str v;
    str_init(&v);
    dict *d = dict_open("static:relay", &err);
    ck_assert_int_eq(dict_lookup(d, "anything", &v), 1);
    ck_assert_str_eq(v.data, "relay");
    ck_assert_int_eq(dict_foreach(d, count_entries, NULL), -1);
    dict_close(d);
    d = dict_open("static:{ two words }", &err);
    ck_assert_int_eq(dict_lookup(d, "x", &v), 1);
    ck_assert_str_eq(v.data, "two words");
    dict_close(d);
    d = dict_open("inline:{ Alice=a1, bob=b1,{ carol = with, comma } }", &err);
    ck_assert_msg(d != NULL, "%s", err);
    ck_assert_int_eq(dict_lookup(d, "ALICE", &v), 1);
    ck_assert_str_eq(v.data, "a1");
    ck_assert_int_eq(dict_lookup(d, "bob", &v), 1);
    ck_assert_int_eq(dict_lookup(d, "carol", &v), 1);
    ck_assert_str_eq(v.data, "with, comma");
    ck_assert_int_eq(dict_lookup(d, "dave", &v), 0);
    int n = 0;
    ck_assert_int_eq(dict_foreach(d, count_entries, &n), 0);
    ck_assert_int_eq(n, 3);
    dict_close(d);
    d = dict_open("unix:passwd.byname", &err);
    ck_assert_int_eq(dict_lookup(d, "root", &v), 1);
    ck_assert_int_eq(strncmp(v.data, "root:", 5), 0);
    ck_assert_int_eq(dict_lookup(d, "no-such-user-xyz", &v), 0);
    dict_close(d);
    static const char *bad[] = { "nocolon", ":x", "foo:bar", "inline:a=b", "inline:{ a }",
                                 "inline:{ a=b", "unix:group.byname", "hash:/nonexistent/x",
                                 "static:{ x" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err = NULL;
        ck_assert_msg(dict_open(bad[i], &err) == NULL, "%s opened", bad[i]);
        ck_assert_ptr_nonnull(err);
        ck_assert_ptr_nonnull(strstr(err, bad[i]));
        free(err);
    }
    char *specs[] = { "inline:{ a=1 }", "static:fallback", NULL };
    ck_assert_int_eq(dict_lookup_list(specs, "a", &v), 1);
    ck_assert_str_eq(v.data, "1");
    ck_assert_int_eq(dict_lookup_list(specs, "b", &v), 1);
    ck_assert_str_eq(v.data, "fallback");
    char *none[] = { NULL };
    ck_assert_int_eq(dict_lookup_list(none, "b", &v), 0);
    dict_cache_clear();
    str_free(&v);
}
END_TEST

/* ================================ netmatch ================================= */

START_TEST(netmatch_lists)
{
    char *pats[] = { "127.0.0.0/8", "[::1]/128", "192.0.2.7", "[2001:db8::]/32", "10.0.0.0/8",
                     "!10.1.0.0/16", "fe80::/10", NULL };
    char *err = NULL;
    netmatch *m = netmatch_parse(pats, &err);
    ck_assert_msg(m != NULL, "%s", err);
    ck_assert_int_eq(netmatch_match(m, "127.0.0.1"), 1);
    ck_assert_int_eq(netmatch_match(m, "127.255.255.255"), 1);
    ck_assert_int_eq(netmatch_match(m, "128.0.0.1"), 0);
    ck_assert_int_eq(netmatch_match(m, "::1"), 1);
    ck_assert_int_eq(netmatch_match(m, "[::1]"), 1);
    ck_assert_int_eq(netmatch_match(m, "::2"), 0);
    ck_assert_int_eq(netmatch_match(m, "192.0.2.7"), 1);
    ck_assert_int_eq(netmatch_match(m, "192.0.2.8"), 0);
    ck_assert_int_eq(netmatch_match(m, "2001:db8:ffff::1"), 1);
    ck_assert_int_eq(netmatch_match(m, "2001:db9::1"), 0);
    ck_assert_int_eq(netmatch_match(m, "::ffff:127.0.0.1"), 1);
    ck_assert_int_eq(netmatch_match(m, "::ffff:192.0.2.7"), 1);
    ck_assert_int_eq(netmatch_match(m, "::ffff:8.8.8.8"), 0);
    ck_assert_int_eq(netmatch_match(m, "10.2.3.4"), 1);
    ck_assert_int_eq(netmatch_match(m, "fe80::1"), 1);
    ck_assert_int_eq(netmatch_match(m, "garbage"), 0);
    ck_assert_int_eq(netmatch_match(m, ""), 0);
    ck_assert_int_eq(netmatch_match(m, "127.0.0.1/8"), 0);
    ck_assert_int_eq(netmatch_match(m, "fe80::1%eth0"), 0);
    netmatch_free(m);
    char *p2[] = { "!10.1.0.0/16", "10.0.0.0/8", "::ffff:192.168.0.0/112", "0.0.0.0/0", NULL };
    m = netmatch_parse(p2, &err);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(netmatch_match(m, "10.1.2.3"), 0);
    ck_assert_int_eq(netmatch_match(m, "10.2.2.3"), 1);
    ck_assert_int_eq(netmatch_match(m, "1.2.3.4"), 1);
    ck_assert_int_eq(netmatch_match(m, "::2"), 0);
    netmatch_free(m);
    static const char *bad[] = { "127.0.0.1/8", "1.2.3.4/33", "[::1]/129", "1.2.3", "1.2.3.4/",
                                 "1.2.3.4/x", "[::1", "::ffff:1.2.3.4/64", "example.com", "",
                                 "!", "1.2.3.4/0008" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *one[] = { (char *)bad[i], NULL };
        err = NULL;
        ck_assert_msg(netmatch_parse(one, &err) == NULL, "accepted \"%s\"", bad[i]);
        ck_assert_ptr_nonnull(err);
        free(err);
    }
    char *empty[] = { NULL };
    m = netmatch_parse(empty, &err);
    ck_assert_int_eq(netmatch_match(m, "127.0.0.1"), 0);
    netmatch_free(m);
}
END_TEST

/* ================================ resolve ================================= */

static void resolve_setup(void)
{
    setup_tmp();
    char src[512], cf[4096], *err = NULL;
    snprintf(src, sizeof(src), "%s/vmailbox", tmpdir);
    const char *vm = "alice@virt.example mbox/alice\n@catch.example catchall\n";
    write_file(src, vm, strlen(vm));
    snprintf(cf, sizeof(cf), "hash:%s", src);
    ck_assert_int_eq(dict_build(cf, NULL, DICT_SRC_MAP, &err), 0);
    snprintf(src, sizeof(src), "%s/aliases", tmpdir);
    write_file(src, "postmaster: root\nlist: a, b\n", 28);
    snprintf(cf, sizeof(cf), "hash:%s", src);
    ck_assert_int_eq(dict_build(cf, NULL, DICT_SRC_ALIASES, &err), 0);
    snprintf(src, sizeof(src), "%s/relays", tmpdir);
    write_file(src, "table-relay.example OK\n", 23);
    snprintf(cf, sizeof(cf), "hash:%s", src);
    ck_assert_int_eq(dict_build(cf, NULL, DICT_SRC_MAP, &err), 0);
    snprintf(cf, sizeof(cf),
             "myhostname = mail.example.com\n"
             "mydomain = example.com\n"
             "mydestination = $myhostname, localhost.$mydomain, localhost, Example.COM.\n"
             "virtual_mailbox_domains = virt.example catch.example\n"
             "virtual_mailbox_maps = hash:%s/vmailbox\n"
             "relay_domains = relay.example, .sub.example, hash:%s/relays\n"
             "alias_maps = hash:%s/aliases\n"
             "recipient_delimiter = +\n"
             "relay_transport = relay:[gateway.example]:2525\n",
             tmpdir, tmpdir, tmpdir);
    ck_assert_msg(config_load_string(cf, "main.cf", &err) == 0, "%s", err);
    resolve_init();
}

START_TEST(resolve_classes)
{
    struct resolved r;
    resolve_addr("user@mail.example.com", &r);
    ck_assert_int_eq(r.cls, ADDR_CLASS_LOCAL);
    ck_assert_str_eq(r.transport, "local");
    ck_assert_str_eq(r.nexthop, "mail.example.com");
    resolve_addr("user@EXAMPLE.com.", &r);
    ck_assert_int_eq(r.cls, ADDR_CLASS_LOCAL);
    resolve_addr("postmaster", &r);
    ck_assert_int_eq(r.cls, ADDR_CLASS_LOCAL);
    resolve_addr("alice@Virt.Example", &r);
    ck_assert_int_eq(r.cls, ADDR_CLASS_VIRTUAL);
    ck_assert_str_eq(r.transport, "virtual");
    resolve_addr("x@relay.example", &r);
    ck_assert_int_eq(r.cls, ADDR_CLASS_RELAY);
    ck_assert_str_eq(r.transport, "relay");
    ck_assert_str_eq(r.nexthop, "[gateway.example]:2525");
    resolve_addr("x@deep.relay.example", &r);          /* relay_domains matches subdomains */
    ck_assert_int_eq(r.cls, ADDR_CLASS_RELAY);
    resolve_addr("x@a.sub.example", &r);
    ck_assert_int_eq(r.cls, ADDR_CLASS_RELAY);
    resolve_addr("x@sub.example", &r);                 /* ".sub.example" is subdomains only */
    ck_assert_int_eq(r.cls, ADDR_CLASS_DEFAULT);
    resolve_addr("x@table-relay.example", &r);
    ck_assert_int_eq(r.cls, ADDR_CLASS_RELAY);
    resolve_addr("x@elsewhere.example", &r);
    ck_assert_int_eq(r.cls, ADDR_CLASS_DEFAULT);
    ck_assert_str_eq(r.transport, "smtp");
    ck_assert_str_eq(r.nexthop, "elsewhere.example");
    resolve_addr("x@sub.mail.example.com", &r);        /* mydestination: exact only */
    ck_assert_int_eq(r.cls, ADDR_CLASS_DEFAULT);
    ck_assert_str_eq(addr_class_name(ADDR_CLASS_VIRTUAL), "virtual");
    ck_assert_int_eq(domain_in_list("mydestination", "localhost"), 1);
    ck_assert_int_eq(domain_in_list("mydestination", "LOCALHOST."), 1);
    ck_assert_int_eq(domain_in_list("mydestination", ""), 0);
}
END_TEST

START_TEST(resolve_rcpt_known)
{
    struct resolved r;
    str why;
    str_init(&why);
    /* default local_recipient_maps = unix:passwd.byname $alias_maps */
    resolve_addr("root@example.com", &r);
    ck_assert_int_eq(rcpt_known("root@example.com", &r, &why), 1);
    ck_assert_int_eq(rcpt_known("root+ext@example.com", &r, &why), 1);
    ck_assert_int_eq(rcpt_known("ROOT@example.com", &r, &why), 1);
    ck_assert_int_eq(rcpt_known("postmaster@example.com", &r, &why), 1);   /* alias */
    ck_assert_int_eq(rcpt_known("list+x@example.com", &r, &why), 1);
    ck_assert_int_eq(rcpt_known("nosuchuser@example.com", &r, &why), 0);
    ck_assert_str_eq(why.data, "User unknown in local recipient table");
    resolve_addr("alice@virt.example", &r);
    ck_assert_int_eq(rcpt_known("alice@virt.example", &r, &why), 1);
    ck_assert_int_eq(rcpt_known("alice+tag@virt.example", &r, &why), 1);
    ck_assert_int_eq(rcpt_known("bob@virt.example", &r, &why), 0);
    ck_assert_str_eq(why.data, "User unknown in virtual mailbox table");
    resolve_addr("anyone@catch.example", &r);
    ck_assert_int_eq(rcpt_known("anyone@catch.example", &r, &why), 1);
    resolve_addr("x@elsewhere.example", &r);
    ck_assert_int_eq(rcpt_known("x@elsewhere.example", &r, &why), 1);
    /* empty local_recipient_maps accepts everyone */
    config_set("local_recipient_maps", "");
    resolve_addr("nosuchuser@example.com", &r);
    ck_assert_int_eq(rcpt_known("nosuchuser@example.com", &r, &why), 1);
    str_free(&why);
}
END_TEST

static Suite *data_suite(void)
{
    Suite *s = suite_create("data");
    TCase *tc = tcase_create("codecs");
    tcase_add_checked_fixture(tc, setup_tmp, teardown_tmp);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, attr_roundtrip_all_bytes);
    tcase_add_test(tc, attr_encode_exact);
    tcase_add_test(tc, attr_decode_rejects);
    tcase_add_test(tc, attr_stream_io);
    tcase_add_test(tc, attr_read_rejects);
    tcase_add_test(tc, record_roundtrip);
    tcase_add_test(tc, record_rejects);
    tcase_add_test(tc, queue_ids);
    tcase_add_test(tc, queue_create_commit);
    tcase_add_test(tc, queue_abandoned);
    tcase_add_test(tc, qfile_roundtrip);
    tcase_add_test(tc, qfile_rejects);
    tcase_add_test(tc, addr_table);
    tcase_add_test(tc, addr_limits);
    tcase_add_test(tc, addr_helpers);
    tcase_add_test(tc, netmatch_lists);
    suite_add_tcase(s, tc);
    TCase *td = tcase_create("dict");
    tcase_add_checked_fixture(td, setup_tmp, teardown_tmp);
    tcase_set_timeout(td, 60);
    tcase_add_test(td, dict_build_lookup);
    tcase_add_test(td, dict_rebuild_while_open);
    tcase_add_test(td, dict_source_errors);
    tcase_add_test(td, dict_other_types);
    suite_add_tcase(s, td);
    TCase *tr = tcase_create("resolve");
    tcase_add_checked_fixture(tr, resolve_setup, teardown_tmp);
    tcase_set_timeout(tr, 60);
    tcase_add_test(tr, resolve_classes);
    tcase_add_test(tr, resolve_rcpt_known);
    suite_add_tcase(s, tr);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(data_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
