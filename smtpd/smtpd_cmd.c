/* smtpd_cmd.c: pure SMTP command-line parsing for smtpd (see smtpd_cmd.h). No I/O and no
 * global state: the fuzz target links this file directly. */
#include <string.h>
#include <ctype.h>
#include <stdlib.h>
#include "smtpd_cmd.h"
#include "addr.h"

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

enum smtpd_cmd_status smtpd_cmd_parse(char *line, size_t len, struct smtpd_cmd *out)
{
    size_t i, verb_len;

    out->verb[0] = 0;
    out->args = line + len;        /* fixed below once the line is terminated */
    out->bare_lf = 0;

    /* Strip the terminator: "\r\n", or a bare "\n". */
    if (len > 0 && line[len - 1] == '\n') {
        len--;
        if (len > 0 && line[len - 1] == '\r')
            len--;
        else
            out->bare_lf = 1;
    }
    line[len] = 0;
    out->args = line + len;
    if (memchr(line, '\0', len) != NULL || memchr(line, '\r', len) != NULL)
        return SMTPD_CMD_BAD_CHAR;

    i = 0;
    while (i < len && is_space(line[i]))
        i++;
    if (i == len)
        return SMTPD_CMD_EMPTY;

    /* Verb: up to the first white space, upper-cased; too long = unknown. */
    verb_len = 0;
    while (i < len && !is_space(line[i])) {
        if (verb_len < SMTPD_VERB_MAX)
            out->verb[verb_len] = (char) toupper((unsigned char) line[i]);
        verb_len++;
        i++;
    }
    out->verb[verb_len <= SMTPD_VERB_MAX ? verb_len : 0] = 0;

    while (i < len && is_space(line[i]))
        i++;
    while (len > i && is_space(line[len - 1]))
        line[--len] = 0;
    out->args = line + i;
    return SMTPD_CMD_OK;
}

static int parse_size_value(const char *v, long *out)
{
    long n = 0;
    size_t digits = 0;

    if (v == NULL || *v == 0)
        return -1;
    for (; *v; v++) {
        if (*v < '0' || *v > '9' || ++digits > 18)
            return -1;
        n = n * 10 + (*v - '0');
    }
    *out = n;
    return 0;
}

/* values[i] may be NULL (a key without value), so values is freed by the key count. */
void smtpd_params_free(char **keys, char **values)
{
    size_t i;

    if (values != NULL) {
        for (i = 0; keys != NULL && keys[i] != NULL; i++)
            free(values[i]);
        free(values);
    }
    if (keys != NULL)
        strv_free(keys);
}

int smtpd_mail_params_parse(const char *text, struct smtpd_mail_params *out, str *reply)
{
    char **keys = NULL, **values = NULL;
    const char *err = NULL;
    int rc = 0;
    size_t i;

    out->size = -1;
    out->body = SMTPD_BODY_NONE;
    if (text == NULL || *text == 0)
        return 0;
    if (addr_parse_params(text, &keys, &values, &err) < 0) {
        str_printf(reply, "501 5.5.4 Bad MAIL parameter syntax%s%s",
                   err ? ": " : "", err ? err : "");
        return -1;
    }
    for (i = 0; keys && keys[i] && rc == 0; i++) {
        if (strcmp(keys[i], "SIZE") == 0) {
            if (out->size >= 0 || parse_size_value(values[i], &out->size) < 0) {
                str_printf(reply, "501 5.5.4 Bad message size syntax");
                rc = -1;
            }
        } else if (strcmp(keys[i], "BODY") == 0) {
            if (out->body != SMTPD_BODY_NONE || values[i] == NULL) {
                str_printf(reply, "501 5.5.4 Bad BODY keyword syntax");
                rc = -1;
            } else if (strcasecmp(values[i], "7BIT") == 0) {
                out->body = SMTPD_BODY_7BIT;
            } else if (strcasecmp(values[i], "8BITMIME") == 0) {
                out->body = SMTPD_BODY_8BITMIME;
            } else {
                str_printf(reply, "501 5.5.4 Unsupported BODY parameter value");
                rc = -1;
            }
        } else {
            /* Key is from the client: show at most 32 printable characters. */
            size_t k;
            str_printf(reply, "555 5.5.4 Unsupported option: ");
            for (k = 0; keys[i][k] && k < 32; k++)
                str_putc(reply, isgraph((unsigned char) keys[i][k]) ? keys[i][k] : '?');
            rc = -1;
        }
    }
    smtpd_params_free(keys, values);
    return rc;
}

int smtpd_helo_name_ok(const char *name)
{
    size_t n = 0;

    for (; *name; name++) {
        unsigned char c = (unsigned char) *name;
        if (c <= ' ' || c >= 0x7f || ++n > 255)
            return 0;
    }
    return n > 0;
}
