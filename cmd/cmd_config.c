/* cmd_config.c: `postern config [-n] [--json] [NAME...]`: print "name = value" with the
 * value fully expanded. Without names: every known parameter (lib/params.c), or with -n
 * only those set in main.cf (including unknown names), sorted by name. With names: those,
 * in the order given; an unknown name that is not set is an error (exit 2).
 * --json prints the same selection as one JSON object {"name": "value", ...} (strings
 * escaped by queue_json_string: invalid UTF-8 becomes U+FFFD, so it is always valid). */
#define _GNU_SOURCE 1
#include "cmd.h"
#include "config.h"
#include "mem.h"
#include "params.h"
#include "queue_list.h"
#include <getopt.h>
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

static int json_output;
static int printed;

static void print_param(const char *name)
{
    const char *value = config_str(name);
    if (json_output) {
        fputs(printed++ ? ",\n  " : "{\n  ", stdout);
        queue_json_string(stdout, name);
        fputs(": ", stdout);
        queue_json_string(stdout, value);
        return;
    }
    printf("%s =%s%s\n", name, *value ? " " : "", value);
}

static void print_end(void)
{
    if (json_output)
        fputs(printed ? "\n}\n" : "{}\n", stdout);
}

int cmd_config(int argc, char **argv)
{
    static const struct option longopts[] = { { "json", no_argument, NULL, 'j' },
                                              { NULL, 0, NULL, 0 } };
    int only_set = 0, ch;
    optind = 0;
    json_output = printed = 0;
    while ((ch = getopt_long(argc, argv, "+n", longopts, NULL)) != -1) {
        if (ch == 'n') {
            only_set = 1;
        } else if (ch == 'j') {
            json_output = 1;
        } else {
            cmd_error("usage: postern config [-n] [--json] [NAME...]");
            return CMD_ERROR;
        }
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
        print_end();
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
    print_end();
    for (size_t i = 0; i < l.count; i++)
        free(l.names[i]);
    free(l.names);
    return rc;
}
