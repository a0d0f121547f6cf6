/* access.h: the results of access tables and content checks, as in Postfix's access(5)
 * and header_checks(5), and the client look-up behind check_client_access.
 *
 * access_parse_action() turns a table's result text into an action:
 *   OK | DUNNO | REJECT [text] | DEFER [text] | 4NN/5NN [x.y.z] text | DISCARD [text] |
 *   HOLD [text] | WARN [text] | PREPEND text | REDIRECT address | IGNORE
 * Action names are case-insensitive. A numeric reply needs a 4xx or 5xx code; a dsn
 * ("x.y.z" with class 4 or 5) is optional, also as the first word of REJECT's (5.y.z)
 * or DEFER's (4.y.z) text. Text is kept as written (trimmed), at most
 * ACCESS_TEXT_MAX bytes, printable characters only (it ends up in SMTP replies and
 * headers). Which actions a caller accepts is the caller's business (smtpd: OK, DUNNO,
 * REJECT, DEFER, codes; cleanup: the header/body check set).
 *
 * access_check_client() is check_client_access: look the client up in each table of a
 * list ("cidr:/etc/postern/clients, hash:/etc/postern/access"); first hit wins. Keys
 * tried, in Postfix's order: the client host name and its parent domains (if name is
 * known and not "unknown"), then the address, then (IPv4) the address with the last
 * 1, 2, 3 octets removed ("192.0.2", "192.0", "192") or (IPv6) with the last
 * colon-separated groups removed. cidr: and regexp: tables get only the address (and the
 * name for regexp:). */
#ifndef POSTERN_ACCESS_H
#define POSTERN_ACCESS_H
#include "str.h"

#define ACCESS_TEXT_MAX 512

enum access_kind {
    ACCESS_DUNNO, ACCESS_OK, ACCESS_REJECT, ACCESS_DEFER, ACCESS_DISCARD, ACCESS_HOLD,
    ACCESS_WARN, ACCESS_PREPEND, ACCESS_REDIRECT, ACCESS_IGNORE
};

struct access_action {
    enum access_kind kind;
    int code;                  /* REJECT/DEFER: SMTP code (default 550 / 450) */
    char dsn[16];              /* REJECT/DEFER: "5.7.1" / "4.7.1" unless given */
    char text[ACCESS_TEXT_MAX + 1]; /* reply text, header, address; "" when none */
};

/* 0, or -1 with *err (malloc'd) for an unknown action or bad arguments. */
int access_parse_action(const char *value, struct access_action *a, char **err);
/* Name of an action ("REJECT", ...) for logs. */
const char *access_kind_name(enum access_kind k);

/* 1 found (result text in value), 0 not found, -1 a table could not be read. */
int access_check_client(char **maps, const char *addr, const char *name, str *value);

#endif
