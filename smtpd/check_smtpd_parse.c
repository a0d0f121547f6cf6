/* check_smtpd_parse.c: unit tests (check) for smtpd's pure parsers: the command-line
 * tokenizer and MAIL parameters (smtpd_cmd.c) and the DATA line state machine
 * (smtpd_dataline.c), including the SMTP smuggling variants. Run by `make check`. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include "smtpd_cmd.h"
#include "smtpd_dataline.h"
#include "str.h"

/* Feed `in` as bio_getline would with pieces of at most maxlen bytes. Content is
 * rebuilt with "\n" after each complete line. Returns the offset just after the end of
 * data, or -1 when no end was seen. */
static long run_data(const char *in, size_t len, size_t maxlen, str *content,
                     struct smtpd_dataline *dl)
{
    struct smtpd_dataline_out out;
    size_t pos = 0;

    str_reset(content);
    smtpd_dataline_init(dl);
    while (pos < len) {
        size_t n = len - pos < maxlen ? len - pos : maxlen;
        const char *nl = memchr(in + pos, '\n', n);
        int complete = nl != NULL;
        if (nl)
            n = (size_t) (nl - (in + pos)) + 1;
        if (smtpd_dataline_feed(dl, in + pos, n, complete, &out) == SMTPD_DATALINE_END)
            return (long) (pos + n);
        if (out.cr_first)
            str_putc(content, '\r');
        str_append(content, out.data, out.len);
        if (out.complete)
            str_putc(content, '\n');
        pos += n;
    }
    return -1;
}

#define RUN(lit, maxlen) run_data(lit, sizeof(lit) - 1, maxlen, &content, &dl)

START_TEST(test_data_basic)
{
    str content;
    struct smtpd_dataline dl;
    str_init(&content);
    ck_assert_int_eq(RUN("Hello\r\n.\r\n", 64), 10);
    ck_assert_str_eq(content.data, "Hello\n");
    ck_assert_int_eq(dl.bare_lf + dl.bare_cr, 0);
    ck_assert_int_eq(RUN("..x\r\n.y\r\n\r\n.\r\nafter", 64), 14);
    ck_assert_str_eq(content.data, ".x\ny\n\n");
    ck_assert_int_eq(RUN(".\r\n", 64), 3);
    ck_assert_str_eq(content.data, "");
    ck_assert_int_eq(RUN("abc\r\n", 64), -1);
    ck_assert_int_eq(RUN("abc\r\n. \r\n.\r\n", 64), 12);
    ck_assert_str_eq(content.data, "abc\n \n");
    str_free(&content);
}
END_TEST

START_TEST(test_data_smuggling)
{
    str content;
    struct smtpd_dataline dl;
    str_init(&content);
    /* "\n.\n" */
    ck_assert_int_eq(RUN("a\n.\nMAIL FROM:<x@y>\r\n.\r\n", 64), 24);
    ck_assert_int_eq(dl.bare_lf, 1);
    /* "\r.\r" */
    ck_assert_int_eq(RUN("a\r.\rMAIL FROM:<x@y>\r\n.\r\n", 64), 24);
    ck_assert_int_eq(dl.bare_cr, 1);
    /* "\n.\r\n" */
    ck_assert_int_eq(RUN("a\n.\r\nRSET\r\n.\r\n", 64), 14);
    ck_assert_int_eq(dl.bare_lf, 1);
    /* "\r\n.\n" */
    ck_assert_int_eq(RUN("a\r\n.\nRSET\r\n.\r\n", 64), 14);
    ck_assert_int_eq(dl.bare_lf, 1);
    /* "\r\n.\r" followed by other text */
    ck_assert_int_eq(RUN("a\r\n.\rX\r\n.\r\n", 64), 11);
    ck_assert_int_eq(dl.bare_cr, 1);
    str_free(&content);
}
END_TEST

START_TEST(test_data_long_lines)
{
    str content, in, expect;
    struct smtpd_dataline dl;
    str_init(&content);
    str_init(&in);
    str_init(&expect);
    /* 200-byte line in 64-byte pieces */
    for (int i = 0; i < 200; i++)
        str_putc(&in, 'x');
    str_append(&expect, in.data, in.len);
    str_appends(&expect, "\n");
    str_appends(&in, "\r\n.\r\n");
    ck_assert_int_eq(run_data(in.data, in.len, 64, &content, &dl), (long) in.len);
    ck_assert_str_eq(content.data, expect.data);
    ck_assert_int_eq(dl.bare_lf + dl.bare_cr, 0);
    /* CR as the last byte of a piece, LF in the next: still CRLF */
    str_reset(&in);
    for (int i = 0; i < 63; i++)
        str_putc(&in, 'y');
    str_appends(&in, "\r\n.\r\n");
    ck_assert_int_eq(run_data(in.data, in.len, 64, &content, &dl), (long) in.len);
    ck_assert_int_eq(dl.bare_lf + dl.bare_cr, 0);
    ck_assert_uint_eq(content.len, 64);
    /* CR as the last byte of a piece, not followed by LF: bare CR */
    str_truncate(&in, 63);
    str_appends(&in, "\rz\r\n.\r\n");
    ck_assert_int_eq(run_data(in.data, in.len, 64, &content, &dl), (long) in.len);
    ck_assert_int_eq(dl.bare_cr, 1);
    /* a dot-stuffed long line loses only its first dot */
    str_reset(&in);
    str_appends(&in, "..");
    for (int i = 0; i < 100; i++)
        str_putc(&in, '.');
    str_appends(&in, "\r\n.\r\n");
    ck_assert_int_eq(run_data(in.data, in.len, 64, &content, &dl), (long) in.len);
    ck_assert_uint_eq(content.len, 102);
    str_free(&content);
    str_free(&in);
    str_free(&expect);
}
END_TEST

START_TEST(test_cmd_parse)
{
    struct smtpd_cmd cmd;
    char l1[] = "mail FROM:<a@b>  \r\n";
    char l2[] = " \t\r\n";
    char l3[] = "NO\0OP\r\n";
    char l4[] = "X\rY\r\n";
    char l5[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ x\r\n";
    char l6[] = "QUIT\n";
    char l7[] = "helo";
    ck_assert_int_eq(smtpd_cmd_parse(l1, strlen(l1), &cmd), SMTPD_CMD_OK);
    ck_assert_str_eq(cmd.verb, "MAIL");
    ck_assert_str_eq(cmd.args, "FROM:<a@b>");
    ck_assert_int_eq(cmd.bare_lf, 0);
    ck_assert_int_eq(smtpd_cmd_parse(l2, strlen(l2), &cmd), SMTPD_CMD_EMPTY);
    ck_assert_int_eq(smtpd_cmd_parse(l3, sizeof(l3) - 1, &cmd), SMTPD_CMD_BAD_CHAR);
    ck_assert_int_eq(smtpd_cmd_parse(l4, strlen(l4), &cmd), SMTPD_CMD_BAD_CHAR);
    ck_assert_int_eq(smtpd_cmd_parse(l5, strlen(l5), &cmd), SMTPD_CMD_OK);
    ck_assert_str_eq(cmd.verb, "");
    ck_assert_int_eq(smtpd_cmd_parse(l6, strlen(l6), &cmd), SMTPD_CMD_OK);
    ck_assert_str_eq(cmd.verb, "QUIT");
    ck_assert_str_eq(cmd.args, "");
    ck_assert_int_eq(cmd.bare_lf, 1);
    ck_assert_int_eq(smtpd_cmd_parse(l7, strlen(l7), &cmd), SMTPD_CMD_OK);
    ck_assert_str_eq(cmd.verb, "HELO");
}
END_TEST

START_TEST(test_mail_params)
{
    struct smtpd_mail_params mp;
    str reply;
    str_init(&reply);
    ck_assert_int_eq(smtpd_mail_params_parse("", &mp, &reply), 0);
    ck_assert_int_eq(mp.size, -1);
    ck_assert_int_eq(smtpd_mail_params_parse("SIZE=100 body=8bitmime", &mp, &reply), 0);
    ck_assert_int_eq(mp.size, 100);
    ck_assert_int_eq(mp.body, SMTPD_BODY_8BITMIME);
    ck_assert_int_eq(smtpd_mail_params_parse("FOO=1", &mp, &reply), -1);
    ck_assert_str_eq(reply.data, "555 5.5.4 Unsupported option: FOO");
    ck_assert_int_eq(smtpd_mail_params_parse("SIZE=abc", &mp, &reply), -1);
    ck_assert(strncmp(reply.data, "501 5.5.4", 9) == 0);
    ck_assert_int_eq(smtpd_mail_params_parse("SIZE", &mp, &reply), -1);
    ck_assert_int_eq(smtpd_mail_params_parse("SIZE=99999999999999999999", &mp, &reply), -1);
    ck_assert_int_eq(smtpd_mail_params_parse("BODY=BINARYMIME", &mp, &reply), -1);
    ck_assert_int_eq(smtpd_helo_name_ok("mail.example.test"), 1);
    ck_assert_int_eq(smtpd_helo_name_ok("[127.0.0.1]"), 1);
    ck_assert_int_eq(smtpd_helo_name_ok("a b"), 0);
    ck_assert_int_eq(smtpd_helo_name_ok(""), 0);
    str_free(&reply);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("smtpd_parse");
    TCase *tc = tcase_create("parsers");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, test_data_basic);
    tcase_add_test(tc, test_data_smuggling);
    tcase_add_test(tc, test_data_long_lines);
    tcase_add_test(tc, test_cmd_parse);
    tcase_add_test(tc, test_mail_params);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
