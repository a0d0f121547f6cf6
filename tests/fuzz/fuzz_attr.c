/* fuzz_attr.c: libFuzzer target for the attribute-list decoder (lib/attr.c) and the
 * record decoder (lib/record.c), which parse everything daemons send each other.
 * Property checked: a decoded list re-encodes and decodes to the same names and bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attr.h"
#include "record.h"
#include "str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    attr_list l, back;
    const char *err = NULL;
    attr_init(&l);
    attr_init(&back);
    long n = attr_decode((const char *)data, size, &l, &err);
    if (n > 0) {
        if ((size_t)n > size)
            abort();
        str enc;
        str_init(&enc);
        attr_encode(&l, &enc);
        if (attr_decode(enc.data, enc.len, &back, &err) != (long)enc.len || back.count != l.count)
            abort();
        for (int i = 0; i < l.count; i++)
            if (strcmp(l.items[i].name, back.items[i].name) != 0
                || l.items[i].vlen != back.items[i].vlen
                || memcmp(l.items[i].value, back.items[i].value, l.items[i].vlen) != 0)
                abort();
        str_free(&enc);
    } else if (n < 0 && !err) {
        abort();
    }
    attr_free(&l);
    attr_free(&back);

    /* the same bytes as a record stream */
    size_t pos = 0;
    for (int guard = 0; pos < size && guard < 100000; guard++) {
        int type;
        const char *d;
        size_t dlen;
        long r = rec_decode((const char *)data + pos, size - pos, &type, &d, &dlen, &err);
        if (r <= 0)
            break;
        if (!rec_type_valid(type) || d + dlen > (const char *)data + size)
            abort();
        pos += (size_t)r;
    }
    return 0;
}
