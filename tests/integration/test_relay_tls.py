"""test_relay_tls.py: outbound STARTTLS in the smtp delivery agent (smtp/smtp_tls.c).

A throw-away CA (tls_helpers.Certs) signs the sinks' certificates: 127.0.0.2 presents
mx.tls.test, 127.0.0.3 a certificate for wrong.example only, 127.0.0.4 offers no STARTTLS.
The test DNS server maps tls.test / wrong.test / plain.test / none.test / named.test to
them by MX. Covered: encrypt and verify deliver over TLS (the sink records the version,
the log says "TLS connection established to host[addr]:port: TLSv1.x with cipher ..."),
verify defers a wrong-name certificate with the reason logged, encrypt defers a server
without STARTTLS, may falls back to plain text, smtp_tls_policy_maps overrides the global
level per destination (including match=), and smtp_tls_protocols sets the minimum.
Every wait is bounded.
"""
import os
import re
import ssl
import time

import pytest

from harness import wait_until
from test_relay import Relay
from tls_helpers import Certs, openssl

ZONE = """
tls.test.        60 IN MX 10 mx.tls.test.
mx.tls.test.     60 IN A  127.0.0.2
none.test.       60 IN MX 10 mx.tls.test.
wrong.test.      60 IN MX 10 mx.wrong.test.
named.test.      60 IN MX 10 mx.wrong.test.
mx.wrong.test.   60 IN A  127.0.0.3
plain.test.      60 IN MX 10 mx.plain.test.
mx.plain.test.   60 IN A  127.0.0.4
"""
TLS_LOG = r"postern/smtp\[\d+\]: (Verified|Untrusted) TLS connection established to %s: " \
          r"(TLSv1\.[23]) with cipher \S+ \(\d+/\d+ bits\)"


def leaf(certs, name, dns_name):
    """A server certificate for dns_name signed by the test CA: (cert, key) paths."""
    d = certs.dir
    with open(os.path.join(d, name + ".ext"), "w") as fh:
        fh.write("subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth\n" % dns_name)
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-subj", "/CN=%s" % dns_name, "-keyout", name + ".key", "-out", name + ".csr",
            cwd=d)
    openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", name + ".ext", "-out", name + ".pem",
            cwd=d)
    return os.path.join(d, name + ".pem"), os.path.join(d, name + ".key")


def server_context(cert, key, maximum=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    if maximum:
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = maximum
    return ctx


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("relay-tls-certs")
    os.chmod(d, 0o755)
    c = Certs(str(d))
    c.mx = leaf(c, "mx", "mx.tls.test")
    c.wrong = leaf(c, "wrong", "wrong.example")
    for f in os.listdir(d):
        os.chmod(os.path.join(d, f), 0o644)      # the test user's daemons read ca.pem
    return c


@pytest.fixture
def relay(instance, certs):
    r = Relay(instance, ZONE, addresses=("127.0.0.2", "127.0.0.3", "127.0.0.4"))
    r.sinks["127.0.0.2"].tls_context = server_context(*certs.mx)
    r.sinks["127.0.0.3"].tls_context = server_context(*certs.wrong)
    instance.set(smtp_tls_CAfile=certs.ca)
    yield r
    r.stop()


def line_for(inst, rcpt, status, timeout=30):
    pat = r"postern/smtp\[\d+\]: \w+: to=<%s>.*status=%s" % (re.escape(rcpt), status)
    lines = wait_until(lambda: inst.log_lines(pat), timeout)
    assert lines, "no status=%s line for %s:\n%s" % (status, rcpt, inst.log_tail())
    return lines[0]


def tls_of(sink, rcpt):
    return [m["tls"] for m in sink.messages if rcpt in m["rcpts"]]


@pytest.mark.parametrize("level", ["encrypt", "verify"])
def test_mandatory_tls_delivers(instance, relay, level):
    instance.set(smtp_tls_security_level=level)
    instance.start()
    relay.send(rcpts=["u@tls.test"])
    line = line_for(instance, "u@tls.test", "sent")
    assert "relay=mx.tls.test[127.0.0.2]:%d" % relay.sinks.port in line
    sink = relay.sinks["127.0.0.2"]
    assert tls_of(sink, "u@tls.test") in (["TLSv1.3"], ["TLSv1.2"]), sink.messages
    pat = TLS_LOG % re.escape("mx.tls.test[127.0.0.2]:%d" % relay.sinks.port)
    logged = instance.log_lines(pat)
    assert logged, instance.log_tail()
    m = re.search(pat, logged[0])
    assert m.group(1) == ("Verified" if level == "verify" else "Untrusted")
    assert m.group(2) == tls_of(sink, "u@tls.test")[0]
    # the session started over after STARTTLS (RFC 3207): EHLO twice, MAIL after TLS
    cmds = [c.split()[0].upper() for c in sink.commands]
    assert cmds[:3] == ["EHLO", "STARTTLS", "EHLO"], sink.commands


def test_verify_refuses_wrong_name(instance, relay):
    instance.set(smtp_tls_security_level="verify")
    instance.start()
    relay.send(rcpts=["u@wrong.test"])
    line = line_for(instance, "u@wrong.test", "deferred")
    assert "dsn=4.7.5" in line and "mx.wrong.test[127.0.0.3]" in line, line
    assert re.search(r"certificate|verif", line), line
    assert relay.sinks["127.0.0.3"].messages == []


def test_encrypt_refuses_server_without_starttls(instance, relay):
    instance.set(smtp_tls_security_level="encrypt")
    instance.start()
    relay.send(rcpts=["u@plain.test"])
    line = line_for(instance, "u@plain.test", "deferred")
    assert "dsn=4.7.4" in line, line
    assert "TLS is required, but was not offered by host mx.plain.test[127.0.0.4]" in line
    sink = relay.sinks["127.0.0.4"]
    assert sink.messages == []
    assert "MAIL" not in [c.split()[0].upper() for c in sink.commands if c]


def test_may_uses_tls_when_offered(instance, relay):
    instance.set(smtp_tls_security_level="may")
    instance.start()
    relay.send(rcpts=["a@tls.test", "b@plain.test", "c@wrong.test"])
    for rcpt in ("a@tls.test", "b@plain.test", "c@wrong.test"):
        line_for(instance, rcpt, "sent")
    assert tls_of(relay.sinks["127.0.0.2"], "a@tls.test")[0].startswith("TLSv1.")
    assert tls_of(relay.sinks["127.0.0.4"], "b@plain.test") == [None]
    # may: the certificate is not checked
    assert tls_of(relay.sinks["127.0.0.3"], "c@wrong.test")[0].startswith("TLSv1.")


def test_policy_map_overrides(instance, relay):
    path = os.path.join(instance.conf, "tls_policy")
    with open(path, "w") as fh:
        fh.write("tls.test     verify\n"
                 "wrong.test   encrypt\n"
                 "named.test   verify match=wrong.example\n"
                 "plain.test   encrypt\n")
    instance.run("map", "build", "hash:" + path)
    p = instance.run("map", "query", "hash:" + path, "named.test")
    assert p.stdout.decode().strip() == "verify match=wrong.example"
    instance.set(smtp_tls_policy_maps="hash:" + path)      # global level stays "none"
    instance.start()
    relay.send(rcpts=["a@tls.test", "b@wrong.test", "c@named.test", "d@none.test",
                      "e@plain.test"])
    for rcpt in ("a@tls.test", "b@wrong.test", "c@named.test", "d@none.test"):
        line_for(instance, rcpt, "sent")
    s2, s3 = relay.sinks["127.0.0.2"], relay.sinks["127.0.0.3"]
    assert tls_of(s2, "a@tls.test")[0].startswith("TLSv1.")
    assert tls_of(s3, "b@wrong.test")[0].startswith("TLSv1.")   # encrypt: name not checked
    assert tls_of(s3, "c@named.test")[0].startswith("TLSv1.")   # verify with match=
    assert tls_of(s2, "d@none.test") == [None]                  # global none: plain text
    line = line_for(instance, "e@plain.test", "deferred")
    assert "TLS is required, but was not offered" in line
    assert relay.sinks["127.0.0.4"].messages == []
    port = relay.sinks.port
    assert instance.log_lines(TLS_LOG % re.escape("mx.wrong.test[127.0.0.3]:%d" % port))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_minimum_protocol(instance, relay, certs):
    """A server that stops at TLS 1.1 fails the handshake: smtp_tls_protocols >= TLSv1.2."""
    try:
        ctx = server_context(*certs.mx, maximum=ssl.TLSVersion.TLSv1_1)
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    except (ssl.SSLError, ValueError):
        pytest.skip("this Python/OpenSSL cannot serve TLS 1.1")
    relay.sinks["127.0.0.2"].tls_context = ctx
    instance.set(smtp_tls_security_level="encrypt")
    instance.start()
    relay.send(rcpts=["u@tls.test"])
    line = line_for(instance, "u@tls.test", "deferred")
    assert "dsn=4.7.5" in line and "handshake" in line and "protocol version" in line, line
    assert relay.sinks["127.0.0.2"].messages == []
    time.sleep(0.2)
