/* fuzz_cidr_table.c: libFuzzer target for the cidr: table parser and matcher
 * (lib/dict_cidr.c, lib/dict_text.c). Input: table text, then after the first NUL byte,
 * lookup keys one per line. Properties: an open error names the table and a line, and
 * lookups never report an error. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dict.h"
#include "dict_text.h"
#include "str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    const char *nul = memchr(buf, 0, size);
    size_t tlen = nul ? (size_t)(nul - buf) : size;
    char *err = NULL;
    dict *d = dict_cidr_open_buf("t", buf, tlen, &err);

    if (!d) {
        if (!err || strncmp(err, "t", 1) != 0)
            abort();
        free(err);
        return 0;
    }
    str v;
    str_init(&v);
    const char *p = nul ? nul + 1 : buf + size, *end = buf + size;
    for (int n = 0; p < end && n < 64; n++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t klen = nl ? (size_t)(nl - p) : (size_t)(end - p);
        char *key = strndup(p, klen > 256 ? 256 : klen);
        if (dict_lookup(d, key, &v) < 0)
            abort();
        free(key);
        p += klen + (nl ? 1 : 0);
    }
    str_free(&v);
    dict_close(d);
    return 0;
}
