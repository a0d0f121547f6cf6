/* cmd_check.h: `postern check` (cmd_check.c: main.cf, tables, TLS files, queue directory;
 * cmd_check_services.c: master.cf services and listening ports) and the checked
 * `postern reload` that refuses to signal the master when the check finds problems.
 * Every problem is one line "FILE:LINE: message" (FILE alone when no line applies). */
#ifndef POSTERN_CMD_CHECK_H
#define POSTERN_CMD_CHECK_H
#include "mastercf.h"
#include "str.h"

#define CHECK_PROBLEMS_MAX 1000    /* stop collecting after this many */

struct check_ctx {
    str report;        /* the problem lines, each ending in '\n' */
    int problems;
    int bind_test;     /* try to bind inet listeners (only when the master is not running) */
};

/* Append one problem. line 0 = no line number. */
void check_problem(struct check_ctx *c, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* master.cf semantics beyond syntax: commands that exist, duplicate services, two inet
 * services on one address:port, and (c->bind_test) ports that cannot be bound. */
void check_services(struct check_ctx *c, const struct mastercf *m, const char *path);

int cmd_check(int argc, char **argv);          /* postern check */
int cmd_check_reload(int argc, char **argv);   /* postern reload: check, then cmd_reload */

#endif
