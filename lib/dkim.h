/* dkim.h: DKIM (RFC 6376, RFC 8463) signing and verification for cleanup, wrapping
 * libopendkim so its types stay inside dkim.c. Public keys are fetched with
 * dns_lookup_txt() (lib/dns.h), so $dns_servers is honoured.
 *
 * Use: dk = dk_verify_new(id) or dk_sign_new(...); dk_header() for every header field
 * ("Name: value", folded lines keep their inner CRLF, no final CRLF); dk_eoh(); dk_body()
 * with CRLF line ends; dk_eom(); then dk_results() (verify) or dk_signature() (sign);
 * dk_free(). Errors are sticky: later calls do nothing and the results say why. */
#ifndef POSTERN_DKIM_H
#define POSTERN_DKIM_H
#include <stddef.h>
#include "str.h"

typedef struct dk dk;

enum dk_result { DK_PASS = 0, DK_FAIL, DK_NEUTRAL, DK_TEMPERROR, DK_PERMERROR, DK_POLICY };

struct dk_sig {
    int result;                 /* enum dk_result */
    char domain[256];           /* d= */
    char selector[64];          /* s= */
    char b[12];                 /* first 8 characters of b= (RFC 6008 header.b) */
    char algorithm[24];         /* "rsa-sha256", "ed25519-sha256" */
    char reason[96];            /* library's reason for a failure, "" when passed */
};

dk *dk_verify_new(const char *id);
/* Header fields signed by later dk_sign_new() handles: names (case-insensitive) listed
 * more than once are also oversigned (RFC 6376 8.15), e.g. "from","from","subject".
 * Must include "from". 0, or -1 with *err (static text). */
int dk_set_sign_headers(char **names, const char **err);
/* keydata: PEM private key (RSA or Ed25519). NULL with *err (static text) on error. */
dk *dk_sign_new(const char *id, const char *domain, const char *selector,
                const char *keydata, const char **err);
int dk_header(dk *d, const char *field, size_t len);    /* 0 or -1 */
int dk_eoh(dk *d);
int dk_body(dk *d, const char *data, size_t len);
int dk_eom(dk *d);
/* Verify: every signature found (at most DK_MAX_SIGS); returns the count (0 = unsigned). */
#define DK_MAX_SIGS 16
int dk_results(dk *d, struct dk_sig *sigs, int max);
/* Sign: the complete "DKIM-Signature: ..." field (folded, no final newline). 0 or -1. */
int dk_signature(dk *d, str *out);
const char *dk_error(const dk *d);     /* text of the sticky error, "" if none */
const char *dk_result_name(int result);
void dk_free(dk *d);

/* For tests and key generation: the DNS TXT record for a PEM public key
 * ("v=DKIM1; k=rsa; p=..."). 0 or -1. */
int dk_public_record(const char *pem_public_key, str *out, const char **err);

#endif
