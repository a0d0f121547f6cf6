/* dict_text.c: reading the text files behind regexp: and cidr: tables (dict_text.h):
 * one bounded read of the file and its split into logical lines with line numbers, so
 * both table types report errors as "file:LINE: reason" the same way. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dict_text.h"
#include "readfile.h"
#include "mem.h"
#include "str.h"

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

/* Hand the collected logical line (if any) to fn. */
static int flush_line(str *line, int lineno, dict_text_fn fn, void *ctx, char **err)
{
    while (line->len > 0 && is_blank(line->data[line->len - 1]))
        line->len--;
    str_truncate(line, line->len);
    return fn(line->data, lineno, ctx, err);
}

int dict_text_parse(const char *name, const char *buf, size_t len, dict_text_fn fn, void *ctx,
                    char **err)
{
    str line;
    size_t pos = 0;
    int lineno = 0, start = 0, count = 0, rc = 0;

    *err = NULL;
    str_init(&line);
    while (pos < len && rc == 0) {
        const char *p = buf + pos;
        const char *nl = memchr(p, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - p) : len - pos;

        pos += n + (nl ? 1 : 0);
        lineno++;
        if (memchr(p, 0, n)) {
            *err = xasprintf("%s:%d: NUL byte in line", name, lineno);
            rc = -1;
            break;
        }
        size_t i = 0;
        while (i < n && is_blank(p[i]))
            i++;
        if (i == n || (i == 0 && p[0] == '#'))
            continue;                                /* blank line or comment */
        if (i > 0 && p[i] == '#')
            continue;                                /* indented comment */
        if (i > 0) {                                 /* continuation */
            if (!start) {
                *err = xasprintf("%s:%d: continuation line without a preceding entry",
                                 name, lineno);
                rc = -1;
                break;
            }
            if (line.len + 1 + (n - i) > DICT_TEXT_LINE_MAX) {
                *err = xasprintf("%s:%d: line too long", name, lineno);
                rc = -1;
                break;
            }
            str_putc(&line, ' ');
            str_append(&line, p + i, n - i);
            continue;
        }
        if (start && (rc = flush_line(&line, start, fn, ctx, err)) != 0)
            break;
        if (n > DICT_TEXT_LINE_MAX) {
            *err = xasprintf("%s:%d: line too long", name, lineno);
            rc = -1;
            break;
        }
        if (++count > DICT_TEXT_RULES_MAX) {
            *err = xasprintf("%s:%d: more than %d entries", name, lineno, DICT_TEXT_RULES_MAX);
            rc = -1;
            break;
        }
        str_setn(&line, p, n);
        start = lineno;
    }
    if (rc == 0 && start)
        rc = flush_line(&line, start, fn, ctx, err);
    if (rc != 0 && !*err)
        *err = xasprintf("%s: parse error", name);
    str_free(&line);
    return rc == 0 ? 0 : -1;
}

char *dict_text_read(const char *path, size_t *len, char **err)
{
    str s;
    str_init(&s);
    if (readfile(path, DICT_TEXT_FILE_MAX, &s, err) != 0) {
        str_free(&s);
        return NULL;
    }
    *len = s.len;
    char *data = str_steal(&s);
    str_free(&s);                      /* str_steal left a fresh empty string behind */
    return data;
}
