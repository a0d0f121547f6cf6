"""test_tls.py: inbound TLS against a real instance: STARTTLS on the port-25 service and on
submission, implicit TLS (wrapper mode) on smtps, TLS 1.0/1.1 refused, plaintext pipelined
behind STARTTLS discarded (never answered inside TLS), the Received header naming the TLS
protocol and cipher, session resumption, and a certificate change picked up by reload
without cutting the session in progress. Clients: smtplib, raw sockets with ssl,
`openssl s_client` and swaks."""
import os
import shutil
import smtplib
import socket
import ssl
import subprocess
import time

import pytest

import harness
import tls_helpers as th


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return th.Certs(str(tmp_path_factory.mktemp("certs")))


def smtp(instance):
    """instance.smtp() with a server name for starttls() (smtplib wants one for SNI)."""
    s = instance.smtp()
    s._host = "mail.example.test"
    return s


def message(subject="tls test"):
    return ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n\r\nhello over TLS\r\n"
            % (harness.SENDER, harness.DEMO, subject))


def test_starttls_port25_received_header(instance, certs):
    th.setup(instance, certs)
    instance.start()
    s = smtp(instance)
    assert s.has_extn("starttls")
    assert not s.has_extn("auth"), "AUTH is not enabled on port 25"
    s.starttls(context=th.client_context(certs))
    s.ehlo("client.test")
    assert not s.has_extn("starttls"), "STARTTLS offered again inside TLS"
    s.sendmail(harness.SENDER, [harness.DEMO], message())
    s.quit()
    msgs = harness.read_delivered(instance.maildir) or \
        [open(f, "rb").read() for f in harness.wait_for_maildir(instance.maildir, 1)]
    assert len(msgs) == 1
    blocks, _ = harness.split_delivered(msgs[0])
    received = blocks[2].decode()
    assert "(using TLSv1.3 with cipher TLS_" in received, received
    assert "bits))" in received and "with ESMTPS id" in received, received
    assert instance.wait_for_log(r"Anonymous TLS connection established from .*TLSv1\.3")


def test_ehlo_required_again_after_starttls(instance, certs):
    th.setup(instance, certs)
    instance.start()
    t, f = th.starttls_raw(instance.port, certs)
    t.sendall(b"MAIL FROM:<a@client.test>\r\n")
    code, _ = th.read_reply(f)
    assert code == 503, "session state must be reset after STARTTLS"
    t.sendall(b"STARTTLS\r\n")
    assert th.read_reply(f)[0] == 554            # TLS already active
    t.close()


def test_pipelined_input_after_starttls_is_discarded(instance, certs):
    th.setup(instance, certs)
    instance.start()
    s = socket.create_connection(("127.0.0.1", instance.port), timeout=15)
    f = s.makefile("rb")
    assert f.readline().startswith(b"220")
    s.sendall(b"EHLO client.test\r\n")
    th.read_reply(f)
    s.sendall(b"STARTTLS\r\nNOOP\r\n")           # one write: the NOOP is an injection
    code, _ = th.read_reply(f)
    assert code == 220
    t = th.client_context(certs).wrap_socket(s, server_hostname="mail.example.test")
    # Nothing may arrive inside TLS before we say something...
    t.settimeout(1.0)
    with pytest.raises((socket.timeout, TimeoutError)):
        data = t.recv(100)
        if not data:
            raise AssertionError("connection closed")
        raise AssertionError("unsolicited data inside TLS: %r" % data)
    # ...and the first reply inside TLS answers our EHLO, not the injected NOOP.
    t.settimeout(15)
    tf = t.makefile("rb")
    t.sendall(b"EHLO client.test\r\n")
    code, lines = th.read_reply(tf)
    assert code == 250 and lines[0].startswith("250-"), lines
    assert not any("2.0.0 Ok" in l for l in lines), lines
    t.sendall(b"QUIT\r\n")
    assert th.read_reply(tf)[0] == 221
    t.close()
    assert instance.wait_for_log(r"discarding 6 bytes of plaintext input pipelined after STARTTLS")
    assert instance.wait_for_log(r"disconnect from .* starttls=1 .*quit=1")
    assert not instance.log_lines(r"noop=")


def test_old_protocols_refused(instance, certs):
    th.setup(instance, certs)
    instance.start()
    for proto in ("-tls1", "-tls1_1"):
        p = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % instance.port,
                            "-starttls", "smtp", proto, "-cipher", "DEFAULT@SECLEVEL=0"],
                           input=b"QUIT\r\n", capture_output=True, timeout=30)
        out = p.stdout.decode(errors="replace")
        assert "Cipher is (NONE)" in out and "Cipher    : 0000" in out, out
    assert instance.wait_for_log(r"TLS handshake failed from .*(unsupported protocol|no protocols)")
    # TLS 1.2 is still fine.
    ctx = th.client_context(certs, maximum=ssl.TLSVersion.TLSv1_2)
    s = smtp(instance)
    s.starttls(context=ctx)
    assert s.sock.version() == "TLSv1.2"
    s.quit()


def test_openssl_s_client_starttls(instance, certs):
    th.setup(instance, certs)
    instance.start()
    p = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % instance.port,
                        "-starttls", "smtp", "-CAfile", certs.ca, "-verify_return_error",
                        "-verify_ip", "127.0.0.1", "-quiet"],
                       input=b"EHLO client.test\r\nQUIT\r\n", capture_output=True, timeout=30)
    out = p.stdout.decode(errors="replace")
    assert "250-" in out and "221" in out, out + p.stderr.decode(errors="replace")


def test_submission_requires_tls(instance, certs):
    th.setup(instance, certs)
    instance.start()
    s = harness.SmtpRaw(instance.sub_port)
    assert s.reply()[0] == 220
    code, lines = s.cmd("EHLO client.test")
    assert code == 250 and any("STARTTLS" in l for l in lines)
    assert not any("AUTH" in l for l in lines), "AUTH must not be offered before TLS"
    assert s.cmd("MAIL FROM:<alice@example.test>")[0] == 530
    code, _ = s.cmd("AUTH PLAIN AGFsaWNlAHg=")
    assert code in (530, 538)
    s.close()
    c = smtplib.SMTP("127.0.0.1", instance.sub_port, timeout=30)
    c.starttls(context=th.client_context(certs))
    c.ehlo("client.test")
    assert "PLAIN" in c.esmtp_features.get("auth", "")
    c.login("alice", th.PASSWORD)
    c.sendmail("alice@example.test", [harness.DEMO], message("submission"))
    c.quit()
    assert harness.wait_for_maildir(instance.maildir, 1)
    blocks, _ = harness.split_delivered(harness.read_delivered(instance.maildir)[0])
    assert b"with ESMTPSA id" in blocks[2] and b"(using TLSv1" in blocks[2]


def test_smtps_wrapper_mode(instance, certs):
    th.setup(instance, certs)
    instance.start()
    c = smtplib.SMTP_SSL("127.0.0.1", instance.smtps_port, timeout=30,
                         context=th.client_context(certs))
    c.ehlo("client.test")
    assert not c.has_extn("starttls")
    c.login("alice", th.PASSWORD)
    c.sendmail("alice@example.test", [harness.DEMO], message("smtps"))
    c.quit()
    assert harness.wait_for_maildir(instance.maildir, 1)
    # A plaintext client on the wrapper port gets no SMTP greeting.
    s = socket.create_connection(("127.0.0.1", instance.smtps_port), timeout=10)
    s.sendall(b"EHLO client.test\r\n")
    s.settimeout(10)
    try:
        data = s.recv(100)
    except (ConnectionResetError, socket.timeout):
        data = b""
    assert not data.startswith(b"220"), data
    s.close()


def test_ecdsa_certificate(instance, certs):
    th.setup(instance, certs, smtpd_tls_eccert_file=certs.path("ec"),
             smtpd_tls_eckey_file=certs.path("ec", "key"))
    instance.start()
    ctx = th.client_context(certs, maximum=ssl.TLSVersion.TLSv1_2)
    ctx.set_ciphers("ECDHE-ECDSA-AES256-GCM-SHA384")
    s = smtp(instance)
    s.starttls(context=ctx)
    assert s.sock.getpeercert(binary_form=True) == certs.der("ec")
    s.quit()
    ctx = th.client_context(certs, maximum=ssl.TLSVersion.TLSv1_2)
    ctx.set_ciphers("ECDHE-RSA-AES256-GCM-SHA384")
    s = smtp(instance)
    s.starttls(context=ctx)
    assert s.sock.getpeercert(binary_form=True) == certs.der("one")
    s.quit()


def test_session_resumption_across_processes(instance, certs):
    th.setup(instance, certs)
    instance.start()
    ctx = th.client_context(certs, maximum=ssl.TLSVersion.TLSv1_2)
    sess = None
    reused = []
    for _ in range(4):
        s = socket.create_connection(("127.0.0.1", instance.port), timeout=15)
        f = s.makefile("rb")
        f.readline()
        s.sendall(b"EHLO client.test\r\nSTARTTLS\r\n")
        th.read_reply(f)
        assert th.read_reply(f)[0] == 220
        t = ctx.wrap_socket(s, server_hostname="mail.example.test", session=sess)
        reused.append(t.session_reused)
        sess = t.session
        t.sendall(b"QUIT\r\n")
        t.makefile("rb").readline()
        t.close()
    assert reused[0] is False and all(reused[1:]), reused


def test_reload_with_new_certificate(instance, certs):
    th.setup(instance, certs)
    instance.start()
    old = smtp(instance)
    old.starttls(context=th.client_context(certs))
    old.ehlo("client.test")
    assert old.sock.getpeercert(binary_form=True) == certs.der("one")

    th.install_cert(instance, certs, "two")
    instance.reload()

    def new_cert():
        s = smtp(instance)
        s.starttls(context=th.client_context(certs))
        der = s.sock.getpeercert(binary_form=True)
        s.quit()
        return der == certs.der("two")
    assert harness.wait_until(new_cert, 15, 0.3), "new sessions still see the old certificate"
    # The session that was open during the reload goes on.
    assert old.noop()[0] == 250
    old.sendmail(harness.SENDER, [harness.DEMO], message("across reload"))
    old.quit()
    assert harness.wait_for_maildir(instance.maildir, 1)


def have_swaks_tls():
    if not shutil.which("swaks"):
        return False
    return subprocess.run(["perl", "-MNet::SSLeay", "-e", "1"],
                          capture_output=True).returncode == 0


@pytest.mark.skipif(not have_swaks_tls(), reason="swaks or Net::SSLeay (libnet-ssleay-perl) missing")
def test_swaks_tls_and_tlsc(instance, certs):
    th.setup(instance, certs)
    instance.start()
    base = ["swaks", "--server", "127.0.0.1", "--from", harness.SENDER, "--to", harness.DEMO,
            "--helo", "client.test", "--timeout", "20"]
    p = subprocess.run(base + ["--port", str(instance.port), "--tls"], capture_output=True,
                       timeout=60)
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 0 and "TLS started" in out, out
    p = subprocess.run(base + ["--port", str(instance.smtps_port), "--tlsc", "--auth", "PLAIN",
                               "--auth-user", "alice", "--auth-password", th.PASSWORD,
                               "--from", "alice@example.test"],
                       capture_output=True, timeout=60)
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 0 and "235 2.7.0" in out, out
    assert harness.wait_for_maildir(instance.maildir, 2)
