/* local_alias.c: $alias_maps look-ups and recursive alias expansion for the local agent.
 *
 * Key = local part, lowercased; when it has no entry and $recipient_delimiter is set,
 * the key without its extension is tried. The value is a comma-separated address list:
 *   - local addresses (no domain, or a LOCAL-class domain) expand again, at most
 *     LOCAL_ALIAS_DEPTH levels; an alias already being expanded further up the chain
 *     is a loop ("a: b" + "b: a") and bounces 5.4.6; a target naming the alias itself
 *     ("a: a") is the user a (Postfix semantics);
 *   - other addresses are forwarded in one new message per alias (local_forward.c);
 *   - "|command", "/file" and ":include:" are not supported yet and bounce.
 * Each alias is expanded at most once per recipient (a second path to it adds nothing),
 * so aliases that fan out to shared sub-aliases cost linear, not exponential, work. */
#include "local.h"
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "addr.h"
#include "config.h"
#include "dict.h"
#include "mem.h"
#include "resolve.h"

#define LOCAL_ALIAS_MAX_TARGETS 1000

char *local_strip_extension(const char *localpart)
{
    const char *delim = config_str("recipient_delimiter");
    size_t pos;

    if (!*delim)
        return NULL;
    pos = strcspn(localpart, delim);
    if (pos == 0 || localpart[pos] == 0)
        return NULL;
    return xstrndup(localpart, pos);
}

int local_alias_lookup(const char *localpart, str *value, char **key)
{
    char **specs = config_list("alias_maps");
    char *stripped = NULL;
    int rc = 0;

    *key = NULL;
    if (specs[0]) {
        rc = dict_lookup_list(specs, localpart, value);
        if (rc == 1)
            *key = xstrdup(localpart);
        else if (rc == 0 && (stripped = local_strip_extension(localpart)) != NULL) {
            rc = dict_lookup_list(specs, stripped, value);
            if (rc == 1) {
                *key = stripped;
                stripped = NULL;
            }
        }
    }
    free(stripped);
    strv_free(specs);
    return rc;
}

/* Syntax check of one target; 0 ok. Bytes must be printable, no whitespace. */
static int target_syntax_ok(const char *t)
{
    const char *at = strrchr(t, '@');

    if (strlen(t) > LOCAL_ADDR_MAX || *t == '@')
        return 0;
    for (const char *c = t; *c; c++)
        if ((unsigned char) *c <= 0x20 || *c == 0x7f || *c == '<' || *c == '>' || *c == ',')
            return 0;
    if (at && (at == t || !addr_domain_valid(at + 1, strlen(at + 1))))
        return 0;
    return 1;
}

/* "user" -> "user@$myorigin"; the domain part lowercased. Malloc'd. */
static char *canonical_target(const char *t)
{
    char *out = strchr(t, '@') ? xstrdup(t) : xasprintf("%s@%s", t, config_str("myorigin"));
    char *at = strrchr(out, '@');

    lowercase(at + 1);
    return out;
}

static void add_unique(char ***list, int *n, const char *addr)
{
    for (int i = 0; i < *n; i++)
        if (strcasecmp((*list)[i], addr) == 0)
            return;
    *list = xrealloc(*list, (size_t) (*n + 1) * sizeof(**list));
    (*list)[(*n)++] = xstrdup(addr);
}

static void leaf_set(struct local_expansion *x, const char *to, int status, const char *dsn,
                     const char *reason)
{
    struct deliver_result r;

    deliver_result_init(&r);
    deliver_result_set(&r, status, dsn, "%s", reason);
    local_leaf(x, to, &r);
    deliver_result_free(&r);
}

void local_alias_expand(struct local_expansion *x, const char *addr, const char *key,
                        const char *value)
{
    char **targets, **forward = NULL;
    int nforward = 0;
    str reason;

    str_init(&reason);
    for (int i = 0; i < x->depth; i++)
        if (strcmp(x->chain[i], key) == 0) {
            str_printf(&reason, "mail forwarding loop for %s", addr);
            leaf_set(x, addr, DELIVER_BOUNCE, "5.4.6", reason.data);
            str_free(&reason);
            return;
        }
    if (x->depth >= LOCAL_ALIAS_DEPTH) {
        str_printf(&reason, "mail forwarding loop for %s (aliases nested deeper than %d)",
                   addr, LOCAL_ALIAS_DEPTH);
        leaf_set(x, addr, DELIVER_BOUNCE, "5.4.6", reason.data);
        str_free(&reason);
        return;
    }
    if (local_alias_seen(x, key)) {
        str_free(&reason);
        return;                              /* its targets are already handled */
    }
    targets = strv_split(value, ",");
    if (strv_len(targets) > LOCAL_ALIAS_MAX_TARGETS) {
        leaf_set(x, addr, DELIVER_BOUNCE, "5.3.0", "alias expands to too many addresses");
        strv_free(targets);
        str_free(&reason);
        return;
    }
    x->chain[x->depth++] = (char *) key;
    for (int i = 0; targets[i]; i++) {
        char *t = trim(targets[i]), *canon;
        struct resolved res;
        size_t n = strlen(t);

        if (n >= 2 && t[0] == '<' && t[n - 1] == '>') {
            t[n - 1] = 0;
            t++;
        }
        if (!*t)
            continue;
        if (*t == '|' || *t == '/' || strncasecmp(t, ":include:", 9) == 0) {
            leaf_set(x, t, DELIVER_BOUNCE, "5.3.0", "unsupported alias target");
            continue;
        }
        if (!target_syntax_ok(t)) {
            leaf_set(x, "(bad alias target)", DELIVER_BOUNCE, "5.1.3",
                     "bad alias target syntax");
            continue;
        }
        canon = canonical_target(t);
        resolve_addr(canon, &res);
        if (res.cls == ADDR_CLASS_LOCAL)
            local_deliver_local(x, canon, key);
        else
            add_unique(&forward, &nforward, canon);
        free(canon);
    }
    x->depth--;
    if (nforward > 0) {
        struct deliver_result r;
        deliver_result_init(&r);
        local_forward(x->msg, addr, forward, nforward, x->orig, &r);
        local_leaf(x, addr, &r);
        deliver_result_free(&r);
    }
    for (int i = 0; i < nforward; i++)
        free(forward[i]);
    free(forward);
    strv_free(targets);
    str_free(&reason);
}
