/* mastercf.h: master.cf parsing (Postfix's column format).
 *
 *   # service type  private unpriv  chroot  wakeup  maxproc command + args
 *   smtp      inet  n       -       n       -       -       smtpd
 *   127.0.0.1:2525 inet n   -       n       -       -       smtpd -o smtpd_banner=x
 *   cleanup   unix  n       -       n       -       0       cleanup
 *
 * Lines starting with whitespace continue the previous entry; '#' comments. "-" means the
 * default: private=y, unpriv=y, chroot=n (chroot is parsed but postern never chroots),
 * wakeup=0, maxproc=$default_process_limit. maxproc 0 = no limit. A wakeup time may end
 * in '?' (Postfix syntax); the '?' is accepted and ignored. */
#ifndef POSTERN_MASTERCF_H
#define POSTERN_MASTERCF_H

enum svc_type { SVC_INET, SVC_UNIX, SVC_PASS, SVC_FIFO };

struct mastercf_entry {
    char *service;          /* "smtp", "127.0.0.1:2525", "cleanup" */
    enum svc_type type;
    int private_;           /* 1 = private/ (only for unix), 0 = public/ */
    int unpriv;             /* 1 = run as mail_owner when master is root */
    int chroot_;
    int wakeup;             /* seconds, 0 = none */
    int maxproc;            /* -1 = use default_process_limit; 0 = unlimited */
    char *command;          /* "smtpd" */
    char **args;            /* NULL-terminated extra args after the command (e.g. -o x=y) */
    int line;               /* line number where the entry starts */
};

struct mastercf {
    struct mastercf_entry *entries;
    int count;
};

/* Parse PATH. Returns 0, or -1 with *err = "master.cf:LINE: message" (malloc'd). */
int mastercf_load(const char *path, struct mastercf *out, char **err);
int mastercf_parse_string(const char *text, const char *name, struct mastercf *out, char **err);
void mastercf_free(struct mastercf *m);

/* An inet service name ("PORT", "HOST:PORT", "*:PORT", "[ADDR]:PORT") split into host
 * (malloc'd; NULL = any, i.e. $inet_interfaces) and port text (malloc'd). 0, or -1 with
 * *err (malloc'd) on bad syntax. Shared by master (listening) and `postern check`. */
int mastercf_split_inet(const char *name, char **host, char **port, char **err);
/* Port number of PORT (decimal or /etc/services name), or -1. */
int mastercf_port(const char *port);

#endif
