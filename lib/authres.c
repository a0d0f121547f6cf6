/* authres.c: Authentication-Results formatting and forged-field detection (authres.h). */
#include <ctype.h>
#include <string.h>
#include "authres.h"
#include "metrics.h"

static void append_safe(str *out, const char *s, size_t max)
{
    for (size_t n = 0; s && *s && n < max; s++, n++) {
        unsigned char c = (unsigned char)*s;
        str_putc(out, (c < 0x20 || c >= 0x7f || c == ';' || c == '(' || c == ')') ? '?' : (char)c);
    }
}

void authres_begin(str *out, const char *authserv_id)
{
    str_set(out, "Authentication-Results: ");
    append_safe(out, authserv_id, 255);
    str_putc(out, ';');
}

void authres_add(str *out, const char *method, const char *result, const char *reason,
                 const char *props)
{
    if (strcmp(method, "dkim") == 0 || strcmp(method, "dmarc") == 0)
        metrics_auth_result(method[1] == 'k' ? METRIC_DKIM : METRIC_DMARC, result);
    str_appends(out, "\n\t");
    append_safe(out, method, 32);
    str_putc(out, '=');
    append_safe(out, result, 32);
    if (reason && *reason) {
        str_appends(out, " (");
        append_safe(out, reason, 120);
        str_putc(out, ')');
    }
    if (props && *props) {
        str_putc(out, ' ');
        append_safe(out, props, 600);
    }
    str_putc(out, ';');
}

void authres_end(str *out, int count)
{
    if (count == 0)
        str_appends(out, " none");
    else if (out->len > 0 && out->data[out->len - 1] == ';')
        str_truncate(out, out->len - 1);
}

int authres_is_ours(const char *field, size_t len, const char *authserv_id)
{
    static const char name[] = "authentication-results";
    size_t i = sizeof(name) - 1, idlen = strlen(authserv_id), start;
    int depth = 0;

    if (len < i || strncasecmp(field, name, i) != 0)
        return 0;
    while (i < len && (field[i] == ' ' || field[i] == '\t'))
        i++;
    if (i >= len || field[i] != ':')
        return 0;
    i++;
    /* skip white space, folding and comments (bounded by len) */
    for (; i < len; i++) {
        char c = field[i];
        if (depth > 0) {
            if (c == '\\' && i + 1 < len)
                i++;
            else if (c == '(')
                depth++;
            else if (c == ')')
                depth--;
            continue;
        }
        if (c == '(')
            depth = 1;
        else if (!isspace((unsigned char)c))
            break;
    }
    start = i;
    while (i < len && !isspace((unsigned char)field[i]) && field[i] != ';' && field[i] != '(')
        i++;
    return i - start == idlen && idlen > 0 && strncasecmp(field + start, authserv_id, idlen) == 0;
}
