"""tls_helpers.py: shared pieces of test_tls.py and test_auth.py: a throw-away test CA with
server certificates made by the openssl command, and an instance set up with TLS on its
port-25 service plus `submission` (STARTTLS required, AUTH) and `smtps` (wrapper mode)
services on their own loopback ports, like the commented-out lines of conf/master.cf.
"""
import os
import socket
import ssl
import subprocess

import harness

PASSWORD = "correct horse battery staple"


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, timeout=60,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class Certs:
    """A CA and server certificates for mail.example.test / 127.0.0.1, under `d`."""

    def __init__(self, d):
        self.dir = d
        self.ca = os.path.join(d, "ca.pem")
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-subj", "/CN=postern test CA", "-keyout", "ca.key", "-out", "ca.pem",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
        self.leaf("one")
        self.leaf("two")
        self.leaf("ec", ec=True)

    def leaf(self, name, ec=False):
        d = self.dir
        with open(os.path.join(d, name + ".ext"), "w") as fh:
            fh.write("subjectAltName=DNS:mail.example.test,IP:127.0.0.1\n"
                     "extendedKeyUsage=serverAuth\n")
        key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] if ec else \
            ["-newkey", "rsa:2048"]
        openssl("req", "-new", *key, "-nodes", "-subj", "/CN=mail.example.test %s" % name,
                "-keyout", name + ".key", "-out", name + ".csr", cwd=d)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", name + ".ext",
                "-out", name + ".pem", cwd=d)

    def path(self, name, kind="pem"):
        return os.path.join(self.dir, "%s.%s" % (name, kind))

    def der(self, name):
        with open(self.path(name)) as fh:
            return ssl.PEM_cert_to_DER_cert(fh.read())


def client_context(certs, maximum=None, minimum=None):
    ctx = ssl.create_default_context(cafile=certs.ca)
    ctx.check_hostname = False          # we connect to 127.0.0.1; the chain is still checked
    if minimum:
        ctx.minimum_version = minimum
    if maximum:
        ctx.maximum_version = maximum
    return ctx


def setup(inst, certs, cert="one", level="may", **extra):
    """TLS on the main port, plus submission and smtps services; returns (sub, smtps)."""
    live_cert = os.path.join(inst.conf, "tls.pem")
    live_key = os.path.join(inst.conf, "tls.key")
    install_cert(inst, certs, cert)
    params = dict(
        smtpd_tls_security_level=level,
        smtpd_tls_cert_file=live_cert,
        smtpd_tls_key_file=live_key,
        smtpd_sasl_password_maps="hash:%s/sasl_passwd" % inst.conf,
        smtpd_sasl_failure_delay="0",
        smtpd_tls_ticket_key_file=os.path.join(inst.conf, "ticket.key"),
    )
    params.update(extra)
    inst.set(**params)
    inst.sub_port = harness.free_port()
    inst.smtps_port = harness.free_port()
    common = ("  -o smtpd_sasl_auth_enable=yes\n"
              "  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject_unauth_destination\n"
              "  -o smtpd_sender_restrictions=reject_sender_login_mismatch\n"
              "  -o smtpd_sender_login_maps=hash:%s/sender_login\n" % inst.conf)
    with open(os.path.join(inst.conf, "master.cf"), "a") as fh:
        fh.write("127.0.0.1:%d inet n - n - - smtpd\n"
                 "  -o smtpd_tls_security_level=encrypt\n%s"
                 "127.0.0.1:%d inet n - n - - smtpd\n"
                 "  -o smtpd_tls_wrappermode=yes\n%s"
                 % (inst.sub_port, common, inst.smtps_port, common))
    with open(os.path.join(inst.conf, "sender_login"), "w") as fh:
        fh.write("alice@example.test alice\nbob@example.test bob\n")
    inst.run("map", "build", "hash:%s/sender_login" % inst.conf)
    add_user(inst, "alice", PASSWORD)
    add_user(inst, "bob", "bobs password")


def install_cert(inst, certs, name):
    """Copy certificate `name` to the instance's live cert/key files (atomically)."""
    for src, dst in ((certs.path(name), "tls.pem"), (certs.path(name, "key"), "tls.key")):
        tmp = os.path.join(inst.conf, dst + ".tmp")
        with open(src, "rb") as fh, open(tmp, "wb") as out:
            out.write(fh.read())
        os.chmod(tmp, 0o600)
        os.rename(tmp, os.path.join(inst.conf, dst))


def add_user(inst, user, password):
    p = subprocess.run([inst.postern_bin, "-c", inst.conf, "passwd", "add", user],
                       input=(password + "\n").encode(), capture_output=True, timeout=30,
                       env=inst.env)
    assert p.returncode == 0, p.stderr.decode(errors="replace")


def starttls_raw(port, certs, ehlo="client.test"):
    """Plain connection, EHLO, STARTTLS; returns (tls socket, file) after the handshake."""
    s = socket.create_connection(("127.0.0.1", port), timeout=15)
    f = s.makefile("rb")
    assert f.readline().startswith(b"220")
    s.sendall(b"EHLO %s\r\n" % ehlo.encode())
    read_reply(f)
    s.sendall(b"STARTTLS\r\n")
    assert read_reply(f)[0] == 220
    t = client_context(certs).wrap_socket(s, server_hostname="mail.example.test")
    return t, t.makefile("rb")


def read_reply(f):
    """(code, [lines]) of one SMTP reply from a binary file object."""
    lines = []
    while True:
        line = f.readline()
        if not line:
            return (None, lines)
        line = line.rstrip(b"\r\n").decode("latin-1")
        lines.append(line)
        if len(line) < 4 or line[3] != "-":
            return (int(line[:3]), lines)
