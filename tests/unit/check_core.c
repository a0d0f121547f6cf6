/* check_core.c: unit tests (Debian `check`) for the lib-core modules: str, config,
 * mastercf, bio, log, events and ipc. Run: make tests/unit/check_core && ./tests/unit/check_core */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <poll.h>
#include <unistd.h>
#include "bio.h"
#include "config.h"
#include "events.h"
#include "ipc.h"
#include "log.h"
#include "mastercf.h"
#include "mem.h"
#include "privs.h"
#include "server.h"
#include "str.h"
#include "attr.h"
#include "queue.h"
#include "record.h"
#include "submit.h"

/* ---------------------------------------------------------------- str */

START_TEST(str_growth)
{
    str s;
    str_init(&s);
    for (int i = 0; i < 100000; i++)
        str_putc(&s, 'a' + i % 26);
    ck_assert_uint_eq(s.len, 100000);
    ck_assert_int_eq(s.data[s.len], 0);
    ck_assert_int_eq(s.data[26], 'a');
    ck_assert(s.cap > s.len);
    str_truncate(&s, 3);
    ck_assert_str_eq(s.data, "abc");
    str_truncate(&s, 10);           /* longer: no-op */
    ck_assert_uint_eq(s.len, 3);
    str_reset(&s);
    ck_assert_uint_eq(s.len, 0);
    ck_assert_str_eq(s.data, "");
    str_free(&s);
}
END_TEST

START_TEST(str_nul_bytes)
{
    str s;
    str_init(&s);
    str_append(&s, "a\0b\0c", 5);
    ck_assert_uint_eq(s.len, 5);
    ck_assert(memcmp(s.data, "a\0b\0c", 6) == 0);
    str_setn(&s, "\0\0", 2);
    ck_assert_uint_eq(s.len, 2);
    ck_assert_int_eq(s.data[2], 0);
    str_setn(&s, s.data + 1, 1);    /* self-overlap */
    ck_assert_uint_eq(s.len, 1);
    str_free(&s);
}
END_TEST

START_TEST(str_printf_and_steal)
{
    str s;
    str_init(&s);
    str_printf(&s, "%d-%s", 42, "x");
    ck_assert_str_eq(s.data, "42-x");
    str_appendf(&s, "%%%s", "100");
    ck_assert_str_eq(s.data, "42-x%100");
    char big[5000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = 0;
    str_appendf(&s, "%s", big);
    ck_assert_uint_eq(s.len, 8 + 4999);
    str_set(&s, "hello");
    str_appends(&s, " world");
    char *p = str_steal(&s);
    ck_assert_str_eq(p, "hello world");
    ck_assert_uint_eq(s.len, 0);
    ck_assert_ptr_nonnull(s.data);
    free(p);
    str_free(&s);
}
END_TEST

START_TEST(str_split_helpers)
{
    char **v = strv_split(" a, b,,c\t d ,", ", \t");
    ck_assert_uint_eq(strv_len(v), 4);
    ck_assert_str_eq(v[0], "a");
    ck_assert_str_eq(v[3], "d");
    ck_assert_ptr_null(v[4]);
    strv_free(v);
    v = strv_split("  ,, ", ", ");
    ck_assert_uint_eq(strv_len(v), 0);
    strv_free(v);
    v = strv_split("", ",");
    ck_assert_uint_eq(strv_len(v), 0);
    strv_free(v);
    v = strv_split_braced("hash:/a, inline:{ a=b, c={x y} },static:z inline:{ open", ", ");
    ck_assert_uint_eq(strv_len(v), 4);
    ck_assert_str_eq(v[0], "hash:/a");
    ck_assert_str_eq(v[1], "inline:{ a=b, c={x y} }");
    ck_assert_str_eq(v[2], "static:z");
    ck_assert_str_eq(v[3], "inline:{ open");
    strv_free(v);

    char buf[] = "  \tHeLLo World \r\n";
    char *t = trim(buf);
    ck_assert_str_eq(t, "HeLLo World");
    lowercase(t);
    ck_assert_str_eq(t, "hello world");
    ck_assert_int_eq(strcaseprefix("MAIL FROM:<a>", "mail from:"), 1);
    ck_assert_int_eq(strcaseprefix("MAIL", "mail from:"), 0);

    long n;
    ck_assert_int_eq(parse_long("123", &n), 0);
    ck_assert_int_eq(n, 123);
    ck_assert_int_eq(parse_long("-5", &n), 0);
    ck_assert_int_eq(n, -5);
    ck_assert_int_eq(parse_long("12a", &n), -1);
    ck_assert_int_eq(parse_long("", &n), -1);
    ck_assert_int_eq(parse_long(" 1", &n), -1);
    ck_assert_int_eq(parse_long("99999999999999999999999", &n), -1);
    char *d = xstrndup("abcdef", 3);
    ck_assert_str_eq(d, "abc");
    free(d);
    d = xasprintf("%s=%d", "x", 7);
    ck_assert_str_eq(d, "x=7");
    free(d);
}
END_TEST

/* ---------------------------------------------------------------- config */

static void load_ok(const char *text)
{
    char *err = NULL;
    config_reset();
    int rc = config_load_string(text, "main.cf", &err);
    ck_assert_msg(rc == 0, "load failed: %s", err ? err : "?");
}

static char *load_err(const char *text)
{
    char *err = NULL;
    config_reset();
    int rc = config_load_string(text, "main.cf", &err);
    ck_assert_int_eq(rc, -1);
    ck_assert_ptr_nonnull(err);
    return err;
}

START_TEST(config_basic_syntax)
{
    load_ok("# comment\n"
            "\n"
            "myhostname = mx.example.com\n"
            "mynetworks = 10.0.0.0/8,\n"
            "    192.168.0.0/16\n"
            "  # comment inside a continued value\n"
            "\t172.16.0.0/12\n"
            "relay_domains=a.example\n"
            "smtpd_banner = $myhostname ESMTP # not a comment\r\n"
            "relay_domains = b.example\n");
    ck_assert_str_eq(config_str("myhostname"), "mx.example.com");
    ck_assert_str_eq(config_str("mynetworks"), "10.0.0.0/8, 192.168.0.0/16 172.16.0.0/12");
    ck_assert_str_eq(config_str("relay_domains"), "b.example");     /* last wins */
    ck_assert_str_eq(config_str("smtpd_banner"), "mx.example.com ESMTP # not a comment");
    char **v = config_list("mynetworks");
    ck_assert_uint_eq(strv_len(v), 3);
    ck_assert_str_eq(v[2], "172.16.0.0/12");
    strv_free(v);
    ck_assert_int_eq(config_is_set("myhostname"), 1);
    ck_assert_int_eq(config_is_set("mail_name"), 0);
    ck_assert_str_eq(config_str("mail_name"), "postern");          /* default */
    ck_assert_str_eq(config_raw("smtpd_banner"), "$myhostname ESMTP # not a comment");
    ck_assert_str_eq(config_str("mydomain"), "example.com");       /* derived */
    ck_assert_str_eq(config_str("myorigin"), "mx.example.com");
}
END_TEST

START_TEST(config_expansion)
{
    load_ok("a = one\n"
            "b = $a-${a}-$(a)\n"
            "c = cost $$5 $b\n"
            "d = ${a?yes}${nothing?no}${nothing:empty}${a:never}\n"
            "e = x${a?{$b}}y\n"
            "f = $undefined_thing.\n"
            "g = a$ b\n");
    ck_assert_str_eq(config_str("b"), "one-one-one");
    ck_assert_str_eq(config_str("c"), "cost $5 one-one-one");
    ck_assert_str_eq(config_str("d"), "yesempty");
    ck_assert_str_eq(config_str("e"), "x{one-one-one}y");
    ck_assert_str_eq(config_str("f"), ".");
    ck_assert_str_eq(config_str("g"), "a$ b");
    /* cached: same pointer until something changes */
    const char *p1 = config_str("b"), *p2 = config_str("b");
    ck_assert_ptr_eq(p1, p2);
    config_set("a", "two");
    ck_assert_str_eq(config_str("b"), "two-two-two");
    ck_assert_str_eq(p1, "one-one-one");      /* old pointer still valid */
}
END_TEST

START_TEST(config_overrides)
{
    load_ok("max_use = 5\nmail_name = fromfile\n");
    ck_assert_int_eq(config_override("max_use=7"), 0);
    ck_assert_int_eq(config_override("mail_name = spaced "), 0);
    ck_assert_int_eq(config_override("no_equals"), -1);
    ck_assert_int_eq(config_override("bad name=1"), -1);
    ck_assert_int_eq(config_override("=1"), -1);
    ck_assert_int_eq(config_int("max_use"), 7);
    ck_assert_str_eq(config_str("mail_name"), "spaced");
    /* a reload keeps overrides on top */
    char *err = NULL;
    ck_assert_int_eq(config_load_string("max_use = 9\n", "main.cf", &err), 0);
    ck_assert_int_eq(config_int("max_use"), 7);
}
END_TEST

START_TEST(config_typed_getters)
{
    load_ok("max_use = 12\n"
            "max_idle = 5m\n"
            "ipc_timeout = 2h\n"
            "daemon_timeout = 30\n"
            "maximal_queue_lifetime = 2\n"
            "bounce_queue_lifetime = 1w\n"
            "smtpd_helo_required = YES\n"
            "disable_vrfy_command = false\n"
            "message_size_limit = 1000\n");
    ck_assert_int_eq(config_int("max_use"), 12);
    ck_assert_int_eq(config_time("max_idle"), 300);
    ck_assert_int_eq(config_time("ipc_timeout"), 7200);
    ck_assert_int_eq(config_time("daemon_timeout"), 30);
    ck_assert_int_eq(config_time("maximal_queue_lifetime"), 2 * 86400);  /* default unit d */
    ck_assert_int_eq(config_time("bounce_queue_lifetime"), 7 * 86400);
    ck_assert_int_eq(config_bool("smtpd_helo_required"), 1);
    ck_assert_int_eq(config_bool("disable_vrfy_command"), 0);
    ck_assert_int_eq(config_size("message_size_limit"), 1000);
    ck_assert_int_eq(config_time("queue_run_delay"), 300);           /* default */

    long t;
    ck_assert_int_eq(parse_time("10s", 's', &t), 0);
    ck_assert_int_eq(t, 10);
    ck_assert_int_eq(parse_time("3", 'm', &t), 0);
    ck_assert_int_eq(t, 180);
    ck_assert_int_eq(parse_time("", 's', &t), -1);
    ck_assert_int_eq(parse_time("5x", 's', &t), -1);
    ck_assert_int_eq(parse_time("5ss", 's', &t), -1);
    ck_assert_int_eq(parse_time("-5", 's', &t), -1);
    ck_assert_int_eq(parse_time("999999999999999999w", 's', &t), -1);
    int b;
    ck_assert_int_eq(parse_bool("maybe", &b), -1);
}
END_TEST

START_TEST(config_bad_int_is_fatal)
{
    load_ok("\n\nmax_use = lots\n");
    config_int("max_use");          /* exits 1: "main.cf:3: bad value for max_use: ..." */
}
END_TEST

START_TEST(config_bad_time_is_fatal)
{
    load_ok("max_idle = 10 minutes\n");
    config_time("max_idle");
}
END_TEST

START_TEST(config_loop_is_fatal)
{
    load_ok("a = $b\nb = x${a}\n");
    config_str("a");
}
END_TEST

START_TEST(config_unknown_unset_panics)
{
    config_reset();
    config_str("no_such_parameter_anywhere");
}
END_TEST

START_TEST(config_malformed)
{
    char *e = load_err("myhostname = x\n\nthis line has no equals\n");
    ck_assert_msg(strncmp(e, "main.cf:3: ", 11) == 0, "got %s", e);
    free(e);
    e = load_err("  leading continuation = x\n");
    ck_assert_msg(strncmp(e, "main.cf:1: ", 11) == 0, "got %s", e);
    free(e);
    e = load_err("ok = 1\nbad-name = 2\n");
    ck_assert_msg(strncmp(e, "main.cf:2: ", 11) == 0, "got %s", e);
    free(e);
    e = load_err("ok = 1\n= 2\n");
    ck_assert_msg(strncmp(e, "main.cf:2: ", 11) == 0, "got %s", e);
    free(e);
    /* a failed load keeps nothing half-applied */
    char *err = NULL;
    config_reset();
    ck_assert_int_eq(config_load_string("mail_name = good\n", "main.cf", &err), 0);
    ck_assert_int_eq(config_load_string("mail_name = bad\nbroken\n", "main.cf", &err), -1);
    free(err);
    ck_assert_str_eq(config_str("mail_name"), "good");
}
END_TEST

START_TEST(config_validate_report)
{
    load_ok("max_use = 10\n"
            "max_idle = soon\n"
            "my_custom_thing = hello\n"
            "loop1 = $loop2\n"
            "loop2 = $loop1\n");
    ck_assert_str_eq(config_str("my_custom_thing"), "hello");
    ck_assert_str_eq(config_raw("my_custom_thing"), "hello");
    ck_assert_ptr_null(config_raw("not_set_anywhere"));
    str r;
    str_init(&r);
    int n = config_validate(&r, 0);
    ck_assert_msg(strstr(r.data, "main.cf:2: bad value for max_idle") != NULL, "%s", r.data);
    ck_assert_msg(strstr(r.data, "loop") != NULL, "%s", r.data);
    ck_assert_int_eq(n, 3);     /* max_idle, loop1, loop2 */
    str_reset(&r);
    n = config_validate(&r, 1);
    ck_assert_int_eq(n, 6);     /* + 3 unknown names */
    ck_assert_msg(strstr(r.data, "main.cf:3: unknown parameter my_custom_thing") != NULL, "%s", r.data);
    /* pathological nesting and exponential growth are errors, not crashes */
    str deep;
    str_init(&deep);
    str_appends(&deep, "x = 1\nnest = ");
    for (int i = 0; i < 5000; i++)
        str_appends(&deep, "${x?");
    for (int i = 0; i < 5000; i++)
        str_putc(&deep, '}');
    str_appends(&deep, "\nl0 = aaaaaaaaaaaaaaaa\n");
    for (int i = 1; i < 30; i++)
        str_appendf(&deep, "l%d = $l%d$l%d$l%d$l%d\n", i, i - 1, i - 1, i - 1, i - 1);
    load_ok(deep.data);
    str_free(&deep);
    str_reset(&r);
    ck_assert_int_eq(config_validate(&r, 0), 1 + 30 - 8);   /* nest, l8..l29 too long */
    ck_assert_msg(strstr(r.data, "nested too deeply") != NULL, "%s", r.data);
    ck_assert_msg(strstr(r.data, "longer than") != NULL, "%s", r.data);
    str_free(&r);
}
END_TEST

static void count_set(const char *name, const char *raw, void *ctx)
{
    (void)raw;
    str *s = ctx;
    str_appendf(s, "%s;", name);
}

START_TEST(config_files)
{
    char dir[] = "/tmp/check_core_confXXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char *err = NULL;
    config_reset();
    ck_assert_int_eq(config_load(dir, &err), 0);       /* no main.cf: defaults */
    ck_assert_str_eq(config_dir(), dir);
    ck_assert_int_eq(config_int("max_use"), 100);
    const char *h = config_str("myhostname");
    ck_assert_msg(strchr(h, '.') != NULL, "hostname %s", h);
    char *path = xasprintf("%s/main.cf", dir);
    ck_assert_str_eq(config_file_path(), path);
    FILE *f = fopen(path, "w");
    fputs("zeta = 1\nalpha = 2\nmax_use = 3\n", f);
    fclose(f);
    ck_assert_int_eq(config_load(dir, &err), 0);
    ck_assert_int_eq(config_int("max_use"), 3);
    str s;
    str_init(&s);
    config_foreach_set(count_set, &s);
    ck_assert_str_eq(s.data, "alpha;max_use;zeta;");
    str_free(&s);
    f = fopen(path, "w");
    fputs("x = 1\nbroken line\n", f);
    fclose(f);
    ck_assert_int_eq(config_load(dir, &err), -1);
    char *want = xasprintf("%s:2: ", path);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "got %s", err);
    free(want);
    free(err);
    unlink(path);
    rmdir(dir);
    free(path);
}
END_TEST

/* ---------------------------------------------------------------- mastercf */

static const char *good_master_cf =
    "# service type  private unpriv  chroot  wakeup  maxproc command + args\n"
    "smtp      inet  n       -       n       -       -       smtpd\n"
    "127.0.0.1:2525 inet n   -       n       -       10      smtpd\n"
    "    -o smtpd_banner=hello\n"
    "  -o syslog_name=postern/submission\n"
    "\n"
    "# comment\n"
    "cleanup   unix  n       -       n       -       0       cleanup\n"
    "qmgr      unix  n       -       n       300?    1       qmgr\n"
    "local     unix  -       n       n       -       -       local extra arg\n";

START_TEST(mastercf_valid)
{
    struct mastercf m;
    char *err = NULL;
    int rc = mastercf_parse_string(good_master_cf, "master.cf", &m, &err);
    ck_assert_msg(rc == 0, "%s", err ? err : "?");
    ck_assert_int_eq(m.count, 5);
    ck_assert_str_eq(m.entries[0].service, "smtp");
    ck_assert_int_eq(m.entries[0].type, SVC_INET);
    ck_assert_int_eq(m.entries[0].private_, 0);
    ck_assert_int_eq(m.entries[0].unpriv, 1);
    ck_assert_int_eq(m.entries[0].maxproc, -1);
    ck_assert_int_eq(m.entries[0].line, 2);
    ck_assert_str_eq(m.entries[0].command, "smtpd");
    ck_assert_ptr_null(m.entries[0].args[0]);
    struct mastercf_entry *e = &m.entries[1];
    ck_assert_str_eq(e->service, "127.0.0.1:2525");
    ck_assert_int_eq(e->maxproc, 10);
    ck_assert_int_eq(e->line, 3);
    ck_assert_uint_eq(strv_len(e->args), 4);
    ck_assert_str_eq(e->args[0], "-o");
    ck_assert_str_eq(e->args[1], "smtpd_banner=hello");
    ck_assert_str_eq(e->args[3], "syslog_name=postern/submission");
    ck_assert_int_eq(m.entries[2].maxproc, 0);
    ck_assert_int_eq(m.entries[2].type, SVC_UNIX);
    ck_assert_int_eq(m.entries[2].line, 8);
    ck_assert_int_eq(m.entries[3].wakeup, 300);
    ck_assert_int_eq(m.entries[4].private_, 1);
    ck_assert_int_eq(m.entries[4].unpriv, 0);
    ck_assert_str_eq(m.entries[4].args[1], "arg");
    mastercf_free(&m);
    rc = mastercf_parse_string("", "master.cf", &m, &err);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(m.count, 0);
    mastercf_free(&m);
}
END_TEST

static void expect_master_error(const char *text, const char *prefix, const char *needle)
{
    struct mastercf m;
    char *err = NULL;
    int rc = mastercf_parse_string(text, "master.cf", &m, &err);
    ck_assert_msg(rc == -1, "accepted: %s", text);
    ck_assert_ptr_nonnull(err);
    ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0, "want %s got %s", prefix, err);
    if (needle)
        ck_assert_msg(strstr(err, needle) != NULL, "want %s in %s", needle, err);
    ck_assert_int_eq(m.count, 0);
    ck_assert_ptr_null(m.entries);
    free(err);
}

START_TEST(mastercf_malformed)
{
    const char *ok = "smtp inet n - n - - smtpd\n";
    str t;
    str_init(&t);
    struct { const char *line, *needle; } bad[] = {
        { "x tcp n - n - - cmd\n", "transport type" },
        { "x unix q - n - - cmd\n", "private" },
        { "x unix n yes n - - cmd\n", "unprivileged" },
        { "x unix n - 1 - - cmd\n", "chroot" },
        { "x unix n - n soon - cmd\n", "wakeup" },
        { "x unix n - n -5 - cmd\n", "wakeup" },
        { "x unix n - n ? - cmd\n", "wakeup" },
        { "x unix n - n - many cmd\n", "process limit" },
        { "x unix n - n - -1 cmd\n", "process limit" },
        { "x unix n - n - 99999999999 cmd\n", "process limit" },
        { "x unix n - n - -\n", "too few fields" },
        { "x unix\n", "too few fields" },
        { "x unix n - n - - cmd -o\n", "-o" },
        { "x unix n - n - - cmd -o novalue\n", "-o" },
        { "a/b unix n - n - - cmd\n", "service name" },
        { "smtp inet n - n - - smtpd\n", "duplicate" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        str_set(&t, ok);
        str_appends(&t, "# comment\n");
        str_appends(&t, bad[i].line);
        expect_master_error(t.data, "master.cf:3: ", bad[i].needle);
    }
    expect_master_error("  smtp inet n - n - - smtpd\n", "master.cf:1: ", "continuation");
    /* error in a continued entry is reported at its first line */
    expect_master_error("smtp inet n - n - - smtpd\nx unix n - n\n  - bad cmd\n", "master.cf:2: ",
                        "process limit");
    str_free(&t);
    struct mastercf m;
    char *err = NULL;
    ck_assert_int_eq(mastercf_load("/nonexistent/master.cf", &m, &err), -1);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/master.cf"));
    free(err);
}
END_TEST

/* ---------------------------------------------------------------- bio */

static int sp[2];

static void bio_setup(void)
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    signal(SIGPIPE, SIG_IGN);
}

static void bio_teardown(void)
{
    close(sp[0]);
    close(sp[1]);
}

static void put(const char *s)
{
    size_t n = strlen(s);
    ck_assert_int_eq(write(sp[1], s, n), (ssize_t)n);
}

START_TEST(bio_getline_endings)
{
    bio *b = bio_open(sp[0], 2000);
    str line;
    str_init(&line);
    int complete = -1;
    put("HELO a\r\nbare\nx\r\r\n");
    ck_assert_int_eq(bio_getline(b, &line, 100, &complete), 8);
    ck_assert_str_eq(line.data, "HELO a\r\n");
    ck_assert_int_eq(complete, 1);
    ck_assert_int_eq(bio_getline(b, &line, 100, &complete), 5);
    ck_assert_str_eq(line.data, "bare\n");
    ck_assert_int_eq(bio_getline(b, &line, 100, &complete), 4);
    ck_assert_str_eq(line.data, "x\r\r\n");
    ck_assert_uint_eq(bio_pending(b), 0);
    /* NUL bytes survive */
    ck_assert_int_eq(write(sp[1], "a\0b\n", 4), 4);
    ck_assert_int_eq(bio_getline(b, &line, 100, &complete), 4);
    ck_assert_uint_eq(line.len, 4);
    ck_assert(memcmp(line.data, "a\0b\n", 4) == 0);
    /* pipelined data is visible as pending */
    put("one\ntwo\n");
    ck_assert_int_eq(bio_getline(b, &line, 100, &complete), 4);
    ck_assert_uint_eq(bio_pending(b), 4);
    bio_discard_pending(b);
    ck_assert_uint_eq(bio_pending(b), 0);
    str_free(&line);
    bio_free(b);
}
END_TEST

START_TEST(bio_getline_long_lines)
{
    bio *b = bio_open(sp[0], 2000);
    str line;
    str_init(&line);
    int complete = -1;
    put("0123456789abcdefXYZ\r\nnext\n");
    ck_assert_int_eq(bio_getline(b, &line, 8, &complete), 8);
    ck_assert_str_eq(line.data, "01234567");
    ck_assert_int_eq(complete, 0);
    ck_assert_int_eq(bio_getline(b, &line, 8, &complete), 8);
    ck_assert_str_eq(line.data, "89abcdef");
    ck_assert_int_eq(complete, 0);
    ck_assert_int_eq(bio_getline(b, &line, 8, &complete), 5);
    ck_assert_str_eq(line.data, "XYZ\r\n");
    ck_assert_int_eq(complete, 1);
    ck_assert_int_eq(bio_getline(b, &line, 8, &complete), 5);
    ck_assert_str_eq(line.data, "next\n");
    /* a line much longer than the internal buffer, arriving in pieces */
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char chunk[1000];
        memset(chunk, 'z', sizeof chunk);
        for (int i = 0; i < 100; i++)
            if (write(sp[1], chunk, sizeof chunk) != (ssize_t)sizeof chunk)
                _exit(1);
        if (write(sp[1], "\n", 1) != 1)
            _exit(1);
        _exit(0);
    }
    size_t total = 0;
    int pieces = 0;
    for (;;) {
        ssize_t n = bio_getline(b, &line, 30000, &complete);
        ck_assert_int_gt(n, 0);
        total += (size_t)n;
        pieces++;
        if (complete)
            break;
        ck_assert_int_eq(n, 30000);
    }
    ck_assert_uint_eq(total, 100001);
    ck_assert_int_eq(pieces, 4);
    waitpid(pid, NULL, 0);
    str_free(&line);
    bio_free(b);
}
END_TEST

START_TEST(bio_eof_and_partial_last_line)
{
    bio *b = bio_open(sp[0], 2000);
    str line;
    str_init(&line);
    int complete = -1;
    put("full\nhalf");
    shutdown(sp[1], SHUT_WR);
    ck_assert_int_eq(bio_getline(b, &line, 100, &complete), 5);
    ck_assert_int_eq(bio_getline(b, &line, 100, &complete), 4);
    ck_assert_str_eq(line.data, "half");
    ck_assert_int_eq(complete, 0);
    ck_assert_int_eq(bio_getline(b, &line, 100, &complete), -1);
    ck_assert_int_eq(bio_error(b), BIO_EOF);
    ck_assert_str_eq(bio_strerror(b), "end of file");
    ck_assert_int_eq(bio_getc(b), -1);        /* sticky */
    char c;
    ck_assert_int_eq(bio_read_exact(b, &c, 1), -1);
    ck_assert_int_eq(bio_puts(b, "x"), -1);
    str_free(&line);
    bio_free(b);
}
END_TEST

START_TEST(bio_timeout)
{
    bio *b = bio_open(sp[0], 200);
    str line;
    str_init(&line);
    int complete = -1;
    put("no newline yet");
    long long t0 = event_now_ms();
    ck_assert_int_eq(bio_getline(b, &line, 100, &complete), -1);
    long long dt = event_now_ms() - t0;
    ck_assert_int_eq(bio_error(b), BIO_TIMEOUT);
    ck_assert_str_eq(bio_strerror(b), "timeout");
    ck_assert_msg(dt >= 150 && dt < 2000, "took %lld ms", dt);
    put("\n");
    ck_assert_int_eq(bio_getline(b, &line, 100, &complete), -1);    /* sticky */
    str_free(&line);
    bio_free(b);
}
END_TEST

START_TEST(bio_read_write)
{
    bio *w = bio_open(sp[1], 5000);
    bio *r = bio_open(sp[0], 5000);
    ck_assert_int_eq(bio_printf(w, "%s %d\r\n", "250", 42), 0);
    ck_assert_int_eq(bio_flush(w), 0);
    char buf[9];
    ck_assert_int_eq(bio_read_exact(r, buf, 8), 0);
    ck_assert(memcmp(buf, "250 42\r\n", 8) == 0);
    /* a large write through a small socket buffer: the child drains slowly */
    int sz = 4096;
    setsockopt(sp[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        unsigned long sum = 0, count = 0;
        int c;
        bio_set_timeout(r, 5000);
        while (count < 300000 && (c = bio_getc(r)) >= 0) {
            sum += (unsigned)c;
            count++;
        }
        _exit(count == 300000 && sum == 300000UL * 'w' ? 0 : 1);
    }
    char *big = xmalloc(300000);
    memset(big, 'w', 300000);
    ck_assert_int_eq(bio_write(w, big, 100), 0);
    ck_assert_int_eq(bio_write(w, big, 299900), 0);
    ck_assert_int_eq(bio_flush(w), 0);
    ck_assert_uint_eq(w->bytes_out, 8 + 300000);
    int status;
    waitpid(pid, &status, 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    free(big);
    /* writing to a closed peer fails cleanly (EPIPE, no signal death) */
    close(sp[0]);
    sp[0] = -1;
    ck_assert_int_eq(bio_puts(w, "x"), 0);
    ck_assert_int_eq(bio_flush(w), -1);
    ck_assert_int_eq(bio_error(w), BIO_IOERR);
    bio_free(w);
    bio_free(r);
}
END_TEST

/* ---------------------------------------------------------------- log */

START_TEST(log_to_file)
{
    char path[] = "/tmp/check_core_logXXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    log_open("postern", "testprog", path);
    const char *evil = "100%s %n\nfake line";
    msg_info("value=%s", evil);
    msg_warn("careful %d", 3);
    msg_error("bad");
    msg_debug("hidden");
    char *huge = xmalloc(100000);
    memset(huge, 'h', 99999);
    huge[99999] = 0;
    msg_info("%s", huge);
    free(huge);
    log_open("postern", "check_core", "-");
    FILE *f = fopen(path, "r");
    char line[20000];
    char *want = xasprintf(" postern/testprog[%ld]: value=100%%s %%n?fake line\n", (long)getpid());
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    ck_assert_msg(strstr(line, want) != NULL, "got %s", line);
    ck_assert_msg(line[3] == ' ' && line[6] == ' ' && line[9] == ':', "timestamp: %s", line);
    free(want);
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    ck_assert_ptr_nonnull(strstr(line, "]: warning: careful 3\n"));
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    ck_assert_ptr_nonnull(strstr(line, "]: error: bad\n"));
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    ck_assert_msg(strlen(line) < 9000 && strstr(line, "(truncated)\n"), "len %zu", strlen(line));
    ck_assert_ptr_null(fgets(line, sizeof line, f));
    fclose(f);
    unlink(path);
}
END_TEST

START_TEST(log_fatal_exits)
{
    log_open("postern", "check_core", "-");
    msg_fatal("this is expected: %s", "fatal test");
}
END_TEST

/* ---------------------------------------------------------------- events */

static int timer_hits, read_hits, sig_hits;
static void on_timer(void *ctx) { timer_hits += *(int *)ctx; }
static void on_read(int fd, void *ctx)
{
    (void)ctx;
    char c;
    if (read(fd, &c, 1) == 1)
        read_hits++;
    event_del_read(fd);
}
static void on_sig(int signo, void *ctx) { (void)ctx; if (signo == SIGUSR1) sig_hits++; }

START_TEST(events_basic)
{
    int one = 1, ten = 10;
    event_timer(20, on_timer, &one);
    long cancel = event_timer(10, on_timer, &ten);
    event_cancel_timer(cancel);
    event_add_read(sp[0], on_read, NULL);
    event_signal(SIGUSR1, on_sig, NULL);
    put("x");
    kill(getpid(), SIGUSR1);
    long long t0 = event_now_ms();
    for (int i = 0; i < 50 && (timer_hits < 1 || read_hits < 1 || sig_hits < 1); i++)
        event_loop_once(100);
    ck_assert_int_eq(timer_hits, 1);
    ck_assert_int_eq(read_hits, 1);
    ck_assert_int_eq(sig_hits, 1);
    ck_assert(event_now_ms() - t0 < 2000);
    put("y");                        /* watch removed: no more callbacks */
    event_loop_once(10);
    ck_assert_int_eq(read_hits, 1);
}
END_TEST

/* ---------------------------------------------------------------- ipc */

START_TEST(ipc_roundtrip)
{
    char dir[] = "/tmp/check_core_qXXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    config_reset();
    config_set("queue_directory", dir);
    char *priv = xasprintf("%s/private", dir);
    ck_assert_int_eq(mkdir(priv, 0700), 0);
    char *sock = xasprintf("%s/qmgr", priv);
    /* nothing listening: bounded failure */
    long long t0 = event_now_ms();
    ck_assert_int_eq(ipc_connect("private", "qmgr", 150), -1);
    ck_assert(event_now_ms() - t0 < 1000);
    ipc_wakeup_qmgr();               /* must not block or crash */
    int lfd = ipc_listen_unix(sock, 0622, 10);
    ck_assert_int_ge(lfd, 0);
    struct stat st;
    ck_assert_int_eq(stat(sock, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0622);
    ipc_wakeup_qmgr();
    int c = accept(lfd, NULL, NULL);
    ck_assert_int_ge(c, 0);
    char buf[64];
    ssize_t n = read(c, buf, sizeof buf);
    ck_assert_int_eq(n, 16);
    ck_assert(memcmp(buf, "request=wakeup\n\n", 16) == 0);
    close(c);
    int cfd = ipc_connect("private", "qmgr", 1000);
    ck_assert_int_ge(cfd, 0);
    close(cfd);
    ck_assert_int_eq(ipc_connect("private", "../x", 100), -1);
    close(lfd);
    /* listening again over the stale socket works */
    lfd = ipc_listen_unix(sock, 0600, 10);
    ck_assert_int_ge(lfd, 0);
    close(lfd);
    unlink(sock);
    rmdir(priv);
    rmdir(dir);
    free(sock);
    free(priv);
}
END_TEST

/* ---------------------------------------------------------------- server */

static void echo_service(int fd)
{
    char buf[64];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0 && write(fd, buf, (size_t)n) != n)
        _exit(3);
}

static const struct server_ops echo_ops = { .name = "echotest", .service = echo_service };

/* Start server_main in a child with a listening socket on fd 3 and the status pipe on 4.
 * Returns the pid; *status_rd gets the pipe's read end, *path the socket path. */
static pid_t start_server(char **argv_extra, int *status_rd, char *path, size_t pathlen)
{
    snprintf(path, pathlen, "/tmp/check_core_srv.%ld.sock", (long)getpid());
    int lfd = ipc_listen_unix(path, 0600, 10);
    ck_assert_int_ge(lfd, 0);
    int pfd[2];
    ck_assert_int_eq(pipe(pfd), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(pfd[0]);
        dup2(lfd, SERVER_LISTEN_FD);
        dup2(pfd[1], SERVER_STATUS_FD);
        char *argv[16] = { "echotest", "-c", "/nonexistent-confdir", "-n", "echo", "-t", "unix",
                           "-o", "maillog_file=-" };
        int argc = 9;
        for (int i = 0; argv_extra && argv_extra[i] && argc < 15; i++)
            argv[argc++] = argv_extra[i];
        argv[argc] = NULL;
        optind = 1;
        server_main(argc, argv, &echo_ops);
    }
    close(lfd);
    close(pfd[1]);
    *status_rd = pfd[0];
    return pid;
}

static int echo_once(const char *path)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    strncpy(sun.sun_path, path, sizeof sun.sun_path - 1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)&sun, sizeof sun) != 0)
        return -1;
    char buf[8] = { 0 };
    int ok = write(fd, "ping", 4) == 4 && read(fd, buf, sizeof buf) == 4 && memcmp(buf, "ping", 4) == 0;
    close(fd);
    return ok ? 0 : -1;
}

static int wait_exit(pid_t pid, int ms)
{
    int status;
    for (int i = 0; i < ms / 10; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        poll(NULL, 0, 10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

START_TEST(server_max_use_and_status)
{
    char path[128];
    int st;
    char *extra[] = { "-o", "max_use=2", NULL };
    pid_t pid = start_server(extra, &st, path, sizeof path);
    ck_assert_int_eq(echo_once(path), 0);
    ck_assert_int_eq(echo_once(path), 0);
    ck_assert_int_eq(wait_exit(pid, 3000), 0);      /* exits after max_use clients */
    struct server_status s;
    int busy = 0, idle = 0;
    while (read(st, &s, sizeof s) == (ssize_t)sizeof s) {
        ck_assert_int_eq(s.pid, pid);
        if (s.avail) idle++; else busy++;
    }
    ck_assert_int_eq(busy, 2);
    ck_assert_int_eq(idle, 2);
    close(st);
    unlink(path);
}
END_TEST

START_TEST(server_exits_when_master_gone)
{
    char path[128];
    int st;
    pid_t pid = start_server(NULL, &st, path, sizeof path);
    ck_assert_int_eq(echo_once(path), 0);
    close(st);                                      /* master goes away */
    ck_assert_int_eq(wait_exit(pid, 3000), 0);
    unlink(path);
}
END_TEST

START_TEST(server_sigterm_and_idle)
{
    char path[128];
    int st;
    pid_t pid = start_server(NULL, &st, path, sizeof path);
    ck_assert_int_eq(echo_once(path), 0);
    kill(pid, SIGTERM);
    ck_assert_int_eq(wait_exit(pid, 3000), 0);
    close(st);
    unlink(path);
    char *extra[] = { "-o", "max_idle=1", NULL };
    long long t0 = event_now_ms();
    pid = start_server(extra, &st, path, sizeof path);
    ck_assert_int_eq(wait_exit(pid, 5000), 0);
    long long dt = event_now_ms() - t0;
    ck_assert_msg(dt >= 900 && dt < 4000, "idle exit after %lld ms", dt);
    close(st);
    unlink(path);
}
END_TEST

START_TEST(server_not_a_socket)
{
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, SERVER_LISTEN_FD);
    char *argv[] = { "echotest", "-c", "/nonexistent-confdir", "-o", "maillog_file=-", NULL };
    optind = 1;
    server_main(5, argv, &echo_ops);                /* fatal: exit 1 */
}
END_TEST

/* ---------------------------------------------------------------- privs */

START_TEST(privs_drop)
{
    uid_t uid;
    gid_t gid;
    ck_assert_int_eq(privs_lookup_user("root", &uid, &gid), 0);
    ck_assert_int_eq(uid, 0);
    ck_assert_int_eq(privs_lookup_user("no-such-user-xyz", &uid, &gid), -1);
    ck_assert_int_eq(privs_lookup_user("nobody", &uid, &gid), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int was_root = privs_is_root();
        if (was_root) {
            if (privs_set_effective(uid, gid) != 0 || geteuid() != uid || getegid() != gid)
                _exit(2);
            if (privs_restore_root() != 0 || geteuid() != 0)
                _exit(3);
        }
        privs_drop_to("nobody");
        if (was_root && (getuid() != uid || geteuid() != uid || getgid() != gid || setuid(0) == 0))
            _exit(4);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
}
END_TEST

/* ---------------------------------------------------------------- review: regressions */

/* Writing to a peer that went away must fail with EPIPE, not kill the process, even in
 * a program that did not ignore SIGPIPE (sendmail, the postern command, tests). */
START_TEST(bio_write_to_closed_peer_without_sigign)
{
    signal(SIGPIPE, SIG_DFL);
    bio *w = bio_open(sp[1], 2000);
    close(sp[0]);
    sp[0] = -1;
    ck_assert_int_eq(bio_puts(w, "hello"), 0);
    ck_assert_int_eq(bio_flush(w), -1);
    ck_assert_int_eq(bio_error(w), BIO_IOERR);
    ck_assert_str_eq(bio_strerror(w), strerror(EPIPE));
    bio_free(w);
    /* a regular file still works through the same write path */
    char path[] = "/tmp/check_core_bioXXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    w = bio_open(fd, 0);
    ck_assert_int_eq(bio_puts(w, "file data"), 0);
    ck_assert_int_eq(bio_close(w), 0);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_size, 9);
    unlink(path);
}
END_TEST

/* A callback that replaces another watched descriptor (same fd number, new object) must
 * not have the old descriptor's readiness delivered to the new watch. */
static int stale_hits, first_hits;
static int ev_b[2];
static void on_replaced(int fd, void *ctx) { (void)fd; (void)ctx; stale_hits++; }
static void on_first_replaces(int fd, void *ctx)
{
    (void)ctx;
    char c;
    if (read(fd, &c, 1) == 1)
        first_hits++;
    event_del_read(fd);
    int keep = ev_b[0];
    event_del_read(keep);
    int np[2];
    ck_assert_int_eq(pipe(np), 0);
    ck_assert_int_eq(dup2(np[0], keep), keep);       /* old pipe (readable) is gone */
    close(np[0]);
    close(ev_b[1]);
    ev_b[1] = np[1];
    event_add_read(keep, on_replaced, NULL);
}

START_TEST(events_no_stale_readiness)
{
    int a[2];
    ck_assert_int_eq(pipe(a), 0);
    ck_assert_int_eq(pipe(ev_b), 0);
    event_add_read(a[0], on_first_replaces, NULL);  /* polled first */
    event_add_read(ev_b[0], on_replaced, NULL);
    ck_assert_int_eq(write(a[1], "a", 1), 1);
    ck_assert_int_eq(write(ev_b[1], "b", 1), 1);
    event_loop_once(1000);
    ck_assert_int_eq(first_hits, 1);
    ck_assert_int_eq(stale_hits, 0);                /* the new pipe is empty */
    event_loop_once(0);
    ck_assert_int_eq(stale_hits, 0);
    ck_assert_int_eq(write(ev_b[1], "c", 1), 1);
    event_loop_once(1000);
    ck_assert_int_eq(stale_hits, 1);                /* real readiness still arrives */
    event_del_read(ev_b[0]);
    close(a[0]); close(a[1]); close(ev_b[0]); close(ev_b[1]);
}
END_TEST

/* A huge timer delay must not overflow the due time (it would fire at once). */
static int huge_timer_hits;
static void on_huge_timer(void *ctx) { (void)ctx; huge_timer_hits++; }
START_TEST(events_huge_timer)
{
    long id = event_timer(__LONG_MAX__, on_huge_timer, NULL);
    event_loop_once(10);
    ck_assert_int_eq(huge_timer_hits, 0);
    event_cancel_timer(id);
}
END_TEST

/* A service that logs to stderr while fds 0-2 were closed when master started it: the log
 * line must not end up in the client's connection. */
static void logging_echo_service(int fd)
{
    char buf[64];
    ssize_t n = read(fd, buf, sizeof buf);
    msg_info("log line from the service");
    if (n > 0 && write(fd, buf, (size_t)n) != n)
        _exit(3);
}
static const struct server_ops logging_echo_ops = { .name = "echotest", .service = logging_echo_service };

START_TEST(server_closed_stdio_does_not_leak_logs)
{
    char path[96];
    snprintf(path, sizeof path, "/tmp/check_core_srv2.%ld.sock", (long)getpid());
    int lfd = ipc_listen_unix(path, 0600, 10);
    ck_assert_int_ge(lfd, 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(lfd, SERVER_LISTEN_FD);
        close(0); close(1); close(2);
        char *argv[] = { "echotest", "-c", "/nonexistent-confdir", "-n", "echo", "-t", "unix",
                         "-o", "maillog_file=-", "-o", "max_use=1", NULL };
        optind = 1;
        server_main(11, argv, &logging_echo_ops);
    }
    close(lfd);
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    strncpy(sun.sun_path, path, sizeof sun.sun_path - 1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sun, sizeof sun), 0);
    ck_assert_int_eq(write(fd, "ping", 4), 4);
    char buf[512];
    size_t got = 0;
    ssize_t n;
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    while (got < sizeof buf - 1 && poll(&pfd, 1, 3000) == 1 && (n = read(fd, buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)n;
    buf[got] = 0;
    close(fd);
    ck_assert_str_eq(buf, "ping");
    ck_assert_int_eq(wait_exit(pid, 3000), 0);
    unlink(path);
}
END_TEST

/* The per-operation timeout must hold even when signals keep interrupting the wait
 * (master's SIGCHLD, timers): EINTR must not restart the full timeout. */
static void on_alarm(int sig) { (void)sig; }
START_TEST(bio_timeout_despite_signals)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;                /* no SA_RESTART: poll returns EINTR */
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = { { 0, 50000 }, { 0, 50000 } };
    setitimer(ITIMER_REAL, &it, NULL);
    bio *b = bio_open(sp[0], 300);
    long long t0 = event_now_ms();
    ck_assert_int_eq(bio_getc(b), -1);
    long long dt = event_now_ms() - t0;
    struct itimerval off = { { 0, 0 }, { 0, 0 } };
    setitimer(ITIMER_REAL, &off, NULL);
    ck_assert_int_eq(bio_error(b), BIO_TIMEOUT);
    ck_assert_msg(dt >= 250 && dt < 1500, "timeout after %lld ms", dt);
    bio_free(b);
}
END_TEST

/* Formatting a string into itself must not read freed memory when it has to grow. */
START_TEST(str_appendf_self_reference)
{
    str s;
    str_init(&s);
    str_set(&s, "0123456789abcdefghij");          /* 20 bytes, capacity 32 */
    str_appendf(&s, "%s%s", s.data, s.data);
    ck_assert_uint_eq(s.len, 60);
    ck_assert_str_eq(s.data, "0123456789abcdefghij0123456789abcdefghij0123456789abcdefghij");
    str_append(&s, s.data, s.len);                /* 120 > capacity: reallocates */
    ck_assert_uint_eq(s.len, 120);
    ck_assert(memcmp(s.data, s.data + 60, 60) == 0);
    str_free(&s);
}
END_TEST

/* A huge max_idle must not overflow into "idle for too long" at once. */
START_TEST(server_huge_max_idle)
{
    char path[128];
    int st;
    char *extra[] = { "-o", "max_idle=999999999999999999s", "-o", "max_use=1", NULL };
    pid_t pid = start_server(extra, &st, path, sizeof path);
    poll(NULL, 0, 200);
    ck_assert_int_eq(echo_once(path), 0);
    ck_assert_int_eq(wait_exit(pid, 3000), 0);
    close(st);
    unlink(path);
}
END_TEST

/* SIGTERM while a client is being served: the session (bio-based, so EINTR is retried)
 * completes, then the process exits instead of accepting another client. */
static void bio_echo_service(int fd)
{
    bio *b = bio_open(fd, 5000);
    str line;
    str_init(&line);
    if (bio_getline(b, &line, 100, NULL) > 0) {
        bio_write(b, line.data, line.len);
        bio_flush(b);
    }
    str_free(&line);
    bio_free(b);
}
static const struct server_ops bio_echo_ops = { .name = "echotest", .service = bio_echo_service };

START_TEST(server_sigterm_during_session)
{
    char path[96];
    snprintf(path, sizeof path, "/tmp/check_core_srv3.%ld.sock", (long)getpid());
    int lfd = ipc_listen_unix(path, 0600, 10);
    ck_assert_int_ge(lfd, 0);
    int pfd[2];
    ck_assert_int_eq(pipe(pfd), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(pfd[0]);
        dup2(lfd, SERVER_LISTEN_FD);
        dup2(pfd[1], SERVER_STATUS_FD);
        char *argv[] = { "echotest", "-c", "/nonexistent-confdir", "-n", "echo", "-t", "unix",
                         "-o", "maillog_file=-", NULL };
        optind = 1;
        server_main(9, argv, &bio_echo_ops);
    }
    close(lfd);
    close(pfd[1]);
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    strncpy(sun.sun_path, path, sizeof sun.sun_path - 1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sun, sizeof sun), 0);
    struct server_status st;
    ck_assert_int_eq(read(pfd[0], &st, sizeof st), (ssize_t)sizeof st);   /* busy */
    ck_assert_int_eq(st.avail, 0);
    kill(pid, SIGTERM);
    poll(NULL, 0, 200);
    ck_assert_int_eq(write(fd, "hello\n", 6), 6);
    char buf[16] = { 0 };
    struct pollfd p = { .fd = fd, .events = POLLIN };
    ck_assert_int_eq(poll(&p, 1, 3000), 1);
    ck_assert_int_eq(read(fd, buf, sizeof buf - 1), 6);
    ck_assert_str_eq(buf, "hello\n");
    close(fd);
    ck_assert_int_eq(wait_exit(pid, 3000), 0);
    close(pfd[0]);
    unlink(path);
}
END_TEST

/* A main.cf or master.cf that is not a regular file (a FIFO would block the open
 * forever, a directory gives a confusing read error) is refused at once, by name. */
START_TEST(config_files_must_be_regular)
{
    char dir[] = "/tmp/check_core_fifoXXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char *main_cf = xasprintf("%s/main.cf", dir);
    char *master_cf = xasprintf("%s/master.cf", dir);
    ck_assert_int_eq(mkfifo(main_cf, 0600), 0);
    ck_assert_int_eq(mkdir(master_cf, 0700), 0);
    char *err = NULL;
    long long t0 = event_now_ms();
    ck_assert_int_eq(config_load(dir, &err), -1);
    ck_assert_ptr_nonnull(strstr(err, "main.cf"));
    ck_assert_ptr_nonnull(strstr(err, "not a regular file"));
    free(err);
    struct mastercf m;
    ck_assert_int_eq(mastercf_load(master_cf, &m, &err), -1);
    ck_assert_ptr_nonnull(strstr(err, "not a regular file"));
    free(err);
    ck_assert(event_now_ms() - t0 < 1000);
    unlink(main_cf);
    rmdir(master_cf);
    rmdir(dir);
    free(main_cf);
    free(master_cf);
    config_reset();
}
END_TEST

/* ---------------------------------------------------------------- submit client */

enum fake_mode { FAKE_OK, FAKE_SILENT, FAKE_GARBAGE, FAKE_DIES, FAKE_WRONG_ID };

/* A fake cleanup service: one connection, behaving according to mode. */
static void fake_cleanup_child(int lfd, enum fake_mode mode)
{
    char id[QUEUE_ID_MAX];
    queue_id_make(id, 1700000000, 1, 4242);
    int c = accept(lfd, NULL, NULL);
    if (c < 0)
        _exit(2);
    bio *b = bio_open(c, 5000);
    attr_list l;
    attr_init(&l);
    attr_send_protocol(b, "cleanup");
    attr_add(&l, "queue_id", id);
    attr_write(b, &l);
    const char *err;
    if (attr_read(b, &l, &err) != 0)            /* flags */
        _exit(3);
    if (mode == FAKE_DIES)
        _exit(0);                                /* gone in the middle of the stream */
    int type = 0;
    str rec;
    str_init(&rec);
    while (type != REC_END && rec_get(b, &type, &rec, REC_MAX_LEN, &err) == 0)
        ;
    attr_clear(&l);
    switch (mode) {
    case FAKE_SILENT:
        poll(NULL, 0, 4000);
        _exit(0);
    case FAKE_GARBAGE:
        bio_puts(b, "status 0 and some noise\n\n");
        bio_flush(b);
        break;
    case FAKE_WRONG_ID:
        attr_add(&l, "status", "0");
        attr_add(&l, "queue_id", "0000000000ZZ");
        attr_write(b, &l);
        break;
    default:
        attr_add(&l, "status", "0");
        attr_add(&l, "queue_id", id);
        attr_write(b, &l);
        break;
    }
    poll(NULL, 0, 200);
    _exit(0);
}

static pid_t start_fake_cleanup(char *dir, enum fake_mode mode)
{
    char *priv = xasprintf("%s/private", dir);
    mkdir(priv, 0700);
    char *sock = xasprintf("%s/cleanup", priv);
    int lfd = ipc_listen_unix(sock, 0600, 10);
    ck_assert_int_ge(lfd, 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        fake_cleanup_child(lfd, mode);
    close(lfd);
    free(sock);
    free(priv);
    config_reset();
    config_set("queue_directory", dir);
    config_set("ipc_timeout", "1s");
    return pid;
}

static void stop_fake_cleanup(char *dir, pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    char *sock = xasprintf("%s/private/cleanup", dir);
    char *priv = xasprintf("%s/private", dir);
    unlink(sock);
    rmdir(priv);
    rmdir(dir);
    free(sock);
    free(priv);
    config_reset();
}

static int submit_one(struct submit_result *r)
{
    const char *err = NULL;
    submit *s = submit_open(0, &err);
    if (!s) {
        memset(r, 0, sizeof *r);
        str_init(&r->reason);
        str_set(&r->reason, err);
        return -1;
    }
    submit_attr(s, "client_addr", "127.0.0.1");
    submit_sender(s, "a@example.test");
    submit_rcpt(s, "b@example.test", NULL);
    submit_begin_content(s);
    /* enough content to overflow the socket buffer when the peer is gone */
    char line[1000];
    memset(line, 'x', sizeof line);
    for (int i = 0; i < 500; i++)
        submit_line(s, line, sizeof line, 1);
    return submit_finish(s, r);
}

START_TEST(submit_ok_and_bad_replies)
{
    signal(SIGPIPE, SIG_DFL);                        /* a submitter need not ignore it */
    static const enum fake_mode modes[] = { FAKE_OK, FAKE_SILENT, FAKE_GARBAGE, FAKE_DIES,
                                            FAKE_WRONG_ID };
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        char dir[] = "/tmp/check_core_subXXXXXX";
        ck_assert_ptr_nonnull(mkdtemp(dir));
        pid_t pid = start_fake_cleanup(dir, modes[i]);
        struct submit_result r;
        long long t0 = event_now_ms();
        int rc = submit_one(&r);
        long long dt = event_now_ms() - t0;
        if (modes[i] == FAKE_OK) {
            ck_assert_int_eq(rc, 0);
            ck_assert_int_eq(r.status, 0);
        } else {
            ck_assert_msg(rc == 4 || (modes[i] == FAKE_DIES && rc == -1),
                          "mode %d: rc %d (%s)", (int)modes[i], rc, r.reason.data);
            if (rc == 4)
                ck_assert_str_eq(r.dsn, "4.3.0");
        }
        ck_assert_msg(dt < 3000, "mode %d took %lld ms", (int)modes[i], dt);
        submit_result_free(&r);
        stop_fake_cleanup(dir, pid);
    }
}
END_TEST

/* ---------------------------------------------------------------- main */

static Suite *core_suite(void)
{
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("str");
    tcase_add_test(tc, str_growth);
    tcase_add_test(tc, str_nul_bytes);
    tcase_add_test(tc, str_printf_and_steal);
    tcase_add_test(tc, str_split_helpers);
    suite_add_tcase(s, tc);

    tc = tcase_create("config");
    tcase_add_test(tc, config_basic_syntax);
    tcase_add_test(tc, config_expansion);
    tcase_add_test(tc, config_overrides);
    tcase_add_test(tc, config_typed_getters);
    tcase_add_exit_test(tc, config_bad_int_is_fatal, 1);
    tcase_add_exit_test(tc, config_bad_time_is_fatal, 1);
    tcase_add_exit_test(tc, config_loop_is_fatal, 1);
    tcase_add_test_raise_signal(tc, config_unknown_unset_panics, SIGABRT);
    tcase_add_test(tc, config_malformed);
    tcase_add_test(tc, config_validate_report);
    tcase_add_test(tc, config_files);
    suite_add_tcase(s, tc);

    tc = tcase_create("mastercf");
    tcase_add_test(tc, mastercf_valid);
    tcase_add_test(tc, mastercf_malformed);
    suite_add_tcase(s, tc);

    tc = tcase_create("bio");
    tcase_add_checked_fixture(tc, bio_setup, bio_teardown);
    tcase_add_test(tc, bio_getline_endings);
    tcase_add_test(tc, bio_getline_long_lines);
    tcase_add_test(tc, bio_eof_and_partial_last_line);
    tcase_add_test(tc, bio_timeout);
    tcase_add_test(tc, bio_read_write);
    tcase_add_test(tc, events_basic);
    tcase_add_test(tc, bio_write_to_closed_peer_without_sigign);
    tcase_add_test(tc, events_no_stale_readiness);
    tcase_add_test(tc, events_huge_timer);
    tcase_add_test(tc, bio_timeout_despite_signals);
    tcase_add_test(tc, str_appendf_self_reference);
    suite_add_tcase(s, tc);

    tc = tcase_create("log+ipc");
    tcase_add_test(tc, log_to_file);
    tcase_add_exit_test(tc, log_fatal_exits, 1);
    tcase_add_test(tc, ipc_roundtrip);
    suite_add_tcase(s, tc);

    tc = tcase_create("server");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, server_max_use_and_status);
    tcase_add_test(tc, server_exits_when_master_gone);
    tcase_add_test(tc, server_sigterm_and_idle);
    tcase_add_exit_test(tc, server_not_a_socket, 1);
    tcase_add_test(tc, privs_drop);
    tcase_add_test(tc, server_closed_stdio_does_not_leak_logs);
    tcase_add_test(tc, server_huge_max_idle);
    tcase_add_test(tc, server_sigterm_during_session);
    tcase_add_test(tc, config_files_must_be_regular);
    tcase_add_test(tc, submit_ok_and_bad_replies);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    log_open("postern", "check_core", "-");
    SRunner *sr = srunner_create(core_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
