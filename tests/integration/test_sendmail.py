"""test_sendmail.py: local submission with the sendmail command through the pickup service.

Covers: `sendmail -t -i` (recipients from To/Cc/Bcc, Bcc removed, duplicates merged),
`sendmail user < file` (unqualified recipient gets @$myorigin; a lone "." ends input
without -i), -f sets the envelope sender (Return-Path), -F the name in an added From:
header, dot lines kept with -i, submission from an unprivileged account (runuser to
nobody when the tests run as root), the uid in Received, and the pickup socket treating
a raw client as hostile (a forged client_addr attribute, garbage records and a missing E
are rejected and nothing is delivered).
Also mailq/-bp, newaliases/-bi and the usage exit codes."""
import os
import pwd
import shutil
import socket
import subprocess

import pytest

from harness import DEMO, DOMAIN, read_delivered, split_delivered, wait_for_maildir, wait_until

PICKUP_LINE = "pickup     unix  n       -       n       -       -       pickup\n"
EX_USAGE, EX_NOUSER, EX_TEMPFAIL = 64, 67, 75


def sendmail_bin(instance):
    return os.path.join(instance.build, "cmd", "sendmail")


def start_with_pickup(instance):
    """Add the pickup service (unless `postern init` already did) and start."""
    master_cf = os.path.join(instance.conf, "master.cf")
    with open(master_cf) as fh:
        have = any(l.split()[:1] == ["pickup"] for l in fh)
    if not have:
        with open(master_cf, "a") as fh:
            fh.write(PICKUP_LINE)
    instance.set(myorigin=DOMAIN)
    instance.start()
    sock = os.path.join(instance.queue, "public", "pickup")
    assert wait_until(lambda: os.path.exists(sock), 10), "no pickup socket at " + sock


def sendmail(instance, args, data, user=None, argv0=None, timeout=30):
    argv = [sendmail_bin(instance), "-C", instance.conf] + list(args)
    if argv0:
        link = os.path.join(instance.base, argv0)
        if not os.path.exists(link):
            os.symlink(sendmail_bin(instance), link)
        argv[0] = link
    if user:
        argv = ["runuser", "-u", user, "--"] + argv
    p = subprocess.run(argv, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, env=instance.env, cwd="/")
    with open(instance.cmd_log, "ab") as fh:
        fh.write(b"$ " + " ".join(argv).encode() + b"\n" + p.stdout + p.stderr +
                 b"[exit %d]\n" % p.returncode)
    return p


def login_name():
    return pwd.getpwuid(os.getuid()).pw_name


def delivered_one(instance, n=1):
    files = wait_for_maildir(instance.maildir, n)
    assert len(files) >= n, "expected %d message(s), found %d\n%s" % (
        n, len(files), instance.log_tail())
    return read_delivered(instance.maildir)


def test_sendmail_t_i(instance):
    start_with_pickup(instance)
    msg = (b"To: Demo <demo@example.test>, \"Doe, J\" <demo@example.test>\n"
           b"Cc: (nobody)\n"
           b" demo@EXAMPLE.test\n"
           b"Bcc: hidden-demo <demo@example.test>\n"
           b"Subject: sendmail -t test\n"
           b"\n"
           b"first\n"
           b".\n"
           b"..two dots\n"
           b"last\n")
    p = sendmail(instance, ["-t", "-i"], msg)
    assert p.returncode == 0, p.stderr
    data = delivered_one(instance)
    assert len(data) == 1, "duplicates not merged: %d copies" % len(data)
    blocks, rest = split_delivered(data[0])
    assert blocks[0] == ("Return-Path: <%s@%s>" % (login_name(), DOMAIN)).encode()
    assert ("from userid %d)" % os.getuid()).encode() in blocks[2], blocks[2]
    assert b"Bcc:" not in rest and b"hidden-demo" not in rest
    assert b"To: Demo <demo@example.test>" in rest
    assert b"Cc: (nobody)\n demo@EXAMPLE.test\n" in rest
    assert b"Message-ID: <" in rest and b"\nDate: " in rest and b"\nFrom: " in rest
    assert rest.endswith(b"\n\nfirst\n.\n..two dots\nlast\n"), rest
    assert instance.wait_for_log(r"postern/pickup\[\d+\]: \w+: uid=%d from=<" % os.getuid())
    assert instance.wait_queue_empty(), instance.log_tail()


def test_sendmail_recipient_from_file_and_lone_dot(instance):
    start_with_pickup(instance)
    path = os.path.join(instance.base, "msg.txt")
    with open(path, "wb") as fh:
        fh.write(b"Subject: from a file\r\n\r\nbody with CRLF\r\n.\r\nnot part of the message\r\n")
    with open(path, "rb") as fh:
        p = sendmail(instance, ["demo"], fh.read())     # unqualified: @$myorigin
    assert p.returncode == 0, p.stderr
    rest = split_delivered(delivered_one(instance)[0])[1]
    assert rest.startswith(b"Subject: from a file\n")
    assert rest.endswith(b"\n\nbody with CRLF\n"), rest
    assert b"not part" not in rest


def test_sender_option_sets_return_path(instance):
    start_with_pickup(instance)
    p = sendmail(instance, ["-f", "bounces@sender.test", "-F", "Full Name", "-oi", "--", DEMO],
                 b"Subject: f\n\nx\n")
    assert p.returncode == 0, p.stderr
    blocks, rest = split_delivered(delivered_one(instance)[0])
    assert blocks[0] == b"Return-Path: <bounces@sender.test>", blocks[0]
    assert b"\nFrom: Full Name <bounces@sender.test>\n" in rest, rest    # -F: added From:
    p = sendmail(instance, ["-f", "<>", DEMO], b"Subject: null sender\n\nx\n")
    assert p.returncode == 0, p.stderr
    second = [d for d in delivered_one(instance, 2) if b"null sender" in d]
    assert second and second[0].startswith(b"Return-Path: <>\n"), second


def test_full_name_quoted_and_existing_from_kept(instance):
    """-F text that is not plain words is quoted in the added From:; a From: that the
    message has already is left alone."""
    start_with_pickup(instance)
    p = sendmail(instance, ["-f", "joe@sender.test", "-F", 'Doe, "Joe" \\x', DEMO],
                 b"Subject: quoted\n\nx\n")
    assert p.returncode == 0, p.stderr
    rest = split_delivered(delivered_one(instance)[0])[1]
    assert b'\nFrom: "Doe, \\"Joe\\" \\\\x" <joe@sender.test>\n' in rest, rest
    p = sendmail(instance, ["-f", "joe@sender.test", "-F", "Ignored Name", DEMO],
                 b"From: Own <own@sender.test>\nSubject: own from\n\nx\n")
    assert p.returncode == 0, p.stderr
    second = [d for d in delivered_one(instance, 2) if b"own from" in d]
    assert second and b"Ignored Name" not in second[0], second
    assert split_delivered(second[0])[1].startswith(b"From: Own <own@sender.test>\n")


def test_dot_lines_kept_with_i(instance):
    start_with_pickup(instance)
    body = b".\n..\n. \n.x\nend"           # and no final newline
    p = sendmail(instance, ["-i", DEMO], b"Subject: dots\n\n" + body)
    assert p.returncode == 0, p.stderr
    rest = split_delivered(delivered_one(instance)[0])[1]
    assert rest.endswith(b"\n\n" + body + b"\n"), rest


def test_unprivileged_user(instance):
    if os.getuid() == 0:
        if not shutil.which("runuser"):
            pytest.skip("runuser not available")
        user = "nobody"
    else:
        user = None                                     # we are unprivileged already
    start_with_pickup(instance)
    p = sendmail(instance, [DEMO], b"Subject: from a plain user\n\nhello\n", user=user)
    assert p.returncode == 0, p.stderr
    uid = pwd.getpwnam(user).pw_uid if user else os.getuid()
    name = user or login_name()
    blocks, rest = split_delivered(delivered_one(instance)[0])
    assert blocks[0] == ("Return-Path: <%s@%s>" % (name, DOMAIN)).encode(), blocks[0]
    assert ("from userid %d)" % uid).encode() in blocks[2], blocks[2]
    # The plain user cannot read the queue: mailq says so instead of crashing.
    if user:
        p = sendmail(instance, ["-bp"], b"", user=user)
        assert p.returncode != 0 and b"cannot read" in p.stderr, p


# ----- raw clients on the pickup socket --------------------------------------------
def rec(rtype, data=b""):
    """One record: type byte, LEB128 length, data (lib/record.h)."""
    n, length = len(data), b""
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            length += bytes([byte | 0x80])
        else:
            length += bytes([byte])
            break
    return rtype + length + data


def raw_pickup(instance, payload, close_write=True):
    """Send payload to public/pickup after the greeting; returns (greeting, reply) bytes."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(os.path.join(instance.queue, "public", "pickup"))
    greeting = b""
    while not greeting.endswith(b"\n\n"):
        chunk = s.recv(4096)
        if not chunk:
            break
        greeting += chunk
    try:
        s.sendall(payload)
        if close_write:
            s.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    reply = b""
    while True:
        try:
            chunk = s.recv(4096)
        except OSError:
            break
        if not chunk:
            break
        reply += chunk
    s.close()
    return greeting, reply


def message_records(attrs=()):
    out = b"".join(rec(b"A", a) for a in attrs)
    out += rec(b"F", b"forger@example.test") + rec(b"R", DEMO.encode())
    out += rec(b"M") + rec(b"N", b"Subject: forged") + rec(b"N") + rec(b"N", b"body")
    return out + rec(b"X") + rec(b"E")


def test_raw_client_valid_then_forged_client_addr_rejected(instance):
    start_with_pickup(instance)
    greeting, reply = raw_pickup(instance, message_records())
    assert greeting == b"protocol=pickup\n\n"
    assert reply.startswith(b"status=0\nqueue_id="), reply
    delivered_one(instance)
    for attr in (b"client_addr=192.0.2.66", b"uid=0", b"protocol=ESMTPA",
                 b"sasl_username=admin", b"helo_name=trusted.example"):
        _, reply = raw_pickup(instance, message_records([attr]))
        assert reply.startswith(b"status=5\n"), (attr, reply)
        assert b"not%20permitted" in reply or b"not permitted" in reply, reply
    assert instance.wait_for_log(r"pickup\[\d+\]: warning: uid=\d+ pid=\d+: protocol error: "
                                 r"attribute \"client_addr\" not permitted")
    data = read_delivered(instance.maildir)
    assert len(data) == 1 and b"192.0.2.66" not in data[0], data


@pytest.mark.parametrize("payload", [
    b"\x00\x01garbage",                                               # bad record type
    rec(b"R", DEMO.encode()),                                          # R before F
    rec(b"F", b"a@example.test") + rec(b"M"),                          # no recipients
    rec(b"F", b"a@example.test") + rec(b"R", b"demo"),                 # unqualified
    rec(b"F", b"a@example.test") + rec(b"R", b"x@example.test>\r\nRCPT TO:<y@z"),
    rec(b"F", b"a\nb@example.test"),                                   # control char
    rec(b"F", b"a@example.test") + rec(b"R", DEMO.encode()) + rec(b"M") + rec(b"L", b"x") + rec(b"X"),
    rec(b"F", b"a@example.test") + rec(b"R", DEMO.encode()) + rec(b"M") + rec(b"N", b"x")
    + rec(b"X") + rec(b"N", b"after X"),
    rec(b"F", b"a@example.test") + b"R\xff\xff\xff\xff\x0f",           # huge length
])
def test_raw_client_malformed_streams(instance, payload):
    start_with_pickup(instance)
    _, reply = raw_pickup(instance, payload)
    assert reply.startswith(b"status=5\ndsn=5.5.0\n"), reply
    # and an abandoned half message (no E) is answered by nothing and queued nowhere
    _, reply = raw_pickup(instance, message_records()[:-2])
    assert reply == b"", reply
    # the service still works afterwards
    _, reply = raw_pickup(instance, message_records())
    assert reply.startswith(b"status=0\n"), reply
    assert len(delivered_one(instance)) == 1
    assert instance.wait_queue_empty(), instance.log_tail()


# ----- other modes and errors ------------------------------------------------------
def test_mailq_newaliases_and_usage(instance):
    start_with_pickup(instance)
    p = sendmail(instance, [], b"", argv0="mailq")
    assert p.returncode == 0 and p.stdout == b"Mail queue is empty\n", p
    aliases = os.path.join(instance.conf, "aliases")
    with open(aliases, "a") as fh:
        fh.write("sendmailtest: demo@example.test\n")
    p = sendmail(instance, [], b"", argv0="newaliases")
    assert p.returncode == 0, p.stderr
    q = instance.run("map", "query", "hash:" + aliases, "sendmailtest", check=False)
    assert b"demo@example.test" in q.stdout, q
    assert sendmail(instance, ["-bs"], b"").returncode == EX_USAGE
    assert sendmail(instance, [], b"Subject: x\n\n").returncode == EX_USAGE
    assert sendmail(instance, ["-t"], b"Subject: no rcpt\n\n").returncode == EX_USAGE
    assert sendmail(instance, ["-Z"], b"").returncode == EX_USAGE
    p = sendmail(instance, ["bad address@"], b"x\n")
    assert p.returncode == EX_NOUSER, p
    p = sendmail(instance, ["-t"], b"To: <broken\n\nx\n")
    assert p.returncode != 0 and b"bad address list in To" in p.stderr, p


def test_pickup_not_running_is_tempfail(instance):
    instance.set(myorigin=DOMAIN)     # no pickup service in master.cf, not even started
    p = sendmail(instance, [DEMO], b"Subject: x\n\nx\n")
    assert p.returncode == EX_TEMPFAIL, p
    assert b"cannot connect to the pickup service" in p.stderr


def test_long_line_and_size_limit(instance):
    instance.set(message_size_limit=300000)
    start_with_pickup(instance)
    long_line = b"x" * 70000 + b"\r" + b"y" * 100000     # > one 64 KiB record, inner CR kept
    p = sendmail(instance, [DEMO], b"Subject: long\n\n" + long_line + b"\r\nshort\n")
    assert p.returncode == 0, p.stderr
    rest = split_delivered(delivered_one(instance)[0])[1]
    assert rest.endswith(b"\n\n" + long_line + b"\nshort\n"), (len(rest), rest[-50:])
    # too big: refused by sendmail itself, and by pickup for a raw client
    p = sendmail(instance, [DEMO], b"Subject: big\n\n" + (b"z" * 999 + b"\n") * 400)
    assert p.returncode == 65 and b"message_size_limit" in p.stderr, p
    big = rec(b"F", b"a@example.test") + rec(b"R", DEMO.encode()) + rec(b"M") + \
        rec(b"N", b"q" * 60000) * 6 + rec(b"X") + rec(b"E")
    _, reply = raw_pickup(instance, big)
    assert reply.startswith(b"status=5\ndsn=5.3.4\n"), reply
    assert instance.wait_queue_empty(), instance.log_tail()
    assert len(read_delivered(instance.maildir)) == 1
