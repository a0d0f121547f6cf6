/* spf.h: SPF (RFC 7208) checks for smtpd, on top of libspf2 with every DNS query going
 * through lib/dns.h (so $dns_servers is honoured). The libspf2 types stay inside spf.c.
 *
 * One check per identity: the MAIL FROM domain, or for the null sender the HELO name
 * (RFC 7208 section 2.3/2.4). The outcome carries the result, the checked domain, the
 * text for a rejection and the value of a Received-SPF header (RFC 7208 section 9.1),
 * all bounded and free of control characters. */
#ifndef POSTERN_SPF_H
#define POSTERN_SPF_H
#include "str.h"

enum spf_result {
    SPF_RES_NONE = 0, SPF_RES_NEUTRAL, SPF_RES_PASS, SPF_RES_FAIL, SPF_RES_SOFTFAIL,
    SPF_RES_TEMPERROR, SPF_RES_PERMERROR, SPF_RES_COUNT
};

#define SPF_DOMAIN_MAX 255
#define SPF_TEXT_MAX 900              /* explanation and header value bytes */

struct spf_outcome {
    int result;                       /* enum spf_result */
    int helo_identity;                /* 1: the HELO name was checked (null sender) */
    char domain[SPF_DOMAIN_MAX + 1];  /* the checked domain ("" if none could be derived) */
    str explanation;                  /* for a fail: the text for the SMTP reply */
    str received_spf;                 /* value of Received-SPF (without the field name) */
};

void spf_outcome_init(struct spf_outcome *o);
void spf_outcome_free(struct spf_outcome *o);

/* Check client_addr (numeric IPv4/IPv6) sending as `sender` ("" = null sender) after
 * HELO `helo` (may be NULL). receiver: our host name for the header. Always fills `out`;
 * returns out->result. */
int spf_check(const char *client_addr, const char *helo, const char *sender,
              const char *receiver, struct spf_outcome *out);

/* "pass", "fail", ... (RFC 7208 names); spf_result_parse returns -1 for unknown names. */
const char *spf_result_name(int result);
int spf_result_parse(const char *name);

/* Release the libspf2 server (tests, reload). */
void spf_shutdown(void);

#endif
