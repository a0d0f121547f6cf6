/* local_alias.c: $alias_maps look-ups and recursive alias expansion for the local agent.
 *
 * Key = local part, lowercased; when it has no entry and $recipient_delimiter is set,
 * the key without its extension is tried. The value is a comma-separated address list:
 *   - local addresses (no domain, or a LOCAL-class domain) expand again, at most
 *     LOCAL_ALIAS_DEPTH levels; an alias already being expanded further up the chain
 *     is a loop ("a: b" + "b: a") and bounces 5.4.6; a target naming the alias itself
 *     ("a: a") is the user a (Postfix semantics);
 *   - other addresses are forwarded in one new message per alias (local_forward.c);
 *   - "|command" and "/file" (or "/dir/") targets are delivered here (local_command.c,
 *     local_file.c) with the rights of the alias table's owner (local_privs.c) when
 *     $allow_mail_to_commands / $allow_mail_to_files list the "alias" context, else they
 *     bounce 5.7.1; a target with spaces is written in double quotes ("|cmd arg"), and
 *     may not contain a comma (the list separator);
 *   - ":include:" is not supported yet and bounces.
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
#define LOCAL_SPECIAL_TARGET_MAX 4000    /* bytes of a "|command" or "/file" target */

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

/* Look key up in each table in turn (first match wins, an error stops the search);
 * *spec receives the table that matched. */
static int lookup_in_tables(char **specs, const char *key, str *value, char **spec)
{
    for (int i = 0; specs[i]; i++) {
        char *one[2] = { specs[i], NULL };
        int rc = dict_lookup_list(one, key, value);
        if (rc != 0) {
            if (rc == 1)
                *spec = xstrdup(specs[i]);
            return rc;
        }
    }
    return 0;
}

int local_alias_lookup(const char *localpart, str *value, char **key, char **spec)
{
    char **specs = config_list("alias_maps");
    char *stripped = NULL;
    int rc = 0;

    *key = NULL;
    *spec = NULL;
    if (specs[0]) {
        rc = lookup_in_tables(specs, localpart, value, spec);
        if (rc == 1)
            *key = xstrdup(localpart);
        else if (rc == 0 && (stripped = local_strip_extension(localpart)) != NULL) {
            rc = lookup_in_tables(specs, stripped, value, spec);
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

/* 1 if `context` ("alias") is listed in the list parameter `param`. */
static int context_allowed(const char *param, const char *context)
{
    char **list = config_list(param);
    int yes = 0;

    for (int i = 0; list[i] && !yes; i++)
        yes = strcasecmp(list[i], context) == 0;
    strv_free(list);
    return yes;
}

/* A command or path from an alias: bounded, no control bytes. */
static int special_target_ok(const char *t)
{
    if (strlen(t) > LOCAL_SPECIAL_TARGET_MAX)
        return 0;
    for (const char *c = t; *c; c++)
        if (((unsigned char) *c < 0x20 && *c != '\t') || *c == 0x7f)
            return 0;
    return 1;
}

/* Deliver the "|command" or "/file" target t of the alias reached via addr. */
static void deliver_special(struct local_expansion *x, const char *addr, const char *spec,
                            const char *t)
{
    int is_command = *t == '|';
    const char *what = is_command ? "command" : "file";
    struct deliver_result r;
    struct local_privs privs;
    str seen;

    if (!special_target_ok(t)) {
        leaf_set(x, addr, DELIVER_BOUNCE, "5.3.0", is_command ? "bad alias command target"
                 : "bad alias file target");
        return;
    }
    str_init(&seen);
    str_printf(&seen, ":%s", t);              /* ':' cannot start an alias name */
    if (local_alias_seen(x, seen.data)) {
        str_free(&seen);
        return;                               /* same command or file reached twice */
    }
    str_free(&seen);
    if (!context_allowed(is_command ? "allow_mail_to_commands" : "allow_mail_to_files",
                         "alias")) {
        leaf_set(x, addr, DELIVER_BOUNCE, "5.7.1", is_command
                 ? "mail to command is restricted" : "mail to file is restricted");
        return;
    }
    deliver_result_init(&r);
    if (local_alias_privs(spec, &privs, &r) == 0) {
        if (is_command) {
            const char *cmd = t + 1;
            while (*cmd == ' ' || *cmd == '\t')
                cmd++;
            if (!*cmd)
                deliver_result_set(&r, DELIVER_BOUNCE, "5.3.0", "empty %s alias target", what);
            else
                local_command_deliver(x->msg, addr, x->orig, cmd, &privs, &r);
        } else {
            local_file_deliver(x->msg, addr, t, &privs, &r);
        }
    }
    local_leaf(x, addr, &r);
    deliver_result_free(&r);
}

void local_alias_expand(struct local_expansion *x, const char *addr, const char *key,
                        const char *value, const char *spec)
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
        n = strlen(t);
        if (n >= 2 && t[0] == '"' && t[n - 1] == '"') {   /* "|command with args" */
            t[n - 1] = 0;
            t++;
        }
        if (!*t)
            continue;
        if (*t == '|' || *t == '/') {
            deliver_special(x, addr, spec, t);
            continue;
        }
        if (strncasecmp(t, ":include:", 9) == 0) {
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
