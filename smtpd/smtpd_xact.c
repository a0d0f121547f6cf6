/* smtpd_xact.c: the mail transaction's connection to cleanup (lib/submit.h). The cleanup
 * transaction is opened lazily, at the first accepted recipient, so sessions whose
 * recipients are all rejected never cost a queue file. Opening it sends the client
 * attributes (docs/PROTOCOLS.md section 1) and the sender. */
#include <ctype.h>
#include <string.h>
#include "smtpd.h"
#include "smtpd_spf.h"
#include "log.h"

/* The queue id comes from another process: accept only a short alphanumeric string. */
static int queue_id_ok(const char *id)
{
    size_t n = 0;

    if (id == NULL)
        return 0;
    for (; *id; id++)
        if (!isalnum((unsigned char) *id) || ++n > SMTPD_QUEUE_ID_MAX)
            return 0;
    return n > 0;
}

int smtpd_xact_open(struct smtpd_state *s)
{
    const char *err = NULL;
    const char *id;

    if (s->sub != NULL)
        return 0;
    s->sub = submit_open(0, &err);
    if (s->sub == NULL) {
        msg_warn("connect to cleanup service: %s", err ? err : "unknown error");
        return -1;
    }
    id = submit_queue_id(s->sub);
    if (!queue_id_ok(id)) {
        msg_warn("cleanup service sent a malformed queue id");
        submit_abort(s->sub);
        s->sub = NULL;
        return -1;
    }
    memcpy(s->queue_id, id, strlen(id) + 1);
    if (s->sasl_username.len > 0)
        msg_info("%s: client=%s, sasl_method=%s, sasl_username=%s", s->queue_id, s->peer,
                 s->sasl_method ? s->sasl_method : "?", s->sasl_username.data);
    else
        msg_info("%s: client=%s", s->queue_id, s->peer);
    submit_attr(s->sub, "client_name", s->name);
    submit_attr(s->sub, "client_addr", s->addr);
    submit_attr(s->sub, "client_port", s->port);
    if (s->helo_kind != SMTPD_HELO_NONE)
        submit_attr(s->sub, "helo_name", s->helo_name.data);
    submit_attr(s->sub, "protocol", s->protocol);
    if (s->tls_info.len > 0)
        submit_attr(s->sub, "tls_info", s->tls_info.data);
    if (s->sasl_username.len > 0)
        submit_attr(s->sub, "sasl_username", s->sasl_username.data);
    smtpd_spf_attrs(s);                 /* mailauth: SPF result for cleanup */
    submit_sender(s->sub, s->sender.data);
    return 0;
}

void smtpd_xact_reset(struct smtpd_state *s)
{
    if (s->sub != NULL) {
        submit_abort(s->sub);
        s->sub = NULL;
    }
    s->queue_id[0] = 0;
    s->in_mail = 0;
    str_reset(&s->sender);
    s->rcpt_attempts = 0;
    s->rcpt_count = 0;
}
