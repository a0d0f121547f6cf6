/* params.c: every main.cf parameter postern knows, its type and compiled-in default.
 * Keep this table the single source of truth: config.c validates against it and
 * `postern config` prints it. Names follow Postfix where Postfix has the concept. */
#include "params.h"
#include <string.h>

const struct param_def param_table[] = {
    /* identity */
    { "myhostname", PARAM_STR, "localhost.localdomain", 0 },  /* replaced at load by gethostname() FQDN when unset */
    { "mydomain", PARAM_STR, "localdomain", 0 },              /* derived from myhostname when unset */
    { "myorigin", PARAM_STR, "$myhostname", 0 },
    { "mydestination", PARAM_LIST, "$myhostname, localhost.$mydomain, localhost", 0 },
    { "mynetworks", PARAM_LIST, "127.0.0.0/8 [::1]/128", 0 },
    { "inet_interfaces", PARAM_LIST, "all", 0 },
    { "inet_protocols", PARAM_LIST, "all", 0 },
    { "smtpd_banner", PARAM_STR, "$myhostname ESMTP $mail_name", 0 },
    { "mail_name", PARAM_STR, "postern", 0 },
    { "syslog_name", PARAM_STR, "postern", 0 },
    { "maillog_file", PARAM_STR, "", 0 },                      /* "" = syslog */

    /* locations and accounts */
    { "queue_directory", PARAM_STR, "/var/spool/postern", 0 },
    { "daemon_directory", PARAM_STR, "", 0 },                  /* "" = compiled-in libexec dir */
    { "command_directory", PARAM_STR, "", 0 },
    { "data_directory", PARAM_STR, "/var/lib/postern", 0 },
    { "mail_owner", PARAM_STR, "postern", 0 },
    { "default_privs", PARAM_STR, "nobody", 0 },

    /* master */
    { "default_process_limit", PARAM_INT, "100", 0 },
    { "max_use", PARAM_INT, "100", 0 },
    { "max_idle", PARAM_TIME, "100s", 's' },
    { "service_throttle_time", PARAM_TIME, "60s", 's' },
    { "ipc_timeout", PARAM_TIME, "3600s", 's' },
    { "daemon_timeout", PARAM_TIME, "18000s", 's' },

    /* smtpd */
    { "smtpd_timeout", PARAM_TIME, "300s", 's' },
    { "smtpd_recipient_limit", PARAM_INT, "1000", 0 },
    { "smtpd_soft_error_limit", PARAM_INT, "10", 0 },
    { "smtpd_hard_error_limit", PARAM_INT, "20", 0 },
    { "smtpd_error_sleep_time", PARAM_TIME, "1s", 's' },
    { "smtpd_junk_command_limit", PARAM_INT, "100", 0 },
    { "smtpd_helo_required", PARAM_BOOL, "no", 0 },
    { "smtpd_forbid_bare_newline", PARAM_BOOL, "yes", 0 },
    { "disable_vrfy_command", PARAM_BOOL, "no", 0 },
    { "line_length_limit", PARAM_SIZE, "2048", 0 },
    { "message_size_limit", PARAM_SIZE, "10240000", 0 },
    { "header_size_limit", PARAM_SIZE, "102400", 0 },
    { "smtpd_relay_restrictions", PARAM_LIST, "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination", 0 },
    { "smtpd_recipient_restrictions", PARAM_LIST, "", 0 },
    { "local_recipient_maps", PARAM_LIST, "unix:passwd.byname $alias_maps", 0 },
    { "smtpd_reject_unlisted_recipient", PARAM_BOOL, "yes", 0 },
    { "unknown_local_recipient_reject_code", PARAM_INT, "550", 0 },
    { "unknown_address_reject_code", PARAM_INT, "450", 0 },
    { "relay_domains", PARAM_LIST, "", 0 },
    { "relay_transport", PARAM_STR, "smtp", 0 },
    { "default_transport", PARAM_STR, "smtp", 0 },
    { "local_transport", PARAM_STR, "local", 0 },
    { "virtual_transport", PARAM_STR, "virtual", 0 },

    /* cleanup */
    { "cleanup_service_name", PARAM_STR, "cleanup", 0 },
    { "always_add_missing_headers", PARAM_BOOL, "no", 0 },
    { "header_address_token_limit", PARAM_INT, "10240", 0 },
    { "hopcount_limit", PARAM_INT, "50", 0 },
    { "in_flow_delay", PARAM_TIME, "1s", 's' },               /* 0 = no intake flow control */

    /* qmgr */
    { "queue_run_delay", PARAM_TIME, "300s", 's' },
    { "minimal_backoff_time", PARAM_TIME, "300s", 's' },
    { "maximal_backoff_time", PARAM_TIME, "4000s", 's' },
    { "maximal_queue_lifetime", PARAM_TIME, "5d", 'd' },
    { "bounce_queue_lifetime", PARAM_TIME, "5d", 'd' },
    { "qmgr_message_active_limit", PARAM_INT, "20000", 0 },
    { "qmgr_message_recipient_limit", PARAM_INT, "20000", 0 },
    { "default_destination_concurrency_limit", PARAM_INT, "20", 0 },
    { "initial_destination_concurrency", PARAM_INT, "5", 0 },
    { "default_destination_recipient_limit", PARAM_INT, "50", 0 },
    { "local_destination_concurrency_limit", PARAM_INT, "2", 0 },
    { "local_destination_recipient_limit", PARAM_INT, "1", 0 },
    { "delay_warning_time", PARAM_TIME, "0h", 'h' },

    /* local and virtual delivery */
    { "alias_maps", PARAM_LIST, "", 0 },
    { "alias_database", PARAM_LIST, "", 0 },
    { "home_mailbox", PARAM_STR, "", 0 },                     /* "Maildir/" for Maildir */
    { "mail_spool_directory", PARAM_STR, "/var/mail", 0 },
    { "virtual_mailbox_domains", PARAM_LIST, "", 0 },
    { "virtual_mailbox_maps", PARAM_LIST, "", 0 },
    { "virtual_mailbox_base", PARAM_STR, "", 0 },
    { "virtual_uid_maps", PARAM_LIST, "", 0 },
    { "virtual_gid_maps", PARAM_LIST, "", 0 },
    { "virtual_minimum_uid", PARAM_INT, "100", 0 },
    { "recipient_delimiter", PARAM_STR, "", 0 },
    { "local_delivery_timeout", PARAM_TIME, "1000s", 's' },
    { "propagate_unmatched_extensions", PARAM_LIST, "canonical, virtual", 0 },
    { "allow_mail_to_commands", PARAM_LIST, "alias, forward", 0 },
    { "allow_mail_to_files", PARAM_LIST, "alias, forward", 0 },
    { "command_time_limit", PARAM_TIME, "1000s", 's' },       /* "|command" alias targets */
    { "local_command_shell", PARAM_STR, "", 0 },               /* "" = /bin/sh -c */
    { "expand_owner_alias", PARAM_BOOL, "no", 0 },
    { "maildir_fsync", PARAM_BOOL, "yes", 0 },

    /* pickup (local submission) and the sendmail command */
    { "pickup_service_name", PARAM_STR, "pickup", 0 },
    { "pickup_timeout", PARAM_TIME, "300s", 's' },            /* per read from a sendmail client */

    /* DNS (lib/dns.c) */
    { "dns_servers", PARAM_LIST, "", 0 },                     /* IPv4 addr[:port]; "" = resolv.conf */
    { "dns_timeout", PARAM_TIME, "5s", 's' },                 /* per try */
    { "dns_retries", PARAM_INT, "2", 0 },
    { "smtpd_peername_lookup", PARAM_BOOL, "yes", 0 },        /* client name: /etc/hosts, FCrDNS */
    { "unknown_client_reject_code", PARAM_INT, "450", 0 },    /* reject_unknown_*client_hostname */

    /* smtp (the SMTP client delivery agent) */
    { "smtp_tcp_port", PARAM_STR, "25", 0 },                  /* port for MX/A hosts and [host] */
    { "smtp_connect_timeout", PARAM_TIME, "30s", 's' },
    { "smtp_helo_timeout", PARAM_TIME, "300s", 's' },
    { "smtp_mail_timeout", PARAM_TIME, "300s", 's' },
    { "smtp_rcpt_timeout", PARAM_TIME, "300s", 's' },
    { "smtp_data_init_timeout", PARAM_TIME, "120s", 's' },
    { "smtp_data_xfer_timeout", PARAM_TIME, "180s", 's' },
    { "smtp_data_done_timeout", PARAM_TIME, "600s", 's' },
    { "smtp_quit_timeout", PARAM_TIME, "300s", 's' },
    { "smtp_helo_name", PARAM_STR, "$myhostname", 0 },
    { "smtp_mx_address_limit", PARAM_INT, "5", 0 },          /* addresses tried per delivery */
    { "smtp_mx_session_limit", PARAM_INT, "2", 0 },          /* SMTP sessions per delivery */
    { "smtp_line_length_limit", PARAM_SIZE, "998", 0 },      /* longer lines are folded */
    { "smtp_connection_cache_on_demand", PARAM_BOOL, "yes", 0 },  /* reuse sessions */
    { "smtp_connection_cache_time_limit", PARAM_TIME, "2s", 's' },   /* idle session kept */
    { "smtp_connection_reuse_time_limit", PARAM_TIME, "300s", 's' },
    { "smtp_connection_reuse_count_limit", PARAM_INT, "0", 0 },   /* 0 = no limit */
    { "smtp_rset_timeout", PARAM_TIME, "20s", 's' },

    /* smtpd TLS (lib/tls.c, smtpd/smtpd_tls.c) */
    { "smtpd_tls_security_level", PARAM_STR, "none", 0 },      /* none | may | encrypt */
    { "smtpd_tls_wrappermode", PARAM_BOOL, "no", 0 },          /* yes: TLS from the start (465) */
    { "smtpd_tls_cert_file", PARAM_STR, "", 0 },               /* PEM: certificate + chain */
    { "smtpd_tls_key_file", PARAM_STR, "$smtpd_tls_cert_file", 0 },
    { "smtpd_tls_eccert_file", PARAM_STR, "", 0 },             /* optional ECDSA certificate */
    { "smtpd_tls_eckey_file", PARAM_STR, "$smtpd_tls_eccert_file", 0 },
    { "smtpd_tls_chain_files", PARAM_LIST, "", 0 },            /* PEM files: key + cert chain */
    { "smtpd_tls_protocols", PARAM_STR, ">=TLSv1.2", 0 },      /* at level may */
    { "smtpd_tls_mandatory_protocols", PARAM_STR, ">=TLSv1.2", 0 }, /* at level encrypt */
    { "smtpd_tls_ciphers", PARAM_STR, "medium", 0 },           /* grade: medium | high */
    { "smtpd_tls_mandatory_ciphers", PARAM_STR, "medium", 0 },
    { "smtpd_tls_exclude_ciphers", PARAM_LIST, "", 0 },
    { "tls_high_cipherlist", PARAM_STR, "aNULL:-aNULL:HIGH:@STRENGTH", 0 },
    { "tls_medium_cipherlist", PARAM_STR, "aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH", 0 },
    { "smtpd_tls_session_cache_timeout", PARAM_TIME, "3600s", 's' },
    { "smtpd_tls_ticket_key_file", PARAM_STR, "$queue_directory/pid/smtpd_tls_ticket.key", 0 },
    { "smtpd_tls_received_header", PARAM_BOOL, "yes", 0 },    /* TLS protocol/cipher in Received */
    { "smtpd_tls_loglevel", PARAM_INT, "1", 0 },

    /* smtpd SMTP AUTH (lib/passwd.c, smtpd/smtpd_auth.c, cmd/cmd_passwd.c) */
    { "smtpd_sasl_auth_enable", PARAM_BOOL, "no", 0 },
    { "smtpd_tls_auth_only", PARAM_BOOL, "yes", 0 },           /* AUTH only inside TLS */
    { "smtpd_sasl_password_maps", PARAM_LIST, "", 0 },         /* user -> crypt(3) hash */
    { "smtpd_sasl_failure_delay", PARAM_TIME, "1s", 's' },     /* before each 535 reply */
    { "smtpd_sasl_failure_limit", PARAM_INT, "5", 0 },         /* per client address ... */
    { "smtpd_sasl_failure_window", PARAM_TIME, "10m", 's' },   /* ... in this window; then AUTH
                                                                 * is refused until it ends */
    { "smtpd_sasl_user_failure_limit", PARAM_INT, "0", 0 },    /* per user name, any address;
                                                                 * 0 = off */
    { "smtpd_sasl_failure_state_file", PARAM_STR, "$queue_directory/pid/smtpd_sasl_failures", 0 },
    { "smtpd_sender_login_maps", PARAM_LIST, "", 0 },          /* sender address -> login(s) */
    { "smtpd_sender_restrictions", PARAM_LIST, "", 0 },

    /* content checks (cleanup/cleanup_checks.c) */
    { "header_checks", PARAM_LIST, "", 0 },                   /* regexp:/path, ... */
    { "body_checks", PARAM_LIST, "", 0 },


    /* mail authentication (lib/spf.c, lib/dkim.c, lib/dmarc.c, lib/authres.c, smtpd/smtpd_spf.c,
     * cleanup/cleanup_auth.c) */
    { "smtpd_spf_checks", PARAM_BOOL, "yes", 0 },              /* SPF at MAIL FROM / HELO */
    { "smtpd_spf_fail_action", PARAM_STR, "reject", 0 },       /* reject | record */
    { "smtpd_spf_reject_code", PARAM_INT, "550", 0 },
    { "smtpd_spf_temperror_action", PARAM_STR, "record", 0 },  /* defer | record */
    { "smtpd_spf_defer_code", PARAM_INT, "451", 0 },
    { "authserv_id", PARAM_STR, "$myhostname", 0 },            /* Authentication-Results id */
    { "dkim_verify", PARAM_BOOL, "yes", 0 },
    { "dkim_signing_maps", PARAM_LIST, "", 0 },                /* domain -> selector:keyfile */
    { "dkim_sign_headers", PARAM_LIST, "from, from, sender, reply-to, subject, date, message-id, to, cc, in-reply-to, references, mime-version, content-type, content-transfer-encoding, list-id, list-unsubscribe", 0 },
    { "dmarc_enable", PARAM_BOOL, "yes", 0 },
    { "dmarc_reject_action", PARAM_STR, "reject", 0 },         /* reject | quarantine */
    { "dmarc_quarantine_action", PARAM_STR, "header", 0 },     /* header | hold */
    { "dmarc_public_suffix_list", PARAM_STR, "/usr/share/publicsuffix/public_suffix_list.dat", 0 },
    { "dmarc_history_file", PARAM_STR, "$queue_directory/dmarc_history", 0 },                /* aggregate-report data */
    { "smtpd_authorized_xclient_hosts", PARAM_LIST, "", 0 },   /* XCLIENT: empty = nobody */

    /* routing and outbound TLS (lib/resolve.c, qmgr/qmgr_special.c, smtp/smtp_tls.c) */
    { "transport_maps", PARAM_LIST, "", 0 },                   /* address/domain -> transport:nexthop */
    { "relayhost", PARAM_STR, "", 0 },                         /* nexthop for relay/default mail */
    { "smtp_tls_security_level", PARAM_STR, "none", 0 },       /* none | may | encrypt | verify */
    { "smtp_tls_CAfile", PARAM_STR, "", 0 },
    { "smtp_tls_CApath", PARAM_STR, "", 0 },
    { "smtp_tls_policy_maps", PARAM_LIST, "", 0 },             /* destination -> level [match=...] */
    { "smtp_tls_protocols", PARAM_STR, ">=TLSv1.2", 0 },
    { "smtp_tls_ciphers", PARAM_STR, "", 0 },                  /* OpenSSL list, "" = default */
    { "smtp_tls_verify_cert_match", PARAM_STR, "hostname", 0 },

    /* non-delivery notifications (bounce/, qmgr/qmgr_bounce.c) */
    { "bounce_service_name", PARAM_STR, "bounce", 0 },        /* master.cf service */
    { "2bounce_notice_recipient", PARAM_STR, "postmaster", 0 }, /* gets double bounces */

    /* anti-abuse: anvil limits, bans, pregreet (anvil/, smtpd/smtpd_anvil.c ...) */
    { "anvil_rate_time_unit", PARAM_TIME, "60s", 's' },       /* window of the rate limits */
    { "anvil_ban_state_file", PARAM_STR, "$queue_directory/pid/anvil_bans", 0 },
    { "smtpd_client_connection_count_limit", PARAM_INT, "50", 0 }, /* 0 = no limit */
    { "smtpd_client_connection_rate_limit", PARAM_INT, "0", 0 },
    { "smtpd_client_message_rate_limit", PARAM_INT, "0", 0 },
    { "smtpd_client_recipient_rate_limit", PARAM_INT, "0", 0 },
    { "smtpd_sasl_user_message_rate_limit", PARAM_INT, "0", 0 },   /* per login name */
    { "smtpd_sasl_user_recipient_rate_limit", PARAM_INT, "0", 0 },
    { "smtpd_client_event_limit_exceptions", PARAM_LIST, "$mynetworks", 0 },
    { "smtpd_ban_threshold", PARAM_INT, "0", 0 },              /* abuse events; 0 = no bans */
    { "smtpd_ban_window", PARAM_TIME, "10m", 's' },
    { "smtpd_ban_time", PARAM_TIME, "1h", 's' },
    { "smtpd_pregreet_wait", PARAM_TIME, "0s", 's' },          /* 0 = no pregreet test */

    /* metrics (master's Prometheus endpoint) */
    { "metrics_listen", PARAM_STR, "", 0 },                    /* "" = off; host:port */

    { NULL, PARAM_STR, NULL, 0 }
};

const struct param_def *param_find(const char *name)
{
    for (const struct param_def *p = param_table; p->name; p++)
        if (strcmp(p->name, name) == 0)
            return p;
    return 0;
}
