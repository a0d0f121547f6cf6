"""test_mailauth.py: SPF, DKIM (verify and sign), DMARC and Authentication-Results
against a real instance and a real DNS server (dnsserver.py) on 127.0.0.1.

The SMTP client connects from 127.0.0.1 (authorized in $smtpd_authorized_xclient_hosts)
and uses XCLIENT ADDR=192.0.2.25 so smtpd, SPF and DMARC see a non-loopback,
non-$mynetworks client: no root and no network namespace needed.
dkimpy (Debian python3-dkim) signs messages we verify and verifies our signatures."""
import os
import re
import time

import pytest

import harness
from dnsserver import TestDNS

CLIENT = "192.0.2.25"
PSL = "/usr/share/publicsuffix/public_suffix_list.dat"

ZONE = """
pass.test.          60 IN TXT "v=spf1 ip4:192.0.2.0/24 -all"
fail.test.          60 IN TXT "v=spf1 ip4:198.51.100.1 -all"
softfail.test.      60 IN TXT "v=spf1 ~all"
neutral.test.       60 IN TXT "v=spf1 ?all"
none.test.          60 IN A   198.51.100.7
permerror.test.     60 IN TXT "v=spf1 badmechanism -all"
helo.test.          60 IN TXT "v=spf1 ip4:192.0.2.25 -all"
example.org.test.   60 IN TXT "v=spf1 ip4:192.0.2.0/24 -all"
_dmarc.example.org.test. 60 IN TXT "v=DMARC1; p=reject; aspf=r; adkim=r"
strict.test.        60 IN TXT "v=spf1 ip4:192.0.2.0/24 -all"
_dmarc.strict.test. 60 IN TXT "v=DMARC1; p=reject; aspf=s"
mail.strict.test.   60 IN TXT "v=spf1 ip4:192.0.2.0/24 -all"
reject.test.        60 IN TXT "v=spf1 -all"
_dmarc.reject.test. 60 IN TXT "v=DMARC1; p=reject"
quar.test.          60 IN TXT "v=spf1 -all"
_dmarc.quar.test.   60 IN TXT "v=DMARC1; p=quarantine"
nonep.test.         60 IN TXT "v=spf1 -all"
_dmarc.nonep.test.  60 IN TXT "v=DMARC1; p=none"
org.test.           60 IN TXT "v=spf1 -all"
_dmarc.org.test.    60 IN TXT "v=DMARC1; p=none; sp=reject"
sub.org.test.       60 IN TXT "v=spf1 -all"
ptr.test.           60 IN TXT "v=spf1 ptr:client.ptr.test -all"
25.2.0.192.in-addr.arpa. 60 IN PTR host.client.ptr.test.
host.client.ptr.test. 60 IN A 192.0.2.25
"""


@pytest.fixture
def dns():
    d = TestDNS(ZONE, servfail={"temperror.test", "_dmarc.temperror.test"}).start()
    yield d
    d.stop()


def psl_copy(base):
    path = os.path.join(base, "psl_test.dat")
    with open(PSL) as src, open(path, "w") as dst:
        dst.write(src.read())
        dst.write("\n// test TLD for the integration tests\ntest\n")
    return path


def start(instance, dns, **params):
    settings = dict(dns_servers="127.0.0.1:%d" % dns.port,
                    dmarc_public_suffix_list=psl_copy(instance.base),
                    authserv_id="mx.example.test",
                    smtpd_authorized_xclient_hosts="127.0.0.1")
    settings.update(params)
    instance.set(**settings)
    instance.start()


def send(instance, sender, body, helo="client.test", rcpt=harness.DEMO):
    """One SMTP transaction from CLIENT (through XCLIENT); returns (mail_reply, data_reply)."""
    c = instance.raw()
    try:
        assert c.reply()[0] == 220
        assert "XCLIENT" in " ".join(c.cmd("EHLO localhost")[1])
        r = c.cmd("XCLIENT ADDR=%s NAME=[UNAVAILABLE]" % CLIENT)
        assert r[0] == 220, r
        assert c.cmd("EHLO " + helo)[0] == 250
        mail = c.cmd("MAIL FROM:<%s>" % sender)
        if mail[0] != 250:
            return mail, None
        assert c.cmd("RCPT TO:<%s>" % rcpt)[0] == 250
        assert c.cmd("DATA")[0] == 354
        data = body if isinstance(body, bytes) else body.encode()
        data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        if not data.endswith(b"\r\n"):
            data += b"\r\n"
        c.send(data + b".\r\n")
        return mail, c.reply()
    finally:
        try:
            c.cmd("QUIT")
        except Exception:                      # noqa: BLE001
            pass
        c.close()


def message(frm, subject="test", extra=""):
    return ("From: <%s>\nTo: <%s>\nSubject: %s\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n"
            "Message-ID: <%s.%f@client.test>\n%s\nHello.\n" %
            (frm, harness.DEMO, subject, subject.replace(" ", "."), time.time(), extra))


def delivered(instance, n):
    files = harness.wait_for_maildir(instance.maildir, n)
    assert len(files) >= n, instance.log_tail()
    return harness.read_delivered(instance.maildir)


def header_values(msg, name):
    """Unfolded values of every header field `name` (bytes message)."""
    head = msg.split(b"\n\n", 1)[0].decode(errors="replace")
    out, cur = [], None
    for line in head.split("\n"):
        if line[:1] in (" ", "\t") and cur is not None:
            out[-1] += " " + line.strip()
            continue
        cur = None
        if ":" in line and line.split(":", 1)[0].strip().lower() == name.lower():
            out.append(line.split(":", 1)[1].strip())
            cur = name
    return out


# ----- SPF ------------------------------------------------------------------------------

def test_xclient_authorization(instance):
    """XCLIENT: not offered and refused (550 5.7.0) unless the client is in
    $smtpd_authorized_xclient_hosts; bad values 501; not inside a transaction (503);
    success gives a new 220 greeting and the new identity in the logs."""
    instance.start()
    c = instance.raw()
    try:
        assert c.reply()[0] == 220
        assert "XCLIENT" not in " ".join(c.cmd("EHLO localhost")[1])
        r = c.cmd("XCLIENT ADDR=%s" % CLIENT)
        assert r[0] == 550 and "5.7.0" in r[1][-1], r
    finally:
        c.close()
    instance.stop()
    instance.set(smtpd_authorized_xclient_hosts="127.0.0.1")
    instance.start()
    c = instance.raw()
    try:
        assert c.reply()[0] == 220
        ehlo = " ".join(c.cmd("EHLO localhost")[1])
        assert "XCLIENT NAME REVERSE_NAME ADDR" in ehlo, ehlo
        for bad in ("XCLIENT ADDR=999.1.1.1", "XCLIENT FOO=bar", "XCLIENT ADDR",
                    "XCLIENT NAME=a+00b", "XCLIENT PORT=70000", "XCLIENT HELO=a+20b"):
            assert c.cmd(bad)[0] == 501, bad
        assert c.cmd("MAIL FROM:<a@pass.test>")[0] == 250
        assert c.cmd("XCLIENT ADDR=%s" % CLIENT)[0] == 503
        assert c.cmd("RSET")[0] == 250
        r = c.cmd("XCLIENT ADDR=IPV6:2001:db8::1 NAME=proxied.test PORT=2525 LOGIN=joe")
        assert r[0] == 220, r
        assert c.cmd("EHLO other.test")[0] == 250
        assert c.cmd("QUIT")[0] == 221
    finally:
        c.close()
    assert harness.wait_until(
        lambda: "is now proxied.test[2001:db8::1], login=joe" in instance.log_tail(), 5), \
        instance.log_tail()


def test_spf_ptr_mechanism(instance, dns):
    start(instance, dns)
    mail, data = send(instance, "user@ptr.test", message("user@ptr.test"))
    assert mail[0] == 250 and data[0] == 250, (mail, data)
    ar = header_values(delivered(instance, 1)[0], "Authentication-Results")[0]
    assert "spf=pass smtp.mailfrom=ptr.test" in ar, ar


def test_dkim_keygen(instance, tmp_path):
    """`postern dkim keygen`: a private key file (0600), the DNS record to publish, the
    dkim_signing_maps line; the record matches the key; bad arguments are refused."""
    from cryptography.hazmat.primitives import serialization
    import base64
    for kind in ("rsa", "ed25519"):
        d = tmp_path / kind
        d.mkdir()
        out = instance.run("dkim", "keygen", "Example.TEST", "sel1", "--type", kind,
                           "--dir", str(d), conf=False).stdout.decode()
        assert "sel1._domainkey.example.test" in out.lower(), out
        record = "".join(re.findall(r'"([^"]*)"', out.split("IN TXT", 1)[1]))
        mapline = [l for l in out.splitlines() if l.lower().startswith("example.test ")][0]
        keyfile = mapline.split(":", 1)[1]
        assert os.stat(keyfile).st_mode & 0o077 == 0
        with open(keyfile, "rb") as fh:
            key = serialization.load_pem_private_key(fh.read(), None)
        tags = dict(t.strip().split("=", 1) for t in record.split(";") if t.strip())
        assert tags["k"] == kind and tags["v"] == "DKIM1", record
        pub = key.public_key()
        if kind == "rsa":
            assert key.key_size == 2048
            want = pub.public_bytes(serialization.Encoding.DER,
                                    serialization.PublicFormat.SubjectPublicKeyInfo)
        else:
            want = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        assert base64.b64decode(tags["p"]) == want
    for bad in (["dkim", "keygen", "bad domain!", "s"], ["dkim", "keygen", "ok.test", "a/b"],
                ["dkim", "keygen", "ok.test", "s", "--type", "dsa"], ["dkim", "keygen"]):
        r = instance.run(*bad, "--dir", str(tmp_path), check=False, conf=False)
        assert r.returncode != 0, bad


@pytest.mark.parametrize("domain,result", [
    ("pass.test", "pass"), ("softfail.test", "softfail"), ("neutral.test", "neutral"),
    ("none.test", "none"), ("nxdomain.test", "none"), ("permerror.test", "permerror"),
    ("temperror.test", "temperror")])
def test_spf_recorded(instance, dns, domain, result):
    start(instance, dns)
    mail, data = send(instance, "user@" + domain, message("user@" + domain))
    assert mail[0] == 250 and data[0] == 250, (mail, data)
    msg = delivered(instance, 1)[0]
    rspf = header_values(msg, "Received-SPF")
    assert len(rspf) == 1 and rspf[0].startswith(result + " "), rspf
    assert "client-ip=%s" % CLIENT in rspf[0]
    ar = header_values(msg, "Authentication-Results")
    assert len(ar) == 1 and ar[0].startswith("mx.example.test;"), ar
    assert "spf=%s smtp.mailfrom=%s" % (result, domain) in ar[0], ar


def test_spf_fail_rejected(instance, dns):
    start(instance, dns)
    mail, _ = send(instance, "user@fail.test", message("user@fail.test"))
    assert mail[0] == 550 and "5.7.23" in mail[1][-1], mail
    assert instance.queue_is_empty()


def test_spf_fail_record_only_and_temperror_defer(instance, dns):
    start(instance, dns, smtpd_spf_fail_action="record", smtpd_spf_temperror_action="defer")
    mail, data = send(instance, "user@fail.test", message("user@fail.test"))
    assert mail[0] == 250 and data[0] == 250
    mail, _ = send(instance, "user@temperror.test", message("user@temperror.test"))
    assert mail[0] == 451 and "4.7.24" in mail[1][-1], mail
    msg = delivered(instance, 1)[0]
    assert header_values(msg, "Received-SPF")[0].startswith("fail ")


def test_spf_null_sender_checks_helo(instance, dns):
    start(instance, dns)
    mail, data = send(instance, "", message("postmaster@helo.test"), helo="helo.test")
    assert mail[0] == 250 and data[0] == 250
    ar = header_values(delivered(instance, 1)[0], "Authentication-Results")[0]
    assert "spf=pass smtp.helo=helo.test" in ar, ar


def test_forged_authres_removed(instance, dns):
    start(instance, dns)
    forged = "Authentication-Results: mx.example.test; dkim=pass header.d=pass.test\n" \
             "Authentication-Results: other.test; spf=pass\n"
    body = forged + message("user@pass.test")
    mail, data = send(instance, "user@pass.test", body)
    assert data[0] == 250
    ar = header_values(delivered(instance, 1)[0], "Authentication-Results")
    ours = [a for a in ar if a.startswith("mx.example.test")]
    assert len(ours) == 1 and "dkim=pass header.d=pass.test" not in ours[0], ar
    assert any(a.startswith("other.test") for a in ar)


# ----- DKIM verify (dkimpy signs) --------------------------------------------------------

def make_keys(base, kind):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
    import base64
    if kind == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pub = key.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
        rec = "v=DKIM1; k=rsa; p=" + base64.b64encode(pub).decode()
        pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
        dkimpy_key = pem
    else:
        key = ed25519.Ed25519PrivateKey.generate()
        raw = key.public_key().public_bytes(serialization.Encoding.Raw,
                                            serialization.PublicFormat.Raw)
        rec = "v=DKIM1; k=ed25519; p=" + base64.b64encode(raw).decode()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        dkimpy_key = base64.b64encode(key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
            serialization.NoEncryption()))
    return pem, dkimpy_key, rec


def txt_zone(name, rec):
    parts = [rec[i:i + 250] for i in range(0, len(rec), 250)]
    return "%s. 60 IN TXT %s\n" % (name, " ".join('"%s"' % p for p in parts))


def dkimpy_sign(msg, domain, selector, key, kind):
    import dkim
    data = msg.encode().replace(b"\n", b"\r\n")
    sig = dkim.sign(data, selector.encode(), domain.encode(), key,
                    canonicalize=(b"relaxed", b"relaxed"),
                    signature_algorithm=b"ed25519-sha256" if kind == "ed25519" else b"rsa-sha256",
                    include_headers=[b"from", b"to", b"subject", b"date"])
    return sig.decode().replace("\r\n", "\n") + msg


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_dkim_verify_pass_and_fail(instance, dns, kind):
    _pem, key, rec = make_keys(instance.base, kind)
    dns.set_zone(ZONE + txt_zone("sel._domainkey.pass.test", rec))
    start(instance, dns)
    signed = dkimpy_sign(message("user@pass.test", "signed"), "pass.test", "sel", key, kind)
    assert send(instance, "user@pass.test", signed)[1][0] == 250
    tampered = signed.replace("Hello.", "Hello, changed.")
    assert send(instance, "user@pass.test", tampered)[1][0] == 250
    msgs = delivered(instance, 2)
    results = sorted(header_values(m, "Authentication-Results")[0] for m in msgs)
    dk = [r for r in results if "dkim=pass header.d=pass.test header.s=sel" in r]
    bad = [r for r in results if "dkim=fail" in r and "header.d=pass.test" in r]
    assert len(dk) == 1 and len(bad) == 1, results


# ----- DMARC ------------------------------------------------------------------------------

def test_dmarc_aligned_pass_relaxed(instance, dns):
    start(instance, dns)
    # SPF pass for example.org.test, From the same organizational domain (relaxed)
    assert send(instance, "b@example.org.test", message("a@example.org.test"))[1][0] == 250
    ar = header_values(delivered(instance, 1)[0], "Authentication-Results")[0]
    assert "dmarc=pass" in ar and "header.from=example.org.test" in ar, ar


def test_dmarc_strict_alignment_fails(instance, dns):
    start(instance, dns)
    # SPF passes for mail.strict.test, From is strict.test: relaxed would pass, aspf=s fails
    mail, data = send(instance, "b@mail.strict.test", message("a@strict.test"))
    assert mail[0] == 250 and data[0] == 550 and "5.7.1" in data[1][-1], data


def test_dmarc_reject(instance, dns):
    start(instance, dns, smtpd_spf_fail_action="record")
    mail, data = send(instance, "x@reject.test", message("x@reject.test"))
    assert mail[0] == 250 and data[0] == 550 and "5.7.1" in data[1][-1], data
    assert instance.queue_is_empty(("incoming", "active", "deferred", "hold"))


def test_dmarc_reject_as_quarantine_header(instance, dns):
    start(instance, dns, smtpd_spf_fail_action="record", dmarc_reject_action="quarantine")
    assert send(instance, "x@reject.test", message("x@reject.test"))[1][0] == 250
    msg = delivered(instance, 1)[0]
    assert header_values(msg, "X-Postern-DMARC"), msg[:600]


def test_dmarc_quarantine_hold(instance, dns):
    start(instance, dns, smtpd_spf_fail_action="record", dmarc_quarantine_action="hold")
    assert send(instance, "x@quar.test", message("x@quar.test"))[1][0] == 250
    assert harness.wait_until(lambda: instance.queue_files(("hold",)), 10), instance.log_tail()


def test_dmarc_none_and_orgdomain_sp(instance, dns):
    hist = os.path.join(instance.base, "dmarc.history")
    start(instance, dns, smtpd_spf_fail_action="record", dmarc_history_file=hist)
    assert send(instance, "x@nonep.test", message("x@nonep.test"))[1][0] == 250
    ar = header_values(delivered(instance, 1)[0], "Authentication-Results")[0]
    assert "dmarc=fail (p=none" in ar, ar
    # sub.org.test has no record: org.test's sp=reject applies
    mail, data = send(instance, "x@sub.org.test", message("x@sub.org.test"))
    assert data[0] == 550, data
    with open(hist) as fh:
        lines = fh.read().splitlines()
    assert any("from=nonep.test" in l and "disposition=none" in l for l in lines), lines
    assert any("from=sub.org.test" in l and "policy_domain=org.test" in l for l in lines), lines


def test_dmarc_multiple_from(instance, dns):
    start(instance, dns, smtpd_spf_fail_action="record")
    body = "From: <a@reject.test>\n" + message("b@pass.test")
    assert send(instance, "x@reject.test", body)[1][0] == 250
    ar = header_values(delivered(instance, 1)[0], "Authentication-Results")[0]
    assert "dmarc=permerror" in ar, ar


# ----- DKIM signing (dkimpy verifies) ------------------------------------------------------

@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_dkim_sign_relayed(instance, kind):
    """Mail from a $mynetworks client relayed to a sink is signed; dkimpy verifies it
    against the record `postern dkim keygen` printed. (Loopback client: runs anywhere.)"""
    import dkim
    from sink import SinkGroup
    keydir = os.path.join(instance.base, "keys")
    os.makedirs(keydir)
    out = instance.run("dkim", "keygen", "sign.test", "s1", "--type", kind, "--dir", keydir,
                       conf=False).stdout.decode()
    record = "".join(re.findall(r'"([^"]*)"', out.split("IN TXT", 1)[1]))
    mapline = [l for l in out.splitlines() if l.startswith("sign.test ")][0]
    # the key is created 0600 for its creator; cleanup runs as the mail owner here
    os.chmod(mapline.split(":", 1)[1], 0o644)
    src = os.path.join(instance.base, "dkim_keys")
    with open(src, "w") as fh:
        fh.write(mapline + "\n")
    instance.run("map", "build", "hash:" + src)
    dnss = TestDNS("relay.test. 60 IN MX 10 mx1.relay.test.\n"
                   "mx1.relay.test. 60 IN A 127.0.0.2\n").start()
    sinks = SinkGroup(["127.0.0.2"]).start()
    try:
        instance.set(dns_servers="127.0.0.1:%d" % dnss.port, smtp_tcp_port=str(sinks.port),
                     dkim_signing_maps="hash:" + src, queue_run_delay="1s")
        mcf = os.path.join(instance.conf, "master.cf")
        with open(mcf) as fh:
            have = any(l.split()[:2] == ["smtp", "unix"] for l in fh)
        if not have:
            with open(mcf, "a") as fh:
                fh.write("smtp       unix  y       -       n       -       -       smtp\n")
        if kind == "ed25519":
            # libopendkim 2.11 leaks its Ed25519 private key object (dkim_privkey_load)
            # when a signing handle is freed; not ours to fix: suppress for this instance.
            supp = os.path.join(instance.base, "lsan.supp")
            with open(supp, "w") as fh:
                fh.write("leak:libopendkim.so\nleak:libcrypto.so\n")
            instance.env["LSAN_OPTIONS"] = "suppressions=" + supp
        instance.start()
        msg = ("From: Someone <a@sign.test>\r\nTo: <u@relay.test>\r\nSubject: signed\r\n"
               "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <1@sign.test>\r\n\r\n"
               "body line\r\n\r\n\r\n")
        s = instance.smtp()
        assert s.sendmail("a@sign.test", ["u@relay.test"], msg.encode()) == {}
        s.quit()
        assert harness.wait_until(lambda: sinks["127.0.0.2"].messages, 20), instance.log_tail()
        data = sinks["127.0.0.2"].messages[0]["data"]
        if isinstance(data, str):
            data = data.encode()
        assert b"DKIM-Signature:" in data, data[:800]
        def dnsfunc(name, timeout=5):
            assert name in (b"s1._domainkey.sign.test.", "s1._domainkey.sign.test."), name
            return record.encode()
        assert dkim.verify(data, dnsfunc=dnsfunc), data[:1200]
        head = data.split(b"\r\n\r\n", 1)[0].decode()
        sig = re.search(r"^DKIM-Signature:(.*?)\r\n(?![ \t])", head, re.S | re.M).group(1)
        tags = dict(t.strip().split("=", 1) for t in re.sub(r"\s+", "", sig).split(";") if t)
        hnames = tags["h"].lower().split(":")
        assert hnames.count("from") == 2, sig            # From oversigned
        assert tags["a"] == ("ed25519-sha256" if kind == "ed25519" else "rsa-sha256"), sig
        assert tags["c"] == "relaxed/relaxed", sig
    finally:
        sinks.stop()
        dnss.stop()
