/* fuzz_addr.c: libFuzzer target for the RFC 5321 path parser (lib/addr.c), the ESMTP
 * parameter parser and xtext. The input is the text after "MAIL FROM:", parsed with every
 * combination of flags (so plain-text seeds in corpus/addr work). Property checked: a canonical address that was accepted parses again,
 * inside <>, to the same canonical form. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "mem.h"
#include "str.h"

static void parse_once(const char *text, size_t len, int flags)
{
    str out, again, tmp;
    str_init(&out);
    str_init(&again);
    str_init(&tmp);
    const char *params = NULL, *err = NULL;
    if (addr_parse_path(text, len, flags, &out, &params, &err) == 0) {
        if (params < text || params > text + len)
            abort();
        if (out.len > 0) {
            str_putc(&tmp, '<');
            str_append(&tmp, out.data, out.len);
            str_putc(&tmp, '>');
            const char *p2, *e2;
            if (addr_parse_path(tmp.data, tmp.len, flags, &again, &p2, &e2) != 0
                || strcmp(again.data, out.data) != 0)
                abort();
            addr_local(out.data, &tmp);
            (void)addr_domain(out.data);
        }
    } else if (!err) {
        abort();
    }
    str_free(&out);
    str_free(&again);
    str_free(&tmp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    const char *text = (const char *)data;
    size_t len = size;
    /* the parser must not read past len: give it an exact-size heap copy */
    char *copy = xmalloc(len ? len : 1);
    memcpy(copy, text, len);
    for (int flags = 0; flags < 8; flags++)
        parse_once(copy, len, flags);
    free(copy);
    /* parameters and xtext take NUL-terminated text */
    str tmp;
    str_init(&tmp);
    const char *err;
    char *z = xstrndup(text, len);
    char **keys, **values;
    if (addr_parse_params(z, &keys, &values, &err) == 0) {
        if (strv_len(keys) != strv_len(values))
            abort();
        strv_free(keys);
        strv_free(values);
    }
    (void)xtext_decode(z, &tmp);
    (void)addr_domain_valid(z, strlen(z));
    free(z);
    str_free(&tmp);
    return 0;
}
