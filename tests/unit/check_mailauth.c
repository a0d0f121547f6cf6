/* check_mailauth.c: unit tests for the mail-authentication helpers: From-address domain
 * parsing (lib/dmarc.c), Authentication-Results formatting and forged-field recognition
 * (lib/authres.c), SPF result names (lib/spf.c). */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include "authres.h"
#include "dmarc.h"
#include "spf.h"
#include "str.h"

START_TEST(from_domains)
{
    char d[8][256];

    ck_assert_int_eq(dm_from_domains(" Joe <joe@Example.TEST>", d, 8), 1);
    ck_assert_str_eq(d[0], "example.test");
    ck_assert_int_eq(dm_from_domains("a@x.test, \"B, c\" <b@y.test>", d, 8), 2);
    ck_assert_str_eq(d[0], "x.test");
    ck_assert_str_eq(d[1], "y.test");
    ck_assert_int_eq(dm_from_domains("a@x.test (comment <c@evil.test>)", d, 8), 1);
    ck_assert_str_eq(d[0], "x.test");
    ck_assert_int_eq(dm_from_domains("", d, 8), 0);
    ck_assert_int_eq(dm_from_domains("no-domain", d, 8), -1);
    ck_assert_int_eq(dm_from_domains("\"unterminated <a@b.test>", d, 8), 0);
}
END_TEST

START_TEST(from_domains_long)
{
    char d[2][256];
    str s;

    str_init(&s);
    str_appends(&s, "a@");
    for (int i = 0; i < 300; i++)
        str_putc(&s, 'x');
    ck_assert_int_eq(dm_from_domains(s.data, d, 2), -1);
    str_free(&s);
}
END_TEST

START_TEST(authres_format)
{
    str s;

    str_init(&s);
    authres_begin(&s, "mx.example.test");
    authres_add(&s, "spf", "pass", NULL, "smtp.mailfrom=example.test");
    authres_add(&s, "dkim", "fail", "bad;(x)", "header.d=a.test");
    authres_end(&s, 2);
    ck_assert_str_eq(s.data, "Authentication-Results: mx.example.test;\n\tspf=pass "
                     "smtp.mailfrom=example.test;\n\tdkim=fail (bad??x?) header.d=a.test");
    authres_begin(&s, "mx");
    authres_end(&s, 0);
    ck_assert_str_eq(s.data, "Authentication-Results: mx; none");
    str_free(&s);
}
END_TEST

START_TEST(authres_ours)
{
    const char *f1 = "Authentication-Results: mx.example.test; spf=pass";
    const char *f2 = "authentication-results :\r\n (c) MX.Example.Test;dkim=pass";
    const char *f3 = "Authentication-Results: mx.example.test.evil; spf=pass";
    const char *f4 = "Authentication-Results-X: mx.example.test; spf=pass";
    const char *f5 = "Authentication-Results: (unterminated";

    ck_assert(authres_is_ours(f1, strlen(f1), "mx.example.test"));
    ck_assert(authres_is_ours(f2, strlen(f2), "mx.example.test"));
    ck_assert(!authres_is_ours(f3, strlen(f3), "mx.example.test"));
    ck_assert(!authres_is_ours(f4, strlen(f4), "mx.example.test"));
    ck_assert(!authres_is_ours(f5, strlen(f5), "mx.example.test"));
}
END_TEST

START_TEST(spf_names)
{
    for (int i = 0; i < SPF_RES_COUNT; i++)
        ck_assert_int_eq(spf_result_parse(spf_result_name(i)), i);
    ck_assert_int_eq(spf_result_parse("bogus"), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mailauth");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, from_domains);
    tcase_add_test(tc, from_domains_long);
    tcase_add_test(tc, authres_format);
    tcase_add_test(tc, authres_ours);
    tcase_add_test(tc, spf_names);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
