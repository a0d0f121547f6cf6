/* smtpd_proto.c: the SMTP command loop of one session: read a command line, parse it
 * (smtpd_cmd.c), look the verb up in the command table, run its action, and keep the
 * per-command counters for the "disconnect from" log line. Also the simple commands
 * (HELO, EHLO, RSET, NOOP, QUIT, VRFY, HELP) and the EHLO keyword list.
 *
 * Extending: a new command is one row in smtpd_commands[]; a new EHLO keyword is one row
 * in ehlo_keywords[] (STARTTLS and AUTH go there, with an `enabled` test). */
#include <stdio.h>
#include <string.h>
#include "smtpd.h"
#include "smtpd_abuse.h"
#include "smtpd_cmd.h"
#include "addr.h"
#include "log.h"

/* ------------------------------------------------------------------ EHLO keywords */

struct ehlo_keyword {
    const char *name;
    int (*enabled)(const struct smtpd_state *s);   /* NULL = always */
    void (*args)(const struct smtpd_state *s, str *out); /* appends " args", may be NULL */
};

static int vrfy_enabled(const struct smtpd_state *s)
{
    (void) s;
    return !smtpd_cfg.disable_vrfy;
}

static void size_args(const struct smtpd_state *s, str *out)
{
    (void) s;
    if (smtpd_cfg.size_limit > 0)
        str_appendf(out, " %llu", smtpd_cfg.size_limit);
}

static const struct ehlo_keyword ehlo_keywords[] = {
    { "PIPELINING", NULL, NULL },
    { "SIZE", NULL, size_args },
    { "VRFY", vrfy_enabled, NULL },
    { "STARTTLS", smtpd_tls_offer, NULL },                 /* smtpd_tls.c */
    { "AUTH", smtpd_auth_offer, smtpd_auth_ehlo_args },    /* smtpd_auth.c */
    { "ENHANCEDSTATUSCODES", NULL, NULL },
    { "8BITMIME", NULL, NULL },
    { "XCLIENT", smtpd_xclient_offer, smtpd_xclient_ehlo_args }, /* smtpd_xclient.c */
    /* DSN, SMTPUTF8 and CHUNKING are not offered yet. */
};

/* ------------------------------------------------------------------ simple commands */

/* NOOP, RSET and VRFY past $smtpd_junk_command_limit count as errors, so a client
 * cannot keep a session open forever with them. */
static void count_junk(struct smtpd_state *s)
{
    if (++s->junk_commands > smtpd_cfg.junk_command_limit)
        s->error_count++;
}

/* HELO and EHLO; `kind` says which. */
static int helo_common(struct smtpd_state *s, char *args, int kind)
{
    const char *verb = kind == SMTPD_HELO_EHLO ? "EHLO" : "HELO";

    if (*args == 0) {
        smtpd_reply(s, "501 5.5.4 Syntax: %s hostname", verb);
        return -1;
    }
    if (!smtpd_helo_name_ok(args)) {
        smtpd_reply(s, "501 5.5.2 %.64s: Helo command rejected: Invalid name", args);
        return -1;
    }
    smtpd_xact_reset(s);               /* EHLO/HELO imply RSET (RFC 5321 4.1.4) */
    str_set(&s->helo_name, args);
    s->helo_kind = kind;
    s->protocol = smtpd_protocol_name(s);
    return 0;
}

static int cmd_helo(struct smtpd_state *s, char *args)
{
    if (helo_common(s, args, SMTPD_HELO_HELO) < 0)
        return -1;
    smtpd_reply(s, "250 %s", smtpd_cfg.myhostname);
    return 0;
}

static int cmd_ehlo(struct smtpd_state *s, char *args)
{
    size_t i, n = sizeof(ehlo_keywords) / sizeof(ehlo_keywords[0]);

    if (helo_common(s, args, SMTPD_HELO_EHLO) < 0)
        return -1;
    str_reset(&s->reply);
    str_appendf(&s->reply, "250-%s", smtpd_cfg.myhostname);
    for (i = 0; i < n; i++) {
        const struct ehlo_keyword *k = &ehlo_keywords[i];
        if (k->enabled != NULL && !k->enabled(s))
            continue;
        str_appendf(&s->reply, "\r\n250-%s", k->name);
        if (k->args != NULL)
            k->args(s, &s->reply);
    }
    /* The last line uses "250 " instead of "250-". */
    {
        char *last = strrchr(s->reply.data, '\n');
        char *dash = last != NULL ? last + 4 : s->reply.data + 3;
        *dash = ' ';
    }
    smtpd_reply_raw(s, s->reply.data, s->reply.len);
    return 0;
}

static int cmd_rset(struct smtpd_state *s, char *args)
{
    count_junk(s);
    if (*args) {
        smtpd_reply(s, "501 5.5.4 Syntax: RSET");
        return -1;
    }
    smtpd_xact_reset(s);
    smtpd_reply(s, "250 2.0.0 Ok");
    return 0;
}

static int cmd_noop(struct smtpd_state *s, char *args)
{
    (void) args;
    count_junk(s);
    smtpd_reply(s, "250 2.0.0 Ok");
    return 0;
}

static int cmd_quit(struct smtpd_state *s, char *args)
{
    (void) args;
    smtpd_reply(s, "221 2.0.0 Bye");
    s->quit = 1;
    return 0;
}

static int cmd_vrfy(struct smtpd_state *s, char *args)
{
    const char *params = "", *err = NULL;

    count_junk(s);
    if (smtpd_cfg.disable_vrfy) {
        smtpd_reply(s, "502 5.5.1 VRFY command is disabled");
        return -1;
    }
    if (smtpd_cfg.helo_required && s->helo_kind == SMTPD_HELO_NONE) {
        smtpd_reply(s, "503 5.5.1 Error: send HELO/EHLO first");
        return -1;
    }
    if (*args == 0) {
        smtpd_reply(s, "501 5.5.4 Syntax: VRFY address");
        return -1;
    }
    if (addr_parse_path(args, strlen(args), ADDR_ALLOW_NOBRACKETS | ADDR_ALLOW_NODOMAIN,
                        &s->rcpt, &params, &err) < 0 || s->rcpt.len == 0
        || (params != NULL && *params != 0)) {
        smtpd_reply(s, "501 5.1.3 Bad recipient address syntax");
        return -1;
    }
    smtpd_reply(s, "252 2.0.0 <%s>", s->rcpt.data);
    return 0;
}

static int cmd_help(struct smtpd_state *s, char *args)
{
    (void) args;
    smtpd_reply(s, "214 2.0.0 Commands: HELO EHLO STARTTLS AUTH MAIL RCPT DATA RSET NOOP QUIT "
                "VRFY HELP");
    return 0;
}

static int cmd_not_implemented(struct smtpd_state *s, char *args)
{
    (void) args;
    smtpd_reply(s, "502 5.5.1 Error: command not implemented");
    return -1;
}

/* ------------------------------------------------------------------ command table */

struct smtpd_command {
    const char *verb;                  /* upper case; also the counter name (lower case) */
    int (*action)(struct smtpd_state *s, char *args);
};

/* Order = order of the counters in the "disconnect from" line. */
static const struct smtpd_command smtpd_commands[] = {
    { "HELO", cmd_helo },
    { "EHLO", cmd_ehlo },
    { "STARTTLS", smtpd_cmd_starttls },
    { "AUTH", smtpd_cmd_auth },
    { "MAIL", smtpd_cmd_mail },
    { "RCPT", smtpd_cmd_rcpt },
    { "DATA", smtpd_cmd_data },
    { "BDAT", cmd_not_implemented },
    { "RSET", cmd_rset },
    { "NOOP", cmd_noop },
    { "VRFY", cmd_vrfy },
    { "ETRN", cmd_not_implemented },
    { "HELP", cmd_help },
    { "QUIT", cmd_quit },
    { "XCLIENT", smtpd_cmd_xclient },
};
#define SMTPD_NCOMMANDS (sizeof(smtpd_commands) / sizeof(smtpd_commands[0]))
#define SMTPD_UNKNOWN_SLOT SMTPD_NCOMMANDS /* counter for unknown/bad lines */

_Static_assert(SMTPD_NCOMMANDS + 1 <= SMTPD_NCOUNTERS, "raise SMTPD_NCOUNTERS");

/* With $smtpd_tls_security_level = encrypt, only these work before STARTTLS. */
static int allowed_before_tls(const char *verb)
{
    static const char *const ok[] = { "HELO", "EHLO", "STARTTLS", "NOOP", "RSET", "QUIT",
                                      NULL };
    for (size_t i = 0; ok[i]; i++)
        if (strcmp(verb, ok[i]) == 0)
            return 1;
    return 0;
}

static void count(struct smtpd_state *s, size_t slot, int ok)
{
    s->cmd_total[slot]++;
    if (ok)
        s->cmd_ok[slot]++;
}

void smtpd_proto_counters(const struct smtpd_state *s, str *out)
{
    unsigned ok = 0, total = 0;
    size_t i;
    char name[SMTPD_VERB_MAX + 1];

    for (i = 0; i <= SMTPD_NCOMMANDS; i++) {
        const char *verb = i < SMTPD_NCOMMANDS ? smtpd_commands[i].verb : "UNKNOWN";
        size_t k;
        if (s->cmd_total[i] == 0)
            continue;
        for (k = 0; verb[k] && k < SMTPD_VERB_MAX; k++)
            name[k] = (char) (verb[k] | 0x20);
        name[k] = 0;
        if (s->cmd_ok[i] == s->cmd_total[i])
            str_appendf(out, " %s=%u", name, s->cmd_total[i]);
        else
            str_appendf(out, " %s=%u/%u", name, s->cmd_ok[i], s->cmd_total[i]);
        ok += s->cmd_ok[i];
        total += s->cmd_total[i];
    }
    if (ok == total)
        str_appendf(out, " commands=%u", total);
    else
        str_appendf(out, " commands=%u/%u", ok, total);
}

void smtpd_proto_io_failure(struct smtpd_state *s)
{
    if (bio_error(s->client) == BIO_TIMEOUT) {
        msg_info("timeout after %s from %s", s->where, s->peer);
        if (s->client->wlen > 0)
            return;                     /* the client does not even read: just go */
        /* Clear the read timeout so the 421 can still be written, with a short write
         * timeout. */
        bio_clear_timeout(s->client);
        bio_set_timeout(s->client, 10 * 1000);
        bio_printf(s->client, "421 4.4.2 %s Error: timeout exceeded\r\n",
                   smtpd_cfg.myhostname);
        bio_flush(s->client);
        s->client->err = BIO_TIMEOUT;
    } else {
        msg_info("lost connection after %s from %s", s->where, s->peer);
    }
}

/* Discard the rest of an over-long command line, at most a bounded amount. */
static int discard_rest_of_line(struct smtpd_state *s)
{
    size_t budget = 64 * smtpd_cfg.line_limit;
    int complete = 0;

    while (!complete) {
        if (bio_getline(s->client, &s->line, smtpd_cfg.line_limit, &complete) < 0)
            return -1;
        if (s->line.len >= budget)
            return -1;
        budget -= s->line.len;
    }
    return 0;
}

void smtpd_proto_run(struct smtpd_state *s)
{
    struct smtpd_cmd cmd;
    size_t i;
    int complete;

    s->where = "CONNECT";
    smtpd_reply(s, "220 %s", smtpd_cfg.banner);
    while (!s->quit) {
        if (s->error_count >= smtpd_cfg.hard_error_limit) {
            msg_info("too many errors after %s from %s", s->where, s->peer);
            smtpd_anvil_abuse(s, "too many errors");
            smtpd_reply(s, "421 4.7.0 %s Error: too many errors", smtpd_cfg.myhostname);
            break;
        }
        if (bio_pending(s->client) == 0 && smtpd_flush(s) < 0)
            break;
        if (bio_getline(s->client, &s->line, smtpd_cfg.line_limit, &complete) < 0) {
            smtpd_proto_io_failure(s);
            break;
        }
        if (!complete) {
            if (s->line.len < smtpd_cfg.line_limit) {  /* unterminated line, then EOF */
                smtpd_proto_io_failure(s);
                break;
            }
            count(s, SMTPD_UNKNOWN_SLOT, 0);
            if (discard_rest_of_line(s) < 0) {
                smtpd_proto_io_failure(s);
                break;
            }
            smtpd_reply(s, "500 5.5.0 Error: line too long");
            continue;
        }
        switch (smtpd_cmd_parse(s->line.data, s->line.len, &cmd)) {
        case SMTPD_CMD_EMPTY:
            count(s, SMTPD_UNKNOWN_SLOT, 0);
            smtpd_reply(s, "500 5.5.2 Error: bad syntax");
            continue;
        case SMTPD_CMD_BAD_CHAR:
            count(s, SMTPD_UNKNOWN_SLOT, 0);
            smtpd_reply(s, "500 5.5.2 Error: bad syntax");
            continue;
        case SMTPD_CMD_OK:
            break;
        }
        for (i = 0; i < SMTPD_NCOMMANDS; i++)
            if (strcmp(cmd.verb, smtpd_commands[i].verb) == 0)
                break;
        if (i == SMTPD_NCOMMANDS) {
            s->where = "UNKNOWN";
            count(s, SMTPD_UNKNOWN_SLOT, 0);
            smtpd_reply(s, "502 5.5.2 Error: command not recognized");
            continue;
        }
        s->where = smtpd_commands[i].verb;
        if (smtpd_tls_required(s) && !allowed_before_tls(cmd.verb)) {
            count(s, i, 0);
            smtpd_reply(s, "530 5.7.0 Must issue a STARTTLS command first");
            continue;
        }
        count(s, i, smtpd_commands[i].action(s, cmd.args) == 0);
        if (bio_error(s->client) != BIO_OK) {   /* lost the client inside DATA */
            smtpd_proto_io_failure(s);
            break;
        }
    }
    smtpd_flush(s);
}
