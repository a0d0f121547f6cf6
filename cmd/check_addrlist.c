/* check_addrlist.c: unit tests (check) for cmd/addrlist.c, the RFC 5322 address-list
 * parser behind `sendmail -t`: accepted forms, extracted addresses, rejected input. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "addrlist.h"
#include "str.h"

/* Parse text; expect success and the '|'-joined list `want`. */
static void expect_ok(const char *text, const char *want)
{
    char **v = NULL;
    const char *err = NULL;
    str joined;

    ck_assert_msg(addrlist_parse(text, strlen(text), &v, &err) == 0,
                  "parse failed for [%s]: %s", text, err ? err : "?");
    str_init(&joined);
    for (size_t i = 0; v && v[i]; i++) {
        if (i)
            str_putc(&joined, '|');
        str_appends(&joined, v[i]);
    }
    ck_assert_msg(strcmp(joined.data, want) == 0, "[%s]: got [%s] want [%s]", text,
                  joined.data, want);
    str_free(&joined);
    strv_free(v);
}

static void expect_bad(const char *text)
{
    char **v = NULL;
    const char *err = NULL;

    ck_assert_msg(addrlist_parse(text, strlen(text), &v, &err) == -1,
                  "[%s] accepted", text);
    ck_assert_ptr_nonnull(err);
    ck_assert_ptr_null(v);
}

START_TEST(simple_forms)
{
    expect_ok("a@example.test", "a@example.test");
    expect_ok("  a@example.test , b@example.test  ", "a@example.test|b@example.test");
    expect_ok("Alice <alice@example.test>", "alice@example.test");
    expect_ok("\"Doe, John\" <jd@example.test>, bob", "jd@example.test|bob");
    expect_ok("alice@example.test (Alice (the) Admin)", "alice@example.test");
    expect_ok("\"quoted local\"@example.test", "\"quoted local\"@example.test");
    expect_ok("a@[192.0.2.1]", "a@[192.0.2.1]");
    expect_ok("a@example.test,\r\n\tb@example.test", "a@example.test|b@example.test");
    expect_ok("first . last @ example . test", "first.last@example.test");
    expect_ok("", "");
    expect_ok(" , ,a@x.test, ", "a@x.test");
    expect_ok("<@r1.test,@r2.test:a@x.test>", "a@x.test");
    expect_ok("J. Random <j@x.test>", "j@x.test");
}
END_TEST

START_TEST(groups)
{
    expect_ok("undisclosed-recipients:;", "");
    expect_ok("undisclosed-recipients:", "");
    expect_ok("Friends: a@x.test, B <b@x.test>;, c@x.test", "a@x.test|b@x.test|c@x.test");
    expect_ok("g: a@x.test; ", "a@x.test");
}
END_TEST

START_TEST(rejects)
{
    expect_bad("a@");
    expect_bad("@x.test");
    expect_bad("John Doe");
    expect_bad("<a@x.test");
    expect_bad("a@x.test>");
    expect_bad("<a@x.test> trailing");
    expect_bad("\"unterminated@x.test");
    expect_bad("(unterminated comment a@x.test");
    expect_bad("a@x.test)");
    expect_bad("g: h: a@x.test;;");
    expect_bad("a@x.test;");
    expect_bad("g: a@x.test; b@x.test");
    expect_bad("a\001b@x.test");
    expect_bad("<>");
    expect_bad("a@[1.2.3.4");
    expect_bad("<a:b@x.test>");
}
END_TEST

START_TEST(bounds)
{
    /* deeply nested comments */
    str s;
    str_init(&s);
    for (int i = 0; i < 200; i++)
        str_putc(&s, '(');
    for (int i = 0; i < 200; i++)
        str_putc(&s, ')');
    str_appends(&s, "a@x.test");
    expect_bad(s.data);
    /* a NUL inside the length */
    char **v = NULL;
    const char *err;
    ck_assert_int_eq(addrlist_parse("a@x\0.test", 9, &v, &err), -1);
    /* over-long address */
    str_reset(&s);
    for (int i = 0; i < 2000; i++)
        str_putc(&s, 'a');
    str_appends(&s, "@x.test");
    expect_bad(s.data);
    /* many addresses: accepted up to the limit, appended to an existing list */
    str_reset(&s);
    for (int i = 0; i < 500; i++)
        str_appends(&s, "a@x.test,");
    v = NULL;
    ck_assert_int_eq(addrlist_parse(s.data, s.len, &v, &err), 0);
    ck_assert_int_eq(addrlist_parse(s.data, s.len, &v, &err), 0);
    ck_assert_uint_eq(strv_len(v), 1000);
    strv_free(v);
    str_free(&s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("addrlist");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, simple_forms);
    tcase_add_test(tc, groups);
    tcase_add_test(tc, rejects);
    tcase_add_test(tc, bounds);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
