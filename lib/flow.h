/* flow.h: intake back pressure ($in_flow_delay), the way Postfix does it.
 *
 * master creates one non-blocking pipe when it starts (it lives until master exits, across
 * reloads) and passes it to every child: the read end on fd SERVER_FLOW_READ_FD and the
 * write end on fd SERVER_FLOW_WRITE_FD (server.h). Each byte in the pipe is a "token".
 * qmgr puts one token for every message it moves out of incoming/, and when incoming/ is
 * empty (it keeps up) tops the pipe up to $default_process_limit tokens, so that tokens
 * lost with messages that never reach incoming/ (rejected, discarded, held, aborted) do
 * not slow down later mail; cleanup takes one before it accepts a new message, waiting at most $in_flow_delay when the pipe is empty,
 * and then goes ahead anyway. So while delivery keeps up nobody waits, and when it falls
 * behind every new message is slowed down by up to $in_flow_delay.
 *
 * The pipe never holds more than FLOW_MAX_TOKENS tokens: flow_put tops it up to that
 * level at most, so tokens cannot pile up while cleanup goes ahead without them.
 * A process that did not get both descriptors from master (started by hand, unit tests)
 * has no flow control: flow_get and flow_put then return 0 at once. */
#ifndef POSTERN_FLOW_H
#define POSTERN_FLOW_H

#define FLOW_MAX_TOKENS   256    /* most tokens ever kept in the pipe */
#define FLOW_MAX_WAIT_MS  60000  /* flow_get never waits longer, whatever it is asked */

/* Children (server_main calls this first, before it opens anything): check that the
 * flow descriptors are really the two ends of one pipe (else flow control stays off),
 * mark them close-on-exec and non-blocking. */
void flow_init(void);
/* 1 when flow control is on in this process. */
int flow_enabled(void);
/* cleanup: take one token, waiting at most timeout_ms (capped at FLOW_MAX_WAIT_MS).
 * 1: got one; 0: none within the time, flow control off, or timeout_ms <= 0. */
int flow_get(long timeout_ms);
/* qmgr: add up to n tokens without ever blocking (the pipe is kept at or below
 * FLOW_MAX_TOKENS). Returns the number added. */
int flow_put(int n);
/* qmgr, when idle: add tokens until the pipe holds `level` (at most FLOW_MAX_TOKENS).
 * Returns the number added (0 also when the level cannot be read). */
int flow_top_up(int level);

/* master: create the pipe (non-blocking, close-on-exec) and prime it with `tokens`
 * (at most FLOW_MAX_TOKENS). 0, or -1 with errno set. Calling it again is a no-op. */
int flow_master_init(int tokens);
/* master: the pipe's descriptors, or -1/-1 before flow_master_init. */
void flow_master_fds(int *read_fd, int *write_fd);

#endif
