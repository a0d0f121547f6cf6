/* tls.h: the one OpenSSL layer of postern, for the server side (smtpd STARTTLS and
 * wrapper mode) and the client side (the smtp delivery agent).
 *
 * A context (tls_ctx) holds what is fixed per process: certificates, protocol range,
 * ciphers, session cache. A session (tls_sess) is one TLS connection layered under an
 * existing bio (lib/bio.h): tls_server_start()/tls_client_start() run the handshake on
 * the bio's fd and then replace the bio's read_fn/write_fn, so the SMTP code above keeps
 * using bio_getline/bio_printf unchanged. Every wait is bounded by the bio's timeout.
 *
 * The caller must make sure the bio has no unread plaintext buffered before starting TLS
 * (bio_pending() == 0): bytes pipelined behind STARTTLS must never be treated as if they
 * came through TLS (CVE-2011-0411 class). tls_server_start/tls_client_start refuse to
 * start otherwise.
 *
 * Protocol lists use Postfix syntax: ">=TLSv1.2", "<=TLSv1.3", or exclusions
 * "!SSLv3, !TLSv1, !TLSv1.1"; the enabled range is from the lowest to the highest
 * protocol left. Cipher grades: "high" or "medium" (OpenSSL cipher lists given by the
 * caller for each grade). */
#ifndef POSTERN_TLS_H
#define POSTERN_TLS_H
#include "bio.h"
#include "str.h"

/* Security levels (Postfix names). */
enum tls_level { TLS_LEV_NONE = 0, TLS_LEV_MAY, TLS_LEV_ENCRYPT, TLS_LEV_VERIFY };
/* "none", "may", "encrypt", "verify" (case-insensitive); 0 or -1. */
int tls_level_parse(const char *s, enum tls_level *out);
const char *tls_level_name(enum tls_level level);

/* Parse a protocol list into OpenSSL version numbers (TLS1_VERSION ...); 0 or -1 with a
 * reason in *err (static string). */
int tls_protocols_parse(const char *list, int *min_version, int *max_version,
                        const char **err);

typedef struct tls_ctx tls_ctx;
typedef struct tls_sess tls_sess;

struct tls_server_opts {
    const char *cert_file;     /* RSA (or any) certificate + chain, PEM; "" = none */
    const char *key_file;      /* "" = same file as cert_file */
    const char *eccert_file;   /* optional second (ECDSA) certificate + chain */
    const char *eckey_file;    /* "" = same file as eccert_file */
    char **chain_files;        /* optional: PEM files each with key + certificate chain */
    const char *protocols;     /* see above; NULL/"" = ">=TLSv1.2" */
    const char *cipherlist;    /* OpenSSL list for TLS <= 1.2; NULL = library default */
    const char *exclude_ciphers; /* appended as ":!X" for each; NULL = none */
    const char *ciphersuites;  /* TLS 1.3 suites; NULL = library default */
    long session_timeout;      /* seconds, for the cache and tickets; <= 0: 3600 */
    const char *ticket_key_file; /* shared ticket key (created if missing) so every
                                  * process can resume sessions; NULL = per process */
    const char *session_id_context; /* e.g. the service name; NULL = "postern" */
};

/* Build a server context. NULL with *err (malloc'd) naming the file or setting that is
 * wrong. At least one certificate is required. */
tls_ctx *tls_server_ctx_new(const struct tls_server_opts *o, char **err);

struct tls_client_opts {
    const char *ca_file;       /* trust anchors, PEM; NULL/"" = none */
    const char *ca_path;       /* hashed directory; NULL/"" = none */
    int use_system_cas;        /* also trust the system default store */
    const char *cert_file, *key_file; /* optional client certificate */
    const char *protocols;
    const char *cipherlist;
    const char *exclude_ciphers;
    const char *ciphersuites;
};
tls_ctx *tls_client_ctx_new(const struct tls_client_opts *o, char **err);

void tls_ctx_free(tls_ctx *ctx);

/* Handshake as server on b's fd; NULL on failure with a reason in *err (malloc'd).
 * On success the bio reads and writes through TLS. */
tls_sess *tls_server_start(tls_ctx *ctx, bio *b, char **err);

/* Handshake as client. `servername` is sent as SNI (NULL: none). With TLS_LEV_VERIFY the
 * peer certificate must chain to the configured CAs and match one of `match_names`
 * (NULL-terminated; NULL = servername); otherwise the handshake fails. With MAY/ENCRYPT
 * any certificate is accepted (the verification result is still available).
 * NULL on failure with *err (malloc'd). */
tls_sess *tls_client_start(tls_ctx *ctx, bio *b, enum tls_level level,
                           const char *servername, char **match_names, char **err);

/* After a successful handshake. */
const char *tls_sess_protocol(const tls_sess *s);   /* "TLSv1.3" */
const char *tls_sess_cipher(const tls_sess *s);     /* "TLS_AES_256_GCM_SHA384" */
int tls_sess_cipher_bits(const tls_sess *s, int *alg_bits);
int tls_sess_reused(const tls_sess *s);             /* 1 if the session was resumed */
/* Peer certificate: 1 if present; subject CN / issuer CN copied into the strs. */
int tls_sess_peer_cert(const tls_sess *s, str *subject_cn, str *issuer_cn);
/* 1 if the peer certificate verified (chain and, for clients at VERIFY, the name). */
int tls_sess_verified(const tls_sess *s);
const char *tls_sess_verify_error(const tls_sess *s); /* text, "ok" when verified */
/* Append "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)" to out: the form
 * used in log lines and in the Received header. */
void tls_sess_describe(const tls_sess *s, str *out);

/* Send close_notify (best effort, bounded by the bio timeout) and free the session.
 * The bio must not be used for I/O afterwards (it is only freed). NULL is ignored. */
void tls_sess_close(tls_sess *s, bio *b);

/* The OpenSSL error queue as text (appended to out, "; "-separated) and cleared. */
void tls_errors(str *out);

#endif
