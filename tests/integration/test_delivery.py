"""test_delivery.py: end-to-end delivery into the demo Maildir.

Covers: byte-exact delivery (dot lines, 8-bit bytes, a long line) with smtplib and swaks;
several recipients and several transactions per session with RSET; a fully pipelined
transaction on a raw socket; and the maillog lines of a delivered message."""
import os
import re
import shutil
import subprocess

import pytest

from harness import DEMO, DOMAIN, SENDER, crlf_to_lf, read_delivered, split_delivered, \
    wait_for_maildir
from messages import markers_in, message


def tricky_body(marker):
    """Body lines that exercise dot-stuffing, 8-bit data and record splitting."""
    long_line = ("L" + marker) * (3000 // (len(marker) + 1))   # ~3000 bytes > line_length_limit
    return [
        "first line",
        ".starts with one dot",
        "..starts with two dots",
        ".",
        "..",
        " . space dot",
        "8bit: Gr\u00fc\u00dfe \u00e4\u00f6\u00fc \u20ac",
        long_line,
        "",
        "trailing spaces   ",
        "\ttab line",
    ]


def check_exact(data, original, rcpt=DEMO, sender=SENDER):
    blocks, rest = split_delivered(data)
    assert blocks[0] == ("Return-Path: <%s>" % sender).encode(), blocks[0]
    assert blocks[1] == ("Delivered-To: %s" % rcpt).encode(), blocks[1]
    assert blocks[2].startswith(b"Received: from "), blocks[2]
    expected = crlf_to_lf(original)
    if rest != expected:
        # find the first differing line for a readable failure
        got_lines, exp_lines = rest.split(b"\n"), expected.split(b"\n")
        for i, (g, e) in enumerate(zip(got_lines, exp_lines)):
            if g != e:
                pytest.fail("content differs at line %d:\n got %r\nwant %r" % (i + 1, g[:300], e[:300]))
        pytest.fail("content length differs: got %d lines, want %d (tail got %r want %r)" % (
            len(got_lines), len(exp_lines), got_lines[-3:], exp_lines[-3:]))


def test_byte_exact_smtplib(instance):
    instance.start()
    msg, marker = message(body_lines=tricky_body("x"))
    s = instance.smtp()
    assert s.has_extn("8bitmime"), "EHLO does not advertise 8BITMIME: %r" % s.esmtp_features
    refused = s.sendmail(SENDER, [DEMO], msg, mail_options=["BODY=8BITMIME"])
    assert refused == {}
    s.quit()
    files = wait_for_maildir(instance.maildir, 1)
    assert len(files) == 1, "expected 1 message in %s, found %d\n%s" % (
        instance.maildir, len(files), instance.log_tail())
    check_exact(read_delivered(instance.maildir)[0], msg)


@pytest.mark.skipif(not shutil.which("swaks"), reason="swaks not installed")
def test_byte_exact_swaks(instance):
    instance.start()
    msg, marker = message(body_lines=tricky_body("y"))
    # swaks dot-stuffs, converts LF to CRLF and adds the final CRLF itself: give it the
    # message with LF line ends and without the last newline.
    src = os.path.join(instance.base, "swaks.eml")
    with open(src, "wb") as fh:
        fh.write(crlf_to_lf(msg)[:-1])
    p = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(instance.port),
                        "--from", SENDER, "--to", DEMO, "--helo", "client.test",
                        "--data", "@" + src, "--timeout", "20"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 0, "swaks failed:\n" + out[-3000:]
    files = wait_for_maildir(instance.maildir, 1)
    assert len(files) == 1, instance.log_tail()
    check_exact(read_delivered(instance.maildir)[0], msg)


def add_mailbox(instance, user):
    """Add user@example.test to the virtual mailbox map next to demo and rebuild it."""
    spec = instance.param("virtual_mailbox_maps")
    assert spec, "main.cf from postern init has no virtual_mailbox_maps"
    spec = spec.split(",")[0].split()[0]
    assert spec.startswith(("hash:", "btree:")), spec
    source = spec.split(":", 1)[1]
    with open(source) as fh:
        text = fh.read()
    demo_line = [l for l in text.splitlines() if l.split() and l.split()[0].lower() == DEMO]
    assert demo_line, "no %s line in %s" % (DEMO, source)
    value = demo_line[0].split(None, 1)[1].strip()
    new_value = re.sub(r"demo/?$", lambda m: user + ("/" if m.group(0).endswith("/") else ""), value)
    assert new_value != value, "cannot derive a mailbox path from %r" % value
    with open(source, "a") as fh:
        fh.write("\n%s@%s %s\n" % (user, DOMAIN, new_value))
    instance.run("map", "build", spec)
    return os.path.join(instance.mail, user)


def test_several_recipients_and_transactions(instance):
    demo2 = add_mailbox(instance, "demo2")
    instance.start()
    s = instance.smtp()
    # 1: two recipients in one transaction
    m1, k1 = message()
    assert s.sendmail(SENDER, [DEMO, "demo2@" + DOMAIN], m1) == {}
    # 2: a transaction abandoned with RSET must not deliver to its recipient
    assert s.mail(SENDER)[0] == 250
    assert s.rcpt(DEMO)[0] == 250
    assert s.rset()[0] == 250
    m2, k2 = message(to="demo2@" + DOMAIN)
    assert s.mail(SENDER)[0] == 250
    assert s.rcpt("demo2@" + DOMAIN)[0] == 250
    code, text = s.data(m2)
    assert code == 250, text
    # 3: a third transaction in the same session
    m3, k3 = message()
    assert s.sendmail(SENDER, [DEMO], m3) == {}
    s.quit()
    wait_for_maildir(instance.maildir, 2)
    wait_for_maildir(demo2, 2)
    instance.wait_queue_empty(20)
    got1 = sorted(markers_in(read_delivered(instance.maildir)))
    got2 = sorted(markers_in(read_delivered(demo2)))
    assert got1 == sorted([k1, k3]), (got1, instance.log_tail())
    assert got2 == sorted([k1, k2]), (got2, instance.log_tail())
    for data in read_delivered(demo2):
        blocks, _ = split_delivered(data)
        assert blocks[1] == ("Delivered-To: demo2@%s" % DOMAIN).encode()


def test_fully_pipelined(instance):
    instance.start()
    c = instance.raw()
    code, banner = c.reply()
    assert code == 220, banner
    msg, marker = message()
    c.send("EHLO client.test\r\nMAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n" % (SENDER, DEMO))
    code, ehlo = c.reply()
    assert code == 250, ehlo
    assert any(l[4:].upper().startswith("PIPELINING") for l in ehlo), ehlo
    assert c.reply()[0] == 250     # MAIL
    assert c.reply()[0] == 250     # RCPT
    assert c.reply()[0] == 354     # DATA
    c.send(msg + b".\r\nQUIT\r\n")
    code, text = c.reply()
    assert code == 250, text
    assert c.reply()[0] == 221
    c.close()
    wait_for_maildir(instance.maildir, 1)
    instance.wait_queue_empty(15)
    assert markers_in(read_delivered(instance.maildir)) == [marker]
    check_exact(read_delivered(instance.maildir)[0], msg)


def test_log_lines(instance):
    instance.start()
    msg, marker = message()
    s = instance.smtp()
    assert s.sendmail(SENDER, [DEMO], msg) == {}
    s.quit()
    wait_for_maildir(instance.maildir, 1)
    sent = instance.wait_for_log(
        r"postern/local\[\d+\]: \w+: to=<%s>, .*relay=local, .*delay=[0-9.]+, "
        r"delays=[0-9.]+/[0-9.]+/[0-9.]+/[0-9.]+, dsn=2\.0\.0, status=sent" % re.escape(DEMO))
    assert sent, "no local status=sent line:\n" + instance.log_tail()
    qid = re.search(r"\]: (\w+): to=", sent[0]).group(1)
    assert instance.wait_for_log(r"postern/smtpd\[\d+\]: %s: client=" % qid), instance.log_tail()
    assert instance.wait_for_log(r"\]: %s: from=<%s>" % (qid, re.escape(SENDER))), instance.log_tail()
