/* spf.c: SPF checks (spf.h) with libspf2. libspf2's stock resolver cannot be pointed at
 * another name server, so this file gives it its own DNS layer whose lookups go through
 * lib/dns.c (TXT, MX, A, AAAA). libspf2 1.2.10 reports DNS errors and syntax errors on the
 * record as "(invalid)"; they are mapped here to temperror/permerror (RFC 7208 2.6.6/2.6.7).
 * Any client in 127/8 is an automatic pass inside libspf2. */
#include <sys/types.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <resolv.h>
#include <stdlib.h>
#include <string.h>
#include <spf2/spf.h>
#include <spf2/spf_dns.h>
#include "dns.h"
#include "log.h"
#include "spf.h"
#include "str.h"

static SPF_server_t *spf_server;
static SPF_dns_server_t *spf_layer;

static const char *const result_names[SPF_RES_COUNT] = {
    [SPF_RES_NONE] = "none", [SPF_RES_NEUTRAL] = "neutral", [SPF_RES_PASS] = "pass",
    [SPF_RES_FAIL] = "fail", [SPF_RES_SOFTFAIL] = "softfail",
    [SPF_RES_TEMPERROR] = "temperror", [SPF_RES_PERMERROR] = "permerror",
};

const char *spf_result_name(int result)
{
    return result >= 0 && result < SPF_RES_COUNT ? result_names[result] : "none";
}

int spf_result_parse(const char *name)
{
    for (int i = 0; i < SPF_RES_COUNT; i++)
        if (strcmp(result_names[i], name) == 0)
            return i;
    return -1;
}

void spf_outcome_init(struct spf_outcome *o)
{
    memset(o, 0, sizeof(*o));
    str_init(&o->explanation);
    str_init(&o->received_spf);
}

void spf_outcome_free(struct spf_outcome *o)
{
    str_free(&o->explanation);
    str_free(&o->received_spf);
}

/* --- libspf2 logging: into our log; its error handler must not return --- */

__attribute__((noreturn))
static void spf_log_error(const char *file, int line, const char *errmsg)
{
    msg_fatal("libspf2 internal error: %s:%d: %s", file ? file : "?", line, errmsg ? errmsg : "?");
}

static void spf_log_warning(const char *file, int line, const char *errmsg)
{
    (void)file; (void)line;
    msg_warn("libspf2: %s", errmsg ? errmsg : "?");
}

static void spf_log_quiet(const char *file, int line, const char *errmsg)
{
    (void)file; (void)line;
    if (msg_verbose)
        msg_debug("libspf2: %s", errmsg ? errmsg : "?");
}

/* --- the DNS layer on lib/dns --- */

static int herrno_of(int status)
{
    switch (status) {
    case DNS_OK: return NETDB_SUCCESS;
    case DNS_NOTFOUND: return HOST_NOT_FOUND;
    case DNS_NODATA: return NO_DATA;
    case DNS_PERMFAIL: return NO_RECOVERY;
    default: return TRY_AGAIN;
    }
}

/* Append one string RR; 0 or -1 (out of memory). */
static int add_name_rr(SPF_dns_rr_t *rr, const char *text)
{
    size_t len = strlen(text) + 1;

    if (SPF_dns_rr_buf_realloc(rr, rr->num_rr, len) != SPF_E_SUCCESS)
        return -1;
    memcpy(rr->rr[rr->num_rr]->txt, text, len);
    rr->num_rr++;
    return 0;
}

static SPF_dns_rr_t *layer_lookup(SPF_dns_server_t *srv, const char *domain, ns_type type,
                                  int should_cache)
{
    SPF_dns_rr_t *rr;
    str why;
    int status = DNS_NODATA;

    (void)should_cache;
    rr = SPF_dns_rr_new_init(srv, domain, type, 0, NETDB_SUCCESS);
    if (rr == NULL)
        return NULL;
    str_init(&why);
    if (type == ns_t_txt) {
        char **txt = NULL;
        status = dns_lookup_txt(domain, &txt, &why);
        for (int i = 0; status == DNS_OK && txt && txt[i] && i < DNS_MAX_RECORDS; i++)
            if (add_name_rr(rr, txt[i]) < 0)
                break;
        strv_free(txt);
    } else if (type == ns_t_mx) {
        struct dns_mx_list mx = { 0 };
        status = dns_lookup_mx(domain, &mx, &why);
        for (int i = 0; status == DNS_OK && i < mx.count; i++)
            if (mx.items[i].host[0] && add_name_rr(rr, mx.items[i].host) < 0)
                break;
        dns_mx_free(&mx);
    } else if (type == ns_t_a || type == ns_t_aaaa) {
        struct dns_addr_list al = { 0 };
        int family = type == ns_t_a ? AF_INET : AF_INET6;
        size_t size = type == ns_t_a ? sizeof(struct in_addr) : sizeof(struct in6_addr);
        status = dns_lookup_addr(domain, &al, &why);
        for (int i = 0; status == DNS_OK && i < al.count; i++) {
            if (al.items[i].family != family)
                continue;
            if (SPF_dns_rr_buf_realloc(rr, rr->num_rr, size) != SPF_E_SUCCESS)
                break;
            memcpy(type == ns_t_a ? (void *)&rr->rr[rr->num_rr]->a
                                  : (void *)&rr->rr[rr->num_rr]->aaaa, al.items[i].bytes, size);
            rr->num_rr++;
        }
        dns_addr_free(&al);
    } else if (type == ns_t_ptr) {
        char **names = NULL;
        status = dns_lookup_ptr(domain, &names, &why);
        for (int i = 0; status == DNS_OK && names && names[i] && i < DNS_MAX_RECORDS; i++)
            if (add_name_rr(rr, names[i]) < 0)
                break;
        strv_free(names);
    }
    rr->herrno = herrno_of(status);
    if (rr->herrno == NETDB_SUCCESS && rr->num_rr == 0)
        rr->herrno = NO_DATA;
    if (status == DNS_TEMPFAIL && msg_verbose)
        msg_debug("spf: %s", why.data);
    str_free(&why);
    return rr;
}

static void layer_destroy(SPF_dns_server_t *srv)
{
    free(srv);
}

static int spf_init(const char *receiver)
{
    if (spf_server != NULL)
        return 0;
    SPF_error_handler = spf_log_error;
    SPF_warning_handler = spf_log_warning;
    SPF_info_handler = spf_log_quiet;
    SPF_debug_handler = spf_log_quiet;
    spf_layer = calloc(1, sizeof(*spf_layer));
    if (spf_layer == NULL)
        return -1;
    spf_layer->lookup = layer_lookup;
    spf_layer->destroy = layer_destroy;
    spf_layer->name = "postern";
    spf_server = SPF_server_new_dns(spf_layer, 0);
    if (spf_server == NULL) {
        free(spf_layer);
        spf_layer = NULL;
        return -1;
    }
    SPF_server_set_rec_dom(spf_server, receiver);
    {
        SPF_response_t *resp = NULL;      /* receives compile errors; must not be NULL */
        SPF_server_set_explanation(spf_server,
            "Please see https://www.rfc-editor.org/rfc/rfc7208 (SPF): %{i} is not allowed to send mail for %{d}",
            &resp);
        if (resp)
            SPF_response_free(resp);
    }
    return 0;
}

void spf_shutdown(void)
{
    if (spf_server) {
        SPF_server_free(spf_server);
        spf_server = NULL;
    }
    if (spf_layer) {
        SPF_dns_free(spf_layer);
        spf_layer = NULL;
    }
}

/* Append text with control and non-ASCII bytes replaced, at most `max` bytes. */
static void append_clean(str *out, const char *text, size_t max)
{
    for (size_t n = 0; text && *text && n < max; text++, n++) {
        unsigned char c = (unsigned char)*text;
        str_putc(out, (c < 0x20 || c >= 0x7f) ? '?' : (char)c);
    }
}

/* A header parameter value: a dot-atom-like token is written as is, else quoted. */
static void append_value(str *out, const char *v)
{
    size_t i, n = strlen(v);
    int token = n > 0 && n <= 255;

    for (i = 0; token && i < n; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:[]@+=",
                    v[i]))
            token = 0;
    if (token) {
        str_appends(out, v);
        return;
    }
    str_putc(out, '"');
    for (i = 0; i < n && i < 255; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c == '"' || c == '\\')
            str_putc(out, '\\');
        str_putc(out, (c < 0x20 || c >= 0x7f) ? '?' : (char)c);
    }
    str_putc(out, '"');
}

static int map_result(SPF_result_t r, SPF_errcode_t err)
{
    switch (r) {
    case SPF_RESULT_PASS: return SPF_RES_PASS;
    case SPF_RESULT_FAIL: return SPF_RES_FAIL;
    case SPF_RESULT_SOFTFAIL: return SPF_RES_SOFTFAIL;
    case SPF_RESULT_NEUTRAL: return SPF_RES_NEUTRAL;
    case SPF_RESULT_NONE: return SPF_RES_NONE;
    case SPF_RESULT_TEMPERROR: return SPF_RES_TEMPERROR;
    case SPF_RESULT_PERMERROR: return SPF_RES_PERMERROR;
    default:
        /* libspf2 1.2.10: "(invalid)" for DNS errors and for records it cannot compile */
        return err == SPF_E_DNS_ERROR ? SPF_RES_TEMPERROR : SPF_RES_PERMERROR;
    }
}

static int is_ipv6(const char *addr)
{
    return strchr(addr, ':') != NULL;
}

int spf_check(const char *client_addr, const char *helo, const char *sender,
              const char *receiver, struct spf_outcome *out)
{
    SPF_request_t *req = NULL;
    SPF_response_t *resp = NULL;
    SPF_errcode_t err;
    const char *at, *comment = NULL, *smtp_comment = NULL;
    const char *client = client_addr;
    char v4[INET_ADDRSTRLEN];

    out->result = SPF_RES_NONE;
    out->domain[0] = 0;
    str_reset(&out->explanation);
    str_reset(&out->received_spf);
    if (helo == NULL)
        helo = "";
    if (sender == NULL)
        sender = "";
    out->helo_identity = *sender == 0;

    /* IPv4-mapped IPv6 (::ffff:a.b.c.d) is checked as IPv4 */
    if (strncasecmp(client, "::ffff:", 7) == 0 && strchr(client + 7, '.')
        && strlen(client + 7) < sizeof(v4)) {
        strcpy(v4, client + 7);
        client = v4;
    }
    if (out->helo_identity) {
        snprintf(out->domain, sizeof(out->domain), "%s", helo);
    } else if ((at = strrchr(sender, '@')) != NULL) {
        snprintf(out->domain, sizeof(out->domain), "%s", at + 1);
    }
    lowercase(out->domain);
    /* Nothing to check: no domain, or an address literal as HELO name */
    if (out->domain[0] == 0 || out->domain[0] == '[' || strlen(out->domain) >= SPF_DOMAIN_MAX
        || strchr(out->domain, '.') == NULL) {
        out->result = SPF_RES_NONE;
        goto header;
    }
    if (spf_init(receiver) < 0) {
        out->result = SPF_RES_TEMPERROR;
        goto header;
    }
    req = SPF_request_new(spf_server);
    if (req == NULL) {
        out->result = SPF_RES_TEMPERROR;
        goto header;
    }
    if ((is_ipv6(client) ? SPF_request_set_ipv6_str(req, client)
                         : SPF_request_set_ipv4_str(req, client)) != SPF_E_SUCCESS) {
        out->result = SPF_RES_NONE;
        goto header;
    }
    if (*helo)
        SPF_request_set_helo_dom(req, helo);
    /* libspf2 aborts on a NULL env_from; "" (after the HELO name) checks postmaster@helo */
    SPF_request_set_env_from(req, out->helo_identity ? "" : sender);
    err = SPF_request_query_mailfrom(req, &resp);
    if (resp == NULL) {
        out->result = SPF_RES_TEMPERROR;
        goto header;
    }
    out->result = map_result(SPF_response_result(resp), err);
    if (SPF_response_result(resp) != SPF_RESULT_INVALID) {
        comment = SPF_response_get_header_comment(resp);
        smtp_comment = SPF_response_get_smtp_comment(resp);
    }
    if (out->result == SPF_RES_FAIL)
        append_clean(&out->explanation, smtp_comment ? smtp_comment
                     : "SPF check failed", SPF_TEXT_MAX / 2);

header:
    str_appends(&out->received_spf, spf_result_name(out->result));
    str_appends(&out->received_spf, " (");
    append_clean(&out->received_spf, receiver, 255);
    str_appends(&out->received_spf, ": ");
    if (comment && *comment) {
        append_clean(&out->received_spf, comment, 300);
    } else {
        switch (out->result) {
        case SPF_RES_TEMPERROR:
            str_appends(&out->received_spf, "temporary DNS error looking up the SPF record of ");
            break;
        case SPF_RES_PERMERROR:
            str_appends(&out->received_spf, "permanent error in the SPF record of ");
            break;
        default:
            str_appends(&out->received_spf, "no SPF record for ");
            break;
        }
        append_clean(&out->received_spf, out->domain[0] ? out->domain : "(no domain)", 255);
    }
    str_appends(&out->received_spf, ") client-ip=");
    append_clean(&out->received_spf, client_addr, 64);
    str_appends(&out->received_spf, "; envelope-from=");
    append_value(&out->received_spf, sender);
    str_appends(&out->received_spf, "; helo=");
    append_value(&out->received_spf, helo);
    str_appends(&out->received_spf, "; receiver=");
    append_value(&out->received_spf, receiver);
    str_appends(&out->received_spf, "; identity=");
    str_appends(&out->received_spf, out->helo_identity ? "helo" : "mailfrom");
    if (out->received_spf.len > SPF_TEXT_MAX)
        str_truncate(&out->received_spf, SPF_TEXT_MAX);
    if (resp)
        SPF_response_free(resp);
    if (req)
        SPF_request_free(req);
    return out->result;
}
