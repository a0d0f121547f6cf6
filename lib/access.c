/* access.c: access-table results and the check_client_access look-up (access.h). The
 * action parser is shared by smtpd's restriction lists and cleanup's header/body checks
 * so both read table results the same way. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "access.h"
#include "dict.h"
#include "mem.h"

static const char *const kind_names[] = {
    [ACCESS_DUNNO] = "DUNNO", [ACCESS_OK] = "OK", [ACCESS_REJECT] = "REJECT",
    [ACCESS_DEFER] = "DEFER", [ACCESS_DISCARD] = "DISCARD", [ACCESS_HOLD] = "HOLD",
    [ACCESS_WARN] = "WARN", [ACCESS_PREPEND] = "PREPEND", [ACCESS_REDIRECT] = "REDIRECT",
    [ACCESS_IGNORE] = "IGNORE",
};

const char *access_kind_name(enum access_kind k)
{
    return (k >= ACCESS_DUNNO && k <= ACCESS_IGNORE) ? kind_names[k] : "?";
}

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* "x.y.z" with class c (4 or 5) and at most 3 digits per part after the first. */
static size_t dsn_len(const char *p, char cls)
{
    const char *q = p;
    if (*q != cls || q[1] != '.')
        return 0;
    q += 2;
    for (int part = 0; part < 2; part++) {
        int digits = 0;
        while (isdigit((unsigned char)*q) && digits < 4) {
            q++;
            digits++;
        }
        if (digits == 0 || digits > 3)
            return 0;
        if (part == 0) {
            if (*q != '.')
                return 0;
            q++;
        }
    }
    if (*q && *q != ' ' && *q != '\t')
        return 0;
    return (size_t)(q - p);
}

int access_parse_action(const char *value, struct access_action *a, char **err)
{
    const char *p = skip_ws(value);
    size_t wlen = strcspn(p, " \t");
    const char *arg = skip_ws(p + wlen);
    size_t alen = strlen(arg);

    memset(a, 0, sizeof(*a));
    while (alen > 0 && (arg[alen - 1] == ' ' || arg[alen - 1] == '\t'))
        alen--;
    if (alen > ACCESS_TEXT_MAX) {
        *err = xasprintf("action text longer than %d bytes", ACCESS_TEXT_MAX);
        return -1;
    }
    for (size_t i = 0; i < alen; i++)
        if ((unsigned char)arg[i] < 0x20 || arg[i] == 0x7f) {
            *err = xasprintf("control character in action text");
            return -1;
        }
    memcpy(a->text, arg, alen);
    a->text[alen] = 0;

    if (wlen == 3 && (p[0] == '4' || p[0] == '5') && isdigit((unsigned char)p[1])
        && isdigit((unsigned char)p[2])) {
        a->kind = p[0] == '4' ? ACCESS_DEFER : ACCESS_REJECT;
        a->code = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
        size_t dl = dsn_len(a->text, p[0]);
        if (dl > 0) {
            memcpy(a->dsn, a->text, dl);
            a->dsn[dl] = 0;
            const char *rest = skip_ws(a->text + dl);
            memmove(a->text, rest, strlen(rest) + 1);
        } else {
            snprintf(a->dsn, sizeof(a->dsn), "%c.7.1", p[0]);
        }
        return 0;
    }
    static const struct { const char *name; enum access_kind kind; int arg; } words[] = {
        /* arg: 0 none allowed, 1 optional, 2 required */
        { "OK", ACCESS_OK, 0 }, { "DUNNO", ACCESS_DUNNO, 0 }, { "REJECT", ACCESS_REJECT, 1 },
        { "DEFER", ACCESS_DEFER, 1 }, { "DISCARD", ACCESS_DISCARD, 1 },
        { "HOLD", ACCESS_HOLD, 1 }, { "WARN", ACCESS_WARN, 1 },
        { "PREPEND", ACCESS_PREPEND, 2 }, { "REDIRECT", ACCESS_REDIRECT, 2 },
        { "IGNORE", ACCESS_IGNORE, 0 },
    };
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strlen(words[i].name) != wlen || strncasecmp(p, words[i].name, wlen) != 0)
            continue;
        if (words[i].arg == 0 && alen > 0) {
            *err = xasprintf("%s takes no argument", words[i].name);
            return -1;
        }
        if (words[i].arg == 2 && alen == 0) {
            *err = xasprintf("%s needs an argument", words[i].name);
            return -1;
        }
        a->kind = words[i].kind;
        if (a->kind == ACCESS_REJECT || a->kind == ACCESS_DEFER) {
            char cls = a->kind == ACCESS_REJECT ? '5' : '4';
            a->code = a->kind == ACCESS_REJECT ? 550 : 450;
            size_t dl = dsn_len(a->text, cls);      /* "REJECT 5.7.2 text" */
            if (dl > 0) {
                memcpy(a->dsn, a->text, dl);
                a->dsn[dl] = 0;
                const char *rest = skip_ws(a->text + dl);
                memmove(a->text, rest, strlen(rest) + 1);
            } else {
                snprintf(a->dsn, sizeof(a->dsn), "%c.7.1", cls);
            }
        }
        if (a->kind == ACCESS_REDIRECT && strcspn(a->text, " \t<>") != alen) {
            *err = xasprintf("REDIRECT needs one address without spaces or <>");
            return -1;
        }
        return 0;
    }
    *err = xasprintf("unknown action \"%.*s\"", (int)(wlen > 32 ? 32 : wlen), p);
    return -1;
}

/* Look key up in one table; 1/0/-1. */
static int lookup_one(dict *d, const char *key, str *value)
{
    return *key ? dict_lookup(d, key, value) : 0;
}

static int lookup_client(dict *d, const char *addr, const char *name, str *value)
{
    const char *spec = dict_spec(d);
    int addr_only = strncmp(spec, "cidr:", 5) == 0;
    int rc;

    if (!addr_only && name && *name && strcmp(name, "unknown") != 0) {
        if ((rc = lookup_one(d, name, value)) != 0)
            return rc;
        if (strncmp(spec, "regexp:", 7) != 0)
            for (const char *dot = strchr(name, '.'); dot && dot[1]; dot = strchr(dot + 1, '.'))
                if ((rc = lookup_one(d, dot + 1, value)) != 0)
                    return rc;
    }
    if ((rc = lookup_one(d, addr, value)) != 0)
        return rc;
    if (addr_only || strncmp(spec, "regexp:", 7) == 0)
        return 0;
    /* Truncated address forms: drop the last octet / group, one at a time. */
    char sep = strchr(addr, ':') ? ':' : '.';
    char buf[64];
    snprintf(buf, sizeof(buf), "%s", addr);
    for (int round = 0; round < 8; round++) {
        char *cut = strrchr(buf, sep);
        if (!cut || cut == buf)
            break;
        *cut = 0;
        if (sep == ':' && cut > buf && cut[-1] == ':')
            break;                       /* do not produce forms ending in "::" */
        if ((rc = lookup_one(d, buf, value)) != 0)
            return rc;
    }
    return 0;
}

int access_check_client(char **maps, const char *addr, const char *name, str *value)
{
    if (!addr || strlen(addr) >= 64)
        return 0;
    for (int i = 0; maps && maps[i]; i++) {
        int rc = lookup_client(dict_get(maps[i]), addr, name, value);
        if (rc != 0)
            return rc;
    }
    return 0;
}
