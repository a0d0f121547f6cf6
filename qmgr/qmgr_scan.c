/* qmgr_scan.c: the queue directory scans of qmgr.
 *
 * - at start-up, files left in active/ (in flight when the previous qmgr died) go back
 *   to incoming/;
 * - incoming/: complete files (queue_file_ready) with a valid queue-ID name, oldest
 *   first (queue IDs sort by arrival time), move to active/ while fewer than
 *   $qmgr_message_active_limit messages are in memory; each one moved puts an
 *   in_flow_delay token for cleanup (lib/flow.h), and a scan that takes everything
 *   tops the token pipe up to $default_process_limit;
 * - deferred/: the same for files whose mtime (= next retry time) has passed;
 * - incomplete files whose writer died (no lock held: queue_remove_if_abandoned) are
 *   removed, so a cleanup killed mid-message leaves nothing behind.
 * A scan is one readdir plus one fstatat per queue-ID-named entry; nothing is opened
 * until the file is in active/ (qmgr_message_activate). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "config.h"
#include "events.h"
#include "flow.h"
#include "log.h"
#include "mem.h"
#include "queue.h"
#include "qmgr.h"

#define SCAN_MAX_ENTRIES 1000000       /* bound per scan; the rest waits for the next */
#define ABANDONED_AGE 1                 /* seconds untouched before an unlocked incomplete
                                         * file is checked (the lock decides, not the age) */
#define ABANDONED_TMP_AGE 60            /* ".tmp.*" names are unlocked for an instant */

struct scan_result {
    char (*ids)[QUEUE_ID_MAX];
    size_t count, cap;
    int left_behind;                    /* something was skipped that may be ready soon */
    time_t next_retry;                  /* earliest future mtime seen (deferred), or 0 */
};

static int cmp_ids(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* List queue files of `queue` that can be taken now. due_only: compare mtime to now. */
static int scan_dir(const char *queue, int due_only, struct scan_result *res)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", qmgr_qdir, queue);
    DIR *dir = opendir(path);
    if (!dir) {
        msg_warn("open directory %s: %s", path, strerror(errno));
        return -1;
    }
    int dfd = dirfd(dir);
    time_t now = time(NULL);
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        const char *name = de->d_name;
        if (name[0] == '.') {
            /* a writer that died between creating and naming its file */
            if (strncmp(name, ".tmp.", 5) == 0
                && queue_remove_if_abandoned(qmgr_qdir, queue, name, ABANDONED_TMP_AGE) == 1)
                msg_warn("%s/%s: removed a temporary file its writer abandoned", queue, name);
            continue;
        }
        if (strlen(name) >= QUEUE_ID_MAX || !queue_id_valid(name)) {
            msg_warn("%s/%s: not a queue file name, ignored", queue, name);
            continue;
        }
        if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
            continue;
        if (res->count >= SCAN_MAX_ENTRIES) {
            res->left_behind = 1;
            break;
        }
        struct stat st;
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno != ENOENT)
                msg_warn("stat %s/%s: %s", queue, name, strerror(errno));
            continue;
        }
        if (!S_ISREG(st.st_mode))
            continue;
        if (!queue_file_ready(&st)) {
            /* Still being written -- or its writer (cleanup) died: the writer holds a lock
             * until it commits, so an unlocked incomplete file will never be finished. */
            if (queue_remove_if_abandoned(qmgr_qdir, queue, name, ABANDONED_AGE) == 1)
                msg_warn("%s: removed incomplete queue file from %s/: its writer is gone",
                         name, queue);
            else
                res->left_behind = 1;      /* look again soon */
            continue;
        }
        if (due_only && st.st_mtime > now) {
            if (res->next_retry == 0 || st.st_mtime < res->next_retry)
                res->next_retry = st.st_mtime;
            continue;
        }
        if (res->count == res->cap) {
            res->cap = res->cap ? res->cap * 2 : 64;
            res->ids = xrealloc(res->ids, res->cap * sizeof(*res->ids));
        }
        snprintf(res->ids[res->count++], QUEUE_ID_MAX, "%s", name);
    }
    closedir(dir);
    if (res->count > 1)
        qsort(res->ids, res->count, sizeof(*res->ids), cmp_ids);
    return 0;
}

/* Move listed files to active/ and load them while the active limit allows. */
static void take_files(const char *queue, struct scan_result *res)
{
    int from_incoming = strcmp(queue, "incoming") == 0, taken = 0;

    for (size_t i = 0; i < res->count; i++) {
        if (qmgr_message_count >= qmgr_active_limit) {
            res->left_behind = 1;
            break;
        }
        const char *id = res->ids[i];
        if (queue_move(qmgr_qdir, queue, "active", id) < 0) {
            if (errno != ENOENT)           /* ENOENT: removed meanwhile (queue delete) */
                msg_warn("%s: move %s -> active: %s", id, queue, strerror(errno));
            continue;
        }
        qmgr_message_activate(id);
        taken++;
    }
    if (from_incoming && taken > 0)
        (void)flow_put(taken);           /* in_flow_delay: cleanup may accept as many more */
}

/* Tokens kept in the flow pipe while qmgr keeps up: one per process a service may have
 * (as Postfix does), within what lib/flow.h allows. */
static int flow_idle_level(void)
{
    long level = config_int("default_process_limit");
    return level < 1 ? 1 : level > FLOW_MAX_TOKENS ? FLOW_MAX_TOKENS : (int)level;
}

int qmgr_scan_incoming(void)
{
    if (qmgr_message_count >= qmgr_active_limit)
        return 1;
    struct scan_result res = { 0 };
    if (scan_dir("incoming", 0, &res) == 0) {
        take_files("incoming", &res);
        /* in_flow_delay: caught up with incoming/, so nobody needs to wait */
        if (!res.left_behind)
            (void)flow_top_up(flow_idle_level());
    }
    free(res.ids);
    return res.left_behind;
}

long long qmgr_scan_deferred(int *left_behind)
{
    *left_behind = 0;
    if (qmgr_message_count >= qmgr_active_limit) {
        *left_behind = 1;
        return -1;
    }
    struct scan_result res = { 0 };
    long long next = -1;
    if (scan_dir("deferred", 1, &res) == 0) {
        take_files("deferred", &res);
        /* left_behind from scan_dir also covers files not ready; in deferred/ those are
         * only ever transient, so report the limit case only. */
        *left_behind = qmgr_message_count >= qmgr_active_limit && res.count > 0;
        if (res.next_retry) {
            long long delta = ((long long)res.next_retry - (long long)time(NULL)) * 1000;
            next = event_now_ms() + (delta > 0 ? delta : 0);
        }
    }
    free(res.ids);
    return next;
}

void qmgr_scan_recover_active(void)
{
    struct scan_result res = { 0 };
    char path[4096];
    snprintf(path, sizeof(path), "%s/active", qmgr_qdir);
    DIR *dir = opendir(path);
    if (!dir)
        msg_fatal("open directory %s: %s", path, strerror(errno));
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (strlen(de->d_name) >= QUEUE_ID_MAX || !queue_id_valid(de->d_name)) {
            msg_warn("active/%s: not a queue file name, ignored", de->d_name);
            continue;
        }
        if (res.count == res.cap) {
            res.cap = res.cap ? res.cap * 2 : 64;
            res.ids = xrealloc(res.ids, res.cap * sizeof(*res.ids));
        }
        snprintf(res.ids[res.count++], QUEUE_ID_MAX, "%s", de->d_name);
    }
    closedir(dir);
    int moved = 0;
    for (size_t i = 0; i < res.count; i++) {
        if (queue_move(qmgr_qdir, "active", "incoming", res.ids[i]) == 0)
            moved++;
        else
            msg_warn("%s: move active -> incoming: %s", res.ids[i], strerror(errno));
    }
    if (moved)
        msg_info("moved %d message(s) left in active/ back to incoming/", moved);
    free(res.ids);
}
