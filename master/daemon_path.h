/* daemon_path.h: where master finds the daemons it starts, and where the `postern`
 * command finds master. One rule, shared by both programs (compiled into each):
 *
 *   1. COMMAND is an absolute path ("/opt/x/fake"): use it as is.
 *   2. $daemon_directory (main.cf) is not empty: $daemon_directory/COMMAND.
 *   3. The environment variable POSTERN_DAEMON_DIR is not empty: $POSTERN_DAEMON_DIR/COMMAND.
 *   4. The running program lives in a build tree (the parent of its directory holds
 *      config.status, e.g. BUILD/master/master or BUILD/cmd/postern): BUILD/COMMAND/COMMAND.
 *   5. Otherwise the compiled-in POSTERN_LIBEXECDIR/COMMAND.
 *
 * Any other COMMAND containing '/' is rejected (daemon_command_valid). */
#ifndef POSTERN_DAEMON_PATH_H
#define POSTERN_DAEMON_PATH_H

/* 1 if COMMAND is an absolute path or a plain name (no '/', not "." or ".."). */
int daemon_command_valid(const char *command);
/* Path of COMMAND under the rule above (malloc'd). daemon_directory may be NULL or "". */
char *daemon_path(const char *daemon_directory, const char *command);

#endif
