/* fuzz_banfile.c: libFuzzer target for the ban state file parser of anvil
 * (anvil/anvil_banfile.c, anvil_banfile_parse(): the file is not trusted, `postern ban`
 * and an administrator may edit it). Input: the file contents. Properties: parsing never
 * crashes or leaks; every entry kept has a valid address, an expiry after "now" and a
 * printable bounded reason; no address appears twice; the count stays bounded; writing
 * the list out and parsing it again gives the same entries with no bad lines. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../anvil/anvil.h"
#include "str.h"

#define FUZZ_NOW 1000000000LL

static void check_list(const struct anvil_ban_list *l)
{
    if (l->count < 0 || l->count > ANVIL_BAN_MAX)
        abort();
    for (int i = 0; i < l->count; i++) {
        const struct anvil_ban *b = &l->items[i];
        if (!anvil_addr_ok(b->addr) || b->expires <= FUZZ_NOW)
            abort();
        if (strlen(b->reason) > ANVIL_REASON_MAX)
            abort();
        for (const char *p = b->reason; *p; p++)
            if (*p < ' ' || *p >= 0x7f)
                abort();
        if (anvil_ban_find(l, b->addr) != i)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct anvil_ban_list l = { 0 }, again = { 0 };
    str out;
    int bad = -1, bad2 = -1;

    anvil_banfile_parse((const char *) data, size, &l, FUZZ_NOW, &bad);
    if (bad < 0)
        abort();
    check_list(&l);

    str_init(&out);                       /* round trip, as anvil_banfile_write() writes */
    for (int i = 0; i < l.count; i++)
        str_appendf(&out, "%s %lld %s\n", l.items[i].addr, l.items[i].expires,
                    l.items[i].reason);
    anvil_banfile_parse(out.data ? out.data : "", out.len, &again, FUZZ_NOW, &bad2);
    if (bad2 != 0 || again.count != l.count)
        abort();
    for (int i = 0; i < l.count; i++) {
        int k = anvil_ban_find(&again, l.items[i].addr);
        if (k < 0 || again.items[k].expires != l.items[i].expires)
            abort();
    }
    str_free(&out);
    anvil_ban_free(&again);
    anvil_ban_free(&l);
    return 0;
}
