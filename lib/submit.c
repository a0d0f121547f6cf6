/* submit.c: the client side of the cleanup protocol (docs/PROTOCOLS.md section 1;
 * contract in submit.h). Connects to private/$cleanup_service_name, checks the
 * protocol=cleanup greeting and the queue ID, sends the flags list, then buffers
 * A/F/O/R/M/N/L records (lib/record.h) and finally X and E, and reads cleanup's verdict.
 * Errors are sticky: after the first failure every call is a no-op and submit_finish()
 * reports status 4. submit_finish() initializes *result itself (no prior init needed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "attr.h"
#include "bio.h"
#include "config.h"
#include "ipc.h"
#include "log.h"
#include "mem.h"
#include "queue.h"
#include "record.h"
#include "submit.h"

#define SUBMIT_CONNECT_TIMEOUT_MS 10000
#define SUBMIT_PIECE_MAX (REC_MAX_LEN - 1)     /* largest N/L record we send */

struct submit {
    int fd;
    bio *b;
    int failed;                 /* sticky: a write failed */
    int in_content;             /* submit_begin_content() was called */
    char queue_id[QUEUE_ID_MAX];
};

static int submit_timeout_ms(void)
{
    long t = config_time("ipc_timeout");

    return (t <= 0 || t > 86400) ? 86400 * 1000 : (int)(t * 1000);
}

static void submit_close(submit *s)
{
    if (s->b)
        bio_free(s->b);
    if (s->fd >= 0)
        close(s->fd);
    free(s);
}

submit *submit_open(int flags, const char **err)
{
    submit *s = xcalloc(1, sizeof(*s));
    attr_list l;
    const char *why = NULL, *id;

    s->fd = ipc_connect("private", config_str("cleanup_service_name"),
                        SUBMIT_CONNECT_TIMEOUT_MS);
    if (s->fd < 0) {
        *err = "cannot connect to the cleanup service";
        free(s);
        return NULL;
    }
    /* A live cleanup greets at once; the connection only waits in the listen queue when
     * no cleanup process can be started (e.g. the service is throttled after start-up
     * failures). Do not hold the submitter (an SMTP client) for $ipc_timeout then. */
    s->b = bio_open(s->fd, SUBMIT_CONNECT_TIMEOUT_MS);
    if (attr_expect_protocol(s->b, "cleanup", &why) < 0) {
        *err = bio_error(s->b) == BIO_TIMEOUT ? "cleanup service not responding"
                                              : "cleanup service protocol error (greeting)";
        submit_close(s);
        return NULL;
    }
    bio_set_timeout(s->b, submit_timeout_ms());
    attr_init(&l);
    if (attr_read(s->b, &l, &why) < 0 || l.count != 1
        || (id = attr_get(&l, "queue_id")) == NULL || !queue_id_valid(id)
        || strlen(id) >= sizeof(s->queue_id)) {
        *err = "cleanup service protocol error (queue_id)";
        attr_free(&l);
        submit_close(s);
        return NULL;
    }
    snprintf(s->queue_id, sizeof(s->queue_id), "%s", id);
    attr_clear(&l);
    attr_add_long(&l, "flags", flags);
    if (attr_write(s->b, &l) < 0) {
        *err = "cannot send to the cleanup service";
        attr_free(&l);
        submit_close(s);
        return NULL;
    }
    attr_free(&l);
    return s;
}

const char *submit_queue_id(const submit *s)
{
    return s->queue_id;
}

static void put(submit *s, int type, const void *data, size_t len)
{
    if (!s->failed && rec_put(s->b, type, data, len) < 0)
        s->failed = 1;
}

void submit_attr(submit *s, const char *name, const char *value)
{
    str rec;

    str_init(&rec);
    str_appends(&rec, name);
    str_putc(&rec, '=');
    str_appends(&rec, value ? value : "");
    put(s, REC_ATTR, rec.data, rec.len);
    str_free(&rec);
}

void submit_sender(submit *s, const char *sender)
{
    put(s, REC_FROM, sender ? sender : "", sender ? strlen(sender) : 0);
}

void submit_rcpt(submit *s, const char *rcpt, const char *orig_rcpt)
{
    if (orig_rcpt && *orig_rcpt)
        put(s, REC_ORCPT, orig_rcpt, strlen(orig_rcpt));
    put(s, REC_RCPT, rcpt, strlen(rcpt));
}

void submit_begin_content(submit *s)
{
    s->in_content = 1;
    put(s, REC_MESG, "", 0);
}

void submit_line(submit *s, const char *data, size_t len, int complete)
{
    /* Pieces too long for one record go as L records; the last piece of a complete
     * line is N. An empty partial piece carries nothing and is not sent. */
    while (len > SUBMIT_PIECE_MAX) {
        put(s, REC_CONT, data, SUBMIT_PIECE_MAX);
        data += SUBMIT_PIECE_MAX;
        len -= SUBMIT_PIECE_MAX;
    }
    if (complete)
        put(s, REC_NORM, data, len);
    else if (len > 0)
        put(s, REC_CONT, data, len);
}

static int result_fail(struct submit_result *r, int status, const char *dsn, const char *reason)
{
    r->status = status;
    snprintf(r->dsn, sizeof(r->dsn), "%s", dsn);
    str_set(&r->reason, reason);
    return status;
}

/* Is the dsn "C.x.y" with class C matching the status? */
static int dsn_valid(const char *dsn, int status)
{
    size_t n = strlen(dsn);

    if (n < 5 || n > 11 || dsn[0] != '0' + status || dsn[1] != '.')
        return 0;
    for (size_t i = 2; i < n; i++)
        if (!(dsn[i] == '.' || (dsn[i] >= '0' && dsn[i] <= '9')))
            return 0;
    return 1;
}

static int reason_valid(const char *r, size_t len)
{
    if (len > 512)
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)r[i] < 0x20 || r[i] == 0x7f)
            return 0;
    return 1;
}

int submit_finish(submit *s, struct submit_result *result)
{
    attr_list l;
    const char *why = NULL, *v;
    const struct attr *reason;
    long status;
    int rc;

    memset(result, 0, sizeof(*result));
    str_init(&result->reason);
    if (!s->in_content)
        put(s, REC_MESG, "", 0);
    put(s, REC_XTRA, "", 0);
    put(s, REC_END, "", 0);
    if (s->failed || bio_flush(s->b) < 0) {
        msg_warn("%s: cannot send message to cleanup service: %s", s->queue_id,
                 bio_strerror(s->b));
        submit_close(s);
        return result_fail(result, 4, "4.3.0", "cleanup service unavailable");
    }
    attr_init(&l);
    if (attr_read(s->b, &l, &why) < 0) {
        msg_warn("%s: no reply from cleanup service: %s", s->queue_id,
                 bio_error(s->b) != BIO_OK ? bio_strerror(s->b) : why ? why : "malformed");
        rc = result_fail(result, 4, "4.3.0", "cleanup service unavailable");
        goto out;
    }
    /* Only known attributes; status required; dsn and reason required when not 0. */
    for (int i = 0; i < l.count; i++) {
        const char *n = l.items[i].name;
        if (strcmp(n, "status") && strcmp(n, "queue_id") && strcmp(n, "dsn")
            && strcmp(n, "reason")) {
            rc = result_fail(result, 4, "4.3.0", "cleanup service protocol error");
            msg_warn("%s: unexpected attribute %s from cleanup service", s->queue_id, n);
            goto out;
        }
    }
    if (attr_get_long(&l, "status", &status) < 0 || (status != 0 && status != 4 && status != 5)) {
        msg_warn("%s: bad status from cleanup service", s->queue_id);
        rc = result_fail(result, 4, "4.3.0", "cleanup service protocol error");
        goto out;
    }
    if (status == 0) {
        v = attr_get(&l, "queue_id");
        if (v == NULL || strcmp(v, s->queue_id) != 0) {
            msg_warn("%s: cleanup service confirmed a different queue ID", s->queue_id);
            rc = result_fail(result, 4, "4.3.0", "cleanup service protocol error");
            goto out;
        }
        rc = result_fail(result, 0, "2.0.0", "");
        goto out;
    }
    v = attr_get(&l, "dsn");
    reason = attr_find(&l, "reason");
    if (v == NULL || !dsn_valid(v, (int)status) || reason == NULL
        || !reason_valid(reason->value, reason->vlen)) {
        msg_warn("%s: bad dsn or reason from cleanup service", s->queue_id);
        rc = result_fail(result, 4, "4.3.0", "cleanup service protocol error");
        goto out;
    }
    result->status = (int)status;
    snprintf(result->dsn, sizeof(result->dsn), "%s", v);
    str_setn(&result->reason, reason->value, reason->vlen);
    rc = result->status;
out:
    attr_free(&l);
    submit_close(s);
    return rc;
}

void submit_result_free(struct submit_result *r)
{
    str_free(&r->reason);
}

void submit_abort(submit *s)
{
    /* Closing before E makes cleanup remove the incomplete file. */
    submit_close(s);
}
