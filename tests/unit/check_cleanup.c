/* check_cleanup.c: unit tests for cleanup's pure parts: the header parser
 * (cleanup/cleanup_header.c) and the added-header formatting (cleanup/cleanup_addhdr.c),
 * plus end-to-end tests that run the built cleanup daemon (BUILDDIR/cleanup/cleanup) on a
 * temporary queue and talk to it through lib/submit.c: commit rule, file mode, removal of
 * the file on every failure path. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "../../cleanup/cleanup_addhdr.h"
#include "../../cleanup/cleanup_header.h"
#include "config.h"
#include "ipc.h"
#include "log.h"
#include "mem.h"
#include "qfile.h"
#include "queue.h"
#include "record.h"
#include "server.h"
#include "submit.h"

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

/* ---------------------------------------------------------------- end to end */

#ifndef POSTERN_BUILDDIR
#define POSTERN_BUILDDIR "."
#endif

struct e2e {
    char qdir[64];
    char *daemon;
    pid_t pid;
    int status_rd;           /* kept open: a closed status pipe means "master gone" */
};

/* Start cleanup with max_use=1 on a fresh queue; extra: more "-o name=value" args. */
static int e2e_start(struct e2e *e, const char *const *extra)
{
    e->daemon = xasprintf("%s/cleanup/cleanup", POSTERN_BUILDDIR);
    if (access(e->daemon, X_OK) != 0) {
        fprintf(stderr, "check_cleanup: %s not built; end-to-end test skipped\n", e->daemon);
        free(e->daemon);
        return -1;
    }
    snprintf(e->qdir, sizeof e->qdir, "/tmp/check_cleanup_qXXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(e->qdir));
    ck_assert_int_eq(queue_dirs_create(e->qdir, (uid_t)-1, (gid_t)-1), 0);
    char *sock = xasprintf("%s/private/cleanup", e->qdir);
    int lfd = ipc_listen_unix(sock, 0600, 10);
    ck_assert_int_ge(lfd, 0);
    int st[2];
    ck_assert_int_eq(pipe(st), 0);
    e->pid = fork();
    ck_assert_int_ge(e->pid, 0);
    if (e->pid == 0) {
        char *argv[32];
        int n = 0;
        argv[n++] = "cleanup";
        argv[n++] = "-c"; argv[n++] = "/nonexistent-confdir";
        argv[n++] = "-n"; argv[n++] = "cleanup";
        argv[n++] = "-t"; argv[n++] = "unix";
        argv[n++] = "-o"; argv[n++] = xasprintf("queue_directory=%s", e->qdir);
        argv[n++] = "-o"; argv[n++] = "maillog_file=-";
        argv[n++] = "-o"; argv[n++] = "max_use=1";
        /* these tests are about the queue file: no DKIM/DMARC look-ups (mail
         * authentication has tests of its own) */
        argv[n++] = "-o"; argv[n++] = "dkim_verify=no";
        argv[n++] = "-o"; argv[n++] = "dmarc_enable=no";
        for (int i = 0; extra && extra[i] && n < 30; i++) {
            argv[n++] = "-o";
            argv[n++] = (char *)extra[i];
        }
        argv[n] = NULL;
        close(st[0]);
        dup2(lfd, SERVER_LISTEN_FD);
        dup2(st[1], SERVER_STATUS_FD);
        execv(e->daemon, argv);
        _exit(127);
    }
    close(lfd);
    close(st[1]);
    e->status_rd = st[0];
    free(sock);
    config_reset();
    config_set("queue_directory", e->qdir);
    config_set("ipc_timeout", "10s");
    return 0;
}

/* Wait for the daemon to exit; returns its exit status (or 128+signal, -1 on timeout). */
static int e2e_wait(struct e2e *e, int ms)
{
    int status;
    char drain[256];
    fcntl(e->status_rd, F_SETFL, O_NONBLOCK);
    for (int i = 0; i < ms / 10; i++) {
        if (waitpid(e->pid, &status, WNOHANG) == e->pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        while (read(e->status_rd, drain, sizeof drain) > 0)
            ;
        poll(NULL, 0, 10);
    }
    kill(e->pid, SIGKILL);
    waitpid(e->pid, &status, 0);
    return -1;
}

/* Number of entries in QDIR/incoming (temporary files included). */
static int e2e_incoming_count(struct e2e *e)
{
    char *path = xasprintf("%s/incoming", e->qdir);
    DIR *d = opendir(path);
    int n = 0;
    struct dirent *de;
    ck_assert_ptr_nonnull(d);
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    free(path);
    return n;
}

static void e2e_cleanup_dir(struct e2e *e)
{
    char *cmd = xasprintf("rm -rf '%s'", e->qdir);
    ck_assert_int_eq(system(cmd), 0);
    free(cmd);
    free(e->daemon);
    close(e->status_rd);
    config_reset();
}

static submit *e2e_begin(void)
{
    const char *err = NULL;
    submit *s = submit_open(0, &err);
    ck_assert_msg(s != NULL, "submit_open: %s", err ? err : "?");
    submit_attr(s, "client_addr", "192.0.2.1");
    submit_attr(s, "client_name", "client.example.test");
    submit_attr(s, "helo_name", "helo.example.test");
    submit_attr(s, "protocol", "ESMTP");
    submit_sender(s, "a@example.test");
    submit_rcpt(s, "b@example.test", "B@example.test");
    submit_begin_content(s);
    return s;
}

static void line(submit *s, const char *text)
{
    submit_line(s, text, strlen(text), 1);
}

START_TEST(e2e_commit)
{
    struct e2e e;
    if (e2e_start(&e, NULL) != 0)
        return;
    submit *s = e2e_begin();
    char id[QUEUE_ID_MAX];
    snprintf(id, sizeof id, "%s", submit_queue_id(s));
    line(s, "Subject: test");
    line(s, "Message-ID: <m1@example.test>");
    line(s, "");
    line(s, "body line");
    struct submit_result r;
    ck_assert_int_eq(submit_finish(s, &r), 0);
    submit_result_free(&r);
    ck_assert_int_eq(e2e_wait(&e, 5000), 0);

    char path[512];
    ck_assert_ptr_nonnull(queue_path(path, sizeof path, e.qdir, "incoming", id));
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, QUEUE_MODE_READY);
    ck_assert_int_eq(e2e_incoming_count(&e), 1);
    /* the file passes the queue-file reader's checks */
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    struct qfile_env env;
    char errbuf[256];
    memset(&env, 0, sizeof env);
    int rc = qfile_read_env(fd, &env, errbuf);
    ck_assert_msg(rc == 0, "qfile_read_env: %d %s", rc, errbuf);
    ck_assert_int_eq(env.complete, 1);
    ck_assert_str_eq(env.sender, "a@example.test");
    ck_assert_int_eq(env.rcpt_count, 1);
    ck_assert_str_eq(env.rcpts[0].address, "b@example.test");
    qfile_reader rd;
    str l;
    str_init(&l);
    const char *err = NULL;
    ck_assert_int_eq(qfile_content_open(&rd, fd, env.content_offset), 0);
    ck_assert_int_eq(qfile_next_line(&rd, &l, 100000, &err), 1);
    ck_assert_msg(strncmp(l.data, "Received: from helo.example.test", 32) == 0, "%s", l.data);
    int lines = 1, authres = 0;
    char last[64] = "";
    while ((rc = qfile_next_line(&rd, &l, 100000, &err)) == 1) {
        lines++;
        if (strncmp(l.data, "Authentication-Results: ", 24) == 0)
            authres++;
        snprintf(last, sizeof last, "%s", l.data);
    }
    ck_assert_int_eq(rc, 0);
    /* Received (3 lines: "for <rcpt>"), our one Authentication-Results (inbound mail from
     * outside $mynetworks always gets one), then the 4 lines sent */
    ck_assert_int_eq(authres, 1);
    ck_assert_int_eq(lines, 3 + 1 + 4);
    ck_assert_str_eq(last, "body line");
    qfile_content_close(&rd);
    str_free(&l);
    qfile_env_free(&env);
    close(fd);
    e2e_cleanup_dir(&e);
}
END_TEST

START_TEST(e2e_client_gone_removes_file)
{
    struct e2e e;
    if (e2e_start(&e, NULL) != 0)
        return;
    submit *s = e2e_begin();
    line(s, "Subject: never finished");
    submit_abort(s);
    ck_assert_int_eq(e2e_wait(&e, 5000), 0);
    ck_assert_int_eq(e2e_incoming_count(&e), 0);
    e2e_cleanup_dir(&e);
}
END_TEST

START_TEST(e2e_rejections_remove_file)
{
    static const char *const small_headers[] = { "header_size_limit=100", NULL };
    struct e2e e;
    struct submit_result r;
    if (e2e_start(&e, small_headers) != 0)
        return;
    submit *s = e2e_begin();
    for (int i = 0; i < 10; i++)
        line(s, "X-Filler: 0123456789012345678901234567890123456789");
    line(s, "");
    line(s, "body");
    ck_assert_int_eq(submit_finish(s, &r), 5);
    ck_assert_str_eq(r.dsn, "5.3.4");
    submit_result_free(&r);
    ck_assert_int_eq(e2e_wait(&e, 5000), 0);
    ck_assert_int_eq(e2e_incoming_count(&e), 0);
    e2e_cleanup_dir(&e);

    /* a protocol violation (content record type in the envelope) */
    if (e2e_start(&e, NULL) != 0)
        return;
    const char *err = NULL;
    s = submit_open(0, &err);
    ck_assert_ptr_nonnull(s);
    submit_line(s, "early", 5, 1);          /* N before F */
    ck_assert_int_eq(submit_finish(s, &r), 4);
    submit_result_free(&r);
    ck_assert_int_eq(e2e_wait(&e, 5000), 0);
    ck_assert_int_eq(e2e_incoming_count(&e), 0);
    e2e_cleanup_dir(&e);
}
END_TEST

/* A configuration error that is fatal must not leave a half-written queue file behind
 * (the daemon dies at start-up, or removes the file when it dies mid-message). */
START_TEST(e2e_fatal_leaves_no_file)
{
    static const char *const bad[][2] = {
        { "always_add_missing_headers=maybe", NULL },
        { "myhostname=$myhostname", NULL },
        { "message_size_limit=huge", NULL },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct e2e e;
        struct submit_result r;
        if (e2e_start(&e, bad[i]) != 0)
            return;
        config_set("ipc_timeout", "3s");
        const char *err = NULL;
        submit *s = submit_open(0, &err);
        if (s) {
            submit_sender(s, "a@example.test");
            submit_rcpt(s, "b@example.test", NULL);
            submit_begin_content(s);
            line(s, "Subject: x");
            line(s, "");
            line(s, "body");
            ck_assert_int_eq(submit_finish(s, &r), 4);
            submit_result_free(&r);
        }
        ck_assert_int_eq(e2e_wait(&e, 5000), 1);
        ck_assert_msg(e2e_incoming_count(&e) == 0, "%s: file left in incoming/", bad[i][0]);
        e2e_cleanup_dir(&e);
    }
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
    tc = tcase_create("end-to-end");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, e2e_commit);
    tcase_add_test(tc, e2e_client_gone_removes_file);
    tcase_add_test(tc, e2e_rejections_remove_file);
    tcase_add_test(tc, e2e_fatal_leaves_no_file);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
