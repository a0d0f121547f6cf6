/* smtpd_cmd.h: pure parsers for SMTP command lines (no I/O, no global state), so that
 * smtpd's session code and the fuzz target tests/fuzz/fuzz_smtp_cmd.c share them.
 *
 *   smtpd_cmd_parse()        splits one received command line into verb and arguments
 *   smtpd_mail_params_parse() checks the ESMTP parameters of MAIL FROM (SIZE, BODY)
 *   smtpd_helo_name_ok()     sanity check of the HELO/EHLO argument
 *
 * Everything here handles untrusted bytes: lengths are bounded, NUL and CR are refused. */
#ifndef POSTERN_SMTPD_CMD_H
#define POSTERN_SMTPD_CMD_H
#include <stddef.h>
#include "str.h"

#define SMTPD_VERB_MAX 16          /* longer verbs are never valid commands */

enum smtpd_cmd_status {
    SMTPD_CMD_OK = 0,              /* verb (maybe unknown) and args are set */
    SMTPD_CMD_EMPTY,               /* nothing but white space */
    SMTPD_CMD_BAD_CHAR             /* NUL or a bare CR inside the line */
};

struct smtpd_cmd {
    char verb[SMTPD_VERB_MAX + 1]; /* upper-cased; "" when the verb was too long */
    char *args;                    /* NUL-terminated, inside the caller's line; leading
                                    * and trailing white space removed; "" when none */
    int bare_lf;                   /* the line ended in LF without CR */
};

/* Parse one line as read by bio_getline (with its "\r\n" or "\n" terminator, or none at
 * EOF). The line is modified in place (the arguments are NUL-terminated). */
enum smtpd_cmd_status smtpd_cmd_parse(char *line, size_t len, struct smtpd_cmd *out);

/* ESMTP parameters of MAIL FROM. */
enum smtpd_body_type { SMTPD_BODY_NONE = 0, SMTPD_BODY_7BIT, SMTPD_BODY_8BITMIME };

struct smtpd_mail_params {
    long size;                     /* SIZE=n, -1 when absent */
    enum smtpd_body_type body;
};

/* Parse the text that follows the MAIL FROM path. Returns 0, or -1 with the complete
 * SMTP reply ("555 5.5.4 Unsupported option: X", "501 5.5.4 ...") in `reply`. */
int smtpd_mail_params_parse(const char *text, struct smtpd_mail_params *out, str *reply);

/* Free the arrays made by addr_parse_params() (values[i] may be NULL; either may be NULL). */
void smtpd_params_free(char **keys, char **values);

/* 1 if `name` is acceptable as a HELO/EHLO argument: 1..255 printable ASCII characters
 * without white space. */
int smtpd_helo_name_ok(const char *name);

#endif
