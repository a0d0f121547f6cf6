/* netmatch.h: match client IP addresses against lists such as mynetworks:
 *   127.0.0.0/8 [::1]/128 192.0.2.7 [2001:db8::]/32
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) match IPv4 entries. */
#ifndef POSTERN_NETMATCH_H
#define POSTERN_NETMATCH_H

typedef struct netmatch netmatch;

/* Parse a list of patterns; NULL with *err (malloc'd) naming the bad entry. */
netmatch *netmatch_parse(char **patterns, char **err);
void netmatch_free(netmatch *m);
/* 1 if addr (textual IPv4/IPv6) matches any entry, 0 if not or if addr is unparsable. */
int netmatch_match(const netmatch *m, const char *addr);

#endif
