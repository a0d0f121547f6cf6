/* smtpd_tls.c: TLS in smtpd: STARTTLS (RFC 3207) and wrapper mode (SMTPS, port 465),
 * on top of lib/tls.h. The TLS context is built once per process in pre_init (while
 * still privileged, so key files may be root-only); a reload starts new processes,
 * which read the certificates again, while old processes finish their sessions.
 *
 * STARTTLS discards the whole session state (HELO, transaction, login) and any input
 * the client pipelined behind the command: that plaintext must never be executed as if
 * it came through TLS (CVE-2011-0411 class). */
#include <string.h>
#include <stdlib.h>
#include <strings.h>
#include "smtpd.h"
#include "tls.h"
#include "server.h"
#include "config.h"
#include "log.h"
#include "metrics.h"

static tls_ctx *server_ctx;            /* NULL: TLS not available */
static enum tls_level level = TLS_LEV_NONE;
static int wrappermode, received_header, loglevel;

static const char *cipherlist_for(const char *grade_param)
{
    const char *grade = config_str(grade_param);

    if (strcasecmp(grade, "high") == 0)
        return config_str("tls_high_cipherlist");
    if (strcasecmp(grade, "medium") != 0)
        msg_warn("%s: unknown cipher grade \"%s\", using medium", grade_param, grade);
    return config_str("tls_medium_cipherlist");
}

void smtpd_tls_pre_init(void)
{
    struct tls_server_opts o;
    char *err = NULL;
    const char *lev = config_str("smtpd_tls_security_level");

    wrappermode = config_bool("smtpd_tls_wrappermode");
    received_header = config_bool("smtpd_tls_received_header");
    loglevel = (int)config_int("smtpd_tls_loglevel");
    if (*lev == 0)
        level = TLS_LEV_NONE;
    else if (tls_level_parse(lev, &level) < 0 || level == TLS_LEV_VERIFY)
        msg_fatal("bad smtpd_tls_security_level \"%s\" (none, may or encrypt)", lev);
    if (wrappermode && level == TLS_LEV_NONE)
        level = TLS_LEV_ENCRYPT;       /* wrapper mode is TLS or nothing */
    if (level == TLS_LEV_NONE)
        return;

    int mandatory = level >= TLS_LEV_ENCRYPT;
    memset(&o, 0, sizeof(o));
    o.cert_file = config_str("smtpd_tls_cert_file");
    o.key_file = config_str("smtpd_tls_key_file");
    o.eccert_file = config_str("smtpd_tls_eccert_file");
    o.eckey_file = config_str("smtpd_tls_eckey_file");
    o.chain_files = config_list("smtpd_tls_chain_files");
    o.protocols = config_str(mandatory ? "smtpd_tls_mandatory_protocols"
                             : "smtpd_tls_protocols");
    o.cipherlist = cipherlist_for(mandatory ? "smtpd_tls_mandatory_ciphers"
                                  : "smtpd_tls_ciphers");
    char **exclude = config_list("smtpd_tls_exclude_ciphers");
    str ex;
    str_init(&ex);
    for (size_t i = 0; exclude[i]; i++)
        str_appendf(&ex, "%s%s", i ? ":" : "", exclude[i]);
    strv_free(exclude);
    o.exclude_ciphers = ex.data;
    o.session_timeout = config_time("smtpd_tls_session_cache_timeout");
    o.ticket_key_file = config_str("smtpd_tls_ticket_key_file");
    o.session_id_context = server_service_name();

    server_ctx = tls_server_ctx_new(&o, &err);
    if (server_ctx == NULL) {
        /* Like Postfix: no STARTTLS; at level encrypt mail is refused with 454. */
        msg_warn("cannot use TLS: %s", err ? err : "unknown error");
        free(err);
    }
    strv_free(o.chain_files);
    str_free(&ex);
}

int smtpd_tls_offer(const struct smtpd_state *s)
{
    return server_ctx != NULL && s->tls == NULL && !wrappermode;
}

int smtpd_tls_required(const struct smtpd_state *s)
{
    return level >= TLS_LEV_ENCRYPT && s->tls == NULL;
}

const char *smtpd_protocol_name(const struct smtpd_state *s)
{
    int auth = s->sasl_username.len > 0;

    if (s->helo_kind != SMTPD_HELO_EHLO)
        return "SMTP";
    if (s->tls != NULL)
        return auth ? "ESMTPSA" : "ESMTPS";
    return auth ? "ESMTPA" : "ESMTP";
}

/* Handshake; on success log it and remember the description for Received. */
static int start_tls(struct smtpd_state *s, const char *why)
{
    char *err = NULL;
    str cn, info;

    s->tls = tls_server_start(server_ctx, s->client, &err);
    if (s->tls == NULL) {
        msg_info("%s: TLS handshake failed from %s: %s", why, s->peer,
                 err ? err : "unknown error");
        free(err);
        metrics_tls_handshake(NULL);
        return -1;
    }
    metrics_tls_handshake(tls_sess_protocol(s->tls));
    str_init(&info);
    str_init(&cn);
    tls_sess_describe(s->tls, &info);
    /* Only what the Received header should show is passed on to cleanup. */
    str_set(&s->tls_info, received_header ? info.data : "");
    if (loglevel > 0) {
        if (tls_sess_peer_cert(s->tls, &cn, NULL))
            msg_info("Untrusted TLS connection established from %s: %s (client CN %s)%s",
                     s->peer, info.data, cn.data,
                     tls_sess_reused(s->tls) ? " (session reused)" : "");
        else
            msg_info("Anonymous TLS connection established from %s: %s%s", s->peer,
                     info.data, tls_sess_reused(s->tls) ? " (session reused)" : "");
    }
    str_free(&cn);
    str_free(&info);
    return 0;
}

int smtpd_tls_wrapper(struct smtpd_state *s)
{
    if (server_ctx == NULL) {
        msg_warn("wrapper mode: TLS is not available; dropping %s", s->peer);
        return -1;
    }
    return start_tls(s, "SMTPS");
}

int smtpd_cmd_starttls(struct smtpd_state *s, char *args)
{
    size_t pending;

    if (*args) {
        smtpd_reply(s, "501 5.5.4 Syntax: STARTTLS");
        return -1;
    }
    if (s->tls != NULL) {
        smtpd_reply(s, "554 5.5.1 Error: TLS already active");
        return -1;
    }
    if (server_ctx == NULL) {
        if (level >= TLS_LEV_ENCRYPT)
            smtpd_reply(s, "454 4.7.0 TLS not available due to local problem");
        else
            smtpd_reply(s, "502 5.5.1 Error: command not implemented");
        return -1;
    }
    smtpd_reply(s, "220 2.0.0 Ready to start TLS");
    if (smtpd_flush(s) < 0)
        return -1;
    /* Input pipelined behind STARTTLS was sent in plaintext: throw it away. */
    pending = bio_pending(s->client);
    if (pending > 0) {
        msg_warn("%s: discarding %zu bytes of plaintext input pipelined after STARTTLS",
                 s->peer, pending);
        bio_discard_pending(s->client);
    }
    /* RFC 3207 4.2: forget everything learned before TLS. */
    smtpd_xact_reset(s);
    smtpd_auth_reset(s);
    s->helo_kind = SMTPD_HELO_NONE;
    str_reset(&s->helo_name);
    if (start_tls(s, "STARTTLS") < 0) {
        s->quit = 1;                   /* nothing more can be said in plaintext */
        return -1;
    }
    s->protocol = smtpd_protocol_name(s);
    return 0;
}

void smtpd_tls_end(struct smtpd_state *s)
{
    if (s->tls != NULL) {
        smtpd_flush(s);
        tls_sess_close(s->tls, s->client);
        s->tls = NULL;
    }
}
