/* cmd.h: shared pieces of the `postern` administration command (cmd/postern.c dispatches
 * to one file per command group: cmd_control.c start/stop/reload/status, cmd_map.c map
 * build/query, cmd_config.c config, cmd_init.c init). */
#ifndef POSTERN_CMD_H
#define POSTERN_CMD_H

/* Exit codes, documented in the usage text. */
#define CMD_OK      0
#define CMD_FAIL    1     /* not running / not found / start or stop failed */
#define CMD_ERROR   2     /* usage error, bad configuration, lookup or I/O error */

extern const char *cmd_confdir;     /* -c, $POSTERN_CONFIG or POSTERN_SYSCONFDIR */
extern int cmd_verbose;

/* Load main.cf from cmd_confdir; prints the error and returns -1 on failure. */
int cmd_load_config(void);
void cmd_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));  /* "postern: ..." */

int cmd_start(int argc, char **argv);
int cmd_stop(int argc, char **argv);
int cmd_reload(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_map(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_init(int argc, char **argv);

#endif
