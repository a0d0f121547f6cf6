/* cmd_ban.c: `postern ban list | remove ADDR`: show and lift the bans of abusive SMTP
 * clients that anvil(8) keeps in $anvil_ban_state_file (anvil/anvil_banfile.c).
 * list reads the state file (anvil rewrites it at every change); remove asks anvil over
 * private/anvil so its memory and the file agree, and edits the file itself (under the
 * same lock anvil uses) when anvil does not answer (postern stopped). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cmd.h"
#include "../anvil/anvil.h"
#include "attr.h"
#include "bio.h"
#include "../lib/config.h"
#include "ipc.h"
#include "log.h"

static int usage(void)
{
    cmd_error("usage: postern ban list | remove ADDR");
    return CMD_ERROR;
}

static int ban_list(void)
{
    const char *path = config_str("anvil_ban_state_file");
    struct anvil_ban_list l = { 0 };
    long long now = (long long) time(NULL);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), bad = 0, rc = CMD_OK;

    if (fd < 0) {
        if (errno == ENOENT)
            return CMD_OK;                     /* no bans yet */
        cmd_error("open %s: %s", path, strerror(errno));
        return CMD_ERROR;
    }
    if (anvil_banfile_lock(fd, F_RDLCK) < 0 || anvil_banfile_read(fd, &l, now, &bad) < 0) {
        cmd_error("cannot read %s", path);
        rc = CMD_ERROR;
    } else {
        for (int i = 0; i < l.count; i++) {
            char when[32];
            time_t t = (time_t) l.items[i].expires;
            struct tm tm;
            gmtime_r(&t, &tm);
            strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
            printf("%s until %s (%llds left): %s\n", l.items[i].addr, when,
                   l.items[i].expires - now, l.items[i].reason);
        }
        if (bad)
            cmd_error("%s: %d malformed line(s) ignored", path, bad);
    }
    anvil_ban_free(&l);
    close(fd);
    return rc;
}

/* Ask anvil: 1 removed, 0 was not banned, -1 anvil did not answer. */
static int remove_via_anvil(const char *addr)
{
    int fd = ipc_connect("private", "anvil", 1000), rc = -1;
    attr_list req, reply;
    const char *err = NULL, *removed;
    bio *b;

    if (fd < 0)
        return -1;
    b = bio_open(fd, 5000);
    attr_init(&req);
    attr_init(&reply);
    attr_add(&req, "request", "ban_remove");
    attr_add(&req, "ident", addr);
    if (attr_expect_protocol(b, "anvil", &err) == 0 && attr_write(b, &req) == 0
        && attr_read(b, &reply, &err) == 0 && attr_get(&reply, "status")
        && strcmp(attr_get(&reply, "status"), "0") == 0
        && (removed = attr_get(&reply, "removed")) != NULL)
        rc = strcmp(removed, "1") == 0;
    attr_free(&req);
    attr_free(&reply);
    bio_close(b);
    return rc;
}

/* Edit the state file: 1 removed, 0 not there, -1 error (reported). */
static int remove_in_file(const char *addr)
{
    const char *path = config_str("anvil_ban_state_file");
    struct anvil_ban_list l = { 0 };
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW), rc = -1, i;

    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        cmd_error("open %s: %s", path, strerror(errno));
        return -1;
    }
    if (anvil_banfile_lock(fd, F_WRLCK) == 0
        && anvil_banfile_read(fd, &l, (long long) time(NULL), NULL) == 0) {
        i = anvil_ban_find(&l, addr);
        rc = 0;
        if (i >= 0) {
            anvil_ban_remove(&l, i);
            rc = anvil_banfile_write(fd, &l) == 0 ? 1 : -1;
        }
    }
    if (rc < 0)
        cmd_error("cannot update %s", path);
    anvil_ban_free(&l);
    close(fd);                                 /* releases the lock */
    return rc;
}

static int ban_remove(const char *addr)
{
    int r;

    if (!anvil_addr_ok(addr)) {
        cmd_error("ban remove: \"%.64s\" is not an IP address", addr);
        return CMD_ERROR;
    }
    r = remove_via_anvil(addr);
    if (r < 0)
        r = remove_in_file(addr);
    if (r < 0)
        return CMD_ERROR;
    if (r == 0) {
        cmd_error("%s is not banned", addr);
        return CMD_FAIL;
    }
    printf("ban of %s removed\n", addr);
    return CMD_OK;
}

int cmd_ban(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    if (cmd_load_config() < 0)
        return CMD_ERROR;
    if (strcmp(argv[1], "list") == 0 && argc == 2)
        return ban_list();
    if (strcmp(argv[1], "remove") == 0 && argc == 3)
        return ban_remove(argv[2]);
    return usage();
}
