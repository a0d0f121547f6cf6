/* cmd_check.c: `postern check` and the checked `postern reload`.
 *
 * check answers "would a (re)start succeed with this configuration?" and lists every
 * problem it finds as "FILE:LINE: message", exit 0 only when there is none:
 *   - main.cf syntax, unknown parameters, values that do not parse as their type
 *     (config_validate, strict);
 *   - master.cf syntax and services (cmd_check_services.c);
 *   - every lookup table named by a parameter: each item of a *_maps list, and items of
 *     other lists that name a table (mydestination, relay_domains, restriction lists...);
 *   - TLS: security level, protocol lists, and the certificates/keys loaded exactly as
 *     smtpd loads them (lib/tls.h);
 *   - the queue directory: absolute, not group/world writable, subdirectories owned by
 *     the right user with the modes master gives them;
 * and the same for each master.cf service's "-o name=value" overrides (reported at the
 * master.cf line). `postern reload` runs the same checks (except the port bind test,
 * the running master holds those ports) and refuses to signal the master on problems. */
#define _GNU_SOURCE 1
#include "cmd.h"
#include "cmd_check.h"
#include "config.h"
#include "dict.h"
#include "mastercf.h"
#include "mem.h"
#include "params.h"
#include "privs.h"
#include "queue.h"
#include "str.h"
#include "tls.h"
#include "../master/pidfile.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

/* Where a parameter's value comes from, for messages: its main.cf line, or the master.cf
 * line whose -o overrides are being checked. */
struct origin {
    const char *override_file;     /* NULL: plain main.cf pass */
    int override_line;
};

/* Table specs already opened (each is checked once, whatever refers to it). */
struct seen { char **specs; size_t n, cap; };

void check_problem(struct check_ctx *c, const char *file, int line, const char *fmt, ...)
{
    if (c->problems >= CHECK_PROBLEMS_MAX) {
        if (c->problems++ == CHECK_PROBLEMS_MAX)
            str_appendf(&c->report, "postern: more than %d problems, the rest not shown\n",
                        CHECK_PROBLEMS_MAX);
        return;
    }
    va_list ap;
    if (line > 0)
        str_appendf(&c->report, "%s:%d: ", file, line);
    else
        str_appendf(&c->report, "%s: ", file);
    va_start(ap, fmt);
    str_vappendf(&c->report, fmt, ap);
    va_end(ap);
    str_putc(&c->report, '\n');
    c->problems++;
}

/* Report a problem about parameter NAME at the place its value comes from. */
static void param_problem(struct check_ctx *c, const struct origin *o, const char *name,
                          const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void param_problem(struct check_ctx *c, const struct origin *o, const char *name,
                          const char *fmt, ...)
{
    str msg;
    str_init(&msg);
    va_list ap;
    va_start(ap, fmt);
    str_vappendf(&msg, fmt, ap);
    va_end(ap);
    int line = config_line(name);
    if (line > 0)
        check_problem(c, config_file_path(), line, "%s: %s", name, msg.data);
    else if (o->override_file)
        check_problem(c, o->override_file, o->override_line, "%s: %s", name, msg.data);
    else
        check_problem(c, config_file_path(), 0, "%s (default value): %s", name, msg.data);
    str_free(&msg);
}

/* Add the lines of a config_validate report; returns 1 if one of them is an expansion
 * error (then config_str() on that parameter would be fatal, so deeper checks stop).
 * With a prefix (a master.cf -o pass) only the lines about overrides are added. */
static int add_validate_report(struct check_ctx *c, const char *report, const char *prefix)
{
    int expansion_error = 0;
    const char *p = report;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len > 0) {
            str line;
            str_init(&line);
            str_setn(&line, p, len);
            int from_override = strncmp(line.data, "override ", 9) == 0;
            if (!strstr(line.data, ": bad value for ") && !strstr(line.data, ": unknown parameter "))
                expansion_error = 1;
            if (prefix) {
                if (from_override)   /* the rest was reported by the main.cf pass */
                    check_problem(c, prefix, 0, "%s", line.data);
            }
            else {
                if (c->problems < CHECK_PROBLEMS_MAX)
                    str_appendf(&c->report, "%s\n", line.data);
                c->problems++;
            }
            str_free(&line);
        }
        p += len + (nl ? 1 : 0);
    }
    return expansion_error;
}

/* --- lookup tables ----------------------------------------------------------------- */

static int is_table_type(const char *item)
{
    static const char *const types[] = {
        "hash", "btree", "static", "inline", "unix", "regexp", "cidr", "pcre", "texthash",
        "lmdb", "cdb", "dbm", "sdbm", "proxy", "ldap", "mysql", "pgsql", "sqlite", "tcp",
        "socketmap", "memcache", "nis", "nisplus", "environ", "fail", "pipemap", "unionmap",
        "randmap", NULL
    };
    const char *colon = strchr(item, ':');
    if (!colon)
        return 0;
    for (int i = 0; types[i]; i++)
        if (strlen(types[i]) == (size_t)(colon - item) && strncmp(item, types[i], (size_t)(colon - item)) == 0)
            return 1;
    return 0;
}

static int seen_add(struct seen *s, const char *spec)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->specs[i], spec) == 0)
            return 0;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->specs = xrealloc(s->specs, s->cap * sizeof *s->specs);
    }
    s->specs[s->n++] = xstrdup(spec);
    return 1;
}

static void seen_free(struct seen *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->specs[i]);
    free(s->specs);
    memset(s, 0, sizeof *s);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

/* Open every table the list parameter NAME names. In a *_maps parameter every item must
 * be a table; elsewhere only items that start with a table type are tables. */
static void check_tables_of(struct check_ctx *c, const struct origin *o, struct seen *seen,
                            const char *name)
{
    int all_tables = ends_with(name, "_maps");
    char **items = config_list(name);
    for (char **it = items; *it; it++) {
        if (!is_table_type(*it)) {
            if (all_tables)
                param_problem(c, o, name, "\"%.200s\" is not a lookup table (expected type:name, "
                              "e.g. hash:/etc/postern/aliases)", *it);
            continue;
        }
        if (!seen_add(seen, *it))
            continue;
        char *err = NULL;
        dict *d = dict_open(*it, &err);
        if (!d) {
            param_problem(c, o, name, "%s", err ? err : "cannot open table");
            free(err);
            continue;
        }
        dict_close(d);
    }
    strv_free(items);
}

struct unknown_maps { char **names; size_t n, cap; };

static void collect_unknown_maps(const char *name, const char *raw, void *ctx)
{
    (void)raw;
    struct unknown_maps *u = ctx;
    if (param_find(name) || !ends_with(name, "_maps"))
        return;
    if (u->n == u->cap) {
        u->cap = u->cap ? u->cap * 2 : 8;
        u->names = xrealloc(u->names, u->cap * sizeof *u->names);
    }
    u->names[u->n++] = xstrdup(name);
}

static void check_tables(struct check_ctx *c, const struct origin *o, struct seen *seen)
{
    /* parameters set explicitly first: a table named in alias_maps is reported at the
     * alias_maps line, not at a default that refers to $alias_maps */
    for (int pass = 0; pass < 2; pass++)
        for (const struct param_def *p = param_table; p->name; p++)
            if (p->type == PARAM_LIST && strcmp(p->name, "alias_database") != 0 &&
                config_is_set(p->name) == !pass)
                check_tables_of(c, o, seen, p->name);
    /* *_maps parameters postern does not know yet (e.g. transport_maps) are reported as
     * unknown already; their tables must still open */
    struct unknown_maps u = { 0 };
    config_foreach_set(collect_unknown_maps, &u);
    for (size_t i = 0; i < u.n; i++) {
        check_tables_of(c, o, seen, u.names[i]);
        free(u.names[i]);
    }
    free(u.names);
}

/* --- TLS --------------------------------------------------------------------------- */

static const char *cipherlist_for(const char *grade_param)
{
    return strcasecmp(config_str(grade_param), "high") == 0 ? config_str("tls_high_cipherlist")
                                                             : config_str("tls_medium_cipherlist");
}

static void check_tls(struct check_ctx *c, const struct origin *o)
{
    enum tls_level level = TLS_LEV_NONE;
    const char *lev = config_str("smtpd_tls_security_level");
    if (tls_level_parse(lev, &level) != 0 || level == TLS_LEV_VERIFY)
        param_problem(c, o, "smtpd_tls_security_level", "bad value \"%.64s\" (expected none, may "
                      "or encrypt)", lev);
    int wrapper = 0;
    (void)parse_bool(config_str("smtpd_tls_wrappermode"), &wrapper);   /* validated */
    static const char *const proto_params[] = { "smtpd_tls_protocols",
                                                "smtpd_tls_mandatory_protocols", NULL };
    for (int i = 0; proto_params[i]; i++) {
        int lo, hi;
        const char *why = NULL;
        if (tls_protocols_parse(config_str(proto_params[i]), &lo, &hi, &why) != 0)
            param_problem(c, o, proto_params[i], "%s", why ? why : "bad protocol list");
    }
    static const char *const grade_params[] = { "smtpd_tls_ciphers",
                                                "smtpd_tls_mandatory_ciphers", NULL };
    for (int i = 0; grade_params[i]; i++) {
        const char *g = config_str(grade_params[i]);
        if (strcasecmp(g, "high") != 0 && strcasecmp(g, "medium") != 0)
            param_problem(c, o, grade_params[i], "bad cipher grade \"%.64s\" (expected medium "
                          "or high)", g);
    }
    struct tls_server_opts opts = { 0 };
    opts.cert_file = config_str("smtpd_tls_cert_file");
    opts.key_file = config_str("smtpd_tls_key_file");
    opts.eccert_file = config_str("smtpd_tls_eccert_file");
    opts.eckey_file = config_str("smtpd_tls_eckey_file");
    opts.chain_files = config_list("smtpd_tls_chain_files");
    int have_cert = *opts.cert_file || *opts.eccert_file || opts.chain_files[0];
    if ((level != TLS_LEV_NONE || wrapper) && !have_cert) {
        param_problem(c, o, wrapper ? "smtpd_tls_wrappermode" : "smtpd_tls_security_level",
                      "TLS is enabled but no certificate is configured (smtpd_tls_cert_file, "
                      "smtpd_tls_eccert_file or smtpd_tls_chain_files)");
    } else if (have_cert) {
        str exclude;
        str_init(&exclude);
        char **ex = config_list("smtpd_tls_exclude_ciphers");
        for (char **e = ex; *e; e++)
            str_appendf(&exclude, "%s%s", exclude.len ? ":" : "", *e);
        strv_free(ex);
        int mandatory = level == TLS_LEV_ENCRYPT;
        opts.protocols = config_str(mandatory ? "smtpd_tls_mandatory_protocols" : "smtpd_tls_protocols");
        opts.cipherlist = cipherlist_for(mandatory ? "smtpd_tls_mandatory_ciphers" : "smtpd_tls_ciphers");
        opts.exclude_ciphers = exclude.len ? exclude.data : NULL;
        opts.session_timeout = 3600;
        opts.ticket_key_file = NULL;        /* do not create the shared ticket key here */
        char *err = NULL;
        tls_ctx *ctx = tls_server_ctx_new(&opts, &err);
        if (!ctx) {
            const char *about = *opts.cert_file ? (config_line("smtpd_tls_key_file") ? "smtpd_tls_key_file"
                                                                                      : "smtpd_tls_cert_file")
                              : *opts.eccert_file ? "smtpd_tls_eccert_file" : "smtpd_tls_chain_files";
            param_problem(c, o, about, "cannot load the TLS certificate/key: %s",
                          err ? err : "unknown error");
            free(err);
        } else {
            tls_ctx_free(ctx);
        }
        str_free(&exclude);
    }
    strv_free(opts.chain_files);
}

/* --- queue directory --------------------------------------------------------------- */

static void check_queue_dir(struct check_ctx *c, const struct origin *o)
{
    const char *qdir = config_str("queue_directory");
    if (qdir[0] != '/') {
        param_problem(c, o, "queue_directory", "must be an absolute path: \"%.200s\"", qdir);
        return;
    }
    uid_t owner = geteuid();
    if (privs_is_root()) {
        const char *user = config_str("mail_owner");
        gid_t gid;
        if (privs_lookup_user(user, &owner, &gid) != 0) {
            param_problem(c, o, "mail_owner", "\"%.64s\" is not a known user (create it: "
                          "useradd --system --no-create-home --shell /usr/sbin/nologin %.64s)",
                          user, user);
            return;
        }
        if (owner == 0) {
            param_problem(c, o, "mail_owner", "\"%.64s\" must not be root", user);
            return;
        }
    }
    struct stat st;
    if (lstat(qdir, &st) != 0) {
        if (errno != ENOENT)
            param_problem(c, o, "queue_directory", "%s: %s", qdir, strerror(errno));
        else if (cmd_verbose)
            printf("postern: %s does not exist yet; postern start creates it\n", qdir);
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        param_problem(c, o, "queue_directory", "%s is not a directory", qdir);
        return;
    }
    if (st.st_mode & 022)
        param_problem(c, o, "queue_directory", "%s is group or world writable (mode %04o)",
                      qdir, (unsigned)(st.st_mode & 07777));
    if (st.st_uid != 0 && st.st_uid != owner && st.st_uid != geteuid())
        param_problem(c, o, "queue_directory", "%s is owned by uid %ld (expected %ld or root)",
                      qdir, (long)st.st_uid, (long)owner);
    for (int i = 0; queue_names[i]; i++) {
        char *path = xasprintf("%s/%s", qdir, queue_names[i]);
        mode_t want = strcmp(queue_names[i], "public") == 0 ? 0711 : 0700;
        if (lstat(path, &st) != 0) {
            if (errno != ENOENT)
                param_problem(c, o, "queue_directory", "%s: %s", path, strerror(errno));
        } else if (!S_ISDIR(st.st_mode)) {
            param_problem(c, o, "queue_directory", "%s is not a directory", path);
        } else {
            if ((st.st_mode & 07777) != want)
                param_problem(c, o, "queue_directory", "%s has mode %04o (expected %04o)", path,
                              (unsigned)(st.st_mode & 07777), (unsigned)want);
            if (st.st_uid != owner)
                param_problem(c, o, "queue_directory", "%s is owned by uid %ld (expected %ld)",
                              path, (long)st.st_uid, (long)owner);
        }
        free(path);
    }
}

/* --- the passes -------------------------------------------------------------------- */

/* Checks that read parameter values (tables, TLS); queue only in the main.cf pass. */
static void check_values(struct check_ctx *c, const struct origin *o, struct seen *seen)
{
    check_tables(c, o, seen);
    check_tls(c, o);
    if (!o->override_file)
        check_queue_dir(c, o);
}

/* Re-check with one master.cf entry's -o overrides applied. */
static void check_overrides(struct check_ctx *c, const struct mastercf_entry *e,
                            const char *mcf_path, struct seen *seen)
{
    int have = 0, tls = 0;
    for (char **a = e->args; a && *a; a++)
        if (strcmp(*a, "-o") == 0 && a[1]) {
            have = 1;
            tls |= strncmp(a[1], "smtpd_tls_", 10) == 0;
        }
    if (!have)
        return;
    char *err = NULL;
    config_reset();
    if (config_load(cmd_confdir, &err) != 0) {     /* loaded fine a moment ago */
        free(err);
        return;
    }
    for (char **a = e->args; a && *a; a++) {
        if (strcmp(*a, "-o") != 0)
            continue;
        if (!a[1]) {
            check_problem(c, mcf_path, e->line, "service %s: -o without name=value", e->service);
            break;
        }
        a++;
        const char *eq = strchr(*a, '=');
        if (!eq || eq == *a || config_override(*a) != 0) {
            check_problem(c, mcf_path, e->line, "service %s: bad override \"-o %.200s\" "
                          "(expected -o name=value)", e->service, *a);
            continue;
        }
        char *name = xstrndup(*a, (size_t)(eq - *a));
        if (!param_find(name))
            check_problem(c, mcf_path, e->line, "service %s: unknown parameter %s in -o",
                          e->service, name);
        free(name);
    }
    str report;
    str_init(&report);
    config_validate(&report, 0);
    char *where = xasprintf("%s:%d: service %s", mcf_path, e->line, e->service);
    int expansion_error = add_validate_report(c, report.data, where);
    free(where);
    str_free(&report);
    if (!expansion_error) {
        struct origin o = { mcf_path, e->line };
        check_tables(c, &o, seen);
        if (tls)
            check_tls(c, &o);
    }
}

/* Run every check on cmd_confdir; c->bind_test must be set by the caller. */
static void check_all(struct check_ctx *c)
{
    char *err = NULL;
    int main_ok = 0;
    config_reset();
    if (config_load(cmd_confdir, &err) != 0) {
        if (c->problems < CHECK_PROBLEMS_MAX)
            str_appendf(&c->report, "%s\n", err);
        c->problems++;
        free(err);
        err = NULL;
    } else {
        str report;
        str_init(&report);
        config_validate(&report, 1);
        main_ok = !add_validate_report(c, report.data, NULL);
        str_free(&report);
    }
    char *mcf_path = xasprintf("%s/master.cf", cmd_confdir);
    struct mastercf mcf = { 0 };
    int mcf_ok = mastercf_load(mcf_path, &mcf, &err) == 0;
    if (!mcf_ok) {
        if (c->problems < CHECK_PROBLEMS_MAX)       /* err is "PATH:LINE: ..." already */
            str_appendf(&c->report, "%s\n", err);
        c->problems++;
        free(err);
    }
    if (main_ok) {
        struct seen seen = { 0 };
        struct origin plain = { NULL, 0 };
        if (mcf_ok) {
            /* the running master holds its ports; try binding only when it is stopped */
            char *pidpath = pidfile_path(config_str("queue_directory"));
            if (pidfile_running(pidpath) != 0)
                c->bind_test = 0;
            free(pidpath);
            check_services(c, &mcf, mcf_path);
        }
        check_values(c, &plain, &seen);
        for (int i = 0; mcf_ok && i < mcf.count && i < 1000; i++)   /* as check_services */
            check_overrides(c, &mcf.entries[i], mcf_path, &seen);
        seen_free(&seen);
    }
    if (mcf_ok)
        mastercf_free(&mcf);
    free(mcf_path);
    dict_cache_clear();
    config_reset();
}

static void print_report(const struct check_ctx *c)
{
    fputs(c->report.data, stderr);
}

int cmd_check(int argc, char **argv)
{
    if (argc > 1) {
        cmd_error("usage: postern check (takes no arguments; use postern -c DIR check)");
        return CMD_ERROR;
    }
    (void)argv;
    struct stat st;
    if (stat(cmd_confdir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        cmd_error("configuration directory %s: %s", cmd_confdir,
                  errno ? strerror(errno) : "not a directory");
        return CMD_ERROR;
    }
    struct check_ctx c = { .bind_test = 1 };
    str_init(&c.report);
    check_all(&c);
    print_report(&c);
    int rc = CMD_OK;
    if (c.problems) {
        fprintf(stderr, "postern: %d problem%s found in %s\n", c.problems,
                c.problems == 1 ? "" : "s", cmd_confdir);
        rc = CMD_ERROR;
    } else {
        printf("postern: configuration %s is OK\n", cmd_confdir);
    }
    str_free(&c.report);
    return rc;
}

int cmd_check_reload(int argc, char **argv)
{
    if (argc > 1)
        return cmd_reload(argc, argv);            /* its usage error */
    struct check_ctx c = { .bind_test = 0 };
    str_init(&c.report);
    check_all(&c);
    if (c.problems) {
        print_report(&c);
        cmd_error("not reloading: %d problem%s in the configuration %s (the master keeps "
                  "running with its current settings)", c.problems, c.problems == 1 ? "" : "s",
                  cmd_confdir);
        str_free(&c.report);
        return CMD_ERROR;
    }
    str_free(&c.report);
    return cmd_reload(argc, argv);
}
