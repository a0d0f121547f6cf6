/* server.h: the skeleton every daemon started by master runs in.
 *
 * master starts a child as:  COMMAND -c CONFDIR -n SERVICE -t TYPE [-u] [-v] [-o name=value]... [args]
 * with the service's listening socket on fd SERVER_LISTEN_FD and the write end of the
 * status pipe on fd SERVER_STATUS_FD (and the flow pipe on SERVER_FLOW_*_FD). "-u" means
 * unprivileged: when running as root, drop to $mail_owner after pre_init. The child
 * reports busy/idle by writing a struct server_status to the status pipe (one write,
 * atomic). When the master goes away (status pipe reports POLLERR/POLLHUP) idle children
 * exit at once and busy ones after their current client.
 *
 * Single-client servers (smtpd, cleanup, local): the skeleton accepts one connection at
 * a time, calls service(fd), closes the fd, and exits after $max_use clients or
 * $max_idle seconds without a client.
 * Multi servers (qmgr): the skeleton calls loop(listen_fd) which runs its own event loop
 * and should return when server_master_gone() becomes true. */
#ifndef POSTERN_SERVER_H
#define POSTERN_SERVER_H
#include <sys/types.h>

#define SERVER_LISTEN_FD 3
#define SERVER_STATUS_FD 4
/* The in_flow_delay token pipe (flow.h): read end and write end. Optional: a daemon
 * without them simply has no intake flow control. */
#define SERVER_FLOW_READ_FD 5
#define SERVER_FLOW_WRITE_FD 6

struct server_status {
    int pid;
    int avail;            /* 1 idle, 0 busy */
    unsigned generation;
};

struct server_ops {
    const char *name;                          /* program name for logs: "smtpd" */
    void (*pre_init)(void);                    /* config loaded, still privileged */
    void (*post_init)(void);                   /* after privilege drop */
    void (*service)(int client_fd);            /* single-client servers */
    void (*loop)(int listen_fd);               /* multi servers (instead of service) */
};

/* Parse the command line, load main.cf, apply -o overrides, open the log, run pre_init,
 * drop privileges when -u, run post_init, then serve. Never returns. */
void server_main(int argc, char **argv, const struct server_ops *ops) __attribute__((noreturn));
/* Name of the master.cf service this process serves ("smtp", "127.0.0.1:2525", ...). */
const char *server_service_name(void);
/* Extra args from master.cf after the command (NULL-terminated). */
char **server_args(void);
/* 1 once the master is gone (status pipe closed) or SIGTERM was received. */
int server_master_gone(void);
/* Report busy/idle to master (the skeleton does this for single-client servers). */
void server_report(int avail);

#endif
