/* events.h: a small poll(2)-based event loop with timers and signal delivery through a
 * self-pipe. Used by master and qmgr (which juggle many descriptors); one loop per process. */
#ifndef POSTERN_EVENTS_H
#define POSTERN_EVENTS_H

typedef void (*event_fd_cb)(int fd, void *ctx);
typedef void (*event_timer_cb)(void *ctx);
typedef void (*event_signal_cb)(int signo, void *ctx);

void event_add_read(int fd, event_fd_cb cb, void *ctx);   /* replaces an existing watch on fd */
void event_add_write(int fd, event_fd_cb cb, void *ctx);
void event_del_read(int fd);
void event_del_write(int fd);
/* One-shot timer after `ms` milliseconds; returns an id > 0. */
long event_timer(long ms, event_timer_cb cb, void *ctx);
void event_cancel_timer(long id);
/* Deliver `signo` to cb from the loop (not from the signal handler). */
void event_signal(int signo, event_signal_cb cb, void *ctx);
/* Run ready callbacks once, waiting at most max_wait_ms (-1: until something happens). */
void event_loop_once(long max_wait_ms);
/* Monotonic milliseconds. */
long long event_now_ms(void);

#endif
