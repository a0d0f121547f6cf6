/* master.h: state shared by the master's source files.
 *
 *   master.c          main: options, start-up order, daemonizing, signals, shutdown
 *   master_conf.c     main.cf snapshot + master.cf loading, SIGHUP reload
 *   master_service.c  services: creation, listeners, wake-up timers, removal
 *   master_listen.c   opening inet (TCP) and unix listening sockets
 *   master_spawn.c    fork/exec of children, reaping, throttling, "enough idle children"
 *   master_status.c   the status pipes children report busy/idle on
 *
 * Process model: every service has one status pipe and one or more listeners (an inet
 * service on "all" interfaces has an IPv4 and an IPv6 socket). Because the child contract
 * (server.h) passes exactly one listening socket on fd 3, every listener has its own pool
 * of children; maxproc applies to each pool. */
#ifndef POSTERN_MASTER_H
#define POSTERN_MASTER_H
#include <sys/types.h>
#include "mastercf.h"
#include "server.h"

#define MASTER_UNLIMITED_PROCS 1000   /* cap for maxproc 0 */
#define MASTER_DEATH_WINDOW    6      /* > 5 startup deaths ... */
#define MASTER_DEATH_SECONDS   10     /* ... within 10 s throttle the service */
#define MASTER_MAX_THROTTLE    60     /* seconds, also capped by service_throttle_time */

/* Settings master itself uses, copied out of main.cf at load/reload. */
struct master_params {
    char *confdir;                /* absolute */
    char *queue_directory;
    char *daemon_directory;
    char **inet_interfaces;
    char **inet_protocols;
    char *mail_owner;
    long default_process_limit;
    long service_throttle_time;
    uid_t owner_uid;              /* (uid_t)-1 unless root */
    gid_t owner_gid;
};

struct listener {
    int fd;
    char *desc;                   /* "127.0.0.1:2525", "[::]:25", "private/cleanup" */
    int nproc;                    /* live, non-retired children of this pool */
    int navail;                   /* ... of which idle */
};

struct service {
    char *name;
    enum svc_type type;
    char *command;
    char **args;                  /* NULL-terminated */
    int private_, unpriv, wakeup;
    int maxproc;                  /* effective limit per listener, >= 1 */
    char *unix_path;              /* unix services: socket path */
    struct listener *listeners;
    int nlisteners;
    int status_rd, status_wr;     /* status pipe; -1 when closed */
    unsigned char status_buf[sizeof(struct server_status)];
    size_t status_len;            /* partial record carried over */
    unsigned generation;
    long long deaths[MASTER_DEATH_WINDOW];   /* ms of recent startup deaths (ring) */
    int death_next;
    int throttled;
    long throttle_timer, wakeup_timer, retry_timer;
    int stale;                    /* reload bookkeeping */
    struct service *next;
};

struct child {
    pid_t pid;
    struct service *svc;          /* NULL once retired (old generation or removed service) */
    int listener;
    int avail;
    int served;                   /* reported busy at least once */
    char *path;                   /* executable, for log messages */
    struct child *next;
};

extern struct master_params master_params;
extern struct service *master_services;
extern int master_verbose;
extern int master_stopping;

/* master_conf.c */
int master_conf_load(const char *confdir, char **err);   /* main.cf + snapshot */
int master_conf_load_services(struct mastercf *out, char **err);
void master_reload(void);

/* master_service.c */
struct service *service_create(const struct mastercf_entry *e, char **err, int bind_wait_ms);
void service_update(struct service *svc, const struct mastercf_entry *e);
void service_destroy(struct service *svc);
void service_close_listeners(struct service *svc);
struct service *service_find(const char *name, enum svc_type type);
const char *service_type_name(enum svc_type type);
int service_open_status_pipe(struct service *svc);
void service_close_status_pipe(struct service *svc);

/* master_listen.c: 0, or -1 with *err (malloc'd). Listeners are appended to svc. */
int listen_inet(struct service *svc, int bind_wait_ms, char **err);
int listen_unix(struct service *svc, char **err);

/* master_spawn.c */
void spawn_adjust(struct service *svc);          /* fork children until each pool has an idle one */
void spawn_adjust_all(void);
void spawn_retire(struct service *svc);          /* current children finish and exit */
void spawn_reap(void);                           /* SIGCHLD: waitpid loop */
int spawn_count(void);                           /* children not yet reaped */
void spawn_signal_all(int sig);
struct child *spawn_find(pid_t pid);

/* master_metrics.c: counter file, process counts, the $metrics_listen endpoint. 0 or -1 (*err) */
int master_metrics_init(char **err);
/* After a reload: follow a changed $metrics_listen (the new endpoint is opened before the
 * old one is closed; on failure the old one stays, logged). */
void master_metrics_reload(void);

/* master_status.c */
void status_watch(struct service *svc);          /* register the read end with events */

#endif
