/* smtpd.c: the SMTP server program. main() hands control to the server skeleton
 * (lib/server.h), which calls smtpd_service() once per accepted client connection.
 * This file reads the configuration once per process and sets up and tears down the
 * per-session state; the protocol itself is in smtpd_proto.c. TLS certificates and the
 * AUTH failure state file are opened in pre_init, while still privileged. */
#include <signal.h>
#include <string.h>
#include <stdlib.h>
#include "smtpd.h"
#include "smtpd_spf.h"
#include "smtpd_abuse.h"
#include "server.h"
#include "../lib/config.h"  /* not "config.h": -I. (build dir) holds autoconf's config.h */
#include "resolve.h"
#include "log.h"
#include "str.h"
#include "metrics.h"

struct smtpd_config smtpd_cfg;

static long clamp(long v, long lo, long hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static void smtpd_pre_init(void)
{
    smtpd_tls_pre_init();
    smtpd_auth_pre_init();
}

static void smtpd_post_init(void)
{
    char **nets;
    char *err = NULL;
    long code;

    signal(SIGPIPE, SIG_IGN);
    smtpd_cfg.myhostname = config_str("myhostname");
    smtpd_cfg.banner = config_str("smtpd_banner");
    smtpd_cfg.timeout_ms = (int) clamp(config_time("smtpd_timeout"), 1, 24 * 3600) * 1000;
    smtpd_cfg.recipient_limit = config_int("smtpd_recipient_limit");
    smtpd_cfg.soft_error_limit = config_int("smtpd_soft_error_limit");
    smtpd_cfg.hard_error_limit = clamp(config_int("smtpd_hard_error_limit"), 1, 1000000);
    smtpd_cfg.error_sleep = clamp(config_time("smtpd_error_sleep_time"), 0, 300);
    smtpd_cfg.junk_command_limit = config_int("smtpd_junk_command_limit");
    smtpd_cfg.helo_required = config_bool("smtpd_helo_required");
    smtpd_cfg.forbid_bare_newline = config_bool("smtpd_forbid_bare_newline");
    smtpd_cfg.disable_vrfy = config_bool("disable_vrfy_command");
    smtpd_cfg.reject_unlisted_recipient = config_bool("smtpd_reject_unlisted_recipient");
    code = config_int("unknown_local_recipient_reject_code");
    smtpd_cfg.unknown_local_code = code == 450 ? 450 : 550;
    /* Pieces of at least 64 bytes keep ".\r\n" in one piece (smtpd_dataline.h). */
    smtpd_cfg.line_limit = (size_t) clamp(config_size("line_length_limit"), 64, 1024 * 1024);
    smtpd_cfg.size_limit = (unsigned long long) config_size("message_size_limit");

    nets = config_list("mynetworks");
    smtpd_cfg.mynetworks = netmatch_parse(nets, &err);
    strv_free(nets);
    if (smtpd_cfg.mynetworks == NULL)
        msg_fatal("bad mynetworks setting: %s", err ? err : "parse error");
    smtpd_check_init();
    smtpd_auth_post_init();
    smtpd_spf_init();                       /* mailauth */
    smtpd_xclient_init();
    smtpd_anvil_init();                     /* abuse: limits, bans, pregreet */
    smtpd_pregreet_init();
    resolve_init();
}

static void smtpd_service(int fd)
{
    struct smtpd_state s;
    str counters;

    memset(&s, 0, sizeof(s));
    s.fd = fd;
    s.client = bio_open(fd, smtpd_cfg.timeout_ms);
    s.protocol = "SMTP";
    str_init(&s.helo_name);
    str_init(&s.sender);
    str_init(&s.rcpt);
    str_init(&s.line);
    str_init(&s.reply);
    str_init(&s.scratch);
    str_init(&s.check_reply);
    str_init(&s.tls_info);
    str_init(&s.sasl_username);
    smtpd_peer_init(&s);
    smtpd_xclient_connect(&s);
    msg_info("connect from %s", s.peer);
    metrics_inc(METRIC_SMTP_SESSIONS, 0);

    if (smtpd_anvil_connect(&s) < 0                /* banned or over a limit */
        || (!config_bool("smtpd_tls_wrappermode") && smtpd_pregreet(&s) < 0))
        smtpd_flush(&s);
    else if (!config_bool("smtpd_tls_wrappermode") || smtpd_tls_wrapper(&s) == 0)
        smtpd_proto_run(&s);

    smtpd_xact_reset(&s);              /* a transaction still open is never queued */
    smtpd_anvil_disconnect(&s);
    str_init(&counters);
    smtpd_proto_counters(&s, &counters);
    msg_info("disconnect from %s%s", s.peer, counters.data);
    str_free(&counters);
    smtpd_tls_end(&s);
    bio_free(s.client);
    str_free(&s.tls_info);
    str_free(&s.sasl_username);
    str_free(&s.helo_name);
    str_free(&s.sender);
    str_free(&s.rcpt);
    str_free(&s.line);
    str_free(&s.reply);
    str_free(&s.scratch);
    str_free(&s.check_reply);
}

int main(int argc, char **argv)
{
    static const struct server_ops ops = {
        .name = "smtpd",
        .pre_init = smtpd_pre_init,
        .post_init = smtpd_post_init,
        .service = smtpd_service,
    };

    server_main(argc, argv, &ops);
}
