/* mkmap.c: test helper for local/tests: build a Berkeley DB table from a text source with
 * lib/dict.h (the same code `postern map build` uses), so the local tests need no admin
 * command. Usage: mkmap hash:/path/aliases aliases|map */
#include <stdio.h>
#include <string.h>
#include "dict.h"

int main(int argc, char **argv)
{
    char *err = NULL;

    if (argc != 3) {
        fprintf(stderr, "usage: mkmap TYPE:PATH aliases|map\n");
        return 2;
    }
    if (dict_build(argv[1], NULL, strcmp(argv[2], "aliases") == 0 ? DICT_SRC_ALIASES
                                                                  : DICT_SRC_MAP, &err) < 0) {
        fprintf(stderr, "mkmap: %s\n", err ? err : "failed");
        return 1;
    }
    return 0;
}
