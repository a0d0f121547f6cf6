/* check_cleanup.c: unit tests for cleanup's pure parts: the header parser
 * (cleanup/cleanup_header.c) and the added-header formatting (cleanup/cleanup_addhdr.c). */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../../cleanup/cleanup_addhdr.h"
#include "../../cleanup/cleanup_header.h"
#include "record.h"

static int feed(struct hdr_state *h, const char *line)
{
    return hdr_feed(h, line, strlen(line), 1);
}

START_TEST(classify_lines)
{
    ck_assert_int_eq(hdr_classify("Subject: x", 10, 1, 0), HDR_LINE_FIELD);
    ck_assert_int_eq(hdr_classify("Subject : x", 11, 1, 0), HDR_LINE_FIELD);
    ck_assert_int_eq(hdr_classify("X:", 2, 1, 0), HDR_LINE_FIELD);
    ck_assert_int_eq(hdr_classify(" folded", 7, 1, 1), HDR_LINE_CONT);
    ck_assert_int_eq(hdr_classify("\tfolded", 7, 1, 1), HDR_LINE_CONT);
    ck_assert_int_eq(hdr_classify(" folded", 7, 1, 0), HDR_LINE_BODY);
    ck_assert_int_eq(hdr_classify("", 0, 1, 1), HDR_LINE_BLANK);
    ck_assert_int_eq(hdr_classify("From me Mon Jan 1", 17, 1, 0), HDR_LINE_BODY);
    ck_assert_int_eq(hdr_classify(":nothing", 8, 1, 0), HDR_LINE_BODY);
    ck_assert_int_eq(hdr_classify("no colon here", 13, 1, 0), HDR_LINE_BODY);
    ck_assert_int_eq(hdr_classify("Bad\x80Name: x", 11, 1, 0), HDR_LINE_BODY);
    ck_assert_int_eq(hdr_classify("Subject", 7, 0, 0), HDR_LINE_BODY);
}
END_TEST

START_TEST(header_block_and_findings)
{
    struct hdr_state h;

    hdr_init(&h, 10000, 50);
    ck_assert_int_eq(feed(&h, "Received: from a by b; Mon, 1 Jan 2024 00:00:00 +0000"), HDR_MORE);
    ck_assert_int_eq(feed(&h, "Message-ID:"), HDR_MORE);
    ck_assert_int_eq(feed(&h, "  <abc@example.test>  "), HDR_MORE);
    ck_assert_int_eq(feed(&h, "subject: hi"), HDR_MORE);
    ck_assert_int_eq(feed(&h, "DATE: today"), HDR_MORE);
    ck_assert_int_eq(feed(&h, ""), HDR_BODY);
    ck_assert(h.done);
    ck_assert_int_eq(h.received_count, 1);
    ck_assert(h.have_message_id);
    ck_assert(h.have_date);
    ck_assert(!h.have_from);
    ck_assert_str_eq(h.message_id.data, "<abc@example.test>");
    ck_assert_int_eq(h.lines, 5);
    ck_assert_uint_eq(h.bytes, strlen("Received: from a by b; Mon, 1 Jan 2024 00:00:00 +0000")
                      + 1 + 11 + 1 + 22 + 1 + 11 + 1 + 11 + 1);
    /* After the end, more input is refused. */
    ck_assert_int_eq(feed(&h, "X: y"), HDR_BODY);
    hdr_free(&h);
}
END_TEST

START_TEST(body_line_ends_headers)
{
    struct hdr_state h;

    hdr_init(&h, 10000, 50);
    ck_assert_int_eq(feed(&h, "From: a@b"), HDR_MORE);
    ck_assert_int_eq(feed(&h, "this is body text"), HDR_BODY);
    ck_assert(h.have_from);
    ck_assert_int_eq(h.lines, 1);
    hdr_free(&h);

    hdr_init(&h, 10000, 50);
    ck_assert_int_eq(feed(&h, "plain body first"), HDR_BODY);
    ck_assert_int_eq(h.lines, 0);
    ck_assert_uint_eq(h.block.len, 0);
    hdr_free(&h);
}
END_TEST

START_TEST(partial_pieces)
{
    struct hdr_state h;
    int type;
    const char *d, *err;
    size_t dl;

    hdr_init(&h, 10000, 50);
    ck_assert_int_eq(hdr_feed(&h, "Message-ID: <long", 17, 0), HDR_MORE);
    /* The next piece continues the line even though it looks like a body line. */
    ck_assert_int_eq(hdr_feed(&h, "part@x>", 7, 1), HDR_MORE);
    ck_assert_int_eq(hdr_feed(&h, "", 0, 1), HDR_BODY);
    ck_assert_str_eq(h.message_id.data, "<longpart@x>");
    ck_assert_uint_eq(h.bytes, 17 + 7 + 1);
    /* Block is L then N. */
    ck_assert_int_gt(rec_decode(h.block.data, h.block.len, &type, &d, &dl, &err), 0);
    ck_assert_int_eq(type, REC_CONT);
    ck_assert_uint_eq(dl, 17);
    hdr_free(&h);
}
END_TEST

START_TEST(size_limit)
{
    struct hdr_state h;

    hdr_init(&h, 20, 50);
    ck_assert_int_eq(feed(&h, "A: 123456789"), HDR_MORE);      /* 13 bytes */
    ck_assert_int_eq(feed(&h, " 12345"), HDR_MORE);            /* 20 bytes: at the limit */
    ck_assert_int_eq(feed(&h, " 1"), HDR_TOO_BIG);
    ck_assert_int_eq(feed(&h, ""), HDR_TOO_BIG);               /* sticky */
    ck_assert_uint_le(h.bytes, 20);
    hdr_free(&h);

    hdr_init(&h, 5, 50);
    ck_assert_int_eq(hdr_feed(&h, "A: 1", 4, 0), HDR_MORE);
    ck_assert_int_eq(hdr_feed(&h, "xxxx", 4, 1), HDR_TOO_BIG);
    hdr_free(&h);
}
END_TEST

START_TEST(hop_limit)
{
    struct hdr_state h;
    int i;

    hdr_init(&h, 100000, 3);
    for (i = 0; i < 2; i++)
        ck_assert_int_eq(feed(&h, "Received: from x"), HDR_MORE);
    ck_assert_int_eq(feed(&h, "received : from x"), HDR_TOO_MANY_HOPS);
    hdr_free(&h);
}
END_TEST

START_TEST(message_id_bounded)
{
    struct hdr_state h;
    char big[3000];

    memset(big, 'a', sizeof(big));
    memcpy(big, "Message-ID: <", 13);
    hdr_init(&h, 100000, 50);
    ck_assert_int_eq(hdr_feed(&h, big, sizeof(big), 1), HDR_MORE);
    ck_assert_int_eq(feed(&h, " more"), HDR_MORE);
    hdr_finish(&h);
    ck_assert_uint_le(h.message_id.len, HDR_MSGID_MAX);
    hdr_free(&h);
}
END_TEST

START_TEST(received_forms)
{
    str out;
    struct received_info ri;

    str_init(&out);
    memset(&ri, 0, sizeof(ri));
    ri.helo_name = "client.example";
    ri.client_name = "mail.example";
    ri.client_addr = "192.0.2.1";
    ri.protocol = "ESMTP";
    ri.myhostname = "mx.test";
    ri.queue_id = "ABCDEF1234x";
    ri.rcpt = "u@mx.test";
    ri.uid = -1;
    ri.when = 0;
    addhdr_received(&out, &ri);
    ck_assert_msg(strncmp(out.data, "Received: from client.example (mail.example [192.0.2.1])\n"
                          "\tby mx.test (postern) with ESMTP id ABCDEF1234x\n"
                          "\tfor <u@mx.test>; ", 120) == 0, "got %s", out.data);
    ck_assert(out.data[out.len - 1] == '\n');

    str_reset(&out);
    ri.client_addr = "::1";
    ri.rcpt = NULL;
    addhdr_received(&out, &ri);
    ck_assert_ptr_nonnull(strstr(out.data, "[IPv6:::1])\n"));
    ck_assert_ptr_nonnull(strstr(out.data, "id ABCDEF1234x; "));
    ck_assert_ptr_null(strstr(out.data, "for <"));

    str_reset(&out);
    ri.client_addr = NULL;
    ri.uid = 1000;
    addhdr_received(&out, &ri);
    ck_assert_msg(strncmp(out.data, "Received: by mx.test (postern, from userid 1000) id ABCDEF1234x; ",
                          65) == 0, "got %s", out.data);
    str_free(&out);
}
END_TEST

START_TEST(added_fields)
{
    str out;
    char date[ADDHDR_DATE_MAX];

    str_init(&out);
    addhdr_message_id(&out, 1700000000, "QID", "h.test");
    ck_assert_str_eq(out.data, "Message-ID: <20231114221320.QID@h.test>\n");
    str_reset(&out);
    addhdr_from(&out, "");
    ck_assert_str_eq(out.data, "From: MAILER-DAEMON\n");
    str_reset(&out);
    addhdr_from(&out, "a@b");
    ck_assert_str_eq(out.data, "From: <a@b>\n");
    str_free(&out);

    setenv("TZ", "UTC", 1);
    tzset();
    addhdr_date(date, sizeof(date), 1700000000);
    ck_assert_str_eq(date, "Tue, 14 Nov 2023 22:13:20 +0000");
    setenv("TZ", "EST5", 1);
    tzset();
    addhdr_date(date, sizeof(date), 1700000000);
    ck_assert_str_eq(date, "Tue, 14 Nov 2023 17:13:20 -0500");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cleanup");
    TCase *tc = tcase_create("header");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, classify_lines);
    tcase_add_test(tc, header_block_and_findings);
    tcase_add_test(tc, body_line_ends_headers);
    tcase_add_test(tc, partial_pieces);
    tcase_add_test(tc, size_limit);
    tcase_add_test(tc, hop_limit);
    tcase_add_test(tc, message_id_bounded);
    tcase_add_test(tc, received_forms);
    tcase_add_test(tc, added_fields);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
