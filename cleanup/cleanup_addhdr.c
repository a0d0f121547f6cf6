/* cleanup_addhdr.c: formatting of the header lines cleanup adds (see cleanup_addhdr.h).
 * No I/O and no configuration: cleanup_content.c gathers the values and writes the
 * lines to the queue file. */
#include "cleanup_addhdr.h"
#include <stdio.h>
#include <string.h>

static const char *const day_names[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char *const month_names[] = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
};

const char *addhdr_date(char *buf, size_t len, time_t when)
{
    struct tm tm;
    long off, aoff;

    if (localtime_r(&when, &tm) == NULL) {
        gmtime_r(&when, &tm);
        tm.tm_gmtoff = 0;
    }
    off = tm.tm_gmtoff / 60;                 /* minutes east of UTC */
    aoff = off < 0 ? -off : off;
    snprintf(buf, len, "%s, %d %s %d %02d:%02d:%02d %c%02ld%02ld",
             day_names[tm.tm_wday % 7], tm.tm_mday, month_names[tm.tm_mon % 12],
             tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
             off < 0 ? '-' : '+', (aoff / 60) % 100, aoff % 60);
    return buf;
}

/* Literal form of an address for the Received header: "IPv6:" marks IPv6. */
static void append_addr_literal(str *out, const char *addr)
{
    str_appendf(out, "[%s%s]", strchr(addr, ':') ? "IPv6:" : "", addr);
}

void addhdr_received(str *out, const struct received_info *ri)
{
    char date[ADDHDR_DATE_MAX];

    addhdr_date(date, sizeof(date), ri->when);
    if (ri->client_addr) {
        const char *name = ri->client_name && *ri->client_name ? ri->client_name : "unknown";
        const char *helo = ri->helo_name && *ri->helo_name ? ri->helo_name : name;

        str_appendf(out, "Received: from %s (%s ", helo, name);
        append_addr_literal(out, ri->client_addr);
        str_appends(out, ")\n");
        if (ri->tls_info && *ri->tls_info)   /* as Postfix: "(using TLSv1.3 with cipher ...)" */
            str_appendf(out, "\t(using %s)\n", ri->tls_info);
        str_appendf(out, "\tby %s (postern) with %s id %s",
                    ri->myhostname, ri->protocol && *ri->protocol ? ri->protocol : "SMTP",
                    ri->queue_id);
    } else {
        str_appendf(out, "Received: by %s (postern", ri->myhostname);
        if (ri->uid >= 0)
            str_appendf(out, ", from userid %ld", ri->uid);
        str_appendf(out, ") id %s", ri->queue_id);
    }
    if (ri->rcpt)
        str_appendf(out, "\n\tfor <%s>; %s\n", ri->rcpt, date);
    else
        str_appendf(out, "; %s\n", date);
}

void addhdr_message_id(str *out, time_t when, const char *queue_id, const char *myhostname)
{
    struct tm tm;

    if (gmtime_r(&when, &tm) == NULL)
        memset(&tm, 0, sizeof(tm));
    str_appendf(out, "Message-ID: <%04d%02d%02d%02d%02d%02d.%s@%s>\n",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                tm.tm_sec, queue_id, myhostname);
}

void addhdr_date_field(str *out, time_t when)
{
    char date[ADDHDR_DATE_MAX];

    str_appendf(out, "Date: %s\n", addhdr_date(date, sizeof(date), when));
}

void addhdr_from(str *out, const char *sender)
{
    if (sender == NULL || *sender == 0)
        str_appends(out, "From: MAILER-DAEMON\n");
    else
        str_appendf(out, "From: <%s>\n", sender);
}

/* 1 if name can stand unquoted as a phrase: words of atext (and UTF-8) separated by
 * single spaces. */
static int plain_phrase(const char *name)
{
    static const char atext_specials[] = "!#$%&'*+-/=?^_`{|}~";
    const unsigned char *p = (const unsigned char *)name;

    if (*p == ' ')
        return 0;
    for (; *p; p++) {
        if (*p == ' ') {
            if (p[1] == ' ' || p[1] == 0)
                return 0;
        } else if (!(*p >= 0x80 || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
                     || (*p >= '0' && *p <= '9') || strchr(atext_specials, *p))) {
            return 0;
        }
    }
    return 1;
}

void addhdr_from_named(str *out, const char *full_name, const char *sender)
{
    if (full_name == NULL || *full_name == 0 || sender == NULL || *sender == 0) {
        addhdr_from(out, sender);
        return;
    }
    str_appends(out, "From: ");
    if (plain_phrase(full_name)) {
        str_appends(out, full_name);
    } else {
        str_putc(out, '"');
        for (const char *p = full_name; *p; p++) {
            if (*p == '"' || *p == '\\')
                str_putc(out, '\\');
            str_putc(out, *p);
        }
        str_putc(out, '"');
    }
    str_appendf(out, " <%s>\n", sender);
}
