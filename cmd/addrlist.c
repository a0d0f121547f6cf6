/* addrlist.c: RFC 5322 address-list parser (contract in addrlist.h), used by `sendmail -t`
 * to take recipients from To/Cc/Bcc. Two passes over bounded input: a tokenizer that
 * drops white space and comments and returns atoms (with dots), quoted strings, domain
 * literals and the specials < > @ , ; : ; then a small state machine over the tokens
 * that tracks angle brackets and groups and emits one addr-spec per mailbox. */
#include <stdlib.h>
#include <string.h>

#include "addrlist.h"
#include "mem.h"
#include "str.h"

enum tok_type { TOK_ATOM, TOK_QUOTED, TOK_DLIT, TOK_SPECIAL };

struct tok {
    enum tok_type type;
    char special;          /* for TOK_SPECIAL */
    size_t start, len;     /* raw bytes in the input */
};

static int is_ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

static int is_wsp(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int is_special(unsigned char c)
{
    return c && strchr("()<>[]:;@\\,\"", c) != NULL;
}

/* Skip a quoted string or domain literal starting at text[p] (the opening char);
 * returns the index just past the closing char, or 0 if unterminated or bad. */
static size_t skip_delimited(const char *text, size_t len, size_t p, char close)
{
    for (size_t i = p + 1; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '\\') {
            if (++i >= len)
                return 0;
        } else if (c == (unsigned char)close) {
            return i + 1;
        } else if (c == 0 || (is_ctl(c) && !is_wsp(c))) {
            return 0;
        } else if (close == ']' && c == '[') {
            return 0;
        }
    }
    return 0;
}

/* Skip a (possibly nested) comment starting at text[p] == '('; 0 on error. */
static size_t skip_comment(const char *text, size_t len, size_t p, const char **err)
{
    int depth = 0;

    for (size_t i = p; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '\\') {
            i++;
        } else if (c == '(') {
            if (++depth > ADDRLIST_MAX_COMMENT_DEPTH) {
                *err = "comments nested too deeply";
                return 0;
            }
        } else if (c == ')') {
            if (--depth == 0)
                return i + 1;
        } else if (c == 0) {
            *err = "NUL byte in address list";
            return 0;
        }
    }
    *err = "unterminated comment";
    return 0;
}

/* Tokenize; returns the number of tokens or -1 with *err. toks holds len entries. */
static long tokenize(const char *text, size_t len, struct tok *toks, const char **err)
{
    size_t p = 0, n = 0, end;

    while (p < len) {
        unsigned char c = (unsigned char)text[p];
        if (is_wsp(c)) {
            p++;
        } else if (c == '(') {
            if ((end = skip_comment(text, len, p, err)) == 0)
                return -1;
            p = end;
        } else if (c == '"' || c == '[') {
            if ((end = skip_delimited(text, len, p, c == '"' ? '"' : ']')) == 0) {
                *err = c == '"' ? "unterminated or invalid quoted string"
                                : "unterminated or invalid domain literal";
                return -1;
            }
            toks[n++] = (struct tok){ c == '"' ? TOK_QUOTED : TOK_DLIT, 0, p, end - p };
            p = end;
        } else if (c == ')' || c == ']' || c == '\\') {
            *err = c == ')' ? "unbalanced ')'" : c == ']' ? "unbalanced ']'" : "stray backslash";
            return -1;
        } else if (is_special(c)) {
            toks[n++] = (struct tok){ TOK_SPECIAL, (char)c, p, 1 };
            p++;
        } else if (is_ctl(c)) {
            *err = c == 0 ? "NUL byte in address list" : "control character in address list";
            return -1;
        } else {
            size_t s = p;
            while (p < len && !is_wsp((unsigned char)text[p]) && !is_special((unsigned char)text[p])
                   && !is_ctl((unsigned char)text[p]))
                p++;
            toks[n++] = (struct tok){ TOK_ATOM, 0, s, p - s };
        }
    }
    return (long)n;
}

static int is_sp(const struct tok *t, char c)
{
    return t->type == TOK_SPECIAL && t->special == c;
}

/* Append a token's bytes to out, leaving out folding CR/LF inside quoted strings. */
static void append_tok(str *out, const char *text, const struct tok *t)
{
    for (size_t i = 0; i < t->len; i++)
        if (text[t->start + i] != '\r' && text[t->start + i] != '\n')
            str_putc(out, text[t->start + i]);
}

/* Build one addr-spec from toks[s..e) into out. angle: the tokens were inside <>. */
static int build_addr(const char *text, const struct tok *toks, size_t s, size_t e, int angle,
                      str *out, const char **err)
{
    size_t i = s, words = 0;

    str_reset(out);
    if (angle && s < e && is_sp(&toks[s], '@')) {
        /* obs-route: "@dom,@dom:" -- dropped */
        while (i < e && !is_sp(&toks[i], ':')) {
            if (toks[i].type == TOK_QUOTED || (toks[i].type == TOK_SPECIAL
                                                && !is_sp(&toks[i], '@') && !is_sp(&toks[i], ','))) {
                *err = "bad source route";
                return -1;
            }
            i++;
        }
        if (i >= e) {
            *err = "bad source route";
            return -1;
        }
        i++;
    }
    for (; i < e && (toks[i].type == TOK_ATOM || toks[i].type == TOK_QUOTED); i++, words++)
        append_tok(out, text, &toks[i]);
    if (words == 0) {
        *err = angle ? "empty or invalid address in <>" : "missing local part";
        return -1;
    }
    if (i < e) {
        if (!is_sp(&toks[i], '@')) {
            *err = "unexpected character in address";
            return -1;
        }
        str_putc(out, '@');
        i++;
        if (i < e && toks[i].type == TOK_DLIT) {
            append_tok(out, text, &toks[i++]);
        } else {
            size_t d = 0;
            for (; i < e && toks[i].type == TOK_ATOM; i++, d++)
                append_tok(out, text, &toks[i]);
            if (d == 0) {
                *err = "missing domain after '@'";
                return -1;
            }
        }
        if (i < e) {
            *err = "unexpected text after domain";
            return -1;
        }
    } else if (!angle && words > 1) {
        *err = "display name without <address>";
        return -1;
    }
    if (out->len > ADDRLIST_MAX_ADDR_LEN) {
        *err = "address too long";
        return -1;
    }
    return 0;
}

struct parse_state {
    const char *text;
    const struct tok *toks;
    size_t mb_start;        /* first token of the current mailbox */
    long angle_open;        /* index of '<', or -1 */
    long angle_close;       /* index of '>', or -1 */
    char **found;
    size_t nfound;
    str addr;
};

/* Finish the mailbox made of toks[st->mb_start .. end). */
static int finish_mailbox(struct parse_state *st, size_t end, const char **err)
{
    int rc = 0;

    if (st->angle_open >= 0) {
        if (st->angle_close < 0) {
            *err = "missing '>'";
            return -1;
        }
        if ((size_t)st->angle_close + 1 != end) {
            *err = "text after '>'";
            return -1;
        }
        rc = build_addr(st->text, st->toks, (size_t)st->angle_open + 1,
                        (size_t)st->angle_close, 1, &st->addr, err);
    } else if (end > st->mb_start) {
        rc = build_addr(st->text, st->toks, st->mb_start, end, 0, &st->addr, err);
    } else {
        goto next;          /* empty list element (obsolete syntax): nothing to do */
    }
    if (rc < 0)
        return -1;
    if (st->nfound >= ADDRLIST_MAX_ADDRS) {
        *err = "too many addresses";
        return -1;
    }
    st->found[st->nfound++] = str_steal(&st->addr);
next:
    st->mb_start = end + 1;
    st->angle_open = st->angle_close = -1;
    return 0;
}

static int parse_tokens(struct parse_state *st, size_t n, const char **err)
{
    int in_group = 0, after_group = 0;

    for (size_t i = 0; i < n; i++) {
        const struct tok *t = &st->toks[i];
        int inside = st->angle_open >= 0 && st->angle_close < 0;

        if (after_group && !is_sp(t, ',')) {
            *err = "text after group ';'";
            return -1;
        }
        if (t->type != TOK_SPECIAL) {
            if (st->angle_close >= 0) {
                *err = "text after '>'";
                return -1;
            }
            continue;
        }
        switch (t->special) {
        case ',':
            if (inside)
                continue;           /* part of a source route */
            if (after_group) {
                after_group = 0;
                st->mb_start = i + 1;
                continue;
            }
            if (finish_mailbox(st, i, err) < 0)
                return -1;
            break;
        case ':':
            if (inside)
                continue;           /* end of a source route */
            if (st->angle_open >= 0 || in_group) {
                *err = in_group ? "nested group" : "unexpected ':'";
                return -1;
            }
            if (i == st->mb_start) {
                *err = "group without a name";
                return -1;
            }
            for (size_t k = st->mb_start; k < i; k++)
                if (st->toks[k].type != TOK_ATOM && st->toks[k].type != TOK_QUOTED) {
                    *err = "bad group name";
                    return -1;
                }
            in_group = 1;
            st->mb_start = i + 1;
            break;
        case ';':
            if (inside || !in_group) {
                *err = "unexpected ';'";
                return -1;
            }
            if (finish_mailbox(st, i, err) < 0)
                return -1;
            in_group = 0;
            after_group = 1;
            break;
        case '<':
            if (st->angle_open >= 0) {
                *err = "unexpected '<'";
                return -1;
            }
            st->angle_open = (long)i;
            break;
        case '>':
            if (!inside) {
                *err = "unexpected '>'";
                return -1;
            }
            st->angle_close = (long)i;
            break;
        case '@':
            if (st->angle_close >= 0) {
                *err = "text after '>'";
                return -1;
            }
            break;
        default:
            *err = "unexpected special character";
            return -1;
        }
    }
    /* A group left open at the end ("undisclosed-recipients:") is tolerated. */
    if (!after_group && finish_mailbox(st, n, err) < 0)
        return -1;
    return 0;
}

int addrlist_parse(const char *text, size_t len, char ***addrs, const char **err)
{
    struct parse_state st;
    struct tok *toks;
    long n;
    int rc = -1;

    if (len > 16 * 1024 * 1024) {
        *err = "address list too long";
        return -1;
    }
    toks = xcalloc(len + 1, sizeof(*toks));
    memset(&st, 0, sizeof(st));
    str_init(&st.addr);
    st.text = text;
    st.toks = toks;
    st.angle_open = st.angle_close = -1;
    if ((n = tokenize(text, len, toks, err)) < 0)
        goto out;
    /* at most one address per ',' or ';' plus one */
    st.found = xcalloc((size_t)n + 2, sizeof(char *));
    if (parse_tokens(&st, (size_t)n, err) < 0)
        goto out;
    if (st.nfound > 0) {
        size_t have = *addrs ? strv_len(*addrs) : 0;
        if (have + st.nfound > ADDRLIST_MAX_ADDRS) {
            *err = "too many addresses";
            goto out;
        }
        *addrs = xrealloc(*addrs, (have + st.nfound + 1) * sizeof(char *));
        for (size_t k = 0; k < st.nfound; k++) {
            (*addrs)[have + k] = st.found[k];
            st.found[k] = NULL;
        }
        (*addrs)[have + st.nfound] = NULL;
    } else if (*addrs == NULL) {
        *addrs = xcalloc(1, sizeof(char *));
    }
    rc = 0;
out:
    if (st.found) {
        for (size_t k = 0; k < st.nfound; k++)
            free(st.found[k]);
        free(st.found);
    }
    str_free(&st.addr);
    free(toks);
    return rc;
}
