/* smtpd_data.c: the DATA command. Reads the message with bio_getline() in pieces of at
 * most $line_length_limit bytes, runs each piece through the line state machine
 * (smtpd_dataline.c: end-of-data detection, dot-unstuffing, bare CR/LF detection) and
 * streams the content to cleanup without per-line allocation. A message with a bare
 * CR/LF or over $message_size_limit is read to its real end and then discarded, so
 * nothing the client sent inside it can ever start a second message. The 250 reply is
 * given only after cleanup said the queue file is safely on disk. */
#include <string.h>
#include "smtpd.h"
#include "smtpd_dataline.h"
#include "log.h"

enum data_verdict { DATA_OK, DATA_BARE_LF, DATA_BARE_CR, DATA_TOO_BIG };

/* Check a DSN code from cleanup: "C.x.y" with digits and C == class. */
static int dsn_ok(const char *dsn, char class)
{
    size_t i, parts = 1, digits = 0;

    if (dsn[0] != class || dsn[1] != '.')
        return 0;
    for (i = 2; dsn[i]; i++) {
        if (dsn[i] == '.') {
            if (digits == 0 || ++parts > 2)
                return 0;
            digits = 0;
        } else if (dsn[i] >= '0' && dsn[i] <= '9') {
            if (++digits > 3)
                return 0;
        } else {
            return 0;
        }
    }
    return parts == 2 && digits > 0;
}

/* Reply with cleanup's verdict (status 4/5, dsn and reason are untrusted text). */
static void reply_cleanup_failure(struct smtpd_state *s, struct submit_result *res)
{
    const char *reason = res->reason.len ? res->reason.data : "Error: queue file write error";
    char dsn[sizeof(res->dsn)];

    memcpy(dsn, res->dsn, sizeof(dsn));
    dsn[sizeof(dsn) - 1] = 0;
    if (res->status == 5) {
        if (!dsn_ok(dsn, '5'))
            strcpy(dsn, "5.3.0");
        smtpd_reject(s, "END-OF-MESSAGE", NULL, "%s %s %.300s",
                     strcmp(dsn, "5.3.4") == 0 ? "552"
                     : strcmp(dsn, "5.7.1") == 0 ? "550" : "554", dsn, reason);  /* 5.7.1: DMARC */
    } else {
        if (!dsn_ok(dsn, '4'))
            strcpy(dsn, "4.3.0");
        smtpd_reject(s, "END-OF-MESSAGE", NULL, "451 %s %.300s", dsn, reason);
    }
}

int smtpd_cmd_data(struct smtpd_state *s, char *args)
{
    struct smtpd_dataline dl;
    struct smtpd_dataline_out out;
    struct submit_result res;
    enum data_verdict verdict = DATA_OK;
    int complete, rc;

    if (*args) {
        smtpd_reply(s, "501 5.5.4 Syntax: DATA");
        return -1;
    }
    if (!s->in_mail) {
        smtpd_reply(s, "503 5.5.1 Error: need MAIL command");
        return -1;
    }
    if (s->rcpt_count == 0 || s->sub == NULL) {
        if (s->rcpt_attempts == 0)
            smtpd_reply(s, "503 5.5.1 Error: need RCPT command");
        else
            smtpd_reply(s, "554 5.5.1 Error: no valid recipients");
        return -1;
    }
    smtpd_reply(s, "354 End data with <CR><LF>.<CR><LF>");
    if (smtpd_flush(s) < 0)
        return -1;                      /* the command loop notices the I/O error */
    submit_begin_content(s->sub);

    smtpd_dataline_init(&dl);
    for (;;) {
        if (bio_getline(s->client, &s->line, smtpd_cfg.line_limit, &complete) < 0) {
            smtpd_xact_reset(s);        /* nothing is queued */
            return -1;
        }
        if (smtpd_dataline_feed(&dl, s->line.data, s->line.len, complete, &out)
            == SMTPD_DATALINE_END)
            break;
        if (verdict != DATA_OK)
            continue;                   /* read to the real end, pass nothing on */
        if (smtpd_cfg.forbid_bare_newline && (dl.bare_lf || dl.bare_cr)) {
            verdict = dl.bare_lf ? DATA_BARE_LF : DATA_BARE_CR;
            continue;
        }
        if (smtpd_cfg.size_limit > 0 && dl.bytes > smtpd_cfg.size_limit) {
            verdict = DATA_TOO_BIG;
            continue;
        }
        if (out.cr_first)
            submit_line(s->sub, "\r", 1, 0);
        if (out.len > 0 || out.complete)
            submit_line(s->sub, out.data, out.len, out.complete);
    }
    s->where = "END-OF-MESSAGE";

    switch (verdict) {
    case DATA_BARE_LF:
    case DATA_BARE_CR:
        smtpd_reject(s, "END-OF-MESSAGE", NULL, "550 5.5.2 Error: bare <%s> received",
                     verdict == DATA_BARE_LF ? "LF" : "CR");
        smtpd_xact_reset(s);
        return -1;
    case DATA_TOO_BIG:
        smtpd_reject(s, "END-OF-MESSAGE", NULL, "552 5.3.4 Error: message file too big");
        smtpd_xact_reset(s);
        return -1;
    case DATA_OK:
        break;
    }

    rc = submit_finish(s->sub, &res);
    s->sub = NULL;                      /* submit_finish freed it and set up res */
    if (rc == 0) {
        smtpd_reply(s, "250 2.0.0 Ok: queued as %s", s->queue_id);
    } else {
        reply_cleanup_failure(s, &res);
    }
    submit_result_free(&res);
    smtpd_xact_reset(s);
    return rc == 0 ? 0 : -1;
}
