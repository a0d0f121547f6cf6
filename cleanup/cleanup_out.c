/* cleanup_out.c: writing the queue file of one submission (lib/queue.h commit rule,
 * lib/record.h records, lib/qfile.h size record). The file is created in incoming/ with
 * mode 0600, written through one buffered bio, and made complete by queue_commit()
 * (fchmod 0700 + the single fsync per message) only after the E record and the final
 * C record are on disk. Write errors are sticky (bio) and reported by the commit. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>
#include "cleanup.h"
#include "cleanup_checks.h"
#include "log.h"
#include "qfile.h"
#include "record.h"
#include "metrics.h"

/* Bytes of an encoded record: type byte + LEB128 length + data. */
static off_t rec_size(size_t len)
{
    off_t n = 1;

    do {
        n++;
        len >>= 7;
    } while (len > 0);
    return n;
}

void cleanup_out_rec(struct cleanup_state *st, int type, const void *data, size_t len)
{
    if (st->out == NULL)
        return;
    rec_put(st->out, type, data, len);      /* errors are sticky in the bio */
    st->out_offset += rec_size(len) + (off_t)len;
}

void cleanup_out_encoded(struct cleanup_state *st, const void *records, size_t len)
{
    if (st->out == NULL)
        return;
    bio_write(st->out, records, len);
    st->out_offset += (off_t)len;
}

void cleanup_out_mark_content(struct cleanup_state *st)
{
    st->content_offset = st->out_offset;
}

static void size_record(char *buf, size_t len, const struct cleanup_state *st)
{
    snprintf(buf, len, QFILE_SIZE_FORMAT, (long)st->content_offset, st->message_size,
             (int)st->rcpt_count);
}

int cleanup_out_open(struct cleanup_state *st)
{
    char size[QFILE_SIZE_LEN + 1];
    char arrival[64];

    st->qfd = queue_create(st->qdir, "incoming", st->queue_id);
    if (st->qfd < 0) {
        msg_warn("cannot create queue file in %s/incoming: %m", st->qdir);
        return -1;
    }
    st->out = bio_open_file(st->qfd);
    st->out_offset = 0;
    cleanup_out_rec(st, REC_VERSION, QFILE_VERSION, strlen(QFILE_VERSION));
    /* Placeholder with the final width; rewritten by cleanup_out_commit(). */
    size_record(size, sizeof(size), st);
    st->size_data_offset = st->out_offset + rec_size(QFILE_SIZE_LEN);
    cleanup_out_rec(st, REC_SIZE, size, QFILE_SIZE_LEN);
    snprintf(arrival, sizeof(arrival), "%ld.%06ld",
             (long)st->arrival.tv_sec, (long)st->arrival.tv_usec);
    cleanup_out_rec(st, REC_TIME, arrival, strlen(arrival));
    return 0;
}

int cleanup_out_commit(struct cleanup_state *st)
{
    char size[QFILE_SIZE_LEN + 1];
    off_t end;

    if (st->out == NULL) {
        msg_warn("%s: no queue file to commit", st->queue_id);
        return -1;
    }
    if (cleanup_checks_redirect(st) < 0)    /* REDIRECT: before E (logs the cause) */
        return -1;
    cleanup_out_rec(st, REC_END, "", 0);
    if (bio_flush(st->out) < 0 || bio_error(st->out) != BIO_OK) {
        msg_warn("%s: queue file write error: %s", st->queue_id, bio_strerror(st->out));
        return -1;
    }
    end = lseek(st->qfd, 0, SEEK_CUR);
    if (end != st->out_offset) {
        msg_warn("%s: queue file size mismatch: %lld written, %lld expected",
                 st->queue_id, (long long)end, (long long)st->out_offset);
        return -1;
    }
    size_record(size, sizeof(size), st);
    if (strlen(size) != QFILE_SIZE_LEN
        || pwrite(st->qfd, size, QFILE_SIZE_LEN, st->size_data_offset) != QFILE_SIZE_LEN) {
        msg_warn("%s: cannot update queue file size record: %m", st->queue_id);
        return -1;
    }
    /* HOLD: move the still-incomplete file into hold/ first, so qmgr never sees it
     * complete in incoming/; the commit then happens in hold/. */
    if (st->hold) {
        if (queue_move(st->qdir, "incoming", "hold", st->queue_id) < 0) {
            msg_warn("%s: cannot move queue file to hold: %m", st->queue_id);
            return -1;
        }
        st->in_hold = 1;
    }
    if (queue_commit(st->qfd) < 0) {
        msg_warn("%s: cannot commit queue file: %m", st->queue_id);
        return -1;
    }
    metrics_inc(METRIC_RECEIVED, 0);
    return 0;
}

static void out_close(struct cleanup_state *st)
{
    if (st->out) {
        bio_free(st->out);
        st->out = NULL;
    }
    if (st->qfd >= 0) {
        close(st->qfd);
        st->qfd = -1;
    }
}

void cleanup_out_close(struct cleanup_state *st)
{
    out_close(st);
}

void cleanup_out_remove(struct cleanup_state *st)
{
    int had_file = st->qfd >= 0;

    out_close(st);
    if (had_file && queue_remove(st->qdir, st->in_hold ? "hold" : "incoming", st->queue_id) < 0
        && errno != ENOENT)
        msg_warn("%s: cannot remove queue file: %m", st->queue_id);
}
