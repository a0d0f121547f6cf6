/* resolve.h: address classes and routing, shared by smtpd (recipient checks), qmgr
 * (which transport delivers) and local (mailbox look-ups). This is Postfix's
 * trivial-rewrite, done in-process.
 *
 * Class of a recipient domain, in this order:
 *   LOCAL    domain in $mydestination (or no domain)  -> $local_transport   (local)
 *   VIRTUAL  domain in $virtual_mailbox_domains       -> $virtual_transport (local)
 *   RELAY    domain in $relay_domains                 -> $relay_transport   (smtp)
 *   DEFAULT  anything else                            -> $default_transport (smtp)
 * Domain lists accept literal domains and "type:table" entries (a table hit on the domain
 * is a match). Domain matching is ASCII case-insensitive; a trailing dot is ignored. */
#ifndef POSTERN_RESOLVE_H
#define POSTERN_RESOLVE_H
#include "str.h"

enum addr_class { ADDR_CLASS_LOCAL, ADDR_CLASS_VIRTUAL, ADDR_CLASS_RELAY, ADDR_CLASS_DEFAULT };

struct resolved {
    enum addr_class cls;
    char transport[64];    /* "local", "smtp", ... (the master.cf service name) */
    char nexthop[300];     /* domain or [host]:port; for local: the domain */
};

/* Re-read the parameters used here (after config_load). Call once per process. */
void resolve_init(void);
void resolve_addr(const char *addr, struct resolved *out);
const char *addr_class_name(enum addr_class c);
/* 1 if domain is in the given list parameter ("mydestination", ...). */
int domain_in_list(const char *param_name, const char *domain);

/* Recipient validation (smtpd at RCPT time):
 *   1 known, 0 unknown (why = reply text like "User unknown in virtual mailbox table"),
 *  -1 lookup error (temporary; why says which table). */
int rcpt_known(const char *addr, const struct resolved *r, str *why);

#endif
