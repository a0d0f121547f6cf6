/* queue.h: the queue directory, queue IDs and the commit rule for queue files.
 *
 * Layout under $queue_directory:
 *   incoming/ active/ deferred/ hold/ corrupt/ bounce/ defer/ private/ public/ pid/
 * One file per message, named by its queue ID (no hashed subdirectories yet).
 *
 * Queue ID: 6 chars base-62 seconds, 4 chars base-62 microseconds, then the inode number
 * in base 62 (1..11 chars); alphabet 0-9A-Za-z. IDs sort by arrival time and two live
 * files can never collide (the inode is unique while the file exists).
 *
 * Commit rule (cleanup): queue_create() makes a file with mode 0600 ("being written"),
 * named by its queue ID; the writer writes every record ending with E, flushes, calls
 * queue_commit() which fchmods to 0700 and fsyncs. Readers (qmgr, queue listing) only take
 * files whose mode has the owner-execute bit (queue_file_ready()). */
#ifndef POSTERN_QUEUE_H
#define POSTERN_QUEUE_H
#include <sys/types.h>
#include <sys/stat.h>

#define QUEUE_ID_MAX 32
#define QUEUE_MODE_WRITING 0600
#define QUEUE_MODE_READY   0700

extern const char *const queue_names[];   /* "incoming","active","deferred","hold","corrupt",... NULL */
/* Only the directories that hold queue files: incoming active deferred hold corrupt, NULL. */
extern const char *const queue_message_queues[];

/* Create every queue subdirectory under qdir (mode 0700, private/ 0700, public/ 0711).
 * If uid/gid != -1, chown them. 0 or -1 with errno. */
int queue_dirs_create(const char *qdir, uid_t uid, gid_t gid);
/* Path of a queue file: "QDIR/QUEUE/ID" into buf. NULL (buf "") if it does not fit. */
const char *queue_path(char *buf, size_t len, const char *qdir, const char *queue, const char *id);
/* 1 if id has the queue ID syntax. Use before building any path from outside input. */
int queue_id_valid(const char *id);
/* Build a queue ID from time + inode. */
void queue_id_make(char out[QUEUE_ID_MAX], long sec, long usec, unsigned long long ino);
/* Arrival time (seconds) encoded in a valid queue ID, or -1. */
long queue_id_time(const char *id);

/* Create a new queue file in QDIR/QUEUE (usually "incoming"): O_CREAT|O_EXCL, mode 0600,
 * named by a fresh queue ID. Returns fd (>= 0) and fills id; -1 on error (errno). */
int queue_create(const char *qdir, const char *queue, char id[QUEUE_ID_MAX]);
/* queue_create() returns the fd with an exclusive flock held; it stays held until the
 * writer closes the file or dies. This removes QDIR/QUEUE/NAME if it is an incomplete
 * file (mode without S_IXUSR) that nobody holds locked and that was last modified at least
 * min_age seconds ago (use a larger min_age for ".tmp.*" names, which are unlocked for an
 * instant after creation). Returns 1 removed, 0 left alone, -1 error (errno). */
int queue_remove_if_abandoned(const char *qdir, const char *queue, const char *name,
                              int min_age);
/* Make the file complete: fchmod 0700 + fsync. 0 or -1. */
int queue_commit(int fd);
/* 1 if st says the file is complete (mode has S_IXUSR). */
int queue_file_ready(const struct stat *st);
/* rename QDIR/FROM/ID -> QDIR/TO/ID. 0 or -1 (errno; EINVAL for an invalid id). */
int queue_move(const char *qdir, const char *from, const char *to, const char *id);
/* unlink QDIR/QUEUE/ID. 0 or -1. */
int queue_remove(const char *qdir, const char *queue, const char *id);

#endif
