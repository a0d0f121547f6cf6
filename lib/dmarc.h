/* dmarc.h: DMARC (RFC 7489) evaluation for cleanup, on libopendmarc with the public
 * suffix list ($dmarc_public_suffix_list) for organizational domains. The policy record
 * is looked up here through lib/dns (_dmarc.<From domain>, else _dmarc.<org domain>) and
 * handed to the library; libopendmarc's types stay inside dmarc.c. pct= sampling is done
 * here (the library ignores it). */
#ifndef POSTERN_DMARC_H
#define POSTERN_DMARC_H
#include <stddef.h>

enum dm_verdict { DM_NONE = 0, DM_PASS, DM_FAIL, DM_TEMPERROR, DM_PERMERROR };
enum dm_disposition { DM_DISP_NONE = 0, DM_DISP_QUARANTINE, DM_DISP_REJECT };

struct dm_dkim { const char *domain; const char *selector; int pass; int temperror; };

struct dm_input {
    const char *client_addr;
    const char *from_domain;       /* the one RFC5322.From domain */
    const char *spf_domain;        /* checked SPF identity, may be NULL */
    int spf_result;                /* enum spf_result (lib/spf.h) */
    int spf_helo;                  /* the SPF identity was the HELO name */
    const struct dm_dkim *dkim;
    int dkim_count;
};

struct dm_outcome {
    int verdict;                   /* enum dm_verdict: the dmarc= result */
    int policy;                    /* published policy that applies: DM_DISP_* */
    int disposition;               /* what to do after pct= sampling: DM_DISP_* */
    int pct;
    int used_sp;                   /* 1 if sp= of the organizational domain applied */
    int spf_aligned, dkim_aligned;
    char policy_domain[256];       /* where the record was found */
    char reason[96];               /* for temperror/permerror */
};

/* Load the PSL (once). 0, or -1 with *err (static text). */
int dm_init(const char *psl_path, const char **err);
/* Evaluate. Returns out->verdict. */
int dm_evaluate(const struct dm_input *in, struct dm_outcome *out);
/* Organizational domain of `domain` by the PSL (lowercase); -1 if unknown. */
int dm_org_domain(const char *domain, char *out, size_t outlen);
/* Domains of the addresses in a From field value (RFC 5322 address-list, comments and
 * quoted strings skipped). Returns the count found (up to max), each lowercased into
 * out[i] (256 bytes each), or -1 if an address has no domain. */
int dm_from_domains(const char *value, char (*out)[256], int max);
const char *dm_verdict_name(int verdict);
const char *dm_disposition_name(int disposition);

#endif
