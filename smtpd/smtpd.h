/* smtpd.h: internal interface of the smtpd program (the SMTP server): the cached
 * configuration, the per-session state, and the functions each smtpd/ file provides.
 *
 *   smtpd.c          main(), configuration, one session per accepted client (loop)
 *   smtpd_peer.c     the client's numeric address and port
 *   smtpd_proto.c    command table, dispatch, per-command counters, simple commands
 *   smtpd_mail.c     MAIL FROM and RCPT TO
 *   smtpd_xact.c     the mail transaction and its cleanup connection (lib/submit.h)
 *   smtpd_check.c    recipient/relay policy
 *   smtpd_data.c     DATA: streaming the message to cleanup
 *   smtpd_reply.c    reply formatting, error counting, rejection logging
 *   smtpd_tls.c      STARTTLS and wrapper mode (lib/tls.h)
 *   smtpd_auth.c     AUTH PLAIN/LOGIN (lib/passwd.h); smtpd_auth_throttle.c: failure limit
 *   smtpd_xclient.c  XCLIENT (authorized proxies/test clients set the client identity)
 *   smtpd_cmd.c, smtpd_dataline.c   pure parsers (also linked by the fuzz target) */
#ifndef POSTERN_SMTPD_H
#define POSTERN_SMTPD_H
#include <stddef.h>
#include "bio.h"
#include "str.h"
#include "submit.h"
#include "netmatch.h"

/* Parameters, read once after the configuration is loaded. */
struct smtpd_config {
    const char *myhostname;
    const char *banner;
    int timeout_ms;
    long recipient_limit;
    long soft_error_limit, hard_error_limit, error_sleep;
    long junk_command_limit;           /* NOOP/RSET/VRFY beyond this count as errors */
    int helo_required;
    int forbid_bare_newline;
    int disable_vrfy;
    int reject_unlisted_recipient;
    int unknown_local_code;            /* 450 or 550 */
    size_t line_limit;                 /* command line and DATA piece size */
    unsigned long long size_limit;     /* 0 = unlimited */
    netmatch *mynetworks;
    char **relay_restrictions;         /* $smtpd_relay_restrictions */
    char **sender_restrictions;        /* $smtpd_sender_restrictions */
    char **recipient_restrictions;     /* $smtpd_recipient_restrictions */
    int unknown_address_code;          /* $unknown_address_reject_code */
    int unknown_client_code;           /* $unknown_client_reject_code */
    char **sender_login_maps;          /* $smtpd_sender_login_maps */
};
extern struct smtpd_config smtpd_cfg;

#define SMTPD_HELO_NONE 0
#define SMTPD_HELO_HELO 1
#define SMTPD_HELO_EHLO 2

/* Why a client name is what it is (name_status, reverse_status). */
#define SMTPD_NAME_OK 0                    /* found (and, for name, forward-confirmed) */
#define SMTPD_NAME_NOTFOUND 1              /* no name, not confirmed, or lookup disabled */
#define SMTPD_NAME_TEMPFAIL 2              /* a DNS lookup failed temporarily */

#define SMTPD_NCOUNTERS 16                 /* >= number of command table entries */
#define SMTPD_QUEUE_ID_MAX 32

struct smtpd_state {
    int fd;
    bio *client;
    /* the client */
    char name[256];                        /* smtpd_peer.c: /etc/hosts or forward-confirmed
                                            * PTR, XCLIENT NAME, or "unknown" */
    char addr[64];                         /* numeric; IPv4-mapped IPv6 shown as IPv4 */
    char port[8];
    char peer[330];                        /* "name[addr]" for logs */
    int name_status;                       /* SMTPD_NAME_* of name (smtpd_peer.c) */
    char reverse_name[256];                /* first PTR name, confirmed or not, or "unknown" */
    int reverse_status;                    /* SMTPD_NAME_* of reverse_name */
    char names_addr[64];                   /* the address the two statuses were found for */
    int xclient_authorized;                /* real address in $smtpd_authorized_xclient_hosts */
    int helo_kind;                         /* SMTPD_HELO_* */
    str helo_name;
    const char *protocol;                  /* "SMTP", "ESMTP", "ESMTPS", "ESMTPA", "ESMTPSA" */
    /* TLS and SMTP AUTH */
    struct tls_sess *tls;                  /* active TLS session, or NULL */
    str tls_info;                          /* "TLSv1.3 with cipher ... (256/256 bits)" */
    str sasl_username;                     /* "" = not authenticated */
    const char *sasl_method;               /* "PLAIN" or "LOGIN" once authenticated */
    /* the transaction */
    int in_mail;
    str sender;                            /* canonical, "" = null sender */
    str rcpt;                              /* the RCPT address being checked */
    int rcpt_attempts;                     /* RCPT commands in this transaction */
    int rcpt_count;                        /* accepted recipients */
    submit *sub;                           /* open cleanup transaction, or NULL */
    char queue_id[SMTPD_QUEUE_ID_MAX + 1]; /* "" until cleanup gave one */
    /* the session */
    str line;                              /* input line buffer (reused, no per-line malloc) */
    str reply;                             /* reply being formatted */
    str scratch;                           /* short-lived formatting (smtpd_reject, checks) */
    str check_reply;                       /* reply text from smtpd_check_rcpt() */
    int error_count;
    long junk_commands;                    /* NOOP, RSET, VRFY so far */
    int quit;                              /* set to end the session after this command */
    const char *where;                     /* last command, for "lost connection after X" */
    unsigned cmd_ok[SMTPD_NCOUNTERS], cmd_total[SMTPD_NCOUNTERS];
};

/* smtpd_peer.c: fill name/addr/port/peer from getpeername(fd). */
void smtpd_peer_init(struct smtpd_state *s);
/* smtpd_peer.c: SMTPD_NAME_* of the client's name (reverse = 0) or of its PTR name
 * (reverse = 1) as the client is now: once XCLIENT changed the address the statuses found
 * at connect no longer apply and both follow s->name ("unknown" = not found). */
int smtpd_peer_name_status(const struct smtpd_state *s, int reverse);

/* smtpd_proto.c: read and execute commands until QUIT, EOF, timeout or too many errors. */
void smtpd_proto_run(struct smtpd_state *s);
/* "disconnect from ..." counters: "ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4". */
void smtpd_proto_counters(const struct smtpd_state *s, str *out);
/* Log and, when still possible, tell the client why the session ends after an I/O
 * failure (timeout: 421 4.4.2; EOF/error: just the log). */
void smtpd_proto_io_failure(struct smtpd_state *s);

/* smtpd_mail.c: command actions; 0 when the command succeeded, -1 when rejected. */
int smtpd_cmd_mail(struct smtpd_state *s, char *args);
int smtpd_cmd_rcpt(struct smtpd_state *s, char *args);
/* smtpd_data.c */
int smtpd_cmd_data(struct smtpd_state *s, char *args);

/* smtpd_xact.c */
int smtpd_xact_open(struct smtpd_state *s);   /* connect to cleanup; 0 or -1 (logged) */
void smtpd_xact_reset(struct smtpd_state *s); /* abort any cleanup transaction, forget
                                               * sender and recipients */

/* smtpd_check.c: 0 = accept the recipient, else the reply code with the full reply text
 * in `reply` ("554 5.7.1 <a@b>: Relay access denied"). `reply` must not be s->scratch
 * (used for the lookup's reason). */
int smtpd_check_rcpt(struct smtpd_state *s, const char *rcpt, str *reply);

/* smtpd_check.c: smtpd_sender_restrictions at MAIL FROM (reject_sender_login_mismatch
 * and friends); 0 = accept, else the reply code with the full reply in `reply`. */
int smtpd_check_sender(struct smtpd_state *s, const char *sender, str *reply);
void smtpd_check_init(void);                  /* read the restriction lists */

/* smtpd_tls.c */
void smtpd_tls_pre_init(void);                /* build the TLS context (privileged) */
int smtpd_tls_offer(const struct smtpd_state *s);    /* EHLO: offer STARTTLS? */
int smtpd_tls_required(const struct smtpd_state *s); /* level encrypt, not yet in TLS */
int smtpd_tls_wrapper(struct smtpd_state *s);  /* wrapper mode handshake; 0 or -1 */
int smtpd_cmd_starttls(struct smtpd_state *s, char *args);
void smtpd_tls_end(struct smtpd_state *s);     /* close the TLS session, if any */
/* "SMTP", "ESMTP", "ESMTPS", "ESMTPA" or "ESMTPSA" for the session as it is now. */
const char *smtpd_protocol_name(const struct smtpd_state *s);

/* smtpd_auth.c */
void smtpd_auth_pre_init(void);               /* open the failure state file (privileged) */
void smtpd_auth_post_init(void);
int smtpd_auth_offer(const struct smtpd_state *s);  /* EHLO: offer AUTH? */
void smtpd_auth_ehlo_args(const struct smtpd_state *s, str *out); /* " PLAIN LOGIN" */
int smtpd_cmd_auth(struct smtpd_state *s, char *args);
void smtpd_auth_reset(struct smtpd_state *s);  /* forget the login (after STARTTLS) */

/* smtpd_auth_throttle.c: failed AUTH attempts per client address, shared by all smtpd
 * processes through a small state file (in-process counting if it cannot be opened). */
void smtpd_auth_throttle_open(const char *path);
int smtpd_auth_throttled(const char *addr, long limit, long window);
void smtpd_auth_failed(const char *addr, long window);
/* Failed AUTH per attempted user name (any client address), same state file. */
void smtpd_auth_user_key(const char *user, size_t len, char *out); /* out: 256 bytes */
int smtpd_auth_user_throttled(const char *user_key, long limit, long window);
void smtpd_auth_user_failed(const char *user_key, long window);

/* smtpd_xclient.c */
void smtpd_xclient_init(void);                /* read $smtpd_authorized_xclient_hosts */
void smtpd_xclient_connect(struct smtpd_state *s);  /* after smtpd_peer_init() */
int smtpd_xclient_offer(const struct smtpd_state *s); /* EHLO: offer XCLIENT? */
void smtpd_xclient_ehlo_args(const struct smtpd_state *s, str *out);
int smtpd_cmd_xclient(struct smtpd_state *s, char *args);

/* smtpd_reply.c */
/* Queue one single-line reply (buffered; flushed by the command loop). Control characters
 * are replaced. A 4xx/5xx reply counts as an error; after $smtpd_soft_error_limit errors
 * each error reply is delayed by $smtpd_error_sleep_time. */
void smtpd_reply(struct smtpd_state *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Queue a reply already formatted (possibly multi-line, CRLF-separated, no final CRLF). */
void smtpd_reply_raw(struct smtpd_state *s, const char *text, size_t len);
/* Reply and log "QUEUEID|NOQUEUE: reject: CMD from peer: REPLY; from=<> to=<> proto=..
 * helo=<..>" (to may be NULL). */
void smtpd_reject(struct smtpd_state *s, const char *cmd, const char *to,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Write the buffered replies out now; 0 or -1. */
int smtpd_flush(struct smtpd_state *s);
/* Queue id or "NOQUEUE" for log lines. */
const char *smtpd_log_id(const struct smtpd_state *s);

#endif
