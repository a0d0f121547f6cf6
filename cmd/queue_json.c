/* queue_json.c: `postern queue list --json`: the queue walk of queue_list.c printed as
 * one JSON array (format in queue_list.h). Every string from a queue file is untrusted:
 * control characters are escaped and bytes that are not valid UTF-8 become U+FFFD, so
 * the output is always valid JSON. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "queue_list.h"

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if it is not one. */
static int utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    int n;
    unsigned min;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) { n = 2; min = 0x80; }
    else if (c >= 0xe0 && c <= 0xef) { n = 3; min = 0x800; }
    else if (c >= 0xf0 && c <= 0xf4) { n = 4; min = 0x10000; }
    else return 0;
    unsigned cp = c & (0x7f >> n);
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;                    /* also stops at the NUL terminator */
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

void queue_json_string(FILE *fp, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;

    fputc('"', fp);
    while (*s) {
        unsigned c = *s;
        if (c == '"' || c == '\\') {
            fputc('\\', fp);
            fputc((int)c, fp);
            s++;
        } else if (c < 0x20 || c == 0x7f) {
            fprintf(fp, "\\u%04x", c);
            s++;
        } else if (c < 0x80) {
            fputc((int)c, fp);
            s++;
        } else {
            int n = utf8_len(s);
            if (n == 0) {
                fputs("\\ufffd", fp);
                s++;
            } else {
                fwrite(s, 1, (size_t)n, fp);
                s += n;
            }
        }
    }
    fputc('"', fp);
}

static void json_opt_string(FILE *fp, const char *s)
{
    if (s)
        queue_json_string(fp, s);
    else
        fputs("null", fp);
}

struct json_ctx {
    FILE *fp, *err;
    const char *prog;
    long count;
};

static int json_entry(const struct queue_entry *e, void *vctx)
{
    struct json_ctx *c = vctx;
    FILE *fp = c->fp;

    fputs(c->count ? ",\n" : "\n", fp);
    fputs("{\"id\":", fp);
    queue_json_string(fp, e->id);
    fputs(",\"queue\":", fp);
    queue_json_string(fp, e->queue);
    fprintf(fp, ",\"size\":%ld,\"arrival\":%lld,\"sender\":", e->size, (long long)e->arrival);
    queue_json_string(fp, e->sender);
    fputs(",\"recipients\":[", fp);
    for (int i = 0; i < e->rcpt_count; i++) {
        const struct queue_list_rcpt *r = &e->rcpts[i];
        fputs(i ? ",{\"address\":" : "{\"address\":", fp);
        queue_json_string(fp, r->address);
        fprintf(fp, ",\"status\":\"%s\",\"dsn\":",
                r->done ? "done" : r->reason ? "deferred" : "pending");
        json_opt_string(fp, r->dsn && *r->dsn ? r->dsn : NULL);
        fputs(",\"reason\":", fp);
        json_opt_string(fp, r->reason);
        fputc('}', fp);
    }
    fputs("]}", fp);
    c->count++;
    return 0;
}

static void json_problem(const char *queue, const char *id, const char *why, void *vctx)
{
    struct json_ctx *c = vctx;

    queue_list_report_problem(c->err, c->prog, queue, id, why);
}

int queue_list_print_json(FILE *fp, FILE *err, const char *qdir, const char *prog)
{
    struct json_ctx c = { fp, err, prog, 0 };
    const char *failed = NULL;

    fputc('[', fp);
    if (queue_list_walk(qdir, json_entry, json_problem, &c, &failed) < 0) {
        int e = errno;
        fputs("]\n", fp);
        fprintf(err, "%s: cannot read the %s queue in %s: %s\n", prog, failed ? failed : "?",
                qdir, strerror(e));
        return -1;
    }
    fputs(c.count ? "\n]\n" : "]\n", fp);
    return 0;
}
