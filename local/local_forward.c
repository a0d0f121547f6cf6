/* local_forward.c: forward a message to the non-local targets of one alias by submitting
 * a new message to cleanup (lib/submit.h): same envelope sender, one recipient per
 * target, original recipient kept for DSN, and a "Delivered-To: ALIAS" header in front
 * of the content so that a forwarding loop is noticed when the mail comes back. */
#include "local.h"
#include <stdio.h>
#include <string.h>
#include "log.h"
#include "submit.h"

void local_forward(struct deliver_msg *m, const char *alias_addr, char **targets, int ntargets,
                   const char *orig, struct deliver_result *r)
{
    struct submit_result result;
    qfile_reader reader;
    const char *err = NULL;
    char newid[64];
    submit *s;
    str line;
    int rc;

    if (local_check_loop(m, alias_addr, r) != 0)
        return;
    if (qfile_content_open(&reader, m->fd, m->env.content_offset) < 0) {
        deliver_result_set(r, DELIVER_DEFER, "4.3.0", "cannot read queue file");
        return;
    }
    if ((s = submit_open(0, &err)) == NULL) {
        qfile_content_close(&reader);
        deliver_result_set(r, DELIVER_DEFER, "4.3.0", "cannot forward: %s",
                           err ? err : "cleanup service unavailable");
        return;
    }
    snprintf(newid, sizeof(newid), "%s", submit_queue_id(s));
    submit_attr(s, "log_ident", m->queue_id);
    submit_sender(s, m->env.sender);
    for (int i = 0; i < ntargets; i++)
        submit_rcpt(s, targets[i], orig);
    submit_begin_content(s);
    str_init(&line);
    deliver_printable(&line, alias_addr, 0);
    {
        str hdr;
        str_init(&hdr);
        str_printf(&hdr, "Delivered-To: %s", line.data);
        submit_line(s, hdr.data, hdr.len, 1);
        str_free(&hdr);
    }
    while ((rc = qfile_next_line(&reader, &line, m->line_max, &err)) == 1)
        submit_line(s, line.data, line.len, 1);
    qfile_content_close(&reader);
    str_free(&line);
    if (rc < 0) {
        submit_abort(s);
        deliver_result_set(r, DELIVER_DEFER, "4.3.0", "error reading queue file: %s",
                           err ? err : "unknown error");
        return;
    }
    memset(&result, 0, sizeof(result));
    rc = submit_finish(s, &result);
    if (rc == 0)
        deliver_result_set(r, DELIVER_SENT, "2.0.0", "forwarded as %s", newid);
    else
        deliver_result_set(r, rc == 5 ? DELIVER_BOUNCE : DELIVER_DEFER,
                           rc == 5 ? "5.3.0" : "4.3.0", "cannot forward: %s",
                           result.reason.data ? result.reason.data : "");
    submit_result_free(&result);
}
