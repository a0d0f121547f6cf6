/* cmd_metrics.c: `postern metrics`: print the Prometheus text once, the same text master
 * serves on $metrics_listen, read directly from $queue_directory/pid/metrics and the
 * queue directories (lib/metrics.h), so it works with the endpoint off. Process counts
 * are those master last published (it does so every second). Exit 0, or 1 when the
 * counter file is missing (master never started) with the queue gauges still printed. */
#include "cmd.h"
#include "config.h"
#include "metrics.h"
#include "str.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_metrics(int argc, char **argv)
{
    if (argc > 1) {
        if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
            printf("usage: postern metrics\n"
                   "print the Prometheus text metrics (as served on $metrics_listen) once\n");
            return CMD_OK;
        }
        cmd_error("usage: postern metrics");
        return CMD_ERROR;
    }
    if (cmd_load_config() != 0)
        return CMD_ERROR;
    const char *qdir = config_str("queue_directory");
    str out;
    char *err = NULL;
    str_init(&out);
    metrics_use_queue_directory(qdir);
    int rc = metrics_render(&out, qdir, &err);
    fwrite(out.data, 1, out.len, stdout);
    str_free(&out);
    if (fflush(stdout) != 0) {
        cmd_error("write: standard output");
        free(err);
        return CMD_ERROR;
    }
    if (rc != 0) {
        cmd_error("%s", err);
        free(err);
        return CMD_FAIL;
    }
    return CMD_OK;
}
