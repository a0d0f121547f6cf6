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
    { "smtpd_relay_restrictions", PARAM_LIST, "permit_mynetworks, reject_unauth_destination", 0 },
    { "smtpd_recipient_restrictions", PARAM_LIST, "", 0 },
    { "local_recipient_maps", PARAM_LIST, "unix:passwd.byname $alias_maps", 0 },
    { "smtpd_reject_unlisted_recipient", PARAM_BOOL, "yes", 0 },
    { "unknown_local_recipient_reject_code", PARAM_INT, "550", 0 },
    { "relay_domains", PARAM_LIST, "", 0 },
    { "relay_transport", PARAM_STR, "smtp", 0 },
    { "default_transport", PARAM_STR, "smtp", 0 },
    { "local_transport", PARAM_STR, "local", 0 },
    { "virtual_transport", PARAM_STR, "local", 0 },

    /* cleanup */
    { "cleanup_service_name", PARAM_STR, "cleanup", 0 },
    { "always_add_missing_headers", PARAM_BOOL, "no", 0 },
    { "header_address_token_limit", PARAM_INT, "10240", 0 },
    { "hopcount_limit", PARAM_INT, "50", 0 },

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
    { "allow_mail_to_commands", PARAM_LIST, "", 0 },
    { "allow_mail_to_files", PARAM_LIST, "", 0 },
    { "expand_owner_alias", PARAM_BOOL, "no", 0 },
    { "maildir_fsync", PARAM_BOOL, "yes", 0 },

    { NULL, PARAM_STR, NULL, 0 }
};

const struct param_def *param_find(const char *name)
{
    for (const struct param_def *p = param_table; p->name; p++)
        if (strcmp(p->name, name) == 0)
            return p;
    return 0;
}
