/* smtp_reply.c: read one SMTP server reply (RFC 5321 4.2), strictly: every line must be
 * "NNN" [("-" / " ") text] CRLF with the same code, the code 200..599, at most
 * SMTP_REPLY_LINES_MAX lines of SMTP_REPLY_LINE_MAX bytes. A bare LF is tolerated
 * (a common server bug that hurts no one here). The enhanced status code (RFC 3463) is
 * taken from the last line's text when its class matches the reply code. */
#include "smtp.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mem.h"

void smtp_reply_init(struct smtp_reply *r)
{
    memset(r, 0, sizeof(*r));
    str_init(&r->text);
}

void smtp_reply_free(struct smtp_reply *r)
{
    for (int i = 0; i < r->nlines; i++)
        free(r->lines[i]);
    free(r->lines);
    r->lines = NULL;
    r->nlines = 0;
    str_free(&r->text);
}

int smtp_reply_parse_line(const char *line, size_t len, int *code, int *more, const char **text)
{
    if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9'
        || line[2] < '0' || line[2] > '9')
        return -1;
    if (memchr(line, 0, len))
        return -1;
    *code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    *more = 0;
    *text = line + len;
    if (len == 3)
        return 0;
    if (line[3] != ' ' && line[3] != '-')
        return -1;
    *more = line[3] == '-';
    *text = line + 4;
    return 0;
}

/* "X.Y.Z" at the start of text with X the reply class: copy it into dsn. */
static int enhanced_status(const char *text, int cls, char *dsn, size_t dsnlen)
{
    const char *p = text;
    int digits;

    if (*p != '0' + cls || p[1] != '.')
        return 0;
    p += 2;
    for (int part = 0; part < 2; part++) {
        for (digits = 0; *p >= '0' && *p <= '9'; p++)
            digits++;
        if (digits < 1 || digits > 3)
            return 0;
        if (part == 0 && *p++ != '.')
            return 0;
    }
    if (*p && *p != ' ')
        return 0;
    if ((size_t) (p - text) >= dsnlen)
        return 0;
    memcpy(dsn, text, (size_t) (p - text));
    dsn[p - text] = 0;
    return 1;
}

int smtp_reply_read(bio *b, struct smtp_reply *r, const char **err)
{
    str line;
    int more = 1, code, complete;
    const char *text;

    smtp_reply_free(r);
    smtp_reply_init(r);
    str_init(&line);
    while (more) {
        ssize_t n = bio_getline(b, &line, SMTP_REPLY_LINE_MAX + 2, &complete);
        if (n < 0) {
            *err = bio_strerror(b);
            goto bad;
        }
        if (!complete) {
            *err = bio_error(b) ? "end of file" : "malformed reply: line too long";
            goto bad;
        }
        if (line.len > 0 && line.data[line.len - 1] == '\n')
            line.len--;
        if (line.len > 0 && line.data[line.len - 1] == '\r')
            line.len--;
        line.data[line.len] = 0;
        if (smtp_reply_parse_line(line.data, line.len, &code, &more, &text) < 0) {
            *err = "malformed reply: bad line syntax";
            goto bad;
        }
        if (r->nlines > 0 && code != r->code) {
            *err = "malformed reply: reply code changes in a multi-line reply";
            goto bad;
        }
        if (r->nlines >= SMTP_REPLY_LINES_MAX) {
            *err = "malformed reply: too many lines";
            goto bad;
        }
        r->code = code;
        r->lines = xrealloc(r->lines, (size_t) (r->nlines + 1) * sizeof(*r->lines));
        r->lines[r->nlines++] = xstrdup(text);
        if (r->text.len + line.len + 1 <= SMTP_REPLY_TEXT_MAX) {
            if (r->text.len)
                str_putc(&r->text, ' ');
            str_append(&r->text, line.data, line.len);
        }
    }
    str_free(&line);
    if (!enhanced_status(r->lines[r->nlines - 1], r->code / 100, r->dsn, sizeof(r->dsn)))
        snprintf(r->dsn, sizeof(r->dsn), "%d.0.0", r->code / 100);
    return 0;
bad:
    str_free(&line);
    return -1;
}
