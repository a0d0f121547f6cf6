/* fuzz_qfile.c: libFuzzer target for the queue-file reader (lib/qfile.c): the input is
 * written to a memory file and read with qfile_read_env(); accepted files are also walked
 * with the content reader and their recipients marked done, then read again. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "qfile.h"
#include "str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("qfile", MFD_CLOEXEC);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    struct qfile_env env;
    char errbuf[256];
    int rc = qfile_read_env(fd, &env, errbuf);
    if (rc == 0) {
        if (!env.complete || env.rcpt_count < 1 || env.content_offset <= 0)
            abort();
        qfile_reader r;
        str line;
        const char *err;
        str_init(&line);
        if (qfile_content_open(&r, fd, env.content_offset) != 0)
            abort();
        int n, guard = 0;
        while ((n = qfile_next_line(&r, &line, 100000, &err)) == 1 && guard++ < 1000000)
            ;
        if (n != 0)
            abort();             /* content was validated by qfile_read_env */
        qfile_content_close(&r);
        str_free(&line);
        for (int i = 0; i < env.rcpt_count; i++)
            if (qfile_mark_done(fd, env.rcpts[i].offset) != 0)
                abort();
        qfile_env_free(&env);
        if (qfile_read_env(fd, &env, errbuf) != 0)
            abort();
        for (int i = 0; i < env.rcpt_count; i++)
            if (!env.rcpts[i].done)
                abort();
        qfile_env_free(&env);
    } else if (rc == -2 && strncmp(errbuf, "malformed queue file", 20) != 0) {
        abort();
    }
    close(fd);
    return 0;
}
