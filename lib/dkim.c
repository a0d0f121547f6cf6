/* dkim.c: DKIM signing and verification (dkim.h) on libopendkim. One library handle per
 * process; the key look-up callback asks lib/dns for "<s>._domainkey.<d>" TXT records.
 * Message pieces are bounded by the caller (cleanup's limits); this file bounds what it
 * copies out of the library (domain, selector, reason). */
#include <sys/types.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <opendkim/dkim.h>
#include "dkim.h"
#include "dns.h"
#include "log.h"
#include "mem.h"

struct dk {
    DKIM *h;
    int sign;
    int failed;                 /* sticky */
    DKIM_STAT eoh_stat, eom_stat;
    char err[160];
};

static DKIM_LIB *dk_lib;

static DKIM_CBSTAT key_lookup(DKIM *dkim, DKIM_SIGINFO *sig, u_char *buf, size_t buflen)
{
    const char *domain = (const char *)dkim_sig_getdomain(sig);
    const char *selector = (const char *)dkim_sig_getselector(sig);
    char name[DNS_NAME_MAX + 1];
    char **txt = NULL;
    str why;
    int status, n, rc = DKIM_CBSTAT_NOTFOUND;

    (void)dkim;
    if (domain == NULL || selector == NULL)
        return DKIM_CBSTAT_ERROR;
    n = snprintf(name, sizeof(name), "%s._domainkey.%s", selector, domain);
    if (n < 0 || (size_t)n >= sizeof(name))
        return DKIM_CBSTAT_NOTFOUND;
    str_init(&why);
    status = dns_lookup_txt(name, &txt, &why);
    if (status == DNS_OK && txt && txt[0]) {
        /* several records: use the first that looks like a key record */
        const char *use = txt[0];
        for (int i = 0; txt[i]; i++)
            if (strstr(txt[i], "p=")) {
                use = txt[i];
                break;
            }
        if (strlen(use) < buflen) {
            memcpy(buf, use, strlen(use) + 1);
            rc = DKIM_CBSTAT_CONTINUE;
        } else {
            rc = DKIM_CBSTAT_ERROR;
        }
    } else if (status == DNS_TEMPFAIL) {
        rc = DKIM_CBSTAT_ERROR;
    }
    strv_free(txt);
    str_free(&why);
    return rc;
}

static int lib_init(void)
{
    unsigned int flags;

    if (dk_lib)
        return 0;
    dk_lib = dkim_init(NULL, NULL);
    if (dk_lib == NULL)
        return -1;
    if (dkim_options(dk_lib, DKIM_OP_GETOPT, DKIM_OPTS_FLAGS, &flags, sizeof(flags)) == DKIM_STAT_OK) {
        flags |= DKIM_LIBFLAGS_FIXCRLF;
        (void)dkim_options(dk_lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags, sizeof(flags));
    }
    dkim_set_key_lookup(dk_lib, key_lookup);
    return 0;
}

#define DK_MAX_HDR_NAMES 64

int dk_set_sign_headers(char **names, const char **err)
{
    /* static: the library keeps using the lists it is given */
    static char store[DK_MAX_HDR_NAMES][80];
    static const char *sign[DK_MAX_HDR_NAMES + 1], *over[DK_MAX_HDR_NAMES + 1];
    int nsign = 0, nover = 0, have_from = 0;

    if (lib_init() < 0) {
        *err = "cannot initialise libopendkim";
        return -1;
    }
    for (int i = 0; names && names[i]; i++) {
        int seen = -1;
        if (strlen(names[i]) == 0 || strlen(names[i]) >= sizeof(store[0])
            || strpbrk(names[i], ": \t") != NULL) {
            *err = "bad header field name";
            return -1;
        }
        for (int k = 0; k < nsign && seen < 0; k++)
            if (strcasecmp(sign[k], names[i]) == 0)
                seen = k;
        if (seen < 0) {
            if (nsign >= DK_MAX_HDR_NAMES) {
                *err = "too many header field names";
                return -1;
            }
            snprintf(store[nsign], sizeof(store[0]), "%s", names[i]);
            lowercase(store[nsign]);
            sign[nsign] = store[nsign];
            have_from |= strcmp(store[nsign], "from") == 0;
            nsign++;
        } else {
            int dup = 0;
            for (int k = 0; k < nover; k++)
                dup |= over[k] == sign[seen];
            if (!dup)
                over[nover++] = sign[seen];
        }
    }
    if (!have_from) {
        *err = "the signed header fields must include from";
        return -1;
    }
    sign[nsign] = NULL;
    over[nover] = NULL;
    if (dkim_options(dk_lib, DKIM_OP_SETOPT, DKIM_OPTS_SIGNHDRS, sign, sizeof(char **)) != DKIM_STAT_OK
        || dkim_options(dk_lib, DKIM_OP_SETOPT, DKIM_OPTS_OVERSIGNHDRS, over,
                        sizeof(char **)) != DKIM_STAT_OK) {
        *err = "libopendkim refused the header field list";
        return -1;
    }
    return 0;
}

static void set_error(dk *d, const char *what, DKIM_STAT st)
{
    const char *detail = d->h ? dkim_geterror(d->h) : NULL;

    if (d->failed)
        return;
    d->failed = 1;
    snprintf(d->err, sizeof(d->err), "%s: %s%s%s", what, dkim_getresultstr(st),
             detail && *detail ? ": " : "", detail ? detail : "");
}

dk *dk_verify_new(const char *id)
{
    dk *d = xcalloc(1, sizeof(*d));
    DKIM_STAT st = DKIM_STAT_INTERNAL;

    if (lib_init() == 0)
        d->h = dkim_verify(dk_lib, (const unsigned char *)id, NULL, &st);
    if (d->h == NULL)
        set_error(d, "dkim_verify", st);
    return d;
}

dk *dk_sign_new(const char *id, const char *domain, const char *selector,
                const char *keydata, const char **err)
{
    dk *d;
    DKIM_STAT st = DKIM_STAT_INTERNAL;
    int ed25519 = 0;
    BIO *bio;
    EVP_PKEY *pkey;

    if (lib_init() < 0) {
        *err = "cannot initialise libopendkim";
        return NULL;
    }
    /* Find the key type (RSA or Ed25519) so the right algorithm is used. */
    bio = BIO_new_mem_buf(keydata, -1);
    pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (pkey == NULL) {
        *err = "not a PEM private key";
        return NULL;
    }
    ed25519 = EVP_PKEY_get_id(pkey) == EVP_PKEY_ED25519;
    if (!ed25519 && EVP_PKEY_get_id(pkey) != EVP_PKEY_RSA) {
        EVP_PKEY_free(pkey);
        *err = "unsupported key type (RSA or Ed25519 only)";
        return NULL;
    }
    EVP_PKEY_free(pkey);
    d = xcalloc(1, sizeof(*d));
    d->sign = 1;
    d->h = dkim_sign(dk_lib, (const unsigned char *)id, NULL, (dkim_sigkey_t)keydata,
                     (const unsigned char *)selector, (const unsigned char *)domain,
                     DKIM_CANON_RELAXED, DKIM_CANON_RELAXED,
                     ed25519 ? DKIM_SIGN_ED25519SHA256 : DKIM_SIGN_RSASHA256, -1, &st);
    if (d->h == NULL) {
        *err = dkim_getresultstr(st);
        free(d);
        return NULL;
    }
    return d;
}

int dk_header(dk *d, const char *field, size_t len)
{
    DKIM_STAT st;

    if (d->failed)
        return -1;
    st = dkim_header(d->h, (u_char *)field, len);
    if (st != DKIM_STAT_OK) {
        /* a header line the library cannot parse: skip it when verifying */
        if (d->sign)
            set_error(d, "dkim_header", st);
        return -1;
    }
    return 0;
}

int dk_eoh(dk *d)
{
    if (d->failed)
        return -1;
    d->eoh_stat = dkim_eoh(d->h);
    if (d->eoh_stat == DKIM_STAT_NOSIG && !d->sign)
        return 0;                              /* unsigned: no results */
    if (d->eoh_stat != DKIM_STAT_OK) {
        set_error(d, "dkim_eoh", d->eoh_stat);
        return -1;
    }
    return 0;
}

int dk_body(dk *d, const char *data, size_t len)
{
    DKIM_STAT st;

    if (d->failed || d->eoh_stat != DKIM_STAT_OK || len == 0)
        return d->failed ? -1 : 0;
    st = dkim_body(d->h, (u_char *)data, len);
    if (st != DKIM_STAT_OK && st != DKIM_STAT_NOSIG) {
        set_error(d, "dkim_body", st);
        return -1;
    }
    return 0;
}

int dk_eom(dk *d)
{
    if (d->failed || d->eoh_stat != DKIM_STAT_OK)
        return d->failed ? -1 : 0;
    if (d->sign)
        (void)dkim_set_margin(d->h, 78);
    d->eom_stat = dkim_eom(d->h, NULL);
    if (d->sign && d->eom_stat != DKIM_STAT_OK) {
        set_error(d, "dkim_eom", d->eom_stat);
        return -1;
    }
    return 0;
}

static void copy_bounded(char *dst, size_t size, const unsigned char *src)
{
    size_t n = 0;

    for (; src && *src && n < size - 1; src++)
        dst[n++] = (*src < 0x21 || *src > 0x7e || *src == ';' || *src == '"') ? '?' : (char)*src;
    dst[n] = 0;
}

int dk_results(dk *d, struct dk_sig *sigs, int max)
{
    DKIM_SIGINFO **list = NULL;
    int nsigs = 0, out = 0;

    if (d->h == NULL || d->sign || d->eoh_stat == DKIM_STAT_NOSIG)
        return 0;
    if (dkim_getsiglist(d->h, &list, &nsigs) != DKIM_STAT_OK || list == NULL)
        return 0;
    for (int i = 0; i < nsigs && out < max; i++) {
        DKIM_SIGINFO *sig = list[i];
        struct dk_sig *r = &sigs[out++];
        unsigned int flags = dkim_sig_getflags(sig);
        int error = dkim_sig_geterror(sig);
        char b[64];
        size_t blen = sizeof(b);
        dkim_alg_t alg;

        memset(r, 0, sizeof(*r));
        copy_bounded(r->domain, sizeof(r->domain), dkim_sig_getdomain(sig));
        lowercase(r->domain);
        copy_bounded(r->selector, sizeof(r->selector), dkim_sig_getselector(sig));
        if (dkim_get_sigsubstring(d->h, sig, b, &blen) == DKIM_STAT_OK) {
            b[blen < sizeof(b) ? blen : sizeof(b) - 1] = 0;
            copy_bounded(r->b, sizeof(r->b) > 9 ? 9 : sizeof(r->b), (unsigned char *)b);
        }
        if (dkim_sig_getsignalg(sig, &alg) == DKIM_STAT_OK)
            snprintf(r->algorithm, sizeof(r->algorithm), "%s",
                     alg == DKIM_SIGN_ED25519SHA256 ? "ed25519-sha256"
                     : alg == DKIM_SIGN_RSASHA1 ? "rsa-sha1" : "rsa-sha256");
        if ((flags & DKIM_SIGFLAG_PASSED) && dkim_sig_getbh(sig) == DKIM_SIGBH_MATCH
            && !d->failed) {
            r->result = DK_PASS;
            continue;
        }
        if (error == DKIM_SIGERROR_KEYFAIL || d->eoh_stat == DKIM_STAT_CBTRYAGAIN)
            r->result = DK_TEMPERROR;
        else if (error == DKIM_SIGERROR_OK && !(flags & DKIM_SIGFLAG_PROCESSED))
            r->result = DK_NEUTRAL;
        else if (error == DKIM_SIGERROR_BADSIG || error == DKIM_SIGERROR_OK
                 || dkim_sig_getbh(sig) != DKIM_SIGBH_MATCH)
            r->result = DK_FAIL;
        else
            r->result = DK_PERMERROR;
        if (error != DKIM_SIGERROR_OK)
            snprintf(r->reason, sizeof(r->reason), "%s", dkim_sig_geterrorstr(error));
        else if (dkim_sig_getbh(sig) != DKIM_SIGBH_MATCH)
            snprintf(r->reason, sizeof(r->reason), "body hash did not verify");
        else
            snprintf(r->reason, sizeof(r->reason), "signature did not verify");
        for (char *p = r->reason; *p; p++)
            if (*p < 0x20 || *p > 0x7e || *p == '"' || *p == '\\' || *p == ')' || *p == '(')
                *p = ' ';
    }
    return out;
}

int dk_signature(dk *d, str *out)
{
    u_char *buf = NULL;
    size_t len = 0;
    static const char name[] = "DKIM-Signature: ";

    if (d->failed || !d->sign)
        return -1;
    if (dkim_getsighdr_d(d->h, strlen(name), &buf, &len) != DKIM_STAT_OK || buf == NULL)
        return -1;
    str_set(out, name);
    str_append(out, buf, len);
    return 0;
}

const char *dk_error(const dk *d)
{
    return d->err;
}

const char *dk_result_name(int result)
{
    static const char *const names[] = { "pass", "fail", "neutral", "temperror",
                                         "permerror", "policy" };
    return result >= 0 && result <= DK_POLICY ? names[result] : "neutral";
}

void dk_free(dk *d)
{
    if (d == NULL)
        return;
    if (d->h)
        dkim_free(d->h);
    free(d);
}

int dk_public_record(const char *pem, str *out, const char **err)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *pkey = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    unsigned char raw[32], *der = NULL;
    size_t rawlen = sizeof(raw);
    int derlen, rc = -1;
    unsigned char b64[4096];

    BIO_free(bio);
    if (pkey == NULL) {
        *err = "not a PEM public key";
        return -1;
    }
    if (EVP_PKEY_get_id(pkey) == EVP_PKEY_ED25519) {
        /* RFC 8463: p= is the raw 32-byte public key */
        if (EVP_PKEY_get_raw_public_key(pkey, raw, &rawlen) == 1 && rawlen == 32) {
            EVP_EncodeBlock(b64, raw, 32);
            str_printf(out, "v=DKIM1; k=ed25519; p=%s", (char *)b64);
            rc = 0;
        }
    } else if (EVP_PKEY_get_id(pkey) == EVP_PKEY_RSA) {
        derlen = i2d_PUBKEY(pkey, &der);
        if (derlen > 0 && (size_t)derlen < sizeof(b64) * 3 / 4 - 4) {
            EVP_EncodeBlock(b64, der, derlen);
            str_printf(out, "v=DKIM1; k=rsa; p=%s", (char *)b64);
            rc = 0;
        }
        OPENSSL_free(der);
    }
    if (rc < 0)
        *err = "unsupported public key";
    EVP_PKEY_free(pkey);
    return rc;
}
