/* smtpd_reply.c: how smtpd answers. Replies are appended to the client's bio write
 * buffer and leave the process only when the command loop flushes (when no more
 * pipelined input is buffered, or before smtpd blocks), so a pipelined transaction costs
 * one write. Error replies are counted here for $smtpd_soft_error_limit and
 * $smtpd_hard_error_limit. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "smtpd.h"
#include "log.h"
#include "metrics.h"

#define SMTPD_REPLY_MAX 512            /* RFC 5321 4.5.3.1.5: reply line incl. CRLF */

static int is_error_reply(const char *text)
{
    return (text[0] == '4' || text[0] == '5') && strncmp(text, "421", 3) != 0;
}

/* Count an error reply and, past the soft limit, slow the client down. */
static void count_error(struct smtpd_state *s)
{
    if (s->error_count >= smtpd_cfg.soft_error_limit && smtpd_cfg.error_sleep > 0) {
        smtpd_flush(s);
        sleep((unsigned) smtpd_cfg.error_sleep);
    }
    s->error_count++;
}

void smtpd_reply_raw(struct smtpd_state *s, const char *text, size_t len)
{
    if (len > 0 && is_error_reply(text))
        count_error(s);
    bio_write(s->client, text, len);
    bio_write(s->client, "\r\n", 2);
}

/* Format into s->reply: printable ASCII only, bounded to one reply line. */
static void format_reply(struct smtpd_state *s, const char *fmt, va_list ap)
{
    size_t i;

    str_reset(&s->reply);
    str_vappendf(&s->reply, fmt, ap);
    if (s->reply.len > SMTPD_REPLY_MAX - 2)
        str_truncate(&s->reply, SMTPD_REPLY_MAX - 2);
    for (i = 0; i < s->reply.len; i++) {
        unsigned char c = (unsigned char) s->reply.data[i];
        if (c < ' ' || c >= 0x7f)
            s->reply.data[i] = '?';
    }
}

void smtpd_reply(struct smtpd_state *s, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    format_reply(s, fmt, ap);
    va_end(ap);
    smtpd_reply_raw(s, s->reply.data, s->reply.len);
}

const char *smtpd_log_id(const struct smtpd_state *s)
{
    return s->queue_id[0] ? s->queue_id : "NOQUEUE";
}

void smtpd_reject(struct smtpd_state *s, const char *cmd, const char *to,
                  const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    format_reply(s, fmt, ap);
    va_end(ap);
    str_reset(&s->scratch);
    if (to != NULL)
        str_appendf(&s->scratch, " to=<%s>", to);
    msg_info("%s: reject: %s from %s: %s; from=<%s>%s proto=%s helo=<%s>",
             smtpd_log_id(s), cmd, s->peer, s->reply.data,
             s->in_mail ? s->sender.data : "", s->scratch.data,
             s->protocol, s->helo_name.data);
    metrics_reject(atoi(s->reply.data), cmd, s->reply.data);
    smtpd_reply_raw(s, s->reply.data, s->reply.len);
}

int smtpd_flush(struct smtpd_state *s)
{
    return bio_flush(s->client);
}
