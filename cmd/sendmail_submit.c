/* sendmail_submit.c: the envelope and the hand-over to pickup for `sendmail`.
 * Recipients from the command line and (with -t) from the headers are parsed as RFC 5322
 * address lists, unqualified ones get "@$myorigin", and each must pass the envelope
 * address check (lib/addr.h) before anything is sent. The sender is -f (or "<>") or the
 * login name of the invoking uid @ $myorigin. Then the records go to
 * public/$pickup_service_name and pickup's verdict becomes the exit status:
 * 0 queued, EX_TEMPFAIL (4xx, no service), EX_NOUSER (5.1.x), EX_UNAVAILABLE (other 5xx). */
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "addr.h"
#include "addrlist.h"
#include "attr.h"
#include "config.h"
#include "ipc.h"
#include "mem.h"
#include "queue.h"
#include "record.h"
#include "sendmail.h"
#include "../pickup/pickup.h"

#define SENDMAIL_CONNECT_TIMEOUT_MS 10000

/* Qualify and check one address; canonical form into out. 0 or -1 with *err. */
static int canonical_address(const char *addr, int allow_null, str *out, const char **err)
{
    str path;
    const char *params = NULL;
    int rc;

    str_init(&path);
    str_putc(&path, '<');
    str_appends(&path, addr);
    if (*addr && addr_domain(addr) == NULL) {
        str_putc(&path, '@');
        str_appends(&path, config_str("myorigin"));
    }
    str_putc(&path, '>');
    rc = addr_parse_path(path.data, path.len, allow_null ? ADDR_ALLOW_NULL : 0, out, &params, err);
    if (rc == 0 && params && *params) {
        *err = "text after the address";
        rc = -1;
    }
    str_free(&path);
    return rc;
}

static int build_sender(const struct sendmail_opts *o, str *sender)
{
    const char *err = NULL;

    if (o->sender) {
        char **v = NULL;
        const char *s = o->sender;
        int rc;
        if (strcmp(s, "") == 0 || strcmp(s, "<>") == 0) {
            str_set(sender, "");
            return 0;
        }
        if (addrlist_parse(s, strlen(s), &v, &err) < 0 || strv_len(v) != 1) {
            sendmail_error("bad sender address \"%s\": %s", s, err ? err : "need exactly one address");
            strv_free(v);
            return EX_USAGE;
        }
        rc = canonical_address(v[0], 0, sender, &err);
        strv_free(v);
        if (rc < 0) {
            sendmail_error("bad sender address \"%s\": %s", s, err);
            return EX_USAGE;
        }
        return 0;
    }
    struct passwd *pw = getpwuid(getuid());
    if (pw == NULL || pw->pw_name == NULL || !*pw->pw_name) {
        sendmail_error("cannot find the user name of uid %ld (use -f sender)", (long)getuid());
        return EX_NOUSER;
    }
    if (canonical_address(pw->pw_name, 0, sender, &err) < 0) {
        sendmail_error("cannot make a sender address from user name \"%s\": %s", pw->pw_name, err);
        return EX_NOUSER;
    }
    return 0;
}

struct rcpt_slot { const char *addr; size_t pos; };

static int cmp_slot(const void *a, const void *b)
{
    const struct rcpt_slot *x = a, *y = b;
    int c = strcmp(x->addr, y->addr);

    return c ? c : (x->pos > y->pos) - (x->pos < y->pos);
}

/* Remove later duplicates (same canonical address, e.g. in To and Bcc) from v[0..n),
 * keeping the order of first appearance. */
static void drop_duplicates(char **v, size_t n)
{
    struct rcpt_slot *slots = xcalloc(n + 1, sizeof(*slots));
    size_t k = 0;

    for (size_t i = 0; i < n; i++)
        slots[i] = (struct rcpt_slot){ v[i], i };
    qsort(slots, n, sizeof(*slots), cmp_slot);
    for (size_t i = 1, first = 0; i < n; i++) {
        if (strcmp(slots[i].addr, slots[first].addr) != 0) {
            first = i;                      /* a new address: keep it */
            continue;
        }
        free(v[slots[i].pos]);              /* slots[i].addr is not used again */
        v[slots[i].pos] = NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (v[i])
            v[k++] = v[i];
    v[k] = NULL;
    free(slots);
}

/* All recipients, canonical and without duplicates, into *out (strv). */
static int build_rcpts(const struct sendmail_opts *o, const struct sendmail_msg *m, char ***out)
{
    char **raw = NULL;
    const char *err = NULL;
    str canon;
    size_t n, k = 0;

    for (int i = 0; o->rcpts && o->rcpts[i]; i++)
        if (addrlist_parse(o->rcpts[i], strlen(o->rcpts[i]), &raw, &err) < 0) {
            sendmail_error("bad recipient \"%s\": %s", o->rcpts[i], err);
            strv_free(raw);
            return EX_NOUSER;
        }
    n = raw ? strv_len(raw) : 0;
    for (int i = 0; m->hdr_rcpts && m->hdr_rcpts[i]; i++, n++) {
        if (n > PICKUP_MAX_RCPT)
            break;                              /* reported below */
        raw = xrealloc(raw, (n + 2) * sizeof(char *));
        raw[n] = xstrdup(m->hdr_rcpts[i]);
        raw[n + 1] = NULL;
    }
    n = raw ? strv_len(raw) : 0;
    if (n == 0) {
        sendmail_error("no recipients specified%s", o->extract ? " (none in To, Cc or Bcc)"
                                                              : " (give them as arguments or use -t)");
        strv_free(raw);
        return EX_USAGE;
    }
    if (n > PICKUP_MAX_RCPT) {
        sendmail_error("too many recipients (%zu, at most %d)", n, PICKUP_MAX_RCPT);
        strv_free(raw);
        return EX_USAGE;
    }
    *out = xcalloc(n + 1, sizeof(char *));
    str_init(&canon);
    for (size_t i = 0; i < n; i++) {
        if (canonical_address(raw[i], 0, &canon, &err) < 0) {
            sendmail_error("bad recipient address \"%s\": %s", raw[i], err);
            str_free(&canon);
            strv_free(raw);
            return EX_NOUSER;
        }
        (*out)[k++] = xstrdup(canon.data);
    }
    drop_duplicates(*out, k);
    str_free(&canon);
    strv_free(raw);
    return 0;
}

/* Map pickup's reply to an exit status, printing the reason. */
static int verdict(const attr_list *l, const struct sendmail_opts *o)
{
    long status;
    const char *id = attr_get(l, "queue_id"), *dsn = attr_get(l, "dsn");
    const struct attr *reason = attr_find(l, "reason");

    if (attr_get_long(l, "status", &status) < 0) {
        sendmail_error("malformed reply from the pickup service");
        return EX_TEMPFAIL;
    }
    if (status == 0) {
        if (id == NULL || !queue_id_valid(id)) {
            sendmail_error("malformed reply from the pickup service (queue_id)");
            return EX_TEMPFAIL;
        }
        if (o->verbose)
            fprintf(stderr, "sendmail: queued as %s\n", id);
        return 0;
    }
    /* Reason text comes from a daemon: print it only up to the first control byte. */
    int rlen = 0;
    if (reason)
        while ((size_t)rlen < reason->vlen && rlen < 512 && (unsigned char)reason->value[rlen] >= 0x20
               && reason->value[rlen] != 0x7f)
            rlen++;
    char dsnbuf[16] = "";
    if (dsn && strlen(dsn) < sizeof(dsnbuf) && strspn(dsn, "0123456789.") == strlen(dsn))
        snprintf(dsnbuf, sizeof(dsnbuf), "%s", dsn);
    sendmail_error("message not accepted: %s%s%.*s", dsnbuf, *dsnbuf ? " " : "", rlen,
                   reason ? reason->value : "");
    if (status == 4)
        return EX_TEMPFAIL;
    if (status != 5)
        return EX_TEMPFAIL;
    return strncmp(dsnbuf, "5.1.", 4) == 0 ? EX_NOUSER : EX_UNAVAILABLE;
}

/* Send the envelope and spooled content; 0 or -1 (write error). */
static int send_message(bio *b, const struct sendmail_opts *o, const char *sender, char **rcpts,
                        struct sendmail_msg *m)
{
    bio *spool = bio_open(m->spool_fd, -1);
    const char *err = NULL;
    str data;
    int type, rc = 0;

    str_init(&data);
    if (o->full_name) {
        str_set(&data, "full_name=");
        str_appends(&data, o->full_name);
        rc |= rec_put(b, REC_ATTR, data.data, data.len);
    }
    rc |= rec_puts(b, REC_FROM, sender);
    for (int i = 0; rcpts[i]; i++)
        rc |= rec_puts(b, REC_RCPT, rcpts[i]);
    rc |= rec_put(b, REC_MESG, "", 0);
    /* The spool is our own file of N/L records: copy until its end. */
    while (rc == 0) {
        int r = rec_get(spool, &type, &data, SENDMAIL_LINE_PIECE, &err);
        if (r == -1 && bio_error(spool) == BIO_EOF)
            break;
        if (r < 0) {
            sendmail_error("cannot read back the temporary file: %s",
                           r == -1 ? bio_strerror(spool) : err);
            rc = -2;
            break;
        }
        rc |= rec_put(b, type, data.data, data.len);
    }
    if (rc == 0) {
        rc |= rec_put(b, REC_XTRA, "", 0);
        rc |= rec_put(b, REC_END, "", 0);
        rc |= bio_flush(b);
    }
    str_free(&data);
    bio_free(spool);
    return rc;
}

int sendmail_submit(const struct sendmail_opts *o, struct sendmail_msg *m)
{
    char **rcpts = NULL;
    const char *err = NULL;
    attr_list reply;
    str sender;
    int rc, fd, timeout_ms;
    long t;

    str_init(&sender);
    attr_init(&reply);
    if ((rc = build_sender(o, &sender)) != 0 || (rc = build_rcpts(o, m, &rcpts)) != 0)
        goto out;
    signal(SIGPIPE, SIG_IGN);
    fd = ipc_connect("public", config_str("pickup_service_name"), SENDMAIL_CONNECT_TIMEOUT_MS);
    if (fd < 0) {
        sendmail_error("cannot connect to the pickup service %s/public/%s: %s "
                       "(is postern running?)", config_str("queue_directory"),
                       config_str("pickup_service_name"), strerror(errno));
        rc = EX_TEMPFAIL;
        goto out;
    }
    t = config_time("pickup_timeout");
    timeout_ms = (t <= 0 || t > 86400) ? 86400 * 1000 : (int)(t * 1000);
    bio *b = bio_open(fd, timeout_ms);
    if (attr_expect_protocol(b, "pickup", &err) < 0) {
        sendmail_error("the pickup service did not greet as expected: %s",
                       bio_error(b) ? bio_strerror(b) : err ? err : "protocol error");
        rc = EX_TEMPFAIL;
    } else if ((rc = send_message(b, o, sender.data, rcpts, m)) == -2) {
        rc = EX_TEMPFAIL;
    } else {
        /* Even if writing failed, pickup may have answered why (e.g. too big). */
        if (rc != 0) {
            bio_free(b);
            b = bio_open(fd, timeout_ms);
        }
        if (attr_read(b, &reply, &err) < 0) {
            sendmail_error("no reply from the pickup service: %s",
                           bio_error(b) ? bio_strerror(b) : err ? err : "malformed");
            rc = EX_TEMPFAIL;
        } else {
            rc = verdict(&reply, o);
        }
    }
    bio_close(b);
out:
    attr_free(&reply);
    strv_free(rcpts);
    str_free(&sender);
    return rc;
}
