/* smtp.h: internal interfaces of the smtp delivery agent (the smtp/ sources only).
 *
 * smtp serves one qmgr delivery request per connection (docs/PROTOCOLS.md section 3) and
 * relays the message to the next hop over SMTP. The request, results, log line and reply
 * are lib/deliver_*.h, shared with local/:
 *   smtp.c          main: the deliver_service() agent, one log line per recipient
 *   smtp_route.c    nexthop -> ordered list of server hosts (MX, A/AAAA, [literal])
 *   smtp_connect.c  walk hosts and addresses, TCP connect with timeout, session limits
 *   smtp_reply.c    read one SMTP reply, strictly bounded
 *   smtp_proto.c    the SMTP dialog of one session (EHLO, MAIL, RCPT, DATA, QUIT)
 *   smtp_tls.c      TLS policy per destination and the STARTTLS exchange
 *   smtp_cache.c    the session kept open between the requests of one qmgr connection
 * Connection reuse: qmgr sends the next request for the same destination over the same
 * agent connection when it has one waiting (qmgr_entry_take_next()); a session that ended
 * its transaction cleanly stays open for it, and is closed (QUIT) when qmgr hangs up.
 * Run as the master.cf service "lmtp" the same program speaks LMTP (RFC 2033): LHLO, one
 * reply per accepted recipient after the final dot, nexthop "unix:/path" (UNIX socket) or
 * "inet:host[:port]" / "[host]:port" / "host:port" (no MX lookup, default port 24), no
 * STARTTLS and no loop check (the LMTP server is usually on this very host). */
#ifndef POSTERN_SMTP_H
#define POSTERN_SMTP_H
#include <sys/types.h>
#include "bio.h"
#include "deliver_request.h"
#include "dns.h"
#include "str.h"
#include "tls.h"

#define SMTP_MAX_RCPTS 1000            /* recipients per request */
#define SMTP_DSN_MAX 16
#define SMTP_REPLY_LINE_MAX 2048       /* one reply line, bytes */
#define SMTP_REPLY_LINES_MAX 100       /* lines per reply */
#define SMTP_REPLY_TEXT_MAX 8192       /* joined reply text kept */
#define SMTP_HOSTS_MAX 50              /* server hosts considered per delivery */
#define SMTP_RELAY_MAX 400
#define SMTP_LMTP_PORT 24              /* RFC 2033 section 5: LMTP's assigned port */
#define SMTP_UNIX_PATH_MAX 108         /* sizeof(sockaddr_un.sun_path) on Linux */

/* 1 when this process runs as the "lmtp" service and speaks LMTP (smtp.c). */
int smtp_is_lmtp(void);

/* One request recipient that matched the queue file, while we try to deliver it. */
struct smtp_rcpt {
    struct deliver_rcpt *req;          /* address, orig and the result qmgr gets */
    int done;                          /* 1: final result (sent/bounced) */
    int tried;                         /* a server gave a reply for it */
    char relay[SMTP_RELAY_MAX];        /* "none" or host[addr]:port */
    double conn_setup, xfer;           /* delays c and d for the log */
    int conn_use;                      /* transactions on that session including this one */
};

/* TLS policy of one destination (smtp_tls.c) */
#define SMTP_TLS_MATCH_MAX 16
struct smtp_tls_policy {
    enum tls_level level;
    char *match[SMTP_TLS_MATCH_MAX];   /* names for verify ("hostname", "nexthop" or literal) */
    int nmatch;
    char domain[DNS_NAME_MAX + 1];     /* destination domain ("" for [host]) */
};

/* --- smtp_route.c --- */
struct smtp_host {
    char name[DNS_NAME_MAX + 1];
    int pref;
    int literal;                       /* [host] nexthop: name is what was in brackets */
};
struct smtp_route {
    struct smtp_host *hosts;
    int count;
    int port;
    int mx;                            /* hosts came from an MX lookup */
    char unix_path[SMTP_UNIX_PATH_MAX];  /* LMTP "unix:PATH" nexthop ("" otherwise) */
    struct smtp_tls_policy tls;        /* TLS policy for this destination */
};
/* Resolve the nexthop into hosts (LMTP forms when smtp_is_lmtp()). 0 ok; -1 with fail set
 * (defer/bounce for everyone). */
int smtp_route_find(const char *nexthop, struct smtp_route *route, struct deliver_result *fail);
void smtp_route_free(struct smtp_route *route);
/* Parse "domain", "domain:port", "[host]" or "[host]:port". 0 or -1. host gets the name,
 * *port -1 when none is given, *literal 1 for brackets. */
int smtp_nexthop_parse(const char *nexthop, char *host, size_t hostlen, int *port, int *literal);
/* 1 if name is our own host name ($myhostname). */
int smtp_is_myself(const char *name);

/* --- smtp_tls.c --- */
/* Build the client TLS context (pre_init: files still readable). Failure is logged;
 * mandatory TLS is then deferred. */
void smtp_tls_pre_init(void);
/* The policy for a nexthop. 0, or -1 with fail set (defer: bad policy or lookup error). */
int smtp_tls_policy_find(const char *nexthop, struct smtp_tls_policy *p,
                         struct deliver_result *fail);
void smtp_tls_policy_free(struct smtp_tls_policy *p);

/* --- smtp_reply.c --- */
struct smtp_reply {
    int code;                          /* 200..599 */
    char dsn[SMTP_DSN_MAX];            /* enhanced status from the text or code-derived */
    str text;                          /* every line as received joined with " " */
    char **lines;                      /* text after "NNN-" / "NNN " of each line */
    int nlines;
};
void smtp_reply_init(struct smtp_reply *r);
void smtp_reply_free(struct smtp_reply *r);
/* Read one complete reply. 0, or -1 with *err ("timeout", "end of file", "malformed
 * reply: ..."). */
int smtp_reply_read(bio *b, struct smtp_reply *r, const char **err);
/* Parse a buffered reply line (for tests): 0 ok (*code, *more, *text), -1 malformed. */
int smtp_reply_parse_line(const char *line, size_t len, int *code, int *more, const char **text);

/* --- smtp_proto.c --- */
struct smtp_session {
    bio *b;
    char host[DNS_NAME_MAX + 1];
    char addr[SMTP_UNIX_PATH_MAX + 2];  /* IP address text, or the LMTP socket path */
    int port;
    char relay[SMTP_RELAY_MAX];
    int pipelining, eightbit, size_offered;
    int msg_8bit;                      /* the content has bytes >= 0x80 */
    long size_limit;
    int final_server;                  /* no other server will be tried after this one */
    double start;                      /* session set up (for delays c/d) */
    int starttls_offered;              /* EHLO listed STARTTLS */
    const struct smtp_tls_policy *tls_policy;
    tls_sess *tls;                     /* after a successful STARTTLS */
    int helo_timeout_ms;
    int lmtp;                          /* speak LMTP (RFC 2033) instead of SMTP */
    int keep;                          /* in: leave a clean session open (no QUIT) */
    int reusable;                      /* out: the session is open, idle and clean */
    int uses;                          /* transactions done on it before this one */
    double opened;                     /* when it was connected */
};
/* (smtp_tls.c) STARTTLS on a session after EHLO: 0 TLS is up (logged; EHLO must be sent
 * again); -1 refused (STARTTLS rejected or TLS unavailable; the plain-text session is
 * still usable); -2 the connection is unusable. why says what happened. */
int smtp_tls_starttls(struct smtp_session *s, struct smtp_reply *reply, str *why);
enum smtp_session_rc { SESSION_DONE = 0, SESSION_NEXT = 1, SESSION_LOOP = 2,
                      SESSION_STALE = 3 };
/* Run the dialog on a connected session for every recipient not yet done. Sets results;
 * SESSION_NEXT means some recipients may do better at the next server. On a reused
 * session (s->uses > 0) the greeting and EHLO are skipped, and SESSION_STALE means the
 * server had gone away before it answered anything (no result set: connect afresh).
 * With s->keep a cleanly ended session is left open with s->reusable set. */
int smtp_session_run(struct smtp_session *s, struct deliver_msg *m, struct smtp_rcpt *rcpts,
                     int n);
/* QUIT (bounded by $smtp_quit_timeout) on a session left open; the caller closes it. */
void smtp_session_quit(struct smtp_session *s);
/* 1 if the content has bytes >= 0x80, 0 if not, -1 on a queue file read error. */
int smtp_scan_8bit(const struct deliver_msg *m);

/* --- smtp_cache.c --- */
/* 1 if sessions should be kept for reuse ($smtp_connection_cache_on_demand). */
int smtp_cache_wanted(void);
/* Deliver over the session kept for m->nexthop, if one is open and alive. 1 when it ran
 * (results set like any session's), 0 when there was none or it had gone stale (nothing
 * was tried: deliver as usual). */
int smtp_cache_deliver(struct deliver_msg *m, int has_8bit, struct smtp_rcpt *rcpts, int n);
/* The session ended with rc: keep it for the next request of the same nexthop when it is
 * reusable and within the reuse limits, else QUIT and close it. */
void smtp_cache_release(struct smtp_session *s, const char *nexthop, int rc);
/* QUIT and close the kept session (qmgr closed the connection). */
void smtp_cache_close(void);

/* --- smtp_connect.c --- */
/* Deliver to the route: every host and address in order until nothing is left to try. */
void smtp_deliver(struct deliver_msg *m, int has_8bit, struct smtp_route *route,
                  struct smtp_rcpt *rcpts, int n);

#endif
