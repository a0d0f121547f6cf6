"""test_check.py: `postern check` and the checked `postern reload` (issue 8, point 2).

check must report each kind of problem as "FILE:LINE: message" with the right file and
line and exit non-zero: unknown parameter, bad value type, missing table, unreadable or
broken TLS key, master.cf syntax error, two services on one port, a port another program
holds. A clean instance checks with exit 0. `postern reload` with a broken main.cf
refuses with the reasons and the running instance keeps accepting and delivering mail;
a SIGHUP sent behind postern's back is logged and ignored the same way."""
import os
import signal
import socket
import subprocess

import pytest

from harness import DEMO, SENDER, free_port, wait_for_maildir, wait_until


def check(inst):
    p = inst.run("check", check=False)
    return p.returncode, (p.stdout + p.stderr).decode(errors="replace")


def append(path, text):
    """Append text to a config file; returns the line number of its first line."""
    with open(path) as fh:
        n = len(fh.read().splitlines())
    with open(path, "a") as fh:
        fh.write(text)
    return n + 1


def master_cf(inst):
    return os.path.join(inst.conf, "master.cf")


def assert_reported(out, path, line, *words):
    prefix = "%s:%d: " % (path, line)
    hits = [l for l in out.splitlines() if l.startswith(prefix)]
    assert hits, "no problem reported at %s in:\n%s" % (prefix, out)
    assert any(all(w in l for w in words) for l in hits), \
        "%s reported, but without %r:\n%s" % (prefix, words, out)


def test_clean_instance_checks_ok(instance):
    rc, out = check(instance)
    assert rc == 0, out
    assert "OK" in out


def test_unknown_parameter_and_bad_value(instance):
    line = append(instance.main_cf, "no_such_parameter = 1\nmessage_size_limit = ten megabytes\n"
                  "smtpd_helo_required = perhaps\nmax_idle = 5 fortnights\n")
    rc, out = check(instance)
    assert rc == 2, out
    assert_reported(out, instance.main_cf, line, "unknown parameter", "no_such_parameter")
    assert_reported(out, instance.main_cf, line + 1, "message_size_limit")
    assert_reported(out, instance.main_cf, line + 2, "smtpd_helo_required")
    assert_reported(out, instance.main_cf, line + 3, "max_idle")


def test_missing_table(instance):
    missing = os.path.join(instance.conf, "nosuchtable")
    line = append(instance.main_cf, "alias_maps = hash:%s\n" % missing)
    line2 = append(instance.main_cf, "smtpd_sender_login_maps = notatable\n")
    rc, out = check(instance)
    assert rc == 2, out
    assert_reported(out, instance.main_cf, line, "alias_maps", missing)
    assert_reported(out, instance.main_cf, line2, "smtpd_sender_login_maps", "not a lookup table")


def make_cert(d):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=mail.example.test", "-keyout", os.path.join(d, "key.pem"),
                    "-out", os.path.join(d, "cert.pem")],
                   check=True, timeout=60, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")


def test_tls_key_problems(instance):
    cert, key = make_cert(instance.conf)
    instance.set(smtpd_tls_security_level="may", smtpd_tls_cert_file=cert, smtpd_tls_key_file=key)
    rc, out = check(instance)
    assert rc == 0, "a good certificate and key must check OK:\n" + out

    broken = os.path.join(instance.conf, "broken-key.pem")
    with open(broken, "w") as fh:
        fh.write("-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----\n")
    line = append(instance.main_cf, "smtpd_tls_key_file = %s\n" % broken)
    rc, out = check(instance)
    assert rc == 2, out
    assert_reported(out, instance.main_cf, line, "smtpd_tls_key_file", broken)

    missing = os.path.join(instance.conf, "missing-key.pem")
    line = append(instance.main_cf, "smtpd_tls_key_file = %s\n" % missing)
    rc, out = check(instance)
    assert rc == 2, out
    assert_reported(out, instance.main_cf, line, "smtpd_tls_key_file", missing)

    if os.getuid() != 0:           # root reads mode-0 files; the broken key covers it there
        os.chmod(key, 0)
        line = append(instance.main_cf, "smtpd_tls_key_file = %s\n" % key)
        rc, out = check(instance)
        assert rc == 2, out
        assert_reported(out, instance.main_cf, line, "smtpd_tls_key_file")


def test_tls_enabled_without_certificate(instance):
    line = append(instance.main_cf, "smtpd_tls_security_level = encrypt\n")
    rc, out = check(instance)
    assert rc == 2, out
    assert_reported(out, instance.main_cf, line, "no certificate")


def test_master_cf_syntax_error(instance):
    line = append(master_cf(instance), "broken inet n\n")
    rc, out = check(instance)
    assert rc == 2, out
    assert_reported(out, master_cf(instance), line)


def test_port_conflict_and_busy_port(instance):
    line = append(master_cf(instance), "%d inet n - n - - smtpd\n" % instance.port)
    busy = socket.socket()
    busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        busy_port = busy.getsockname()[1]
        line2 = append(master_cf(instance), "127.0.0.1:%d inet n - n - - smtpd "
                       "-o smtpd_timeout=forever\n" % busy_port)
        rc, out = check(instance)
    finally:
        busy.close()
    assert rc == 2, out
    assert_reported(out, master_cf(instance), line, "port conflict", str(instance.port))
    assert_reported(out, master_cf(instance), line2, "cannot bind", str(busy_port))
    # a bad -o value is reported at its master.cf line
    assert_reported(out, master_cf(instance), line2, "smtpd_timeout")


def test_unknown_daemon_command(instance):
    line = append(master_cf(instance), "127.0.0.1:%d inet n - n - - no-such-daemon\n" % free_port())
    rc, out = check(instance)
    assert rc == 2, out
    assert_reported(out, master_cf(instance), line, "no-such-daemon")


def send_and_wait(inst, n_before, tag):
    s = inst.smtp()
    msg = "From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n\r\nbody %s\r\n" % (SENDER, DEMO, tag, tag)
    assert s.sendmail(SENDER, [DEMO], msg) == {}
    s.quit()
    files = wait_for_maildir(inst.maildir, n_before + 1)
    assert len(files) == n_before + 1, "message %s not delivered\n%s" % (tag, inst.log_tail())


def test_reload_with_broken_config_keeps_serving(instance):
    # daemons started while main.cf is broken read it themselves and die on it (expected)
    instance.allowed_log_patterns = [r"smtpd_timeout"]
    instance.start()
    send_and_wait(instance, 0, "before")
    master = instance.master_pid()

    line = append(instance.main_cf, "smtpd_timeout = whenever\n")
    p = instance.run("reload", check=False)
    out = (p.stdout + p.stderr).decode(errors="replace")
    assert p.returncode != 0, "reload of a broken config succeeded:\n" + out
    assert_reported(out, instance.main_cf, line, "smtpd_timeout")
    assert "not reloading" in out
    assert not instance.log_lines(r"reload -- version"), "master was signalled anyway"
    send_and_wait(instance, 1, "after-refused-reload")

    # a SIGHUP that bypasses `postern reload`: the master logs why and changes nothing
    os.kill(master, signal.SIGHUP)
    assert instance.wait_for_log(r"reload: .*smtpd_timeout", 10), instance.log_tail()
    assert instance.wait_for_log(r"keeping the current configuration", 5), instance.log_tail()
    assert instance.master_pid() == master
    send_and_wait(instance, 2, "after-sighup")

    # fixed: reload goes through and mail still flows
    with open(instance.main_cf) as fh:
        lines = fh.read().splitlines()
    lines[line - 1] = "smtpd_timeout = 60s"
    with open(instance.main_cf, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    instance.reload()
    assert wait_until(lambda: len(instance.log_lines(r"reload -- version")) >= 2, 10)
    instance.wait_for_port()
    send_and_wait(instance, 3, "after-good-reload")


def test_config_json(instance):
    import json
    instance.set(smtpd_banner='"quoted" \\back\\slash $myhostname \u00e9t\u00e9')
    plain = instance.run("config").stdout.decode()
    full = json.loads(instance.run("config", "--json").stdout)
    expected = {}
    for line in plain.splitlines():
        name, _, value = line.partition(" =")
        expected[name] = value[1:] if value.startswith(" ") else value
    assert full == expected
    assert full["smtpd_banner"].startswith('"quoted" \\back\\slash ') and \
        full["smtpd_banner"].endswith("\u00e9t\u00e9")
    only_set = json.loads(instance.run("config", "-n", "--json").stdout)
    assert "smtpd_banner" in only_set and "smtpd_timeout" not in only_set
    named = json.loads(instance.run("config", "--json", "mail_name", "myhostname").stdout)
    assert list(named) == ["mail_name", "myhostname"]
    p = instance.run("config", "--json", "no_such_parameter", check=False)
    assert p.returncode == 2 and json.loads(p.stdout) == {}
