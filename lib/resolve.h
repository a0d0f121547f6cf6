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
/* Class, then transport and nexthop: the class's transport parameter ($relayhost as the
 * nexthop of relay/default mail when set), overridden by $transport_maps (see resolve.c).
 * Special transports (handled by qmgr, no process): "error" (nexthop = "[x.y.z ]text",
 * bounce), "discard" (nexthop = optional text, drop), "retry" (nexthop = "[x.y.z ]text",
 * defer; e.g. a transport_maps lookup failure). */
void resolve_addr(const char *addr, struct resolved *out);
/* $transport_maps look-up alone (for tests and tools): keys addr (may be NULL), dom,
 * ".parent" domains, "*". 1 found (value set), 0 not found, -1 table error. */
int resolve_transport_lookup(const char *addr, const char *dom, str *value);
const char *addr_class_name(enum addr_class c);
/* 1 if domain is in the given list parameter ("mydestination", ...). */
int domain_in_list(const char *param_name, const char *domain);

/* Recipient validation (smtpd at RCPT time):
 *   1 known, 0 unknown (why = reply text like "User unknown in virtual mailbox table"),
 *  -1 lookup error (temporary; why says which table). */
int rcpt_known(const char *addr, const struct resolved *r, str *why);

#endif
