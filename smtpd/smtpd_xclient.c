/* smtpd_xclient.c: the XCLIENT extension (as Postfix defines it): an authorized client
 * (a proxy, a test harness) tells smtpd whom it acts for, and smtpd then behaves as if
 * that client had connected: client address/name/port (so $mynetworks, SPF, DMARC and
 * the Received/log lines use them), HELO name, protocol and SASL login.
 *
 *   XCLIENT attr=value [attr=value ...]     attr: NAME REVERSE_NAME ADDR PORT PROTO HELO
 *                                            LOGIN (DESTADDR, DESTPORT accepted and
 *                                            ignored); values are xtext (RFC 3461);
 *                                            [UNAVAILABLE] = not known, [TEMPUNAVAIL] =
 *                                            not known because of a temporary failure
 *                                            (what reject_unknown_*client_hostname see).
 *
 * Only clients whose real address matches $smtpd_authorized_xclient_hosts (default:
 * nobody) may use it (550 5.7.0 otherwise) and see it in the EHLO reply. Not inside a
 * mail transaction (503 5.5.1). Every value is checked before anything changes; on
 * success the transaction, HELO and login are reset (unless given) and smtpd answers
 * with a new 220 greeting, after which the client starts again with EHLO. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "smtpd.h"
#include "smtpd_cmd.h"
#include "addr.h"
#include "config.h"
#include "log.h"

#define XCLIENT_VALUE_MAX 255            /* decoded bytes of one attribute value */
#define XCLIENT_MAX_ATTRS 16

static netmatch *xclient_hosts;          /* NULL: nobody */

void smtpd_xclient_init(void)
{
    char **hosts = config_list("smtpd_authorized_xclient_hosts");
    char *err = NULL;

    if (hosts != NULL && hosts[0] != NULL) {
        xclient_hosts = netmatch_parse(hosts, &err);
        if (xclient_hosts == NULL)
            msg_fatal("bad smtpd_authorized_xclient_hosts setting: %s",
                      err ? err : "parse error");
    }
    strv_free(hosts);
}

void smtpd_xclient_connect(struct smtpd_state *s)
{
    s->xclient_authorized = xclient_hosts != NULL && netmatch_match(xclient_hosts, s->addr);
}

int smtpd_xclient_offer(const struct smtpd_state *s)
{
    return s->xclient_authorized;
}

void smtpd_xclient_ehlo_args(const struct smtpd_state *s, str *out)
{
    (void) s;
    str_appends(out, " NAME REVERSE_NAME ADDR PORT PROTO HELO LOGIN");
}

/* A host name as XCLIENT NAME may carry: letters, digits, '-', '.', '_'. */
static int name_ok(const char *v)
{
    if (*v == 0 || strlen(v) > XCLIENT_VALUE_MAX)
        return 0;
    for (; *v; v++)
        if (!isalnum((unsigned char) *v) && *v != '-' && *v != '.' && *v != '_')
            return 0;
    return 1;
}

/* A SASL login name: printable ASCII without spaces. */
static int login_ok(const char *v)
{
    if (*v == 0 || strlen(v) > XCLIENT_VALUE_MAX)
        return 0;
    for (; *v; v++)
        if (*v <= 0x20 || *v >= 0x7f)
            return 0;
    return 1;
}

static int unavailable(const char *v)
{
    return strcasecmp(v, "[UNAVAILABLE]") == 0 || strcasecmp(v, "[TEMPUNAVAIL]") == 0;
}

/* The new identity, filled while parsing and applied only when everything is valid. */
struct xclient_new {
    int have_name, have_addr, have_port, have_proto, have_helo, have_login, have_reverse;
    char name[XCLIENT_VALUE_MAX + 1];
    char reverse[XCLIENT_VALUE_MAX + 1];
    int name_status, reverse_status;     /* SMTPD_NAME_* */
    char addr[64];
    char port[8];
    int helo_kind;                       /* from PROTO */
    str helo, login;
};

/* Check one decoded attribute; 0 or -1 with the 501 reply queued. */
static int parse_attr(struct smtpd_state *s, const char *attr, const char *v,
                      struct xclient_new *n)
{
    if (strcasecmp(attr, "NAME") == 0 || strcasecmp(attr, "REVERSE_NAME") == 0) {
        int reverse = attr[0] == 'R' || attr[0] == 'r';
        char *to = reverse ? n->reverse : n->name;
        int *status = reverse ? &n->reverse_status : &n->name_status;
        if (unavailable(v)) {            /* [TEMPUNAVAIL]: the proxy's DNS failed for now */
            snprintf(to, XCLIENT_VALUE_MAX + 1, "unknown");
            *status = strcasecmp(v, "[TEMPUNAVAIL]") == 0 ? SMTPD_NAME_TEMPFAIL
                                                          : SMTPD_NAME_NOTFOUND;
        } else if (name_ok(v)) {
            snprintf(to, XCLIENT_VALUE_MAX + 1, "%s", v);
            *status = SMTPD_NAME_OK;
        } else {
            smtpd_reply(s, "501 5.5.4 Bad %s syntax: %.64s", reverse ? "REVERSE_NAME" : "NAME",
                        v);
            return -1;
        }
        if (reverse)
            n->have_reverse = 1;
        else
            n->have_name = 1;
    } else if (strcasecmp(attr, "ADDR") == 0) {
        unsigned char buf[16];
        const char *a = v;
        int v6 = strncasecmp(a, "IPV6:", 5) == 0;

        if (v6)
            a += 5;
        if (unavailable(v)) {
            snprintf(n->addr, sizeof(n->addr), "unknown");
        } else if ((!v6 && inet_pton(AF_INET, a, buf) == 1)
                   || (v6 && inet_pton(AF_INET6, a, buf) == 1)) {
            /* normalised form, as smtpd_peer.c shows addresses */
            if (inet_ntop(v6 ? AF_INET6 : AF_INET, buf, n->addr, sizeof(n->addr)) == NULL) {
                smtpd_reply(s, "501 5.5.4 Bad ADDR syntax: %.64s", v);
                return -1;
            }
        } else {
            smtpd_reply(s, "501 5.5.4 Bad ADDR syntax: %.64s", v);
            return -1;
        }
        n->have_addr = 1;
    } else if (strcasecmp(attr, "PORT") == 0) {
        char *end;
        long port = strtol(v, &end, 10);

        if (unavailable(v)) {
            snprintf(n->port, sizeof(n->port), "0");
        } else if (!isdigit((unsigned char) *v) || *end != 0 || port < 0 || port > 65535) {
            smtpd_reply(s, "501 5.5.4 Bad PORT syntax: %.64s", v);
            return -1;
        } else {
            snprintf(n->port, sizeof(n->port), "%ld", port);
        }
        n->have_port = 1;
    } else if (strcasecmp(attr, "PROTO") == 0) {
        if (strcasecmp(v, "SMTP") == 0) {
            n->helo_kind = SMTPD_HELO_HELO;
        } else if (strcasecmp(v, "ESMTP") == 0) {
            n->helo_kind = SMTPD_HELO_EHLO;
        } else {
            smtpd_reply(s, "501 5.5.4 Bad PROTO syntax: %.64s", v);
            return -1;
        }
        n->have_proto = 1;
    } else if (strcasecmp(attr, "HELO") == 0) {
        if (unavailable(v)) {
            str_reset(&n->helo);
        } else if (smtpd_helo_name_ok(v)) {
            str_set(&n->helo, v);
        } else {
            smtpd_reply(s, "501 5.5.4 Bad HELO syntax: %.64s", v);
            return -1;
        }
        n->have_helo = 1;
    } else if (strcasecmp(attr, "LOGIN") == 0) {
        if (unavailable(v)) {
            str_reset(&n->login);
        } else if (login_ok(v)) {
            str_set(&n->login, v);
        } else {
            smtpd_reply(s, "501 5.5.4 Bad LOGIN syntax");
            return -1;
        }
        n->have_login = 1;
    } else if (strcasecmp(attr, "DESTADDR") == 0 || strcasecmp(attr, "DESTPORT") == 0) {
        /* accepted for compatibility; postern does not use them */
    } else {
        smtpd_reply(s, "501 5.5.4 Bad XCLIENT attribute name: %.32s", attr);
        return -1;
    }
    return 0;
}

static void apply(struct smtpd_state *s, const struct xclient_new *n)
{
    char old_peer[sizeof(s->peer)];

    snprintf(old_peer, sizeof(old_peer), "%s", s->peer);
    smtpd_xact_reset(s);
    if (n->have_name)
        snprintf(s->name, sizeof(s->name), "%s", n->name);
    if (n->have_addr)
        snprintf(s->addr, sizeof(s->addr), "%s", n->addr);
    if (n->have_name || n->have_reverse) {
        /* the proxy's view of the names replaces ours (smtpd_peer_name_status() then
         * judges by it); REVERSE_NAME defaults to NAME */
        s->name_status = n->have_name ? n->name_status
                                      : strcmp(s->name, "unknown") != 0 ? SMTPD_NAME_OK
                                                                        : SMTPD_NAME_NOTFOUND;
        snprintf(s->reverse_name, sizeof(s->reverse_name), "%s",
                 n->have_reverse ? n->reverse : s->name);
        s->reverse_status = n->have_reverse ? n->reverse_status : s->name_status;
        snprintf(s->names_addr, sizeof(s->names_addr), "%s", s->addr);
    }
    if (n->have_port)
        snprintf(s->port, sizeof(s->port), "%s", n->port);
    snprintf(s->peer, sizeof(s->peer), "%s[%s]", s->name, s->addr);
    /* the session starts over: HELO and login as given, else forgotten */
    smtpd_auth_reset(s);
    if (n->have_login && n->login.len > 0) {
        str_setn(&s->sasl_username, n->login.data, n->login.len);
        s->sasl_method = "XCLIENT";
    }
    str_reset(&s->helo_name);
    s->helo_kind = SMTPD_HELO_NONE;
    if (n->have_helo && n->helo.len > 0) {
        str_setn(&s->helo_name, n->helo.data, n->helo.len);
        s->helo_kind = n->have_proto ? n->helo_kind : SMTPD_HELO_HELO;
    }
    s->protocol = smtpd_protocol_name(s);
    msg_info("xclient: %s is now %s%s%s", old_peer, s->peer,
             s->sasl_username.len ? ", login=" : "",
             s->sasl_username.len ? s->sasl_username.data : "");
}

int smtpd_cmd_xclient(struct smtpd_state *s, char *args)
{
    struct xclient_new n;
    str value;
    char *p = args;
    int count = 0, rc = 0;

    if (!s->xclient_authorized) {
        smtpd_reject(s, "XCLIENT", NULL, "550 5.7.0 Error: insufficient authorization");
        return -1;
    }
    if (s->in_mail) {
        smtpd_reply(s, "503 5.5.1 Error: MAIL transaction in progress");
        return -1;
    }
    if (*args == 0) {
        smtpd_reply(s, "501 5.5.4 Syntax: XCLIENT attribute=value...");
        return -1;
    }
    memset(&n, 0, sizeof(n));
    str_init(&n.helo);
    str_init(&n.login);
    str_init(&value);
    while (rc == 0 && *p) {
        char *attr = p, *eq, *end;

        while (*p && *p != ' ')
            p++;
        end = p;
        while (*p == ' ')
            p++;
        *end = 0;
        if (*attr == 0)
            continue;
        if (++count > XCLIENT_MAX_ATTRS) {
            smtpd_reply(s, "501 5.5.4 Error: too many XCLIENT attributes");
            rc = -1;
        } else if ((eq = strchr(attr, '=')) == NULL || eq == attr) {
            smtpd_reply(s, "501 5.5.4 Syntax: XCLIENT attribute=value...");
            rc = -1;
        } else {
            *eq = 0;
            str_reset(&value);
            if (xtext_decode(eq + 1, &value) < 0 || value.len > XCLIENT_VALUE_MAX
                || strlen(value.data) != value.len) {
                smtpd_reply(s, "501 5.5.4 Bad %.32s value (xtext)", attr);
                rc = -1;
            } else {
                rc = parse_attr(s, attr, value.data, &n);
            }
        }
    }
    if (rc == 0) {
        apply(s, &n);
        smtpd_reply(s, "220 %s", smtpd_cfg.banner);
    }
    str_free(&value);
    str_free(&n.helo);
    str_free(&n.login);
    return rc;
}
