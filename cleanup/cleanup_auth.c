/* cleanup_auth.c: mail authentication in cleanup (cleanup_auth.h).
 *
 * Inbound mail (neither a local submission nor SMTP-authenticated): every DKIM signature
 * is verified (lib/dkim.h), DMARC is evaluated for the one RFC5322.From domain
 * (lib/dmarc.h) with smtpd's SPF result (A records spf_*), forged Authentication-Results
 * with our $authserv_id are dropped, and Received-SPF plus one Authentication-Results
 * field are added at the top. DMARC p=reject failures are rejected with 5.7.1
 * ($dmarc_reject_action = reject) or quarantined; quarantine means a marker header
 * ($dmarc_quarantine_action = header) or the hold queue (hold). Aggregate-report data
 * (one line per evaluated message) is appended to $dmarc_history_file when set (opened
 * before the privilege drop, default $queue_directory/dmarc_history).
 *
 * Local and authenticated mail whose From domain (else the envelope sender domain) is in
 * $dkim_signing_maps (domain -> selector:/path/to/key.pem) is signed (relaxed/relaxed,
 * the header fields of $dkim_sign_headers; names listed twice are oversigned).
 *
 * "Inbound" excludes $mynetworks clients (smtpd does not check their SPF either); mail
 * from them is signed like local mail.
 *
 * Our fields are inserted after the whole message was written, right after cleanup's own
 * Received header: the content after it is moved down in the (not yet committed) queue file and the new N records are
 * written in front of it. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "authres.h"
#include "cleanup_auth.h"
#include "config.h"
#include "dict.h"
#include "dkim.h"
#include "dmarc.h"
#include "log.h"
#include "mem.h"
#include "netmatch.h"
#include "privs.h"
#include "record.h"
#include "spf.h"
#include "submit.h"

#define AUTH_MAX_FIELDS 1000          /* header fields kept for DKIM */
#define AUTH_MAX_FROM 8
#define AUTH_KEY_MAX 16384

static int history_fd = -1;           /* $dmarc_history_file, opened by pre_init */

static struct {
    const char *authserv_id;
    int dkim_verify, dmarc_enable, dmarc_reject, dmarc_hold;
    char **signing_maps;
    char **sign_headers;
    netmatch *mynetworks;
    const char *psl;
    const char *history;
} cfg;

static struct {
    int inbound, started, first_body;
    char **fields;                    /* "Name: value" with inner CRLF folds */
    int nfields;
    dk *verify, *signer;
    int hold;
    off_t insert_at;                  /* file offset after our Received header */
} au;

void cleanup_auth_init(void)
{
    const char *v;

    cfg.authserv_id = config_str("authserv_id");
    cfg.dkim_verify = config_bool("dkim_verify");
    cfg.dmarc_enable = config_bool("dmarc_enable");
    v = config_str("dmarc_reject_action");
    if (strcmp(v, "reject") != 0 && strcmp(v, "quarantine") != 0)
        msg_fatal("bad value for dmarc_reject_action: \"%s\" (use reject or quarantine)", v);
    cfg.dmarc_reject = strcmp(v, "reject") == 0;
    v = config_str("dmarc_quarantine_action");
    if (strcmp(v, "header") != 0 && strcmp(v, "hold") != 0)
        msg_fatal("bad value for dmarc_quarantine_action: \"%s\" (use header or hold)", v);
    cfg.dmarc_hold = strcmp(v, "hold") == 0;
    cfg.signing_maps = config_list("dkim_signing_maps");
    cfg.sign_headers = config_list("dkim_sign_headers");
    if (cfg.signing_maps && cfg.signing_maps[0]) {
        const char *err = NULL;
        if (dk_set_sign_headers(cfg.sign_headers, &err) < 0)
            msg_fatal("bad dkim_sign_headers: %s", err);
    }
    cfg.psl = config_str("dmarc_public_suffix_list");
    {
        char **nets = config_list("mynetworks"), *err = NULL;
        cfg.mynetworks = netmatch_parse(nets, &err);
        if (cfg.mynetworks == NULL)
            msg_fatal("bad mynetworks: %s", err ? err : "?");
        strv_free(nets);
    }
    cfg.history = config_str("dmarc_history_file");
    if (cfg.dmarc_enable) {
        const char *err = NULL;
        if (dm_init(cfg.psl, &err) < 0) {
            msg_warn("DMARC disabled: %s: %s", cfg.psl, err);
            cfg.dmarc_enable = 0;
        }
    }
}

static void reset(void)
{
    for (int i = 0; i < au.nfields; i++)
        free(au.fields[i]);
    free(au.fields);
    dk_free(au.verify);
    dk_free(au.signer);
    memset(&au, 0, sizeof(au));
}

static void add_field(const char *data, size_t len)
{
    if (au.nfields >= AUTH_MAX_FIELDS)
        return;
    if (au.fields == NULL)
        au.fields = xcalloc(AUTH_MAX_FIELDS, sizeof(char *));
    au.fields[au.nfields] = xmalloc(len + 1);
    memcpy(au.fields[au.nfields], data, len);
    au.fields[au.nfields][len] = 0;
    au.nfields++;
}

void cleanup_auth_headers(struct cleanup_state *st, str *block, size_t *bytes)
{
    reset();
    if (st->flags & SUBMIT_FLAG_REQUEUE)
        return;                            /* evaluated when it first arrived */
    const char *p = block->data, *end = block->data + block->len;
    str field, kept;
    const char *field_start = NULL;        /* encoded start of the current field */
    size_t field_bytes = 0, removed = 0;
    int in_line = 0, have_field = 0;

    reset();
    /* inbound: not local, not authenticated, not from $mynetworks (as smtpd's SPF) */
    au.inbound = !(st->flags & SUBMIT_FLAG_LOCAL) && st->attrs[CA_SASL_USERNAME] == NULL
        && st->attrs[CA_CLIENT_ADDR] != NULL
        && !netmatch_match(cfg.mynetworks, st->attrs[CA_CLIENT_ADDR]);
    au.insert_at = st->out_offset;
    au.first_body = 1;
    str_init(&field);
    str_init(&kept);
    /* Walk the records: a line is N, or L... N; a line starting with SP/TAB continues
     * the field before it. Bounded by the block, which cleanup bounds. */
#define FLUSH_FIELD(upto) do { \
        if (have_field) { \
            if (authres_is_ours(field.data, field.len, cfg.authserv_id)) { \
                removed += field_bytes; \
                msg_info("%s: removed forged Authentication-Results header", st->queue_id); \
            } else { \
                add_field(field.data, field.len); \
                str_append(&kept, field_start, (size_t)((upto) - field_start)); \
            } \
        } else if (field_start) { \
            str_append(&kept, field_start, (size_t)((upto) - field_start)); \
        } \
        str_reset(&field); field_bytes = 0; have_field = 0; field_start = NULL; \
    } while (0)
    while (p < end) {
        int type;
        const char *data, *err = NULL;
        size_t dlen;
        long n = rec_decode(p, (size_t)(end - p), &type, &data, &dlen, &err);

        if (n <= 0)
            break;                          /* cannot happen: cleanup encoded it */
        if (!in_line) {
            int cont = dlen > 0 && (data[0] == ' ' || data[0] == '\t');
            if (!cont || !have_field) {
                FLUSH_FIELD(p);
                field_start = p;
                have_field = dlen > 0 && memchr(data, ':', dlen) != NULL;
            } else {
                str_appends(&field, "\r\n");
            }
        }
        str_append(&field, data, dlen);
        field_bytes += dlen + (type == REC_NORM);
        in_line = type == REC_CONT;
        p += n;
    }
    FLUSH_FIELD(end);
#undef FLUSH_FIELD
    if (removed > 0) {
        str_setn(block, kept.data, kept.len);
        *bytes -= removed;
    }
    str_free(&field);
    str_free(&kept);
}

void cleanup_auth_added(struct cleanup_state *st, const str *lines)
{
    if (st->flags & SUBMIT_FLAG_REQUEUE)
        return;
    const char *p = lines->data, *end = lines->data + lines->len;

    (void)st;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (len > 0 && (*p == ' ' || *p == '\t') && au.nfields > 0) {
            /* continuation of the previous added field */
            str s;
            str_init(&s);
            str_appends(&s, au.fields[au.nfields - 1]);
            str_appends(&s, "\r\n");
            str_append(&s, p, len);
            free(au.fields[au.nfields - 1]);
            au.fields[au.nfields - 1] = str_steal(&s);
        } else if (len > 0) {
            add_field(p, len);
        }
        p += len + 1;
    }
}

/* --- signing set-up --- */

static int field_is(const char *field, const char *name)
{
    size_t n = strlen(name);
    return strncasecmp(field, name, n) == 0 && (field[n] == ':' || field[n] == ' ');
}

/* The domain to sign for: the From header's single domain, else the sender's. */
static int signing_domain(struct cleanup_state *st, char *out, size_t outlen)
{
    char doms[AUTH_MAX_FROM][256];
    const char *at;

    for (int i = 0; i < au.nfields; i++)
        if (field_is(au.fields[i], "from")) {
            if (dm_from_domains(strchr(au.fields[i], ':') + 1, doms, AUTH_MAX_FROM) == 1) {
                snprintf(out, outlen, "%s", doms[0]);
                return 0;
            }
            break;
        }
    if (st->sender && (at = strrchr(st->sender, '@')) != NULL && at[1]) {
        snprintf(out, outlen, "%s", at + 1);
        lowercase(out);
        return 0;
    }
    return -1;
}

static char *read_key(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char *buf;
    ssize_t n;
    size_t got = 0;

    if (fd < 0)
        return NULL;
    buf = xmalloc(AUTH_KEY_MAX + 1);
    while (got < AUTH_KEY_MAX && (n = read(fd, buf + got, AUTH_KEY_MAX - got)) > 0)
        got += (size_t)n;
    close(fd);
    if (got == 0 || got >= AUTH_KEY_MAX) {
        free(buf);
        return NULL;
    }
    buf[got] = 0;
    return buf;
}

static void start_signer(struct cleanup_state *st)
{
    char domain[256], *colon, *key;
    const char *err = NULL;
    str value;
    int rc;

    if (cfg.signing_maps == NULL || cfg.signing_maps[0] == NULL
        || signing_domain(st, domain, sizeof(domain)) < 0)
        return;
    str_init(&value);
    rc = dict_lookup_list(cfg.signing_maps, domain, &value);
    if (rc < 0)
        msg_warn("%s: dkim_signing_maps lookup error for %s; not signed", st->queue_id, domain);
    if (rc != 1 || (colon = strchr(value.data, ':')) == NULL) {
        if (rc == 1)
            msg_warn("%s: dkim_signing_maps: bad value for %s (want selector:keyfile)",
                     st->queue_id, domain);
        str_free(&value);
        return;
    }
    *colon = 0;
    key = read_key(trim(colon + 1));
    if (key == NULL) {
        msg_warn("%s: cannot read DKIM key %s for %s: %m", st->queue_id, colon + 1, domain);
    } else {
        au.signer = dk_sign_new(st->queue_id, domain, trim(value.data), key, &err);
        if (au.signer == NULL)
            msg_warn("%s: DKIM signing for %s: %s", st->queue_id, domain, err);
        memset(key, 0, strlen(key));
        free(key);
    }
    str_free(&value);
}

/* Feed the headers and end-of-headers to the handles (once). */
static void start(struct cleanup_state *st)
{
    if (au.started)
        return;
    au.started = 1;
    if (au.inbound && cfg.dkim_verify)
        au.verify = dk_verify_new(st->queue_id);
    if (!au.inbound)
        start_signer(st);
    for (int i = 0; i < au.nfields; i++) {
        size_t len = strlen(au.fields[i]);
        if (au.verify)
            (void)dk_header(au.verify, au.fields[i], len);
        if (au.signer) {
            /* sign only the listed fields (the library's default set otherwise) */
            int listed = 0;
            for (int k = 0; cfg.sign_headers && cfg.sign_headers[k] && !listed; k++)
                listed = field_is(au.fields[i], cfg.sign_headers[k]);
            if (listed)
                (void)dk_header(au.signer, au.fields[i], len);
        }
    }
    if (au.verify)
        (void)dk_eoh(au.verify);
    if (au.signer)
        (void)dk_eoh(au.signer);
}

void cleanup_auth_body(struct cleanup_state *st, int type, const char *data, size_t len)
{
    if (st->flags & SUBMIT_FLAG_REQUEUE)
        return;
    if (!au.started)
        start(st);
    if (au.first_body) {
        au.first_body = 0;
        if (type == REC_NORM && len == 0)
            return;                          /* the blank line between header and body */
    }
    if (au.verify == NULL && au.signer == NULL)
        return;
    if (au.verify) {
        (void)dk_body(au.verify, data, len);
        if (type == REC_NORM)
            (void)dk_body(au.verify, "\r\n", 2);
    }
    if (au.signer) {
        (void)dk_body(au.signer, data, len);
        if (type == REC_NORM)
            (void)dk_body(au.signer, "\r\n", 2);
    }
}

/* --- header insertion --- */

/* Insert `lines` ("Name: value\n" with "\n\t" folds) as N records right after the M
 * record. 0 or -1 (logged). */
static int insert_fields(struct cleanup_state *st, const str *lines)
{
    str enc;
    char buf[65536], m[2];
    off_t at = au.insert_at, pos, end = st->out_offset;
    long lbytes = 0;
    const char *p = lines->data, *e = lines->data + lines->len;
    size_t delta;

    if (st->out == NULL || st->qfd < 0 || bio_flush(st->out) < 0)
        return -1;
    if (pread(st->qfd, m, 2, st->content_offset) != 2 || m[0] != REC_MESG || m[1] != 0
        || at < st->content_offset + 2 || at > end) {
        msg_warn("%s: queue file has no M record where expected", st->queue_id);
        return -1;
    }
    str_init(&enc);
    while (p < e) {
        const char *nl = memchr(p, '\n', (size_t)(e - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(e - p);
        rec_encode(&enc, REC_NORM, p, len);
        lbytes += (long)len + 1;
        p += len + 1;
    }
    delta = enc.len;
    /* move [at, end) down by delta, last chunk first */
    for (pos = end; pos > at;) {
        size_t chunk = (size_t)(pos - at) < sizeof(buf) ? (size_t)(pos - at) : sizeof(buf);
        pos -= (off_t)chunk;
        if (pread(st->qfd, buf, chunk, pos) != (ssize_t)chunk
            || pwrite(st->qfd, buf, chunk, pos + (off_t)delta) != (ssize_t)chunk) {
            msg_warn("%s: queue file rewrite error: %m", st->queue_id);
            str_free(&enc);
            return -1;
        }
    }
    if (pwrite(st->qfd, enc.data, enc.len, at) != (ssize_t)enc.len
        || lseek(st->qfd, 0, SEEK_END) != end + (off_t)delta) {
        msg_warn("%s: queue file rewrite error: %m", st->queue_id);
        str_free(&enc);
        return -1;
    }
    st->out_offset += (off_t)delta;
    st->message_size += lbytes;
    str_free(&enc);
    return 0;
}

/* Fold a signature field from the library ("\r\n\t" folds) to "\n\t" folds. */
static void append_crlf_to_lf(str *out, const str *in)
{
    for (size_t i = 0; i < in->len; i++)
        if (!(in->data[i] == '\r' && i + 1 < in->len && in->data[i + 1] == '\n'))
            str_putc(out, in->data[i]);
}

static int open_history(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
}

void cleanup_auth_pre_init(void)
{
    const char *path = config_str("dmarc_history_file");
    uid_t uid;
    gid_t gid;

    if (path == NULL || *path == 0)
        return;
    /* Opened while still privileged (kept open, O_APPEND), owned by $mail_owner, so the
     * unprivileged cleanup can append wherever the administrator put it. */
    history_fd = open_history(path);
    if (history_fd < 0) {
        msg_warn("cannot open dmarc_history_file %s: %m", path);
        return;
    }
    if (privs_is_root() && privs_lookup_user(config_str("mail_owner"), &uid, &gid) == 0
        && fchown(history_fd, uid, gid) != 0)
        msg_warn("cannot chown dmarc_history_file %s: %m", path);
}

static void history(struct cleanup_state *st, const char *from, const struct dm_outcome *o,
                    const char *spf, int dkim_pass)
{
    char line[1024];
    int fd, n;

    if (cfg.history == NULL || *cfg.history == 0)
        return;
    n = snprintf(line, sizeof(line),
                 "%ld %s ip=%s from=%s policy_domain=%s p=%s disposition=%s dmarc=%s "
                 "spf=%s dkim=%s spf_aligned=%d dkim_aligned=%d pct=%d\n",
                 (long)time(NULL), st->queue_id,
                 st->attrs[CA_CLIENT_ADDR] ? st->attrs[CA_CLIENT_ADDR] : "unknown", from,
                 o->policy_domain[0] ? o->policy_domain : "-", dm_disposition_name(o->policy),
                 dm_disposition_name(o->disposition), dm_verdict_name(o->verdict), spf,
                 dkim_pass ? "pass" : "fail", o->spf_aligned, o->dkim_aligned, o->pct);
    if (n <= 0 || (size_t)n >= sizeof(line))
        return;
    fd = history_fd >= 0 ? history_fd : open_history(cfg.history);
    if (fd < 0 || write(fd, line, (size_t)n) != n)
        msg_warn("%s: cannot append to dmarc_history_file %s: %m", st->queue_id, cfg.history);
    if (fd >= 0 && fd != history_fd)
        close(fd);
}

static void finish_inbound(struct cleanup_state *st, str *hdrs)
{
    struct dk_sig sigs[DK_MAX_SIGS];
    struct dm_dkim dmk[DK_MAX_SIGS];
    struct dm_outcome dmo;
    struct dm_input in;
    char froms[AUTH_MAX_FROM][256], props[600];
    int nsig = 0, nfrom = 0, from_fields = 0, count = 0, spf_res = -1, dkim_pass = 0;
    const char *spf_name = st->attrs[CA_SPF_RESULT];
    str ar;

    if (au.verify) {
        (void)dk_eom(au.verify);
        nsig = dk_results(au.verify, sigs, DK_MAX_SIGS);
    }
    if (spf_name)
        spf_res = spf_result_parse(spf_name);
    if (st->attrs[CA_RECEIVED_SPF] && spf_res >= 0)
        str_appendf(hdrs, "Received-SPF: %.900s\n", st->attrs[CA_RECEIVED_SPF]);

    str_init(&ar);
    authres_begin(&ar, cfg.authserv_id);
    if (spf_res >= 0) {
        const char *dom = st->attrs[CA_SPF_DOMAIN];
        int helo = st->attrs[CA_SPF_SCOPE] && strcmp(st->attrs[CA_SPF_SCOPE], "helo") == 0;
        snprintf(props, sizeof(props), "smtp.%s=%.255s", helo ? "helo" : "mailfrom",
                 dom ? dom : "unknown");
        authres_add(&ar, "spf", spf_result_name(spf_res), NULL, props);
        count++;
    }
    for (int i = 0; i < nsig; i++) {
        snprintf(props, sizeof(props), "header.d=%.255s header.s=%.63s header.b=%.8s",
                 sigs[i].domain, sigs[i].selector, sigs[i].b);
        authres_add(&ar, "dkim", dk_result_name(sigs[i].result),
                    sigs[i].result == DK_PASS ? NULL : sigs[i].reason, props);
        dmk[i].domain = sigs[i].domain;
        dmk[i].selector = sigs[i].selector;
        dmk[i].pass = sigs[i].result == DK_PASS;
        dmk[i].temperror = sigs[i].result == DK_TEMPERROR;
        dkim_pass |= dmk[i].pass;
        count++;
    }
    if (nsig == 0 && cfg.dkim_verify) {
        authres_add(&ar, "dkim", "none", NULL, NULL);
        count++;
    }
    if (cfg.dmarc_enable) {
        int bad = 0;
        for (int i = 0; i < au.nfields; i++)
            if (field_is(au.fields[i], "from")) {
                int n;
                from_fields++;
                n = dm_from_domains(strchr(au.fields[i], ':') + 1, froms + nfrom,
                                    AUTH_MAX_FROM - nfrom);
                if (n < 0)
                    bad = 1;
                else
                    nfrom += n < AUTH_MAX_FROM - nfrom ? n : AUTH_MAX_FROM - nfrom;
            }
        for (int i = 1; i < nfrom; i++)
            if (strcmp(froms[i], froms[0]) != 0)
                bad = 1;                     /* several From domains: RFC 7489 6.6.1 */
        if (bad || from_fields > 1) {
            authres_add(&ar, "dmarc", "permerror", "multiple or malformed From", NULL);
            count++;
        } else if (nfrom == 0) {
            authres_add(&ar, "dmarc", "none", "no From address", NULL);
            count++;
        } else {
            memset(&in, 0, sizeof(in));
            in.client_addr = st->attrs[CA_CLIENT_ADDR];
            in.from_domain = froms[0];
            in.spf_domain = spf_res >= 0 ? st->attrs[CA_SPF_DOMAIN] : NULL;
            in.spf_result = spf_res;
            in.spf_helo = st->attrs[CA_SPF_SCOPE] && strcmp(st->attrs[CA_SPF_SCOPE], "helo") == 0;
            in.dkim = dmk;
            in.dkim_count = nsig;
            dm_evaluate(&in, &dmo);
            if (dmo.verdict == DM_PASS || dmo.verdict == DM_FAIL) {
                char reason[64];
                snprintf(reason, sizeof(reason), "p=%s%s dis=%s",
                         dm_disposition_name(dmo.policy), dmo.used_sp ? " sp" : "",
                         dm_disposition_name(dmo.disposition));
                snprintf(props, sizeof(props), "header.from=%.255s", froms[0]);
                authres_add(&ar, "dmarc", dm_verdict_name(dmo.verdict), reason, props);
            } else {
                snprintf(props, sizeof(props), "header.from=%.255s", froms[0]);
                authres_add(&ar, "dmarc", dm_verdict_name(dmo.verdict), dmo.reason, props);
            }
            count++;
            msg_info("%s: dmarc=%s header.from=%s policy=%s disposition=%s",
                     st->queue_id, dm_verdict_name(dmo.verdict), froms[0],
                     dm_disposition_name(dmo.policy), dm_disposition_name(dmo.disposition));
            if (dmo.verdict == DM_PASS || dmo.verdict == DM_FAIL)
                history(st, froms[0], &dmo, spf_res >= 0 ? spf_result_name(spf_res) : "none",
                        dkim_pass);
            if (dmo.verdict == DM_FAIL) {
                int disp = dmo.disposition;
                if (disp == DM_DISP_REJECT && !cfg.dmarc_reject)
                    disp = DM_DISP_QUARANTINE;
                if (disp == DM_DISP_REJECT) {
                    char why[320];
                    snprintf(why, sizeof(why), "Email rejected per DMARC policy for %.255s",
                             froms[0]);
                    cleanup_reject(st, 5, "5.7.1", why);
                } else if (disp == DM_DISP_QUARANTINE) {
                    if (cfg.dmarc_hold)
                        au.hold = 1;
                    else
                        str_appendf(hdrs, "X-Postern-DMARC: quarantine (policy of %.255s)\n",
                                    dmo.policy_domain);
                }
            }
        }
    }
    authres_end(&ar, count);
    str_append(hdrs, ar.data, ar.len);
    str_putc(hdrs, '\n');
    str_free(&ar);
}

void cleanup_auth_finish(struct cleanup_state *st)
{
    if (st->flags & SUBMIT_FLAG_REQUEUE) {
        reset();
        return;
    }
    str hdrs, sig;

    if (st->status != 0) {
        reset();
        return;
    }
    if (!au.started)
        start(st);
    str_init(&hdrs);
    if (au.inbound) {
        finish_inbound(st, &hdrs);
    } else if (au.signer) {
        str_init(&sig);
        if (dk_eom(au.signer) == 0 && dk_signature(au.signer, &sig) == 0) {
            append_crlf_to_lf(&hdrs, &sig);
            str_putc(&hdrs, '\n');
            msg_info("%s: DKIM-Signature added", st->queue_id);
        } else {
            msg_warn("%s: DKIM signing failed: %s", st->queue_id, dk_error(au.signer));
        }
        str_free(&sig);
    }
    if (st->status == 0 && hdrs.len > 0 && insert_fields(st, &hdrs) < 0)
        cleanup_reject(st, 4, "4.3.0", "queue file write error");
    str_free(&hdrs);
    if (st->status != 0)
        au.hold = 0;
    {
        int hold = au.hold;
        reset();
        au.hold = hold;
    }
}

void cleanup_auth_committed(struct cleanup_state *st)
{
    if (st->flags & SUBMIT_FLAG_REQUEUE)
        return;
    if (!au.hold)
        return;
    au.hold = 0;
    if (queue_move(st->qdir, "incoming", "hold", st->queue_id) < 0)
        msg_warn("%s: cannot move to hold: %m", st->queue_id);
    else
        msg_info("%s: hold: DMARC quarantine", st->queue_id);
}
