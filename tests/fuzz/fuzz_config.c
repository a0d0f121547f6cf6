/* fuzz_config.c: libFuzzer target for the configuration parsers. Feeds arbitrary bytes
 * to config_load_string (then expands and type-checks every parameter through the
 * non-fatal config_validate path) and to mastercf_parse_string. Neither may crash,
 * hang or leak. Build: configure --enable-fuzzing CC=clang; make tests/fuzz/fuzz_config */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "log.h"
#include "mastercf.h"
#include "mem.h"
#include "str.h"

static void ignore(const char *name, const char *raw, void *ctx)
{
    (void)name;
    (void)raw;
    (void)ctx;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int initialized;
    if (!initialized) {
        log_open("postern", "fuzz_config", "/dev/null");   /* keep the output quiet */
        initialized = 1;
    }
    char *text = xmalloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;

    char *err = NULL;
    config_reset();
    if (config_load_string(text, "main.cf", &err) == 0) {
        str report;
        str_init(&report);
        config_validate(&report, 1);
        config_foreach_set(ignore, NULL);
        str_free(&report);
    }
    free(err);
    config_reset();

    struct mastercf m;
    err = NULL;
    if (mastercf_parse_string(text, "master.cf", &m, &err) == 0)
        mastercf_free(&m);
    free(err);
    free(text);
    return 0;
}
