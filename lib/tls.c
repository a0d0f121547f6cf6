/* tls.c: OpenSSL contexts and sessions for smtpd (server) and smtp (client); see tls.h.
 * A session puts itself under an existing bio by replacing its read_fn/write_fn with
 * SSL_read/SSL_write loops on a non-blocking fd, each wait bounded by the bio timeout.
 * Session resumption: an in-process session cache plus RFC 5077 tickets whose key can
 * be shared by every process through a small key file. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/x509v3.h>
#include "tls.h"
#include "mem.h"
#include "log.h"

struct tls_ctx {
    SSL_CTX *ssl_ctx;
    int server;
};

struct tls_sess {
    SSL *ssl;
    int fd;
    int server;
    enum tls_level level;
};

/* ------------------------------------------------------------------ small helpers */

static const char *const level_names[] = { "none", "may", "encrypt", "verify" };

int tls_level_parse(const char *s, enum tls_level *out)
{
    for (int i = 0; i < 4; i++)
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (enum tls_level)i;
            return 0;
        }
    return -1;
}

const char *tls_level_name(enum tls_level level)
{
    return (int)level >= 0 && (int)level < 4 ? level_names[level] : "?";
}

void tls_errors(str *out)
{
    unsigned long e;
    char buf[256];
    int n = 0;

    while ((e = ERR_get_error()) != 0) {
        if (n++ < 4) {         /* the first few say it all; the rest are repeats */
            ERR_error_string_n(e, buf, sizeof(buf));
            str_appendf(out, "%s%s", out->len ? "; " : "", buf);
        }
    }
}

static char *errf(const char *fmt, const char *arg)
{
    str s;

    str_init(&s);
    str_appendf(&s, fmt, arg ? arg : "");
    str_appends(&s, ": ");
    str errs;                          /* separate, so no "; " follows the ": " */
    str_init(&errs);
    tls_errors(&errs);
    str_appends(&s, errs.len ? errs.data : "unknown OpenSSL error");
    str_free(&errs);
    char *result = str_steal(&s);
    str_free(&s);                      /* str_steal leaves s initialized */
    return result;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for fd until deadline (0 = forever): 1 ready, 0 timeout, -1 error. */
static int wait_fd(int fd, short events, long long deadline)
{
    struct pollfd p = { .fd = fd, .events = events };

    for (;;) {
        int wait = -1;
        if (deadline > 0) {
            long long left = deadline - now_ms();
            if (left <= 0)
                return 0;
            wait = left > INT_MAX ? INT_MAX : (int)left;
        }
        int n = poll(&p, 1, wait);
        if (n > 0)
            return 1;
        if (n == 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

/* ------------------------------------------------------------------ protocols */

static const struct { const char *name; int version; } protocol_names[] = {
    { "SSLv3", SSL3_VERSION }, { "TLSv1", TLS1_VERSION }, { "TLSv1.1", TLS1_1_VERSION },
    { "TLSv1.2", TLS1_2_VERSION }, { "TLSv1.3", TLS1_3_VERSION },
};
#define NPROTO ((int)(sizeof(protocol_names) / sizeof(protocol_names[0])))

static int protocol_index(const char *name)
{
    if (strcasecmp(name, "SSLv2") == 0)
        return -2;                     /* known, never supported */
    for (int i = 0; i < NPROTO; i++)
        if (strcasecmp(name, protocol_names[i].name) == 0)
            return i;
    return -1;
}

int tls_protocols_parse(const char *list, int *min_version, int *max_version,
                        const char **err)
{
    int enabled[NPROTO];
    char **items;
    int lo, hi, rc = 0;

    /* Default: TLS 1.2 and later. */
    for (int i = 0; i < NPROTO; i++)
        enabled[i] = protocol_names[i].version >= TLS1_2_VERSION;
    if (list == NULL || *list == 0)
        goto range;
    items = strv_split(list, ", \t\r\n:");
    int saw_positive = 0;
    for (size_t k = 0; items[k] && rc == 0; k++) {
        const char *it = items[k];
        int idx;
        if (strncmp(it, ">=", 2) == 0 || strncmp(it, "<=", 2) == 0) {
            if ((idx = protocol_index(it + 2)) < 0) {
                *err = "unknown protocol after >= or <=";
                rc = -1;
                break;
            }
            if (!saw_positive++)
                for (int i = 0; i < NPROTO; i++)
                    enabled[i] = 1;
            for (int i = 0; i < NPROTO; i++)
                if (it[0] == '>' ? i < idx : i > idx)
                    enabled[i] = 0;
        } else if (it[0] == '!') {
            if ((idx = protocol_index(it + 1)) == -1) {
                *err = "unknown protocol after !";
                rc = -1;
                break;
            }
            if (!saw_positive++)
                for (int i = 0; i < NPROTO; i++)
                    enabled[i] = 1;
            if (idx >= 0)
                enabled[idx] = 0;
        } else {
            *err = "expected >=PROTOCOL, <=PROTOCOL or !PROTOCOL";
            rc = -1;
        }
    }
    strv_free(items);
    if (rc < 0)
        return -1;
range:
    for (lo = 0; lo < NPROTO && !enabled[lo]; lo++)
        ;
    for (hi = NPROTO - 1; hi >= 0 && !enabled[hi]; hi--)
        ;
    if (lo > hi) {
        *err = "no protocol left enabled";
        return -1;
    }
    *min_version = protocol_names[lo].version;
    *max_version = protocol_names[hi].version;
    return 0;
}

/* Settings shared by server and client contexts. */
static int ctx_common(SSL_CTX *c, const char *protocols, const char *cipherlist,
                      const char *exclude, const char *suites, char **err)
{
    int lo, hi;
    const char *why = NULL;

    if (tls_protocols_parse(protocols, &lo, &hi, &why) < 0) {
        *err = xasprintf("bad TLS protocol list \"%s\": %s", protocols ? protocols : "", why);
        return -1;
    }
    if (!SSL_CTX_set_min_proto_version(c, lo) || !SSL_CTX_set_max_proto_version(c, hi)) {
        *err = errf("cannot set the TLS protocol range%s", NULL);
        return -1;
    }
    SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF
                        | SSL_OP_NO_RENEGOTIATION);
    if ((cipherlist && *cipherlist) || (exclude && *exclude)) {
        str list;
        str_init(&list);
        str_appends(&list, cipherlist && *cipherlist ? cipherlist : "DEFAULT");
        if (exclude && *exclude) {
            char **ex = strv_split(exclude, ", \t\r\n:");
            for (size_t i = 0; ex[i]; i++)
                str_appendf(&list, ":!%s", ex[i]);
            strv_free(ex);
        }
        int ok = SSL_CTX_set_cipher_list(c, list.data);
        if (!ok)
            *err = errf("bad cipher list \"%s\"", list.data);
        str_free(&list);
        if (!ok)
            return -1;
    }
    if (suites && *suites && !SSL_CTX_set_ciphersuites(c, suites)) {
        *err = errf("bad TLS 1.3 cipher suites \"%s\"", suites);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ ticket keys */

/* One ticket key per process (a process has one server context in practice). */
static struct {
    int loaded;
    unsigned char name[16], hmac[32], aes[32];
} ticket_key;

#define TICKET_KEY_SIZE 80

/* Read the key file, creating it with random bytes if it does not exist (written to a
 * temp file and link()ed, so concurrent creators agree on one key). */
static int load_ticket_key(const char *path, char **err)
{
    unsigned char buf[TICKET_KEY_SIZE];
    int fd, tries;

    for (tries = 0; tries < 3; tries++) {
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd >= 0) {
            ssize_t n = read(fd, buf, sizeof(buf));
            close(fd);
            if (n != (ssize_t)sizeof(buf)) {
                *err = xasprintf("TLS ticket key file %s: wrong size", path);
                return -1;
            }
            memcpy(ticket_key.name, buf, 16);
            memcpy(ticket_key.hmac, buf + 16, 32);
            memcpy(ticket_key.aes, buf + 48, 32);
            ticket_key.loaded = 1;
            OPENSSL_cleanse(buf, sizeof(buf));
            return 0;
        }
        if (errno != ENOENT)
            break;
        char *tmp = xasprintf("%s.%ld.tmp", path, (long)getpid());
        int tfd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (tfd < 0) {
            free(tmp);
            break;
        }
        int ok = RAND_bytes(buf, sizeof(buf)) == 1
            && write(tfd, buf, sizeof(buf)) == (ssize_t)sizeof(buf) && fsync(tfd) == 0;
        close(tfd);
        if (ok && link(tmp, path) != 0 && errno != EEXIST)
            ok = 0;
        unlink(tmp);
        free(tmp);
        OPENSSL_cleanse(buf, sizeof(buf));
        if (!ok)
            break;
    }
    *err = xasprintf("TLS ticket key file %s: %s", path, strerror(errno));
    return -1;
}

static int ticket_cb(SSL *ssl, unsigned char key_name[16], unsigned char iv[16],
                     EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
    OSSL_PARAM params[3];

    (void)ssl;
    params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, ticket_key.hmac,
                                                  sizeof(ticket_key.hmac));
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[2] = OSSL_PARAM_construct_end();
    if (enc) {
        memcpy(key_name, ticket_key.name, 16);
        if (RAND_bytes(iv, 16) != 1
            || !EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, ticket_key.aes, iv)
            || !EVP_MAC_CTX_set_params(hctx, params))
            return -1;
        return 1;
    }
    if (memcmp(key_name, ticket_key.name, 16) != 0)
        return 0;                      /* unknown key: full handshake */
    if (!EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, ticket_key.aes, iv)
        || !EVP_MAC_CTX_set_params(hctx, params))
        return -1;
    return 1;
}

/* ------------------------------------------------------------------ contexts */

static int load_cert_key(SSL_CTX *c, const char *cert, const char *key, char **err)
{
    if (key == NULL || *key == 0)
        key = cert;
    if (!SSL_CTX_use_certificate_chain_file(c, cert)) {
        *err = errf("cannot load certificate chain from %s", cert);
        return -1;
    }
    if (!SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM)) {
        *err = errf("cannot load private key from %s", key);
        return -1;
    }
    if (!SSL_CTX_check_private_key(c)) {
        *err = errf("private key in %s does not match the certificate", key);
        return -1;
    }
    return 0;
}

tls_ctx *tls_server_ctx_new(const struct tls_server_opts *o, char **err)
{
    SSL_CTX *c;
    int ncerts = 0;
    long timeout = o->session_timeout > 0 ? o->session_timeout : 3600;
    const char *sid = o->session_id_context ? o->session_id_context : "postern";

    *err = NULL;
    ERR_clear_error();
    if ((c = SSL_CTX_new(TLS_server_method())) == NULL) {
        *err = errf("cannot create TLS server context%s", NULL);
        return NULL;
    }
    if (ctx_common(c, o->protocols, o->cipherlist, o->exclude_ciphers, o->ciphersuites,
                   err) < 0)
        goto fail;
    SSL_CTX_set_options(c, SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (o->cert_file && *o->cert_file) {
        if (load_cert_key(c, o->cert_file, o->key_file, err) < 0)
            goto fail;
        ncerts++;
    }
    if (o->eccert_file && *o->eccert_file) {
        if (load_cert_key(c, o->eccert_file, o->eckey_file, err) < 0)
            goto fail;
        ncerts++;
    }
    for (size_t i = 0; o->chain_files && o->chain_files[i]; i++) {
        if (load_cert_key(c, o->chain_files[i], o->chain_files[i], err) < 0)
            goto fail;
        ncerts++;
    }
    if (ncerts == 0) {
        *err = xasprintf("no server certificate configured");
        goto fail;
    }
    /* Resumption: server-side cache in this process, and tickets. */
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_SERVER);
    SSL_CTX_sess_set_cache_size(c, 256);
    SSL_CTX_set_timeout(c, timeout);
    SSL_CTX_set_session_id_context(c, (const unsigned char *)sid,
                                   (unsigned)(strlen(sid) > SSL_MAX_SID_CTX_LENGTH
                                              ? SSL_MAX_SID_CTX_LENGTH : strlen(sid)));
    if (o->ticket_key_file && *o->ticket_key_file) {
        char *why = NULL;
        if (load_ticket_key(o->ticket_key_file, &why) == 0) {
            SSL_CTX_set_tlsext_ticket_key_evp_cb(c, ticket_cb);
        } else {
            msg_warn("%s; session tickets work only within one process", why);
            free(why);
        }
    }
    tls_ctx *t = xcalloc(1, sizeof(*t));
    t->ssl_ctx = c;
    t->server = 1;
    return t;
fail:
    SSL_CTX_free(c);
    return NULL;
}

tls_ctx *tls_client_ctx_new(const struct tls_client_opts *o, char **err)
{
    SSL_CTX *c;

    *err = NULL;
    ERR_clear_error();
    if ((c = SSL_CTX_new(TLS_client_method())) == NULL) {
        *err = errf("cannot create TLS client context%s", NULL);
        return NULL;
    }
    if (ctx_common(c, o->protocols, o->cipherlist, o->exclude_ciphers, o->ciphersuites,
                   err) < 0)
        goto fail;
    const char *caf = o->ca_file && *o->ca_file ? o->ca_file : NULL;
    const char *cap = o->ca_path && *o->ca_path ? o->ca_path : NULL;
    if ((caf || cap) && !SSL_CTX_load_verify_locations(c, caf, cap)) {
        *err = errf("cannot load CA certificates from %s", caf ? caf : cap);
        goto fail;
    }
    if (o->use_system_cas && !SSL_CTX_set_default_verify_paths(c)) {
        *err = errf("cannot load the system CA certificates%s", NULL);
        goto fail;
    }
    if (o->cert_file && *o->cert_file && load_cert_key(c, o->cert_file, o->key_file, err) < 0)
        goto fail;
    SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
    tls_ctx *t = xcalloc(1, sizeof(*t));
    t->ssl_ctx = c;
    return t;
fail:
    SSL_CTX_free(c);
    return NULL;
}

void tls_ctx_free(tls_ctx *ctx)
{
    if (ctx == NULL)
        return;
    SSL_CTX_free(ctx->ssl_ctx);
    free(ctx);
}

/* ------------------------------------------------------------------ bio hooks */

/* Run one SSL I/O call until it makes progress, waiting as OpenSSL asks, within the
 * bio's timeout. Returns the call's result (> 0), 0 for a clean or unclean EOF, or -1
 * with errno set (ETIMEDOUT for a timeout). */
static ssize_t ssl_io(bio *b, void *buf, size_t len, int writing)
{
    tls_sess *s = b->ctx;
    long long deadline = b->timeout_ms > 0 ? now_ms() + b->timeout_ms : 0;
    int n = len > INT_MAX ? INT_MAX : (int)len;

    for (;;) {
        ERR_clear_error();
        int r = writing ? SSL_write(s->ssl, buf, n) : SSL_read(s->ssl, buf, n);
        if (r > 0)
            return r;
        int e = SSL_get_error(s->ssl, r);
        short ev;
        if (e == SSL_ERROR_WANT_READ)
            ev = POLLIN;
        else if (e == SSL_ERROR_WANT_WRITE)
            ev = POLLOUT;
        else if (e == SSL_ERROR_ZERO_RETURN && !writing)
            return 0;
        else {
            int saved = errno;
            if (msg_verbose) {
                str why;
                str_init(&why);
                tls_errors(&why);
                msg_debug("TLS %s error %d: %s", writing ? "write" : "read", e, why.data);
                str_free(&why);
            }
            ERR_clear_error();
            errno = (e == SSL_ERROR_SYSCALL && saved != 0) ? saved : ECONNRESET;
            return -1;
        }
        int w = wait_fd(s->fd, ev, deadline);
        if (w == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (w < 0)
            return -1;
    }
}

static ssize_t tls_bio_read(bio *b, void *buf, size_t len)
{
    return ssl_io(b, buf, len, 0);
}

static ssize_t tls_bio_write(bio *b, const void *buf, size_t len)
{
    return ssl_io(b, (void *)buf, len, 1);
}

/* ------------------------------------------------------------------ sessions */

static int set_nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Handshake within the bio's timeout; 0 or -1 with *err. */
static int handshake(tls_sess *s, bio *b, char **err)
{
    long long deadline = b->timeout_ms > 0 ? now_ms() + b->timeout_ms : 0;

    for (;;) {
        ERR_clear_error();
        int r = SSL_do_handshake(s->ssl);
        if (r == 1)
            return 0;
        int e = SSL_get_error(s->ssl, r);
        short ev;
        if (e == SSL_ERROR_WANT_READ)
            ev = POLLIN;
        else if (e == SSL_ERROR_WANT_WRITE)
            ev = POLLOUT;
        else {
            if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
                *err = xasprintf("%s", errno ? strerror(errno) : "lost connection");
            else if (e == SSL_ERROR_SSL && SSL_get_verify_result(s->ssl) != X509_V_OK
                     && !s->server) {
                long v = SSL_get_verify_result(s->ssl);
                ERR_clear_error();
                *err = xasprintf("certificate verification failed: %s",
                                 X509_verify_cert_error_string(v));
            } else
                *err = errf("TLS handshake failed%s", NULL);
            return -1;
        }
        int w = wait_fd(s->fd, ev, deadline);
        if (w <= 0) {
            *err = xasprintf("%s", w == 0 ? "timeout" : strerror(errno));
            return -1;
        }
    }
}

static tls_sess *sess_new(tls_ctx *ctx, bio *b, char **err)
{
    *err = NULL;
    if (bio_pending(b) > 0) {
        *err = xasprintf("unread plaintext input before the TLS handshake");
        return NULL;
    }
    if (bio_flush(b) < 0) {
        *err = xasprintf("cannot flush output before the TLS handshake: %s",
                         bio_strerror(b));
        return NULL;
    }
    ERR_clear_error();
    tls_sess *s = xcalloc(1, sizeof(*s));
    s->fd = b->fd;
    s->server = ctx->server;
    if ((s->ssl = SSL_new(ctx->ssl_ctx)) == NULL || !SSL_set_fd(s->ssl, b->fd)
        || set_nonblocking(b->fd) < 0) {
        *err = errf("cannot create TLS session%s", NULL);
        if (s->ssl)
            SSL_free(s->ssl);
        free(s);
        return NULL;
    }
    return s;
}

static void attach(tls_sess *s, bio *b)
{
    b->ctx = s;
    b->read_fn = tls_bio_read;
    b->write_fn = tls_bio_write;
}

tls_sess *tls_server_start(tls_ctx *ctx, bio *b, char **err)
{
    tls_sess *s = sess_new(ctx, b, err);

    if (s == NULL)
        return NULL;
    SSL_set_accept_state(s->ssl);
    if (handshake(s, b, err) < 0) {
        SSL_free(s->ssl);
        free(s);
        return NULL;
    }
    attach(s, b);
    return s;
}

tls_sess *tls_client_start(tls_ctx *ctx, bio *b, enum tls_level level,
                           const char *servername, char **match_names, char **err)
{
    tls_sess *s = sess_new(ctx, b, err);

    if (s == NULL)
        return NULL;
    s->level = level;
    SSL_set_connect_state(s->ssl);
    if (servername && *servername && !SSL_set_tlsext_host_name(s->ssl, servername)) {
        *err = errf("bad TLS server name \"%s\"", servername);
        goto fail;
    }
    /* Names to match: checked always (result available), enforced at VERIFY. */
    SSL_set_hostflags(s->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (match_names != NULL) {
        for (size_t i = 0; match_names[i]; i++)
            if (!(i == 0 ? SSL_set1_host(s->ssl, match_names[i])
                  : SSL_add1_host(s->ssl, match_names[i]))) {
                *err = errf("bad TLS match name \"%s\"", match_names[i]);
                goto fail;
            }
    } else if (servername && *servername && !SSL_set1_host(s->ssl, servername)) {
        *err = errf("bad TLS server name \"%s\"", servername);
        goto fail;
    }
    SSL_set_verify(s->ssl, level >= TLS_LEV_VERIFY ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    if (handshake(s, b, err) < 0)
        goto fail;
    if (level >= TLS_LEV_VERIFY && !tls_sess_verified(s)) {
        *err = xasprintf("server certificate not verified: %s", tls_sess_verify_error(s));
        goto fail;
    }
    attach(s, b);
    return s;
fail:
    SSL_free(s->ssl);
    free(s);
    return NULL;
}

const char *tls_sess_protocol(const tls_sess *s)
{
    return SSL_get_version(s->ssl);
}

const char *tls_sess_cipher(const tls_sess *s)
{
    const SSL_CIPHER *c = SSL_get_current_cipher(s->ssl);
    return c ? SSL_CIPHER_get_name(c) : "none";
}

int tls_sess_cipher_bits(const tls_sess *s, int *alg_bits)
{
    const SSL_CIPHER *c = SSL_get_current_cipher(s->ssl);
    int alg = 0, bits = c ? SSL_CIPHER_get_bits(c, &alg) : 0;
    if (alg_bits)
        *alg_bits = alg;
    return bits;
}

int tls_sess_reused(const tls_sess *s)
{
    return SSL_session_reused(s->ssl);
}

static void cn_of(const X509_NAME *name, str *out)
{
    char buf[256];
    int n = X509_NAME_get_text_by_NID((X509_NAME *)name, NID_commonName, buf, sizeof(buf));
    str_reset(out);
    if (n > 0) {
        for (int i = 0; i < n && buf[i]; i++)   /* printable only: it goes into logs */
            str_putc(out, (buf[i] > ' ' && buf[i] < 0x7f) ? buf[i] : '?');
    }
}

int tls_sess_peer_cert(const tls_sess *s, str *subject_cn, str *issuer_cn)
{
    X509 *x = SSL_get1_peer_certificate(s->ssl);

    if (x == NULL)
        return 0;
    if (subject_cn)
        cn_of(X509_get_subject_name(x), subject_cn);
    if (issuer_cn)
        cn_of(X509_get_issuer_name(x), issuer_cn);
    X509_free(x);
    return 1;
}

int tls_sess_verified(const tls_sess *s)
{
    X509 *x = SSL_get1_peer_certificate(s->ssl);
    int ok = x != NULL && SSL_get_verify_result(s->ssl) == X509_V_OK;
    X509_free(x);
    return ok;
}

const char *tls_sess_verify_error(const tls_sess *s)
{
    X509 *x = SSL_get1_peer_certificate(s->ssl);
    if (x == NULL)
        return "no peer certificate";
    X509_free(x);
    return X509_verify_cert_error_string(SSL_get_verify_result(s->ssl));
}

void tls_sess_describe(const tls_sess *s, str *out)
{
    int alg = 0, bits = tls_sess_cipher_bits(s, &alg);
    str_appendf(out, "%s with cipher %s (%d/%d bits)", tls_sess_protocol(s),
                tls_sess_cipher(s), bits, alg);
}

void tls_sess_close(tls_sess *s, bio *b)
{
    if (s == NULL)
        return;
    if (b != NULL && b->ctx == s && b->err == BIO_OK) {
        /* One close_notify attempt, never a wait for the peer's. */
        ERR_clear_error();
        (void)SSL_shutdown(s->ssl);
        ERR_clear_error();
    }
    SSL_free(s->ssl);
    free(s);
}
