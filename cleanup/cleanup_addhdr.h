/* cleanup_addhdr.h: the header lines cleanup adds to a message: our Received header
 * (RFC 5321 section 4.4) and, for local submissions or with always_add_missing_headers,
 * missing Message-ID, Date and From fields. Pure formatting: callers pass every value,
 * and the results are text with one physical line per '\n' (folded lines start with a
 * TAB), ready to be written as N records. */
#ifndef POSTERN_CLEANUP_ADDHDR_H
#define POSTERN_CLEANUP_ADDHDR_H
#include <time.h>
#include "str.h"

#define ADDHDR_DATE_MAX 64

struct received_info {
    const char *helo_name;     /* NULL if not known */
    const char *client_name;   /* NULL if not known */
    const char *client_addr;   /* NULL: local submission form */
    const char *protocol;      /* "ESMTP", ...; NULL = "SMTP" (or nothing when local) */
    const char *tls_info;      /* "TLSv1.3 with cipher ... (256/256 bits)", or NULL */
    const char *myhostname;
    const char *queue_id;
    const char *rcpt;          /* the only recipient, or NULL when not exactly one */
    long uid;                  /* local form: submitting user id, or -1 when unknown */
    time_t when;
};

/* RFC 5322 date-time with numeric zone, in local time, locale independent:
 * "Tue, 3 Jun 2025 14:05:09 +0200". Returns buf. */
const char *addhdr_date(char *buf, size_t len, time_t when);
/* Append the Received header lines to out. */
void addhdr_received(str *out, const struct received_info *ri);
/* Append "Message-ID: <YYYYMMDDHHMMSS.QUEUEID@HOST>\n". */
void addhdr_message_id(str *out, time_t when, const char *queue_id, const char *myhostname);
/* Append "Date: ...\n". */
void addhdr_date_field(str *out, time_t when);
/* Append "From: <sender>\n" ("From: MAILER-DAEMON" for the null sender). */
void addhdr_from(str *out, const char *sender);
/* Append "From: FULL NAME <sender>\n" (sendmail -F): the name as a phrase, quoted when
 * it is not plain words (RFC 5322 3.2.5). Same as addhdr_from for a NULL or empty
 * full_name or the null sender. */
void addhdr_from_named(str *out, const char *full_name, const char *sender);

#endif
