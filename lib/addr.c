/* addr.c: RFC 5321 envelope paths (MAIL FROM / RCPT TO), their ESMTP parameters, xtext,
 * and small helpers on canonical addresses (see addr.h). Used by smtpd on every command
 * and by cleanup/qmgr/local on addresses from other daemons, so everything here treats its
 * input as hostile: it never reads past `len`, bounds every length and rejects control
 * characters and 8-bit bytes (SMTPUTF8 is not offered).
 *
 * Grammar (RFC 5321 4.1.2): Path = "<" [ A-d-l ":" ] Mailbox ">";
 * Mailbox = Local-part "@" ( Domain / address-literal ); Local-part = Dot-string /
 * Quoted-string. Leniencies as Postfix: spaces before the path, and with
 * ADDR_ALLOW_NOBRACKETS a bare address ended by a space or the end of the line. */
#include <arpa/inet.h>
#include <ctype.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "mem.h"

#define ADDR_PARAMS_MAX 32
#define ADDR_PARAM_LEN_MAX 1024

static const char err_syntax[] = "Bad address syntax";

static int is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int is_letdig(int c) { return is_alpha(c) || is_digit(c); }

/* RFC 5322 atext */
static int is_atext(int c)
{
    return is_letdig(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* 1 if s[0..len) is a Dot-string: Atom *("." Atom). */
static int dot_string_valid(const char *s, size_t len)
{
    if (len == 0 || s[0] == '.' || s[len - 1] == '.')
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.') {
            if (s[i + 1] == '.')
                return 0;
        } else if (!is_atext((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

/* Length of a Quoted-string starting at s[0] == '"' within s[0..len), or 0 if invalid.
 * The unescaped content is appended to `content` when not NULL. */
static size_t quoted_string_len(const char *s, size_t len, str *content)
{
    for (size_t i = 1; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"')
            return i + 1;
        if (c == '\\') {
            if (i + 1 >= len)
                return 0;
            unsigned char q = (unsigned char)s[i + 1];
            if (q < 32 || q > 126)
                return 0;
            if (content)
                str_putc(content, q);
            i++;
            continue;
        }
        if (c < 32 || c > 126)       /* qtextSMTP is 32-33 / 35-91 / 93-126 */
            return 0;
        if (content)
            str_putc(content, c);
    }
    return 0;
}

static int addr_literal_valid(const char *d, size_t len)
{
    char buf[64];
    if (len < 3 || d[0] != '[' || d[len - 1] != ']')
        return 0;
    const char *in = d + 1;
    size_t ilen = len - 2;
    int family = AF_INET;
    if (ilen >= 5 && strncasecmp(in, "IPv6:", 5) == 0) {
        family = AF_INET6;
        in += 5;
        ilen -= 5;
    }
    if (ilen == 0 || ilen >= sizeof(buf))
        return 0;
    memcpy(buf, in, ilen);
    buf[ilen] = 0;
    for (size_t i = 0; i < ilen; i++)
        if (!(is_digit(buf[i]) || buf[i] == '.' || buf[i] == ':' || isxdigit((unsigned char)buf[i])))
            return 0;
    unsigned char out[16];
    return inet_pton(family, buf, out) == 1;
}

int addr_domain_valid(const char *domain, size_t len)
{
    if (len == 0 || len > ADDR_DOMAIN_MAX)
        return 0;
    if (domain[0] == '[')
        return addr_literal_valid(domain, len);
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)domain[i];
        if (c == '.') {
            if (label == 0 || domain[i - 1] == '-')
                return 0;
            label = 0;
            continue;
        }
        if (!(is_letdig(c) || c == '-'))
            return 0;
        if (label == 0 && c == '-')
            return 0;
        if (++label > 63)
            return 0;
    }
    return label > 0 && domain[len - 1] != '-';
}

/* Parse a Mailbox (or a bare local part with ADDR_ALLOW_NODOMAIN) from s[0..len) and
 * append its canonical form to out. 0 or -1 with *err. */
static int mailbox_parse(const char *s, size_t len, int flags, str *out, const char **err)
{
    size_t llen;
    str content;
    str_init(&content);
    if (len && s[0] == '"') {
        llen = quoted_string_len(s, len, &content);
        if (llen == 0) {
            str_free(&content);
            *err = err_syntax;
            return -1;
        }
    } else {
        const char *at = memchr(s, '@', len);
        llen = at ? (size_t)(at - s) : len;
        if (!dot_string_valid(s, llen)) {
            str_free(&content);
            *err = err_syntax;
            return -1;
        }
    }
    if (llen > ADDR_LOCAL_MAX) {
        str_free(&content);
        *err = "Local part of address too long";
        return -1;
    }
    /* local part: drop quotes when the content is a plain Dot-string anyway */
    if (s[0] == '"' && dot_string_valid(content.data, content.len))
        str_append(out, content.data, content.len);
    else
        str_append(out, s, llen);
    str_free(&content);

    if (llen == len) {
        if (!(flags & ADDR_ALLOW_NODOMAIN)) {
            *err = "Address must include a domain";
            return -1;
        }
        return 0;
    }
    if (s[llen] != '@') {
        *err = err_syntax;
        return -1;
    }
    const char *dom = s + llen + 1;
    size_t dlen = len - llen - 1;
    if (!addr_domain_valid(dom, dlen)) {
        *err = "Bad domain in address";
        return -1;
    }
    str_putc(out, '@');
    if (dom[0] == '[') {
        str_append(out, dom, dlen);
    } else {
        for (size_t i = 0; i < dlen; i++)
            str_putc(out, tolower((unsigned char)dom[i]));
    }
    return 0;
}

/* Skip an A-d-l ("@dom,@dom:") at s; returns its length including ':' or -1. */
static long source_route_len(const char *s, size_t len)
{
    size_t i = 0;
    for (;;) {
        if (i >= len || s[i] != '@')
            return -1;
        size_t start = ++i;
        while (i < len && s[i] != ',' && s[i] != ':')
            i++;
        if (i >= len || !addr_domain_valid(s + start, i - start))
            return -1;
        if (s[i] == ':')
            return (long)(i + 1);
        i++;                         /* ',' */
    }
}

int addr_parse_path(const char *text, size_t len, int flags, str *out,
                    const char **params, const char **err)
{
    size_t p = 0;
    str_reset(out);
    while (p < len && (text[p] == ' ' || text[p] == '\t'))
        p++;
    int bracketed = p < len && text[p] == '<';
    if (bracketed)
        p++;
    else if (!(flags & ADDR_ALLOW_NOBRACKETS)) {
        *err = "Syntax: address must be enclosed in <>";
        return -1;
    }
    /* Find the end of the path, honouring quoted strings. */
    size_t start = p;
    int inquote = 0;
    for (; p < len; p++) {
        unsigned char c = (unsigned char)text[p];
        if (c < 32 || c > 126) {
            *err = c >= 128 ? "8-bit character in address (SMTPUTF8 is not supported)"
                            : "Control character in address";
            return -1;
        }
        if (inquote) {
            if (c == '\\')
                p++;
            else if (c == '"')
                inquote = 0;
            continue;
        }
        if (c == '"')
            inquote = 1;
        else if (bracketed ? c == '>' : c == ' ')
            break;
    }
    if (p > len)                    /* a backslash was the last byte */
        p = len;
    size_t end = p;
    if (inquote) {
        *err = err_syntax;
        return -1;
    }
    if (bracketed) {
        if (p >= len) {
            *err = "Syntax: missing '>' after address";
            return -1;
        }
        p++;                        /* '>' */
        if (p < len && text[p] != ' ' && text[p] != '\t') {
            *err = err_syntax;
            return -1;
        }
    }
    if (end - start > ADDR_PATH_MAX - 2) {
        *err = "Address too long";
        return -1;
    }
    while (p < len && (text[p] == ' ' || text[p] == '\t'))
        p++;
    const char *s = text + start;
    size_t slen = end - start;
    if (slen == 0) {
        if (!bracketed) {
            *err = err_syntax;
            return -1;
        }
        if (!(flags & ADDR_ALLOW_NULL)) {
            *err = "Null address not allowed here";
            return -1;
        }
        *params = text + p;
        return 0;
    }
    if (s[0] == '@') {
        long r = source_route_len(s, slen);
        if (r < 0) {
            *err = "Bad source route in address";
            return -1;
        }
        s += r;
        slen -= (size_t)r;
    }
    if (slen == 0 || mailbox_parse(s, slen, flags, out, err) < 0) {
        if (slen == 0)
            *err = err_syntax;
        str_reset(out);
        return -1;
    }
    *params = text + p;
    return 0;
}

/* --- ESMTP parameters ------------------------------------------------------------- */

int addr_parse_params(const char *text, char ***keys, char ***values, const char **err)
{
    char **k = xcalloc(ADDR_PARAMS_MAX + 1, sizeof(char *));
    char **v = xcalloc(ADDR_PARAMS_MAX + 1, sizeof(char *));
    int n = 0;
    const char *p = text;
    *keys = *values = NULL;
    for (;;) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        const char *w = p;
        while (*p && *p != ' ')
            p++;
        size_t wlen = (size_t)(p - w);
        if (n >= ADDR_PARAMS_MAX) {
            *err = "Too many parameters";
            goto fail;
        }
        if (wlen > ADDR_PARAM_LEN_MAX) {
            *err = "Parameter too long";
            goto fail;
        }
        const char *eq = memchr(w, '=', wlen);
        size_t klen = eq ? (size_t)(eq - w) : wlen;
        if (klen == 0 || !is_letdig((unsigned char)w[0])) {
            *err = "Bad parameter syntax";
            goto fail;
        }
        for (size_t i = 1; i < klen; i++)
            if (!is_letdig((unsigned char)w[i]) && w[i] != '-') {
                *err = "Bad parameter syntax";
                goto fail;
            }
        if (eq) {
            size_t vlen = wlen - klen - 1;
            if (vlen == 0) {
                *err = "Bad parameter syntax";
                goto fail;
            }
            for (size_t i = 0; i < vlen; i++) {
                unsigned char c = (unsigned char)eq[1 + i];
                if (c < 33 || c > 126 || c == '=') {
                    *err = "Bad parameter value";
                    goto fail;
                }
            }
            v[n] = xstrndup(eq + 1, vlen);
        } else {
            v[n] = xstrdup("");
        }
        k[n] = xstrndup(w, klen);
        for (char *c = k[n]; *c; c++)
            *c = (char)toupper((unsigned char)*c);
        n++;
    }
    *keys = k;
    *values = v;
    return 0;
fail:
    strv_free(k);
    strv_free(v);
    return -1;
}

/* --- helpers on canonical addresses ----------------------------------------------- */

/* The '@' that separates local part and domain: the last one outside a quoted string. */
static const char *addr_at(const char *addr)
{
    const char *at = NULL;
    int inquote = 0;
    for (const char *p = addr; *p; p++) {
        if (inquote) {
            if (*p == '\\' && p[1])
                p++;
            else if (*p == '"')
                inquote = 0;
        } else if (*p == '"') {
            inquote = 1;
        } else if (*p == '@') {
            at = p;
        }
    }
    return at;
}

const char *addr_domain(const char *addr)
{
    const char *at = addr_at(addr);
    return at ? at + 1 : NULL;
}

void addr_local(const char *addr, str *out)
{
    const char *at = addr_at(addr);
    size_t len = at ? (size_t)(at - addr) : strlen(addr);
    str_reset(out);
    if (len >= 2 && addr[0] == '"') {
        str content;
        str_init(&content);
        if (quoted_string_len(addr, len, &content) == len) {
            str_append(out, content.data, content.len);
            str_free(&content);
            return;
        }
        str_free(&content);
    }
    str_append(out, addr, len);
}

int xtext_decode(const char *in, str *out)
{
    static const char hex[] = "0123456789ABCDEF";
    str_reset(out);
    for (const char *p = in; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '+') {
            const char *h1 = p[1] ? strchr(hex, p[1]) : NULL;
            const char *h2 = h1 && p[2] ? strchr(hex, p[2]) : NULL;
            if (!h1 || !h2)
                return -1;
            str_putc(out, (int)((h1 - hex) << 4 | (h2 - hex)));
            p += 2;
        } else if (c < 33 || c > 126 || c == '=') {
            return -1;
        } else {
            str_putc(out, c);
        }
    }
    return 0;
}
