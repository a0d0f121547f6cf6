/* master_conf.c: loading main.cf into the master's own settings snapshot, loading
 * master.cf, and the SIGHUP reload that reconciles running services with the new
 * master.cf (unchanged services keep their listening sockets; see master_reload). */
#define _GNU_SOURCE 1
#include "master.h"
#include "config.h"
#include "log.h"
#include "mem.h"
#include "privs.h"
#include "str.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#ifndef POSTERN_VERSION
#define POSTERN_VERSION "unknown"
#endif

struct master_params master_params;

static void params_free(struct master_params *p)
{
    free(p->queue_directory);
    free(p->daemon_directory);
    free(p->mail_owner);
    strv_free(p->inet_interfaces);
    strv_free(p->inet_protocols);
    p->queue_directory = p->daemon_directory = p->mail_owner = NULL;
    p->inet_interfaces = p->inet_protocols = NULL;
}

/* Load CONFDIR/main.cf and copy what master needs. On error the previous snapshot stays. */
int master_conf_load(const char *confdir, char **err)
{
    config_reset();
    if (config_load(confdir, err) != 0)
        return -1;
    const char *qdir = config_str("queue_directory");
    if (qdir[0] != '/') {
        *err = xasprintf("%s: queue_directory must be an absolute path: \"%s\"",
                         config_file_path(), qdir);
        return -1;
    }
    const char *owner = config_str("mail_owner");
    uid_t uid = (uid_t)-1;
    gid_t gid = (gid_t)-1;
    if (privs_is_root()) {
        if (privs_lookup_user(owner, &uid, &gid) != 0) {
            *err = xasprintf("%s: mail_owner \"%s\" is not a known user "
                             "(create it, e.g. useradd --system %s)", config_file_path(), owner, owner);
            return -1;
        }
        if (uid == 0) {
            *err = xasprintf("%s: mail_owner \"%s\" must not be root", config_file_path(), owner);
            return -1;
        }
    }
    struct master_params p = { 0 };
    p.confdir = master_params.confdir;
    p.queue_directory = xstrdup(qdir);
    p.daemon_directory = xstrdup(config_str("daemon_directory"));
    p.mail_owner = xstrdup(owner);
    p.inet_interfaces = config_list("inet_interfaces");
    p.inet_protocols = config_list("inet_protocols");
    p.default_process_limit = config_int("default_process_limit");
    p.service_throttle_time = config_time("service_throttle_time");
    p.owner_uid = uid;
    p.owner_gid = gid;
    if (p.default_process_limit < 1)
        p.default_process_limit = 1;
    params_free(&master_params);
    master_params = p;
    return 0;
}

int master_conf_load_services(struct mastercf *out, char **err)
{
    char *path = xasprintf("%s/master.cf", master_params.confdir);
    int rc = mastercf_load(path, out, err);
    free(path);
    return rc;
}

/* Parse main.cf (values against their types) and master.cf without applying anything;
 * logs every problem. 0 when both are usable. */
static int reload_precheck(void)
{
    char *err = NULL;
    config_reset();
    if (config_load(master_params.confdir, &err) != 0) {
        msg_error("reload: %s; keeping the current configuration", err);
        free(err);
        return -1;
    }
    str report;
    str_init(&report);
    int problems = config_validate(&report, 0);
    if (problems > 0) {
        char *save = NULL;
        for (char *line = strtok_r(report.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
            msg_error("reload: %s", line);
        msg_error("reload: %d problem%s in main.cf; keeping the current configuration",
                  problems, problems == 1 ? "" : "s");
    }
    str_free(&report);
    if (problems > 0)
        return -1;
    struct mastercf mcf = { 0 };
    if (master_conf_load_services(&mcf, &err) != 0) {
        msg_error("reload: %s; keeping the current configuration", err);
        free(err);
        return -1;
    }
    mastercf_free(&mcf);
    return 0;
}

/* SIGHUP: re-read both files; keep listeners of services whose name+type is unchanged,
 * open new ones, close removed ones. Children of kept services are retired (they finish
 * their current client and exit) and replaced by children that read the new config. */
void master_reload(void)
{
    char *err = NULL;
    struct mastercf mcf = { 0 };

    msg_info("reload -- version %s, configuration %s", POSTERN_VERSION, master_params.confdir);
    /* A broken main.cf or master.cf changes nothing: the running services and their
     * children stay as they are (children started later read main.cf themselves, so
     * they would die on it; `postern reload` refuses before signalling, see `postern
     * check`). */
    if (reload_precheck() != 0)
        return;
    if (master_conf_load(master_params.confdir, &err) != 0) {
        msg_error("reload: %s; keeping the current configuration", err);
        free(err);
        return;
    }
    if (master_conf_load_services(&mcf, &err) != 0) {
        msg_error("reload: %s; keeping the current services", err);
        free(err);
        return;
    }
    for (struct service *s = master_services; s; s = s->next)
        s->stale = 1;
    for (int i = 0; i < mcf.count; i++) {
        const struct mastercf_entry *e = &mcf.entries[i];
        struct service *s = service_find(e->service, e->type);
        if (s && s->stale) {
            s->stale = 0;
            spawn_retire(s);
            service_update(s, e);
            if (service_open_status_pipe(s) != 0)
                msg_error("service %s: cannot create status pipe: %m", s->name);
            continue;
        }
        if (s)
            continue;                         /* duplicate entry in master.cf: first wins */
        s = service_create(e, &err, 1000);
        if (!s) {
            msg_error("reload: %s", err);
            free(err);
            err = NULL;
            continue;
        }
        s->stale = 0;
        s->next = master_services;
        master_services = s;
    }
    struct service **pp = &master_services;
    while (*pp) {
        struct service *s = *pp;
        if (s->stale) {
            *pp = s->next;
            msg_info("service %s/%s removed", s->name, service_type_name(s->type));
            service_destroy(s);
        } else {
            pp = &s->next;
        }
    }
    mastercf_free(&mcf);
    spawn_adjust_all();
    master_metrics_reload();
}
