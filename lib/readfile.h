/* readfile.h: read a whole, small file into memory with a size bound — the one way every
 * parser of configuration and table sources (main.cf, master.cf, map and alias sources,
 * regexp:/cidr: tables, the SASL password source) loads its input. Refuses anything that
 * is not a regular file (a FIFO would block, a device would never end). */
#ifndef POSTERN_READFILE_H
#define POSTERN_READFILE_H
#include <stddef.h>
#include "str.h"

/* Read all of the open file fd (named path in messages) into out (replacing it). The file
 * must be a regular file of at most max bytes. Returns 0, or -1 with *err (malloc'd):
 * "PATH: not a regular file", "PATH: file is larger than MAX bytes", "PATH: read error: ...".
 * Does not close fd. */
int readfile_fd(int fd, const char *path, size_t max, str *out, char **err);
/* Open path (O_RDONLY|O_NONBLOCK|O_CLOEXEC, so a FIFO cannot block the open) and read it as
 * above. On an open failure returns -1 with errno kept and *err "PATH: cannot open: ...". */
int readfile(const char *path, size_t max, str *out, char **err);

#endif
