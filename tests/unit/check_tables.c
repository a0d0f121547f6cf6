/* check_tables.c: unit tests for the text-file table types and access results:
 * regexp: (dict_regexp.c), cidr: (dict_cidr.c), their shared line reader (dict_text.c),
 * and lib/access.c (action parsing, check_client_access key order). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access.h"
#include "dict.h"
#include "dict_text.h"
#include "str.h"

static char tmpdir[] = "/tmp/check_tables.XXXXXX";
static char *tmp_path;

/* Write text to a temp file and return "type:path" (static buffer). */
static const char *table_file(const char *type, const char *text)
{
    static char spec[512];
    FILE *f = fopen(tmp_path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    snprintf(spec, sizeof(spec), "%s:%s", type, tmp_path);
    return spec;
}

static void setup(void)
{
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    tmp_path = malloc(strlen(tmpdir) + 16);
    sprintf(tmp_path, "%s/table", tmpdir);
}

static void teardown(void)
{
    unlink(tmp_path);
    rmdir(tmpdir);
    free(tmp_path);
    strcpy(tmpdir, "/tmp/check_tables.XXXXXX");
}

/* Look key up in an open table; returns the value (static) or NULL. */
static const char *q(dict *d, const char *key)
{
    static str v;
    static int init;
    if (!init++)
        str_init(&v);
    int rc = dict_lookup(d, key, &v);
    ck_assert_int_ge(rc, 0);
    return rc ? v.data : NULL;
}

static dict *open_ok(const char *type, const char *text)
{
    char *err = NULL;
    dict *d = dict_open(table_file(type, text), &err);
    if (!d)
        ck_abort_msg("open failed: %s", err);
    return d;
}

static void open_fails(const char *type, const char *text, const char *want)
{
    char *err = NULL;
    dict *d = dict_open(table_file(type, text), &err);
    ck_assert_msg(d == NULL, "table should not open: %s", text);
    ck_assert_msg(strstr(err, want) != NULL, "error \"%s\" lacks \"%s\"", err, want);
    free(err);
}

START_TEST(regexp_basic)
{
    dict *d = open_ok("regexp",
                      "# comment\n"
                      "/^Subject: .*viagra/ REJECT no spam\n"
                      "/^Subject: CaseSens/i DISCARD\n"
                      "\n"
                      "/^To: (.*)@(example\\.test)$/ REDIRECT $2-$1 ${1} $(2) $$\n"
                      "!/^X-/ WARN not an X header\n"
                      "/^X-Multi: a$/m   HOLD\n"
                      "/^X-Long:/ PREPEND X-Seen: yes\n"
                      "  continued\n");
    ck_assert_str_eq(q(d, "Subject: buy VIAGRA now"), "REJECT no spam");
    ck_assert_str_eq(q(d, "subject: casesens"), "WARN not an X header"); /* i: case matters */
    ck_assert_str_eq(q(d, "Subject: CaseSens"), "DISCARD");
    ck_assert_str_eq(q(d, "To: Bob@example.test"), "REDIRECT example.test-Bob Bob example.test $");
    ck_assert_str_eq(q(d, "From: x"), "WARN not an X header");
    ck_assert_str_eq(q(d, "X-Multi: a\n b"), "HOLD");      /* m: $ matches before \n */
    ck_assert_str_eq(q(d, "X-Long: 1"), "PREPEND X-Seen: yes continued");
    ck_assert_ptr_null(q(d, "X-Other: 1"));
    ck_assert_str_eq(q(d, ""), "WARN not an X header");
    dict_close(d);
}
END_TEST

START_TEST(regexp_if_endif)
{
    dict *d = open_ok("regexp",
                      "if /^Subject:/\n"
                      "if !/urgent/\n"
                      "/money/ REJECT money\n"
                      "endif\n"
                      "/free/ HOLD\n"
                      "endif\n"
                      "!/^Subject/ OK$$\n"
                      "/./ $$5\n");
    ck_assert_str_eq(q(d, "Subject: money"), "REJECT money");
    ck_assert_str_eq(q(d, "To: x"), "OK$");
    ck_assert_str_eq(q(d, "Subject: urgent money free"), "HOLD");
    ck_assert_str_eq(q(d, "From: money free"), "OK$");
    ck_assert_str_eq(q(d, "Subject: nothing"), "$5");
    dict_close(d);
}
END_TEST

START_TEST(regexp_errors)
{
    open_fails("regexp", "/a/ OK\n/unclosed OK\n", ":2: missing closing");
    open_fails("regexp", "/a(/ OK\n", ":1: bad regular expression");
    open_fails("regexp", "/a/q OK\n", ":1: unknown regexp flag 'q'");
    open_fails("regexp", "/a/\n", ":1: missing result");
    open_fails("regexp", "/(a)/ $2\n", ":1: $2 out of range");
    open_fails("regexp", "!/(a)/ $1\n", "negated pattern");
    open_fails("regexp", "/a/ $x\n", "bad $ substitution");
    open_fails("regexp", "if /a/\n/b/ OK\n", ":1: if without endif");
    open_fails("regexp", "endif\n", ":1: endif without if");
    open_fails("regexp", "# c\n\nabc OK\n", ":3: expected /pattern/");
    open_fails("regexp", " /a/ OK\n", ":1: continuation line without");
    open_fails("regexp", "// OK\n", "empty pattern");
    open_fails("regexp", "/(a)\\1/ OK\n", "back-references");
    open_fails("regexp", "/a{256}/ OK\n", "repetition count too large");
    open_fails("regexp", "/a{100}b{100}/ OK\n", "too many repetitions");
    open_fails("regexp", "/(a*){1,93}+b/ OK\n", "group too large");
    open_fails("regexp", "/b(){,20}+b()c|/ OK\n", "group too large");   /* {,m} = {0,m} */
    open_fails("regexp", "/(a*){1,16}+/ OK\n", "after another one");
    open_fails("regexp", "/a{2,3}+++/ OK\n", "after another one");
    open_fails("regexp", "/(((((((((a+)+)+)+)+)+)+)+)+)+/ OK\n", "too many repetitions");
    dict_close(open_ok("regexp", "/[+*]{2}[[:alpha:]]+[]{]x/ OK\n/((a+)+)+/ OK\n"));
    dict_close(open_ok("regexp", "/^[0-9]{1,3}(\\.[0-9]{1,3}){3}$/ OK\n/x{2,255}/ OK\n"));
    char *err = NULL;
    ck_assert_ptr_null(dict_open("regexp:/nonexistent/table", &err));
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/table"));
    free(err);
    /* Line length and NUL bytes (buffer variant). */
    size_t big = DICT_TEXT_LINE_MAX + 10;
    char *buf = malloc(big + 1);
    memset(buf, 'a', big);
    buf[0] = '/';
    buf[big] = 0;
    err = NULL;
    ck_assert_ptr_null(dict_regexp_open_buf("t", buf, big, &err));
    ck_assert_ptr_nonnull(strstr(err, "t:1: line too long"));
    free(err);
    free(buf);
    err = NULL;
    ck_assert_ptr_null(dict_regexp_open_buf("t", "/a/ O\0K\n", 8, &err));
    ck_assert_ptr_nonnull(strstr(err, "NUL byte"));
    free(err);
}
END_TEST

START_TEST(cidr_basic)
{
    dict *d = open_ok("cidr",
                      "192.0.2.0/24 REJECT test net\n"
                      "[198.51.100.7] OK\n"
                      "10.0.0.0/8   DUNNO\n"
                      "2001:db8::/32 REJECT v6 doc\n"
                      "[::1]/128 OK\n"
                      "!127.0.0.0/8 HOLD not loopback\n"
                      "0.0.0.0/0 WARN last\n");
    ck_assert_str_eq(q(d, "192.0.2.77"), "REJECT test net");
    ck_assert_str_eq(q(d, "[192.0.2.1]"), "REJECT test net");
    ck_assert_str_eq(q(d, "::ffff:192.0.2.9"), "REJECT test net");
    ck_assert_str_eq(q(d, "198.51.100.7"), "OK");
    ck_assert_str_eq(q(d, "198.51.100.8"), "HOLD not loopback");
    ck_assert_str_eq(q(d, "127.0.0.1"), "WARN last");
    ck_assert_str_eq(q(d, "2001:DB8::1"), "REJECT v6 doc");
    ck_assert_str_eq(q(d, "::1"), "OK");
    ck_assert_ptr_null(q(d, "2001:db9::1"));
    ck_assert_ptr_null(q(d, "not-an-address"));
    ck_assert_ptr_null(q(d, "192.0.2"));
    dict_close(d);
}
END_TEST

START_TEST(cidr_errors)
{
    open_fails("cidr", "192.0.2.1/24 OK\n", ":1: non-null host address bits");
    open_fails("cidr", "192.0.2.0/33 OK\n", ":1: network mask /33 too long");
    open_fails("cidr", "# x\n192.0.2.0/2x OK\n", ":2: bad network mask");
    open_fails("cidr", "192.0.2.256 OK\n", ":1: bad network address");
    open_fails("cidr", "192.0.2.0/24\n", ":1: missing result");
    open_fails("cidr", "2001:db8::1/32 OK\n", "non-null host address bits");
    open_fails("cidr", "if 192.0.2.0/24\nendif\n", "not supported");
    open_fails("cidr", "::/129 OK\n", "too long");
}
END_TEST

START_TEST(access_actions)
{
    struct access_action a;
    char *err = NULL;
    ck_assert_int_eq(access_parse_action("REJECT", &a, &err), 0);
    ck_assert_int_eq(a.kind, ACCESS_REJECT);
    ck_assert_str_eq(a.dsn, "5.7.1");
    ck_assert_str_eq(a.text, "");
    ck_assert_int_eq(access_parse_action("reject  go away  ", &a, &err), 0);
    ck_assert_str_eq(a.text, "go away");
    ck_assert_int_eq(access_parse_action("554 5.7.2 no thanks", &a, &err), 0);
    ck_assert_int_eq(a.kind, ACCESS_REJECT);
    ck_assert_int_eq(a.code, 554);
    ck_assert_str_eq(a.dsn, "5.7.2");
    ck_assert_str_eq(a.text, "no thanks");
    ck_assert_int_eq(access_parse_action("REJECT 5.7.2 custom", &a, &err), 0);
    ck_assert_str_eq(a.dsn, "5.7.2");
    ck_assert_str_eq(a.text, "custom");
    ck_assert_int_eq(access_parse_action("DEFER 4.3.2 try later", &a, &err), 0);
    ck_assert_str_eq(a.dsn, "4.3.2");
    ck_assert_int_eq(access_parse_action("451 later", &a, &err), 0);
    ck_assert_int_eq(a.kind, ACCESS_DEFER);
    ck_assert_str_eq(a.dsn, "4.7.1");
    ck_assert_int_eq(access_parse_action("PREPEND X-Tag: 1", &a, &err), 0);
    ck_assert_int_eq(a.kind, ACCESS_PREPEND);
    ck_assert_str_eq(a.text, "X-Tag: 1");
    ck_assert_int_eq(access_parse_action("REDIRECT abuse@example.test", &a, &err), 0);
    ck_assert_int_eq(a.kind, ACCESS_REDIRECT);
    ck_assert_int_eq(access_parse_action("IGNORE", &a, &err), 0);
    ck_assert_int_eq(access_parse_action("OK", &a, &err), 0);
    ck_assert_int_eq(access_parse_action("HOLD", &a, &err), 0);
    ck_assert_int_eq(access_parse_action("DISCARD bye", &a, &err), 0);
    ck_assert_int_eq(access_parse_action("WARN w", &a, &err), 0);
    const char *bad[] = { "FILTER smtp:x", "PREPEND", "REDIRECT", "REDIRECT a b", "OK x",
                          "IGNORE x", "", "600 x", "REJECT a\tb\x01", NULL };
    for (int i = 0; bad[i]; i++) {
        err = NULL;
        ck_assert_msg(access_parse_action(bad[i], &a, &err) < 0, "accepted \"%s\"", bad[i]);
        ck_assert_ptr_nonnull(err);
        free(err);
    }
    char longtext[ACCESS_TEXT_MAX + 20];
    memset(longtext, 'x', sizeof(longtext) - 1);
    longtext[sizeof(longtext) - 1] = 0;
    memcpy(longtext, "WARN ", 5);
    err = NULL;
    ck_assert_int_lt(access_parse_action(longtext, &a, &err), 0);
    free(err);
}
END_TEST

START_TEST(client_access)
{
    str v;
    str_init(&v);
    char spec[600];
    snprintf(spec, sizeof(spec), "%s", table_file("cidr", "192.0.2.0/25 REJECT cidr hit\n"));
    char inl[] = "inline:{ 198.51.100=REJECT, mail.example.test=OK, example.org=DUNNO }";
    char *maps[] = { spec, inl, NULL };
    ck_assert_int_eq(access_check_client(maps, "192.0.2.5", "host.example.org", &v), 1);
    ck_assert_str_eq(v.data, "REJECT cidr hit");
    ck_assert_int_eq(access_check_client(maps, "198.51.100.9", "unknown", &v), 1);
    ck_assert_str_eq(v.data, "REJECT");
    ck_assert_int_eq(access_check_client(maps, "198.51.100.9", "mail.example.test", &v), 1);
    ck_assert_str_eq(v.data, "OK");                       /* name before address */
    ck_assert_int_eq(access_check_client(maps, "203.0.113.1", "a.b.example.org", &v), 1);
    ck_assert_str_eq(v.data, "DUNNO");                    /* parent domain */
    ck_assert_int_eq(access_check_client(maps, "192.0.2.200", NULL, &v), 0);
    ck_assert_int_eq(access_check_client(maps, "2001:db8::1", NULL, &v), 0);
    dict_cache_clear();
    str_free(&v);
}
END_TEST

static Suite *tables_suite(void)
{
    Suite *s = suite_create("tables");
    TCase *tc = tcase_create("tables");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, regexp_basic);
    tcase_add_test(tc, regexp_if_endif);
    tcase_add_test(tc, regexp_errors);
    tcase_add_test(tc, cidr_basic);
    tcase_add_test(tc, cidr_errors);
    tcase_add_test(tc, access_actions);
    tcase_add_test(tc, client_access);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(tables_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
