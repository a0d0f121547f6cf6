/* mkqfile.c: test helper for qmgr/tests: writes a queue file the way cleanup does
 * (lib/queue.h commit rule, lib/record.h records, the qfile.h layout) and prints its ID.
 * usage: mkqfile QDIR [-a SECONDS_AGO] [-q QUEUE] [-n] SENDER RCPT...
 *   -a  arrival time in the past (expiry tests)   -q  queue directory (default incoming)
 *   -n  leave the file at mode 0600 ("still being written") */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/time.h>
#include "queue.h"
#include "record.h"
#include "qfile.h"
#include "str.h"
int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: mkqfile QDIR [-a SECONDS_AGO] [-q QUEUE] [-n] SENDER RCPT...\n");
        return 2;
    }
    const char *qdir = argv[1]; long ago = 0; const char *queue = "incoming"; int notready = 0;
    int i = 2;
    for (; i < argc - 1 && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "-a") && i + 1 < argc) ago = atol(argv[++i]);
        else if (!strcmp(argv[i], "-q") && i + 1 < argc) queue = argv[++i];
        else if (!strcmp(argv[i], "-n")) notready = 1;
        else { fprintf(stderr, "mkqfile: bad option %s\n", argv[i]); return 2; }
    }
    if (i >= argc - 1) {
        fprintf(stderr, "mkqfile: need SENDER and at least one RCPT\n");
        return 2;
    }
    const char *sender = argv[i++];
    int nrcpt = argc - i;
    char id[QUEUE_ID_MAX];
    int fd = queue_create(qdir, queue, id);
    if (fd < 0) { perror("queue_create"); return 1; }
    str f; str_init(&f);
    rec_encode(&f, REC_VERSION, QFILE_VERSION, strlen(QFILE_VERSION));
    size_t c_at = f.len;
    char cbuf[64]; snprintf(cbuf, sizeof cbuf, QFILE_SIZE_FORMAT, 0L, 0L, 0);
    rec_encode(&f, REC_SIZE, cbuf, strlen(cbuf));
    struct timeval tv; gettimeofday(&tv, NULL);
    char tbuf[64]; snprintf(tbuf, sizeof tbuf, "%ld.%06ld", (long)tv.tv_sec - ago, (long)tv.tv_usec);
    rec_encode(&f, REC_TIME, tbuf, strlen(tbuf));
    rec_encode(&f, REC_FROM, sender, strlen(sender));
    for (int k = i; k < argc; k++) rec_encode(&f, REC_RCPT, argv[k], strlen(argv[k]));
    long moff = (long)f.len;
    rec_encode(&f, REC_MESG, "", 0);
    const char *lines[] = { "Subject: test", "", "hello world" };
    long size = 0;
    for (int k = 0; k < 3; k++) { rec_encode(&f, REC_NORM, lines[k], strlen(lines[k])); size += strlen(lines[k]) + 1; }
    rec_encode(&f, REC_XTRA, "", 0);
    rec_encode(&f, REC_END, "", 0);
    str c2; str_init(&c2);
    snprintf(cbuf, sizeof cbuf, QFILE_SIZE_FORMAT, moff, size, nrcpt);
    rec_encode(&c2, REC_SIZE, cbuf, strlen(cbuf));
    memcpy(f.data + c_at, c2.data, c2.len);
    if (write(fd, f.data, f.len) != (ssize_t)f.len) { perror("write"); return 1; }
    if (!notready && queue_commit(fd) < 0) { perror("commit"); return 1; }
    close(fd);
    str_free(&f);
    str_free(&c2);
    printf("%s\n", id);
    return 0;
}
