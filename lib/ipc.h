/* ipc.h: connecting to postern services over UNIX sockets under the queue directory
 * ($queue_directory/private/NAME or public/NAME) and waking up qmgr. */
#ifndef POSTERN_IPC_H
#define POSTERN_IPC_H

/* Connect to $queue_directory/CLASS/SERVICE (class "private" or "public").
 * Returns a connected fd or -1 (errno). Retries briefly on ECONNREFUSED/EAGAIN/ENOENT
 * (up to timeout_ms) so a service being restarted does not fail a request at once. */
int ipc_connect(const char *class_, const char *service, int timeout_ms);
/* Create a listening UNIX stream socket at path (unlinking a stale one); mode applied
 * with chmod. Returns fd or -1. */
int ipc_listen_unix(const char *path, int mode, int backlog);
/* Tell qmgr that new mail is in incoming/ (best effort: never blocks long, errors ignored). */
void ipc_wakeup_qmgr(void);
/* Ask qmgr to scan deferred/ now (files whose mtime, the retry time, has passed); used by
 * `postern queue flush` after setting the mtimes to now. Best effort, like the wake-up. */
void ipc_flush_qmgr(void);

#endif
