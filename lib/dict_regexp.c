/* dict_regexp.c: regexp: tables as in Postfix's regexp_table(5), with POSIX extended
 * regular expressions (regcomp). The file is read and compiled once at open; a bad line
 * makes the open fail with "file:LINE: reason", so a daemon refuses to start rather
 * than run with half a table. Rules, first match wins:
 *     /pattern/flags result      pattern matches the key
 *     !/pattern/flags result     pattern does not match ($N not allowed in result)
 *     if /pattern/flags          the rules up to the matching endif apply only when
 *     endif                      the key matches (if !/pattern/ likewise; they nest)
 * Any delimiter other than whitespace, a letter, a digit or backslash may replace '/'.
 * Flags toggle: i case-insensitive (on by default), m multi-line (REG_NEWLINE, off),
 * x extended syntax (REG_EXTENDED, on). In the result, $1..$9, ${N} and $(N) are the
 * matched subexpressions and $$ is a literal $. Keys are matched as given (not
 * lowercased); dict.c bounds their length (DICT_REGEXP_KEY_MAX). */
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "dict_impl.h"
#include "dict_text.h"
#include "log.h"
#include "mem.h"

#define REGEXP_IF_DEPTH_MAX 64
#define REGEXP_RESULT_MAX   65536      /* bytes of an expanded result */

enum rule_kind { RULE_MATCH, RULE_IF, RULE_ENDIF };

struct regexp_rule {
    enum rule_kind kind;
    int negate;
    regex_t re;
    int compiled;
    char *result;                      /* RULE_MATCH only */
    int end;                           /* RULE_IF: index just after its endif */
    int lineno;
};

typedef struct dict_regexp {
    struct dict dict;
    char *name;
    struct regexp_rule *rules;
    int count, cap;
} dict_regexp;

struct parse_ctx {
    dict_regexp *d;
    const char *name;
    int stack[REGEXP_IF_DEPTH_MAX];
    int depth;
};

static int is_ws(char c)
{
    return c == ' ' || c == '\t';
}

/* Guard against patterns whose compiled form or compile time explodes. glibc copies
 * the repeated expression for {n,m} (up to m copies) and for + (2), so nested or
 * stacked repetitions multiply; bounded groups that may match the empty string make
 * regcomp's closure computation take seconds to minutes (measured: "(a*){1,93}+" 8 s).
 * Refused: back-references (\1..\9, exponential matching), a repetition operator right
 * after another one (undefined in POSIX; "a{2,3}+++..." exhausts memory), a bound over
 * 255 (over 16 on a group), a product of all bounds over 4096, and a product of the
 * repetition factors applied to groups over 256. NULL if fine, else the reason. */
#define REGEXP_BOUND_MAX 255
#define REGEXP_GROUP_BOUND_MAX 16
#define REGEXP_BOUND_PRODUCT_MAX 4096
#define REGEXP_GROUP_PRODUCT_MAX 256

/* p is at '['; return the closing ']' of the bracket expression, or NULL if none. */
static const char *bracket_end(const char *p)
{
    const char *q = p + 1;
    if (*q == '^')
        q++;
    if (*q == ']')
        q++;                                     /* a leading ']' is literal */
    while (*q && *q != ']') {
        if (*q == '[' && (q[1] == ':' || q[1] == '.' || q[1] == '=')) {
            char t = q[1];
            for (q += 2; *q && !(*q == t && q[1] == ']'); q++)
                ;
            if (!*q)
                return NULL;
            q += 2;
            continue;
        }
        q++;
    }
    return *q ? q : NULL;
}

static const char *pattern_too_costly(const char *pat)
{
    enum { OTHER, ATOM, GROUP, REPEAT } prev = OTHER;
    long product = 1, group_product = 1;

    for (const char *p = pat; *p; p++) {
        switch (*p) {
        case '\\':
            if (p[1] >= '1' && p[1] <= '9')
                return "back-references are not supported";
            if (p[1])
                p++;
            prev = ATOM;
            break;
        case '[':
            if ((p = bracket_end(p)) == NULL)
                return NULL;                     /* regcomp reports the error */
            prev = ATOM;
            break;
        case ')':
            prev = GROUP;
            break;
        case '(': case '|': case '^':
            prev = OTHER;
            break;
        case '*': case '+': case '?':
            if (prev == REPEAT)
                return "repetition operator after another one";
            if (*p == '+' && prev == GROUP)
                group_product *= 2;
            prev = REPEAT;
            break;
        case '{': {
            /* "{n", and "{,m}" which glibc reads as {0,m} */
            if ((p[1] < '0' || p[1] > '9') && !(p[1] == ',' && p[2] >= '0' && p[2] <= '9')) {
                prev = ATOM;
                break;
            }
            if (prev == REPEAT)
                return "repetition operator after another one";
            long biggest = 1;
            for (p++; *p && *p != '}'; p++) {
                if (*p < '0' || *p > '9')
                    continue;
                long v = 0;
                while (*p >= '0' && *p <= '9' && v <= REGEXP_BOUND_MAX)
                    v = v * 10 + (*p++ - '0');
                if (v > REGEXP_BOUND_MAX)
                    return "repetition count too large (at most 255)";
                if (prev == GROUP && v > REGEXP_GROUP_BOUND_MAX)
                    return "repetition count of a group too large (at most 16)";
                if (v > biggest)
                    biggest = v;
                p--;
            }
            if (!*p)
                return NULL;                     /* regcomp reports the error */
            product *= biggest;
            if (prev == GROUP)
                group_product *= biggest;
            prev = REPEAT;
            break;
        }
        default:
            prev = ATOM;
            break;
        }
        if (product > REGEXP_BOUND_PRODUCT_MAX || group_product > REGEXP_GROUP_PRODUCT_MAX)
            return "too many repetitions in one pattern";
    }
    return NULL;
}

/* Parse "/pattern/flags" at *pp into re; advances *pp past the flags. */
static int parse_pattern(struct parse_ctx *c, int lineno, const char **pp, regex_t *re,
                         char **err)
{
    const char *p = *pp;
    char delim = *p;
    int cflags = REG_EXTENDED | REG_ICASE;

    if (!delim || is_ws(delim) || delim == '\\' || (delim >= 'a' && delim <= 'z')
        || (delim >= 'A' && delim <= 'Z') || (delim >= '0' && delim <= '9')) {
        *err = xasprintf("%s:%d: expected /pattern/", c->name, lineno);
        return -1;
    }
    const char *start = ++p;
    while (*p && *p != delim) {
        if (*p == '\\' && p[1])
            p++;
        p++;
    }
    if (*p != delim) {
        *err = xasprintf("%s:%d: missing closing '%c' of the pattern", c->name, lineno, delim);
        return -1;
    }
    char *pattern = xstrndup(start, (size_t)(p - start));
    for (p++; *p && !is_ws(*p); p++) {
        switch (*p) {
        case 'i': cflags ^= REG_ICASE; break;
        case 'm': cflags ^= REG_NEWLINE; break;
        case 'x': cflags ^= REG_EXTENDED; break;
        default:
            *err = xasprintf("%s:%d: unknown regexp flag '%c'", c->name, lineno, *p);
            free(pattern);
            return -1;
        }
    }
    if (*pattern == 0) {
        *err = xasprintf("%s:%d: empty pattern", c->name, lineno);
        free(pattern);
        return -1;
    }
    const char *costly = pattern_too_costly(pattern);
    if (costly) {
        *err = xasprintf("%s:%d: %s", c->name, lineno, costly);
        free(pattern);
        return -1;
    }
    int rc = regcomp(re, pattern, cflags);
    free(pattern);
    if (rc != 0) {
        char why[256];
        regerror(rc, re, why, sizeof(why));
        *err = xasprintf("%s:%d: bad regular expression: %s", c->name, lineno, why);
        return -1;
    }
    *pp = p;
    return 0;
}

/* Check the $ references of a result against the pattern's subexpression count. */
static int check_result(struct parse_ctx *c, int lineno, const char *result, size_t nsub,
                        int negate, char **err)
{
    for (const char *p = result; *p; p++) {
        if (*p != '$')
            continue;
        p++;
        if (*p == '$')
            continue;
        int n;
        if ((*p == '{' || *p == '(') && p[1] >= '0' && p[1] <= '9'
            && p[2] == (*p == '{' ? '}' : ')')) {
            n = p[1] - '0';
            p += 2;
        } else if (*p >= '0' && *p <= '9') {
            n = *p - '0';
        } else {
            *err = xasprintf("%s:%d: bad $ substitution in result (use $$ for a literal $)",
                             c->name, lineno);
            return -1;
        }
        if (negate) {
            *err = xasprintf("%s:%d: $%d in the result of a negated pattern", c->name,
                             lineno, n);
            return -1;
        }
        if (n == 0 || (size_t)n > nsub) {
            *err = xasprintf("%s:%d: $%d out of range (the pattern has %zu subexpressions)",
                             c->name, lineno, n, nsub);
            return -1;
        }
    }
    return 0;
}

static struct regexp_rule *new_rule(dict_regexp *d, enum rule_kind kind, int lineno)
{
    if (d->count == d->cap) {
        d->cap = d->cap ? 2 * d->cap : 16;
        d->rules = xrealloc(d->rules, (size_t)d->cap * sizeof(*d->rules));
    }
    struct regexp_rule *r = &d->rules[d->count++];
    memset(r, 0, sizeof(*r));
    r->kind = kind;
    r->lineno = lineno;
    return r;
}

static int parse_line(const char *line, int lineno, void *vctx, char **err)
{
    struct parse_ctx *c = vctx;
    dict_regexp *d = c->d;
    const char *p = line;

    if (strcmp(line, "endif") == 0) {
        if (c->depth == 0) {
            *err = xasprintf("%s:%d: endif without if", c->name, lineno);
            return -1;
        }
        new_rule(d, RULE_ENDIF, lineno);
        d->rules[c->stack[--c->depth]].end = d->count;
        return 0;
    }
    int is_if = strncmp(p, "if", 2) == 0 && (is_ws(p[2]) || p[2] == '!');
    if (is_if) {
        p += 2;
        while (is_ws(*p))
            p++;
        if (c->depth == REGEXP_IF_DEPTH_MAX) {
            *err = xasprintf("%s:%d: if nested too deeply", c->name, lineno);
            return -1;
        }
    }
    int negate = 0;
    if (*p == '!') {
        negate = 1;
        p++;
    }
    regex_t re;
    if (parse_pattern(c, lineno, &p, &re, err) < 0)
        return -1;
    while (is_ws(*p))
        p++;
    if (is_if && *p) {
        *err = xasprintf("%s:%d: text after \"if /pattern/\"", c->name, lineno);
        regfree(&re);
        return -1;
    }
    if (!is_if && !*p) {
        *err = xasprintf("%s:%d: missing result after the pattern", c->name, lineno);
        regfree(&re);
        return -1;
    }
    if (!is_if && check_result(c, lineno, p, re.re_nsub, negate, err) < 0) {
        regfree(&re);
        return -1;
    }
    struct regexp_rule *r = new_rule(d, is_if ? RULE_IF : RULE_MATCH, lineno);
    r->re = re;
    r->compiled = 1;
    r->negate = negate;
    if (is_if)
        c->stack[c->depth++] = d->count - 1;
    else
        r->result = xstrdup(p);
    return 0;
}

/* Expand $N references of result with the matches of key. -1 if too long. */
static int expand(const char *result, const char *key, const regmatch_t *m, str *out)
{
    str_reset(out);
    for (const char *p = result; *p; p++) {
        if (*p != '$') {
            str_putc(out, *p);
        } else if (p[1] == '$') {
            str_putc(out, '$');
            p++;
        } else {
            int n;
            if (p[1] == '{' || p[1] == '(') {
                n = p[2] - '0';
                p += 3;
            } else {
                n = p[1] - '0';
                p += 1;
            }
            if (n >= 1 && n <= 9 && m[n].rm_so >= 0 && m[n].rm_eo >= m[n].rm_so)
                str_append(out, key + m[n].rm_so, (size_t)(m[n].rm_eo - m[n].rm_so));
        }
        if (out->len > REGEXP_RESULT_MAX)
            return -1;
    }
    return 0;
}

static int dict_regexp_lookup(dict *dd, const char *key, str *value)
{
    dict_regexp *d = (dict_regexp *)dd;
    regmatch_t m[10];
    int i = 0;

    /* Bounded: i strictly increases (an if's end is after the if). */
    while (i < d->count) {
        struct regexp_rule *r = &d->rules[i];
        if (r->kind == RULE_ENDIF) {
            i++;
            continue;
        }
        int matched = regexec(&r->re, key, 10, m, 0) == 0;
        if (r->negate)
            matched = !matched;
        if (r->kind == RULE_IF) {
            i = matched ? i + 1 : r->end;
            continue;
        }
        if (matched) {
            if (r->negate)                   /* no $N here (checked at open); $$ only */
                for (int k = 0; k < 10; k++)
                    m[k].rm_so = m[k].rm_eo = -1;
            if (expand(r->result, key, m, value) < 0) {
                msg_warn("%s:%d: result too long after $ substitution", d->name, r->lineno);
                return -1;
            }
            return 1;
        }
        i++;
    }
    return 0;
}

static void dict_regexp_close(dict *dd)
{
    dict_regexp *d = (dict_regexp *)dd;
    for (int i = 0; i < d->count; i++) {
        if (d->rules[i].compiled)
            regfree(&d->rules[i].re);
        free(d->rules[i].result);
    }
    free(d->rules);
    free(d->name);
    free(d);
}

dict *dict_regexp_open_buf(const char *name, const char *buf, size_t len, char **err)
{
    dict_regexp *d = xcalloc(1, sizeof(*d));
    struct parse_ctx c;

    d->name = xstrdup(name);
    d->dict.spec = xasprintf("regexp:%s", name);
    d->dict.lookup = dict_regexp_lookup;
    d->dict.close = dict_regexp_close;
    memset(&c, 0, sizeof(c));
    c.d = d;
    c.name = name;
    if (dict_text_parse(name, buf, len, parse_line, &c, err) < 0) {
        dict_close(&d->dict);
        return NULL;
    }
    if (c.depth > 0) {
        *err = xasprintf("%s:%d: if without endif", name, d->rules[c.stack[c.depth - 1]].lineno);
        dict_close(&d->dict);
        return NULL;
    }
    return &d->dict;
}

dict *dict_regexp_open(const char *name, char **err)
{
    size_t len;
    char *buf = dict_text_read(name, &len, err);
    if (!buf)
        return NULL;
    dict *d = dict_regexp_open_buf(name, buf, len, err);
    free(buf);
    return d;
}
