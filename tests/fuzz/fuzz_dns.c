/* fuzz_dns.c: libFuzzer target for the DNS reply parsers in lib/dns.c. A hostile or broken
 * name server must never crash postern: feed arbitrary bytes as a reply to MX, A, AAAA and
 * TXT queries and check the results stay within their documented bounds. */
#include <arpa/nameser.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "dns.h"
#include "str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    str why;
    str_init(&why);

    struct dns_mx_list mx = { 0 };
    if (dns_parse_mx(data, size, "example.test", &mx, &why) == DNS_OK) {
        if (mx.count <= 0 || mx.count > DNS_MAX_RECORDS)
            abort();
        dns_mx_sort(&mx);
        for (int i = 0; i < mx.count; i++)
            if (strlen(mx.items[i].host) > DNS_NAME_MAX || mx.items[i].pref < 0)
                abort();
    }
    dns_mx_free(&mx);

    static const int types[] = { ns_t_a, ns_t_aaaa };
    for (int t = 0; t < 2; t++) {
        struct dns_addr_list addrs = { 0 };
        if (dns_parse_addr(data, size, "mx.example.test", types[t], &addrs, &why) == DNS_OK
            && (addrs.count <= 0 || addrs.count > DNS_MAX_RECORDS))
            abort();
        dns_addr_free(&addrs);
    }

    char **txt = NULL;
    if (dns_parse_txt(data, size, "example.test", &txt, &why) == DNS_OK && txt)
        for (char **p = txt; *p; p++)
            if (strlen(*p) > DNS_TXT_MAX)
                abort();
    strv_free(txt);

    str_free(&why);
    return 0;
}
