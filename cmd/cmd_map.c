/* cmd_map.c: `postern map build [-a] TYPE:PATH [SOURCE]` and `postern map query TYPE:PATH
 * KEY`. Thin front ends to lib/dict.h: dict_build writes a temp file and renames it, so
 * running daemons never see half a table. */
#define _GNU_SOURCE 1
#include "cmd.h"
#include "dict.h"
#include "str.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

static int map_usage(void)
{
    cmd_error("usage: postern map build [-a] TYPE:PATH [SOURCE]\n"
              "       postern map query TYPE:PATH KEY");
    return CMD_ERROR;
}

static int map_build(int argc, char **argv)
{
    int ch;
    enum dict_src_format fmt = DICT_SRC_MAP;
    optind = 0;
    while ((ch = getopt(argc, argv, "+a")) != -1) {
        if (ch != 'a')
            return map_usage();
        fmt = DICT_SRC_ALIASES;
    }
    if (argc - optind < 1 || argc - optind > 2)
        return map_usage();
    const char *spec = argv[optind];
    const char *colon = strchr(spec, ':');
    if (!colon || colon == spec || !colon[1]) {
        cmd_error("bad table \"%s\": expected TYPE:PATH (hash:/etc/postern/aliases)", spec);
        return CMD_ERROR;
    }
    const char *source = argc - optind == 2 ? argv[optind + 1] : colon + 1;
    char *err = NULL;
    if (dict_build(spec, source, fmt, &err) != 0) {
        cmd_error("%s", err ? err : "map build failed");
        free(err);
        return CMD_ERROR;
    }
    return CMD_OK;
}

static int map_query(int argc, char **argv)
{
    if (argc != 3)
        return map_usage();
    char *err = NULL;
    dict *d = dict_open(argv[1], &err);
    if (!d) {
        cmd_error("%s", err ? err : "cannot open table");
        free(err);
        return CMD_ERROR;
    }
    str value;
    str_init(&value);
    int rc = dict_lookup(d, argv[2], &value);
    if (rc == 1)
        printf("%s\n", value.data);
    else if (rc < 0)
        cmd_error("%s: lookup of \"%s\" failed", dict_spec(d), argv[2]);
    str_free(&value);
    dict_close(d);
    return rc == 1 ? CMD_OK : rc == 0 ? CMD_FAIL : CMD_ERROR;
}

int cmd_map(int argc, char **argv)
{
    if (argc < 2)
        return map_usage();
    /* Tables do not depend on main.cf, but a broken main.cf is worth hearing about.
     * Without a configuration directory at all (a table built standalone) use defaults. */
    struct stat st;
    if (stat(cmd_confdir, &st) == 0 && cmd_load_config() != 0)
        return CMD_ERROR;
    if (strcmp(argv[1], "build") == 0)
        return map_build(argc - 1, argv + 1);
    if (strcmp(argv[1], "query") == 0)
        return map_query(argc - 1, argv + 1);
    return map_usage();
}
