/* fuzz_smtp_cmd.c: libFuzzer target for smtpd's pure parsers (smtpd/smtpd_cmd.c and
 * smtpd/smtpd_dataline.c); needs no network and no configuration.
 *
 * The input is used twice:
 *  1. split at '\n' into command lines, each parsed by smtpd_cmd_parse(); MAIL/RCPT/VRFY
 *     arguments go through addr_parse_path() and smtpd_mail_params_parse(), HELO/EHLO
 *     arguments through smtpd_helo_name_ok();
 *  2. cut into pieces the way bio_getline() cuts a stream (piece size from the first
 *     byte) and fed to the DATA line state machine, checking its promises: output stays
 *     inside the piece, and the end of data is reported only for ".\r\n" after CRLF. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "smtpd/smtpd_cmd.h"
#include "smtpd/smtpd_dataline.h"
#include "addr.h"
#include "str.h"

static void check(int ok)
{
    if (!ok)
        __builtin_trap();
}

static void fuzz_commands(const uint8_t *data, size_t size, str *line, str *tmp)
{
    size_t start = 0;

    while (start < size) {
        const uint8_t *nl = memchr(data + start, '\n', size - start);
        size_t end = nl ? (size_t) (nl - data) + 1 : size;
        struct smtpd_cmd cmd;
        struct smtpd_mail_params mp;
        const char *params = NULL, *err = NULL;

        str_setn(line, data + start, end - start);
        start = end;
        if (smtpd_cmd_parse(line->data, line->len, &cmd) != SMTPD_CMD_OK)
            continue;
        check(strlen(cmd.verb) <= SMTPD_VERB_MAX);
        check(cmd.args >= line->data && cmd.args <= line->data + line->len);
        if (strcmp(cmd.verb, "MAIL") == 0 || strcmp(cmd.verb, "RCPT") == 0
            || strcmp(cmd.verb, "VRFY") == 0) {
            const char *a = cmd.args;
            if (strcaseprefix(a, "FROM:"))
                a += 5;
            else if (strcaseprefix(a, "TO:"))
                a += 3;
            if (addr_parse_path(a, strlen(a), ADDR_ALLOW_NULL | ADDR_ALLOW_NOBRACKETS
                                | ADDR_ALLOW_NODOMAIN, tmp, &params, &err) == 0) {
                check(tmp->len <= ADDR_PATH_MAX);
                str_reset(tmp);
                (void) smtpd_mail_params_parse(params, &mp, tmp);
            }
        } else if (strcmp(cmd.verb, "EHLO") == 0 || strcmp(cmd.verb, "HELO") == 0) {
            (void) smtpd_helo_name_ok(cmd.args);
        }
    }
}

static void fuzz_data(const uint8_t *data, size_t size)
{
    struct smtpd_dataline dl;
    struct smtpd_dataline_out out;
    size_t maxlen, pos = 1;
    int prev_crlf = 1;          /* what the bytes before this piece ended with */

    if (size == 0)
        return;
    maxlen = 3 + data[0] % 61;  /* smtpd never uses pieces < 64; 3 is the real minimum */
    smtpd_dataline_init(&dl);
    while (pos < size) {
        const uint8_t *p = data + pos;
        size_t avail = size - pos, n = avail < maxlen ? avail : maxlen;
        const uint8_t *nl = memchr(p, '\n', n);
        int complete = nl != NULL;
        if (nl)
            n = (size_t) (nl - p) + 1;
        enum smtpd_dataline_action a =
            smtpd_dataline_feed(&dl, (const char *) p, n, complete, &out);
        if (a == SMTPD_DATALINE_END) {
            check(n == 3 && memcmp(p, ".\r\n", 3) == 0 && prev_crlf);
            return;
        }
        check((const uint8_t *) out.data >= p && (const uint8_t *) out.data + out.len <= p + n);
        if (out.complete)
            check(memchr(out.data, '\n', out.len) == NULL || dl.bare_lf);
        prev_crlf = complete && n >= 2 && p[n - 2] == '\r';
        if (complete && n == 1)
            prev_crlf = pos > 1 && data[pos - 1] == '\r';
        pos += n;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    str line, tmp;

    str_init(&line);
    str_init(&tmp);
    fuzz_commands(data, size, &line, &tmp);
    fuzz_data(data, size);
    str_free(&line);
    str_free(&tmp);
    return 0;
}
