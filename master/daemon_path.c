/* daemon_path.c: the daemon_directory rule shared by master and the postern command
 * (see daemon_path.h for the rule itself). */
#define _GNU_SOURCE 1
#include "daemon_path.h"
#include "mem.h"
#include <limits.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>

#ifndef POSTERN_LIBEXECDIR
#define POSTERN_LIBEXECDIR "/usr/local/libexec/postern"
#endif

int daemon_command_valid(const char *command)
{
    if (!command || !*command || strlen(command) > PATH_MAX)
        return 0;
    if (command[0] == '/')
        return 1;
    return strchr(command, '/') == NULL && strcmp(command, ".") != 0 && strcmp(command, "..") != 0;
}

/* BUILD directory if the running executable is BUILD/<dir>/<prog> and BUILD/config.status
 * exists; NULL otherwise (malloc'd). */
static char *build_tree_of_self(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return NULL;
    exe[n] = 0;
    for (int up = 0; up < 2; up++) {        /* strip "/prog", then "/dir" */
        char *slash = strrchr(exe, '/');
        if (!slash || slash == exe)
            return NULL;
        *slash = 0;
    }
    char *marker = xasprintf("%s/config.status", exe);
    struct stat st;
    int found = stat(marker, &st) == 0 && S_ISREG(st.st_mode);
    free(marker);
    return found ? xstrdup(exe) : NULL;
}

char *daemon_path(const char *daemon_directory, const char *command)
{
    if (command[0] == '/')
        return xstrdup(command);
    if (daemon_directory && *daemon_directory)
        return xasprintf("%s/%s", daemon_directory, command);
    const char *env = getenv("POSTERN_DAEMON_DIR");
    if (env && *env)
        return xasprintf("%s/%s", env, command);
    char *build = build_tree_of_self();
    if (build) {
        char *path = xasprintf("%s/%s/%s", build, command, command);
        free(build);
        return path;
    }
    return xasprintf("%s/%s", POSTERN_LIBEXECDIR, command);
}
