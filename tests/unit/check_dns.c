/* check_dns.c: unit tests for lib/dns.c's pure reply parsers and MX ordering, fed with
 * hand-built wire-format DNS replies (good ones, hostile ones and random bytes). The
 * network side (res_nquery against $dns_servers) is covered by
 * tests/integration/test_relay.py with a real DNS server. */
#include <arpa/nameser.h>
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "dns.h"
#include "str.h"

struct wire { unsigned char b[8192]; size_t n; };

static void put8(struct wire *w, unsigned v) { w->b[w->n++] = (unsigned char) v; }
static void put16(struct wire *w, unsigned v) { put8(w, v >> 8); put8(w, v & 0xff); }
static void put32(struct wire *w, unsigned long v) { put16(w, (unsigned) (v >> 16)); put16(w, (unsigned) (v & 0xffff)); }

static void put_name(struct wire *w, const char *name)
{
    while (*name) {
        const char *dot = strchr(name, '.');
        size_t n = dot ? (size_t) (dot - name) : strlen(name);
        put8(w, (unsigned) n);
        memcpy(w->b + w->n, name, n);
        w->n += n;
        name += n + (dot ? 1 : 0);
    }
    put8(w, 0);
}

/* Header + question for qname/qtype with rcode and an answer count. */
static void start(struct wire *w, const char *qname, int qtype, int rcode, int ancount)
{
    w->n = 0;
    put16(w, 0x1234);
    put16(w, 0x8180 | (unsigned) rcode);       /* QR RD RA */
    put16(w, 1);
    put16(w, (unsigned) ancount);
    put16(w, 0);
    put16(w, 0);
    put_name(w, qname);
    put16(w, (unsigned) qtype);
    put16(w, ns_c_in);
}

/* RR header with owner name (NULL = pointer to the question name at offset 12). */
static size_t rr(struct wire *w, const char *owner, int type)
{
    if (owner)
        put_name(w, owner);
    else
        put16(w, 0xc00c);
    put16(w, (unsigned) type);
    put16(w, ns_c_in);
    put32(w, 60);
    put16(w, 0);                                /* rdlength, patched by end_rr */
    return w->n;
}

static void end_rr(struct wire *w, size_t rdstart)
{
    size_t len = w->n - rdstart;
    w->b[rdstart - 2] = (unsigned char) (len >> 8);
    w->b[rdstart - 1] = (unsigned char) (len & 0xff);
}

static void add_mx(struct wire *w, int pref, const char *host)
{
    size_t s = rr(w, NULL, ns_t_mx);
    put16(w, (unsigned) pref);
    put_name(w, host);
    end_rr(w, s);
}

START_TEST(mx_sorted_and_shuffled)
{
    struct wire w;
    struct dns_mx_list l = { 0 };
    str why;
    int first_a = 0, first_b = 0;

    str_init(&why);
    start(&w, "relay.test", ns_t_mx, ns_r_noerror, 3);
    add_mx(&w, 20, "mx3.relay.test");
    add_mx(&w, 10, "MXA.relay.test.");
    add_mx(&w, 10, "mxb.relay.test");
    ck_assert_int_eq(dns_parse_mx(w.b, w.n, "relay.test", &l, &why), DNS_OK);
    ck_assert_int_eq(l.count, 3);
    for (int i = 0; i < 400; i++) {
        dns_mx_sort(&l);
        ck_assert_int_eq(l.items[0].pref, 10);
        ck_assert_int_eq(l.items[1].pref, 10);
        ck_assert_str_eq(l.items[2].host, "mx3.relay.test");
        if (strcmp(l.items[0].host, "mxa.relay.test") == 0)
            first_a++;
        else
            first_b++;
    }
    ck_assert_int_gt(first_a, 50);
    ck_assert_int_gt(first_b, 50);
    ck_assert(!dns_mx_is_null(&l));
    dns_mx_free(&l);
    str_free(&why);
}
END_TEST

START_TEST(mx_null)
{
    struct wire w;
    struct dns_mx_list l = { 0 };
    str why;

    str_init(&why);
    start(&w, "nomail.test", ns_t_mx, ns_r_noerror, 1);
    add_mx(&w, 0, "");
    ck_assert_int_eq(dns_parse_mx(w.b, w.n, "nomail.test", &l, &why), DNS_OK);
    dns_mx_sort(&l);
    ck_assert(dns_mx_is_null(&l));
    dns_mx_free(&l);
    /* a "." next to a real host is dropped, the real host stays */
    start(&w, "mixed.test", ns_t_mx, ns_r_noerror, 2);
    add_mx(&w, 0, "");
    add_mx(&w, 10, "mx.mixed.test");
    ck_assert_int_eq(dns_parse_mx(w.b, w.n, "mixed.test", &l, &why), DNS_OK);
    dns_mx_sort(&l);
    ck_assert_int_eq(l.count, 1);
    ck_assert_str_eq(l.items[0].host, "mx.mixed.test");
    dns_mx_free(&l);
    str_free(&why);
}
END_TEST

START_TEST(rcodes_and_nodata)
{
    struct wire w;
    struct dns_mx_list l = { 0 };
    str why;

    str_init(&why);
    start(&w, "gone.test", ns_t_mx, ns_r_nxdomain, 0);
    ck_assert_int_eq(dns_parse_mx(w.b, w.n, "gone.test", &l, &why), DNS_NOTFOUND);
    ck_assert(strstr(why.data, "Host not found") != NULL);
    start(&w, "gone.test", ns_t_mx, ns_r_servfail, 0);
    ck_assert_int_eq(dns_parse_mx(w.b, w.n, "gone.test", &l, &why), DNS_TEMPFAIL);
    start(&w, "empty.test", ns_t_mx, ns_r_noerror, 0);
    ck_assert_int_eq(dns_parse_mx(w.b, w.n, "empty.test", &l, &why), DNS_NODATA);
    /* records for another owner are not ours */
    start(&w, "empty.test", ns_t_mx, ns_r_noerror, 1);
    {
        size_t s = rr(&w, "other.test", ns_t_mx);
        put16(&w, 10);
        put_name(&w, "mx.other.test");
        end_rr(&w, s);
    }
    ck_assert_int_eq(dns_parse_mx(w.b, w.n, "empty.test", &l, &why), DNS_NODATA);
    ck_assert_int_eq(l.count, 0);
    str_free(&why);
}
END_TEST

START_TEST(addr_cname_chain)
{
    struct wire w;
    struct dns_addr_list l = { 0 };
    str why;
    size_t s;

    str_init(&why);
    start(&w, "www.test", ns_t_a, ns_r_noerror, 3);
    s = rr(&w, NULL, ns_t_cname);
    put_name(&w, "host.test");
    end_rr(&w, s);
    s = rr(&w, "host.test", ns_t_a);
    put8(&w, 192); put8(&w, 0); put8(&w, 2); put8(&w, 7);
    end_rr(&w, s);
    s = rr(&w, "unrelated.test", ns_t_a);
    put8(&w, 10); put8(&w, 0); put8(&w, 0); put8(&w, 1);
    end_rr(&w, s);
    ck_assert_int_eq(dns_parse_addr(w.b, w.n, "www.test", ns_t_a, &l, &why), DNS_OK);
    ck_assert_int_eq(l.count, 1);
    ck_assert_str_eq(l.items[0].text, "192.0.2.7");
    dns_addr_free(&l);
    str_free(&why);
}
END_TEST

START_TEST(bad_rdata_rejected)
{
    struct wire w;
    struct dns_addr_list l = { 0 };
    struct dns_mx_list mx = { 0 };
    char **txt = NULL;
    str why;
    size_t s;

    str_init(&why);
    start(&w, "a.test", ns_t_a, ns_r_noerror, 1);            /* A with 5 bytes */
    s = rr(&w, NULL, ns_t_a);
    for (int i = 0; i < 5; i++)
        put8(&w, 1);
    end_rr(&w, s);
    ck_assert_int_eq(dns_parse_addr(w.b, w.n, "a.test", ns_t_a, &l, &why), DNS_PERMFAIL);
    ck_assert_int_eq(l.count, 0);
    start(&w, "m.test", ns_t_mx, ns_r_noerror, 1);            /* MX target with a space */
    add_mx(&w, 10, "bad host.test");
    ck_assert_int_eq(dns_parse_mx(w.b, w.n, "m.test", &mx, &why), DNS_PERMFAIL);
    start(&w, "t.test", ns_t_txt, ns_r_noerror, 1);           /* TXT string beyond rdata */
    s = rr(&w, NULL, ns_t_txt);
    put8(&w, 50);
    put8(&w, 'x');
    end_rr(&w, s);
    ck_assert_int_eq(dns_parse_txt(w.b, w.n, "t.test", &txt, &why), DNS_PERMFAIL);
    ck_assert_ptr_null(txt);
    str_free(&why);
}
END_TEST

START_TEST(txt_joined)
{
    struct wire w;
    char **txt = NULL;
    str why;
    size_t s;

    str_init(&why);
    start(&w, "spf.test", ns_t_txt, ns_r_noerror, 2);
    s = rr(&w, NULL, ns_t_txt);
    put8(&w, 7); memcpy(w.b + w.n, "v=spf1 ", 7); w.n += 7;
    put8(&w, 4); memcpy(w.b + w.n, "-all", 4); w.n += 4;
    end_rr(&w, s);
    s = rr(&w, NULL, ns_t_txt);
    put8(&w, 0);
    end_rr(&w, s);
    ck_assert_int_eq(dns_parse_txt(w.b, w.n, "spf.test", &txt, &why), DNS_OK);
    ck_assert_str_eq(txt[0], "v=spf1 -all");
    ck_assert_str_eq(txt[1], "");
    ck_assert_ptr_null(txt[2]);
    strv_free(txt);
    str_free(&why);
}
END_TEST

START_TEST(hostile_replies)
{
    struct wire w;
    struct dns_mx_list l = { 0 };
    str why;
    unsigned seed = 12345;

    str_init(&why);
    /* compression pointer loop in the answer's owner name */
    start(&w, "loop.test", ns_t_mx, ns_r_noerror, 1);
    {
        size_t at = w.n;
        put16(&w, 0xc000 | (unsigned) at);      /* points at itself */
        put16(&w, ns_t_mx); put16(&w, ns_c_in); put32(&w, 60); put16(&w, 3);
        put16(&w, 10); put8(&w, 0);
    }
    ck_assert_int_ne(dns_parse_mx(w.b, w.n, "loop.test", &l, &why), DNS_OK);
    dns_mx_free(&l);
    /* every truncation of a good reply */
    start(&w, "relay.test", ns_t_mx, ns_r_noerror, 2);
    add_mx(&w, 10, "mx1.relay.test");
    add_mx(&w, 20, "mx2.relay.test");
    for (size_t n = 0; n < w.n; n++) {
        dns_parse_mx(w.b, n, "relay.test", &l, &why);
        dns_mx_free(&l);
    }
    /* random corruption of a good reply */
    for (int i = 0; i < 20000; i++) {
        struct wire c = w;
        for (int k = 0; k < 4; k++) {
            seed = seed * 1103515245 + 12345;
            c.b[(seed >> 8) % c.n] = (unsigned char) (seed >> 20);
        }
        dns_parse_mx(c.b, c.n, "relay.test", &l, &why);
        ck_assert_int_le(l.count, DNS_MAX_RECORDS);
        dns_mx_free(&l);
    }
    str_free(&why);
}
END_TEST

START_TEST(servers_parameter)
{
    char *err = NULL;

    ck_assert_int_eq(config_load_string("dns_servers = 127.0.0.1:5353 [127.0.0.2]:53\n",
                                        "main.cf", &err), 0);
    ck_assert_int_eq(dns_init(), 0);
    config_reset();
    ck_assert_int_eq(config_load_string("dns_servers = 127.0.0.1:99999, nonsense\n",
                                        "main.cf", &err), 0);
    ck_assert_int_eq(dns_init(), -1);
    config_reset();
}
END_TEST

START_TEST(reverse_names)
{
    char out[80], tiny[8];

    ck_assert_int_eq(dns_reverse_name("192.0.2.9", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "9.2.0.192.in-addr.arpa");
    ck_assert_int_eq(dns_reverse_name("2001:db8::1", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
    ck_assert_int_eq(dns_reverse_name("192.0.2.9", tiny, sizeof(tiny)), -1);
    ck_assert_int_eq(dns_reverse_name("not-an-address", out, sizeof(out)), -1);
    ck_assert_int_eq(dns_reverse_name("", out, sizeof(out)), -1);
}
END_TEST

START_TEST(hosts_file_parser)
{
    static const char text[] =
        "# comment 10.0.0.1 commented\n"
        "127.0.0.1\tLocalHost.   localhost.localdomain # trailing comment\n"
        "127.0.0.1 second\n"
        "10.0.0.2\n"                          /* no name: skipped */
        "10.0.0.3 bad..name\n"                /* not a host name: skipped */
        "10.0.0.3 good.example\n"
        "999.1.1.1 broken\n"
        "0:0::1 ip6-localhost ip6-loopback\r\n"
        "10.0.0.4 last-without-newline";
    char name[64], small[4];
    str big;

    ck_assert_int_eq(dns_hosts_find(text, strlen(text), "127.0.0.1", name, sizeof(name)), 1);
    ck_assert_str_eq(name, "localhost");
    ck_assert_int_eq(dns_hosts_find(text, strlen(text), "::1", name, sizeof(name)), 1);
    ck_assert_str_eq(name, "ip6-localhost");
    ck_assert_int_eq(dns_hosts_find(text, strlen(text), "10.0.0.3", name, sizeof(name)), 1);
    ck_assert_str_eq(name, "good.example");
    ck_assert_int_eq(dns_hosts_find(text, strlen(text), "10.0.0.4", name, sizeof(name)), 1);
    ck_assert_str_eq(name, "last-without-newline");
    ck_assert_int_eq(dns_hosts_find(text, strlen(text), "10.0.0.1", name, sizeof(name)), 0);
    ck_assert_int_eq(dns_hosts_find(text, strlen(text), "10.0.0.2", name, sizeof(name)), 0);
    ck_assert_int_eq(dns_hosts_find(text, strlen(text), "127.0.0.2", name, sizeof(name)), 0);
    ck_assert_int_eq(dns_hosts_find(text, strlen(text), "garbage", name, sizeof(name)), 0);
    ck_assert_int_eq(dns_hosts_find(text, strlen(text), "127.0.0.1", small, sizeof(small)), 0);
    ck_assert_int_eq(dns_hosts_find(NULL, 0, "127.0.0.1", name, sizeof(name)), 0);
    /* an over-long line and a line with a NUL byte are ignored, later lines still count */
    str_init(&big);
    str_appends(&big, "10.0.0.5 ");
    for (int i = 0; i < DNS_HOSTS_LINE_MAX; i++)
        str_appends(&big, "a");
    str_appends(&big, "\n10.0.0.6 nul");
    str_append(&big, "\0x\n", 3);
    str_appends(&big, "10.0.0.5 ok.example\n10.0.0.6 ok6.example\n");
    ck_assert_int_eq(dns_hosts_find(big.data, big.len, "10.0.0.5", name, sizeof(name)), 1);
    ck_assert_str_eq(name, "ok.example");
    ck_assert_int_eq(dns_hosts_find(big.data, big.len, "10.0.0.6", name, sizeof(name)), 1);
    ck_assert_str_eq(name, "ok6.example");
    str_free(&big);
}
END_TEST

START_TEST(client_name_bad_input)
{
    char name[64];
    str why;

    str_init(&why);
    ck_assert_int_eq(dns_lookup_client_name("no address", name, sizeof(name), &why),
                     DNS_NOTFOUND);
    ck_assert_ptr_nonnull(strstr(why.data, "not a numeric address"));
    str_free(&why);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dns");
    TCase *tc = tcase_create("parse");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, mx_sorted_and_shuffled);
    tcase_add_test(tc, mx_null);
    tcase_add_test(tc, rcodes_and_nodata);
    tcase_add_test(tc, addr_cname_chain);
    tcase_add_test(tc, bad_rdata_rejected);
    tcase_add_test(tc, txt_joined);
    tcase_add_test(tc, hostile_replies);
    tcase_add_test(tc, servers_parameter);
    tcase_add_test(tc, reverse_names);
    tcase_add_test(tc, hosts_file_parser);
    tcase_add_test(tc, client_name_bad_input);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
