/* fuzz_mapsrc.c: libFuzzer target for the lookup-table source parser (dict_parse_source
 * in lib/dict.c) that `postern map build` runs on map and aliases files. The first byte
 * picks the format. Properties: every key handed out is non-empty and lowercase, and an
 * error message names the source and a line number. */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dict.h"

static int check_entry(const char *key, const char *value, int line, void *ctx)
{
    (void)value;
    (void)ctx;
    if (!*key || line < 1)
        abort();
    for (const char *p = key; *p; p++)
        if (isupper((unsigned char)*p))
            abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    enum dict_src_format fmt = (data[0] & 1) ? DICT_SRC_ALIASES : DICT_SRC_MAP;
    char *err = NULL;
    if (dict_parse_source("src", (const char *)data + 1, size - 1, fmt, check_entry, NULL, &err) < 0) {
        if (!err || strncmp(err, "src:", 4) != 0)
            abort();
        free(err);
    }
    return 0;
}
