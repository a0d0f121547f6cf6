/* dmarc.c: DMARC evaluation (dmarc.h) with libopendmarc. The _dmarc TXT record is
 * fetched through lib/dns and given to the library with store_dmarc (the From domain,
 * plus the organizational domain when the record came from there, so that sp= applies).
 * libopendmarc is not thread-safe and keeps the PSL in a global: one init per process. */
#include <sys/types.h>
#include <netinet/in.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <opendmarc/dmarc.h>
#include "dmarc.h"
#include "dns.h"
#include "log.h"
#include "spf.h"
#include "str.h"

/* Exported by libopendmarc 1.4.2 but not declared in dmarc.h. */
extern OPENDMARC_STATUS_T opendmarc_get_tld(u_char *domain, u_char *tld, size_t tld_len);

static int dm_ready;
static OPENDMARC_LIB_T dm_lib;

int dm_init(const char *psl_path, const char **err)
{
    if (dm_ready)
        return 0;
    if (psl_path == NULL || *psl_path == 0 || access(psl_path, R_OK) != 0
        || strlen(psl_path) >= sizeof(dm_lib.tld_source_file)) {
        *err = "public suffix list not readable";
        return -1;
    }
    memset(&dm_lib, 0, sizeof(dm_lib));
    dm_lib.tld_type = OPENDMARC_TLD_TYPE_MOZILLA;
    memcpy(dm_lib.tld_source_file, psl_path, strlen(psl_path) + 1);
    if (opendmarc_policy_library_init(&dm_lib) != DMARC_PARSE_OKAY) {
        *err = "cannot initialise libopendmarc";
        return -1;
    }
    dm_ready = 1;
    return 0;
}

const char *dm_verdict_name(int verdict)
{
    static const char *const names[] = { "none", "pass", "fail", "temperror", "permerror" };
    return verdict >= 0 && verdict <= DM_PERMERROR ? names[verdict] : "none";
}

const char *dm_disposition_name(int disposition)
{
    static const char *const names[] = { "none", "quarantine", "reject" };
    return disposition >= 0 && disposition <= DM_DISP_REJECT ? names[disposition] : "none";
}

int dm_org_domain(const char *domain, char *out, size_t outlen)
{
    char in[256];

    if (!dm_ready || strlen(domain) >= sizeof(in) || outlen < 2)
        return -1;
    memcpy(in, domain, strlen(domain) + 1);
    lowercase(in);
    out[0] = 0;
    if (opendmarc_get_tld((u_char *)in, (u_char *)out, outlen) != 0 || out[0] == 0)
        return -1;
    out[outlen - 1] = 0;
    lowercase(out);
    return 0;
}

/* --- From field addresses --- */

int dm_from_domains(const char *v, char (*out)[256], int max)
{
    int n = 0, depth = 0, inquote = 0, inangle = 0;
    char dom[256];
    size_t dlen = 0;
    int have_at = 0, have_addr = 0, angle_seen = 0;

    /* Walk the address list; the domain of an address is what follows its last '@'
     * (inside <> when present), up to '>' ',' or white space. */
    for (const char *p = v;; p++) {
        char c = *p;
        if (c == 0 || (c == ',' && !inquote && depth == 0 && !inangle)) {
            if (have_addr) {
                if (!have_at || dlen == 0)
                    return -1;
                dom[dlen] = 0;
                if (n < max) {
                    memcpy(out[n], dom, dlen + 1);
                    lowercase(out[n]);
                }
                n++;
            }
            dlen = 0; have_at = have_addr = angle_seen = 0;
            if (c == 0)
                break;
            continue;
        }
        if (inquote) {
            if (c == '\\' && p[1])
                p++;
            else if (c == '"')
                inquote = 0;
            continue;
        }
        if (depth > 0) {
            if (c == '\\' && p[1])
                p++;
            else if (c == '(')
                depth++;
            else if (c == ')')
                depth--;
            continue;
        }
        if (c == '"') { inquote = 1; continue; }
        if (c == '(') { depth = 1; continue; }
        if (c == ':' && !inangle) {          /* group "name: a@b, c@d;" */
            dlen = 0; have_at = have_addr = 0;
            continue;
        }
        if (c == ';' && !inangle)
            continue;
        if (c == '<') {
            inangle = 1; angle_seen = 1; dlen = 0; have_at = 0; have_addr = 1;
            continue;
        }
        if (c == '>') { inangle = 0; continue; }
        if (angle_seen && !inangle)
            continue;                        /* text after <...> */
        if (isspace((unsigned char)c))
            continue;
        have_addr = 1;
        if (c == '@') {
            have_at = 1;
            dlen = 0;
            continue;
        }
        if (have_at) {
            if (dlen >= sizeof(dom) - 1)
                return -1;
            dom[dlen++] = c;
        }
    }
    return n;
}

/* --- the policy record --- */

/* The one DMARC record of `domain`: 1 found (copied), 0 none, -1 temporary error. */
static int find_record(const char *domain, str *rec)
{
    char name[DNS_NAME_MAX + 1];
    char **txt = NULL;
    str why;
    int status, found = 0;

    if (snprintf(name, sizeof(name), "_dmarc.%s", domain) >= (int)sizeof(name))
        return 0;
    str_init(&why);
    status = dns_lookup_txt(name, &txt, &why);
    str_free(&why);
    if (status == DNS_TEMPFAIL) {
        strv_free(txt);
        return -1;
    }
    for (int i = 0; status == DNS_OK && txt && txt[i]; i++) {
        const char *t = txt[i];
        while (*t == ' ')
            t++;
        if (strncasecmp(t, "v=DMARC1", 8) == 0 && (t[8] == ';' || t[8] == ' ' || t[8] == 0)) {
            if (found++ == 0)
                str_set(rec, t);
        }
    }
    strv_free(txt);
    return found == 1;                       /* several records: none (RFC 7489 6.6.3) */
}

/* Identifier alignment: strict = the same domain, relaxed = the same organizational
 * domain (RFC 7489 3.1.1, 3.1.2). */
static int aligned(const char *id_domain, const char *from_domain, int strict)
{
    char a[256], b[256];

    if (strcasecmp(id_domain, from_domain) == 0)
        return 1;
    if (strict)
        return 0;
    return dm_org_domain(id_domain, a, sizeof(a)) == 0
        && dm_org_domain(from_domain, b, sizeof(b)) == 0 && strcmp(a, b) == 0;
}

int dm_evaluate(const struct dm_input *in, struct dm_outcome *out)
{
    DMARC_POLICY_T *p;
    char org[256] = "";
    str rec;
    int found, from_org = 0, spf_outcome, pol = 0, sp = 0, adkim = 0, aspf = 0, pct = 100;
    int is6 = strchr(in->client_addr ? in->client_addr : "", ':') != NULL;

    memset(out, 0, sizeof(*out));
    out->pct = 100;
    if (!dm_ready || in->from_domain == NULL || *in->from_domain == 0
        || strlen(in->from_domain) > 253)
        return out->verdict = DM_NONE;
    str_init(&rec);
    found = find_record(in->from_domain, &rec);
    if (found == 0 && dm_org_domain(in->from_domain, org, sizeof(org)) == 0
        && strcmp(org, in->from_domain) != 0) {
        found = find_record(org, &rec);
        from_org = found == 1;
    }
    if (found < 0) {
        snprintf(out->reason, sizeof(out->reason), "DNS error looking up the DMARC policy");
        str_free(&rec);
        return out->verdict = DM_TEMPERROR;
    }
    if (found == 0) {
        str_free(&rec);
        return out->verdict = DM_NONE;
    }
    snprintf(out->policy_domain, sizeof(out->policy_domain), "%s",
             from_org ? org : in->from_domain);

    p = opendmarc_policy_connect_init((u_char *)(in->client_addr ? in->client_addr : "0.0.0.0"),
                                      is6);
    if (p == NULL) {
        str_free(&rec);
        snprintf(out->reason, sizeof(out->reason), "libopendmarc: out of memory");
        return out->verdict = DM_TEMPERROR;
    }
    opendmarc_policy_store_from_domain(p, (u_char *)in->from_domain);
    if (in->spf_domain && *in->spf_domain) {
        switch (in->spf_result) {
        case SPF_RES_PASS: spf_outcome = DMARC_POLICY_SPF_OUTCOME_PASS; break;
        case SPF_RES_FAIL: case SPF_RES_SOFTFAIL: spf_outcome = DMARC_POLICY_SPF_OUTCOME_FAIL; break;
        case SPF_RES_TEMPERROR: spf_outcome = DMARC_POLICY_SPF_OUTCOME_TMPFAIL; break;
        default: spf_outcome = DMARC_POLICY_SPF_OUTCOME_NONE; break;
        }
        opendmarc_policy_store_spf(p, (u_char *)in->spf_domain, spf_outcome,
                                   in->spf_helo ? DMARC_POLICY_SPF_ORIGIN_HELO
                                                : DMARC_POLICY_SPF_ORIGIN_MAILFROM, NULL);
    }
    for (int i = 0; i < in->dkim_count; i++)
        opendmarc_policy_store_dkim(p, (u_char *)in->dkim[i].domain,
                                    (u_char *)in->dkim[i].selector,
                                    in->dkim[i].pass ? DMARC_POLICY_DKIM_OUTCOME_PASS
                                    : in->dkim[i].temperror ? DMARC_POLICY_DKIM_OUTCOME_TMPFAIL
                                    : DMARC_POLICY_DKIM_OUTCOME_FAIL, NULL);
    if (opendmarc_policy_store_dmarc(p, (u_char *)rec.data, (u_char *)in->from_domain,
                                     from_org ? (u_char *)org : NULL) != DMARC_PARSE_OKAY) {
        snprintf(out->reason, sizeof(out->reason), "malformed DMARC record at %.60s",
                 out->policy_domain);
        opendmarc_policy_connect_shutdown(p);
        str_free(&rec);
        return out->verdict = DM_PERMERROR;
    }
    /* Alignment and the verdict are computed here (RFC 7489 3.1, 6.6.2) from the parsed
     * record: libopendmarc's own enforcement does not honour aspf=s reliably. */
    if (opendmarc_policy_fetch_adkim(p, &adkim) != DMARC_PARSE_OKAY)
        adkim = DMARC_RECORD_A_RELAXED;
    if (opendmarc_policy_fetch_aspf(p, &aspf) != DMARC_PARSE_OKAY)
        aspf = DMARC_RECORD_A_RELAXED;
    out->spf_aligned = in->spf_result == SPF_RES_PASS && in->spf_domain
        && aligned(in->spf_domain, in->from_domain, aspf == DMARC_RECORD_A_STRICT);
    for (int i = 0; i < in->dkim_count && !out->dkim_aligned; i++)
        out->dkim_aligned = in->dkim[i].pass && in->dkim[i].domain
            && aligned(in->dkim[i].domain, in->from_domain, adkim == DMARC_RECORD_A_STRICT);
    if (opendmarc_policy_fetch_pct(p, &pct) == DMARC_PARSE_OKAY && pct >= 0 && pct <= 100)
        out->pct = pct;
    if (opendmarc_policy_fetch_p(p, &pol) != DMARC_PARSE_OKAY)
        pol = DMARC_RECORD_P_NONE;
    if (from_org && opendmarc_policy_fetch_sp(p, &sp) == DMARC_PARSE_OKAY
        && sp != DMARC_RECORD_P_UNSPECIFIED) {
        pol = sp;
        out->used_sp = 1;
    }
    if (out->dkim_aligned || out->spf_aligned) {
        out->verdict = DM_PASS;
    } else {
        out->verdict = DM_FAIL;
        out->policy = pol == DMARC_RECORD_P_REJECT ? DM_DISP_REJECT
            : pol == DMARC_RECORD_P_QUARANTINE ? DM_DISP_QUARANTINE : DM_DISP_NONE;
    }
    out->disposition = out->policy;
    /* pct sampling (RFC 7489 6.6.4): an unsampled message gets the next lower policy */
    if (out->policy != DM_DISP_NONE && out->pct < 100 && (random() % 100) >= out->pct)
        out->disposition = out->policy - 1;
    opendmarc_policy_connect_shutdown(p);
    str_free(&rec);
    return out->verdict;
}
