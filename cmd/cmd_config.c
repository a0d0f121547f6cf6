/* cmd_config.c: `postern config [-n] [NAME...]`: print "name = value" with the value
 * fully expanded. Without names: every known parameter (lib/params.c), or with -n only
 * those set in main.cf (including unknown names), sorted by name. With names: those, in
 * the order given; an unknown name that is not set is an error (exit 2). */
#define _GNU_SOURCE 1
#include "cmd.h"
#include "config.h"
#include "mem.h"
#include "params.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct name_list { char **names; size_t count, cap; };

static void collect_set(const char *name, const char *raw, void *ctx)
{
    (void)raw;
    struct name_list *l = ctx;
    if (l->count == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->names = xrealloc(l->names, l->cap * sizeof *l->names);
    }
    l->names[l->count++] = xstrdup(name);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void print_param(const char *name)
{
    const char *value = config_str(name);
    printf("%s =%s%s\n", name, *value ? " " : "", value);
}

int cmd_config(int argc, char **argv)
{
    int only_set = 0, ch;
    optind = 0;
    while ((ch = getopt(argc, argv, "+n")) != -1) {
        if (ch != 'n') {
            cmd_error("usage: postern config [-n] [NAME...]");
            return CMD_ERROR;
        }
        only_set = 1;
    }
    if (cmd_load_config() != 0)
        return CMD_ERROR;
    int rc = CMD_OK;
    if (optind < argc) {
        for (int i = optind; i < argc; i++) {
            if (!param_find(argv[i]) && !config_is_set(argv[i])) {
                cmd_error("unknown parameter: %s", argv[i]);
                rc = CMD_ERROR;
                continue;
            }
            if (only_set && !config_is_set(argv[i]))
                continue;
            print_param(argv[i]);
        }
        return rc;
    }
    struct name_list l = { 0 };
    if (only_set) {
        config_foreach_set(collect_set, &l);
    } else {
        for (const struct param_def *p = param_table; p->name; p++)
            collect_set(p->name, NULL, &l);
    }
    if (l.count)
        qsort(l.names, l.count, sizeof *l.names, by_name);
    for (size_t i = 0; i < l.count; i++) {
        if (i > 0 && strcmp(l.names[i], l.names[i - 1]) == 0)
            continue;
        print_param(l.names[i]);
    }
    for (size_t i = 0; i < l.count; i++)
        free(l.names[i]);
    free(l.names);
    return rc;
}
