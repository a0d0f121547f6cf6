/* readfile.c: bounded whole-file reads for the configuration and table parsers
 * (contract in readfile.h). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem.h"
#include "readfile.h"

int readfile_fd(int fd, const char *path, size_t max, str *out, char **err)
{
    struct stat st;
    char buf[65536];

    str_reset(out);
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        *err = xasprintf("%s: not a regular file", path);
        return -1;
    }
    /* the descriptor may have been opened O_NONBLOCK: harmless for regular files */
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            *err = xasprintf("%s: read error: %s", path, strerror(errno));
            return -1;
        }
        if (n == 0)
            return 0;
        if (out->len + (size_t)n > max) {
            *err = xasprintf("%s: file is larger than %zu bytes", path, max);
            return -1;
        }
        str_append(out, buf, (size_t)n);
    }
}

int readfile(const char *path, size_t max, str *out, char **err)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int saved = errno;
        *err = xasprintf("%s: cannot open: %s", path, strerror(saved));
        errno = saved;
        return -1;
    }
    int rc = readfile_fd(fd, path, max, out, err);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}
