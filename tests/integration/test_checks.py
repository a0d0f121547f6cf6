"""test_checks.py: header_checks and body_checks in cleanup with regexp: tables.

Each action is shown end to end with smtplib: REJECT (554 5.7.1 with the table's text at
end of DATA, Postfix-style log line, nothing queued), DISCARD (250 with a queue ID, no
delivery, no queue file), HOLD (the file sits in queue/hold), WARN (delivered, logged),
PREPEND and IGNORE (the delivered header block changed), REDIRECT (a relay recipient
replaced by the demo mailbox), body REJECT; and a malformed table is reported with
file:line by `postern check` and `postern reload` (which refuses), and makes cleanup log a
fatal error naming file:line instead of crashing, while the client is deferred."""
import os
import re
import smtplib
import time

import pytest

from harness import DEMO, SENDER, maildir_files, read_delivered, wait_for_maildir, wait_until
from messages import message, new_marker

ALL_QUEUES = ("incoming", "active", "deferred", "hold")

HEADER_TABLE = r"""# header_checks for the tests
/^Subject: .*reject-me/         REJECT no spam here
/^Subject: .*discard-me/        DISCARD dropped by policy
/^Subject: .*hold-me/           HOLD held for review
/^Subject: .*warn-me/           WARN just looking
/^Subject: .*prepend-me/        PREPEND X-Checked: subject $0 seen
/^X-Remove-Me:/                 IGNORE
/^Subject: .*redirect-(.*)-me/  REDIRECT $1@example.test
/^X-Folded: first.*second/      REJECT folded header seen
"""
# $0 is not allowed; replace it below with a valid table (kept simple on purpose).
HEADER_TABLE = HEADER_TABLE.replace(" $0 seen", " seen")

BODY_TABLE = r"""/^this line is forbidden$/   REJECT body text refused
/^body-warn/                  WARN body warning
"""


def setup_checks(instance, header=HEADER_TABLE, body=BODY_TABLE):
    hpath = os.path.join(instance.conf, "header_checks")
    bpath = os.path.join(instance.conf, "body_checks")
    with open(hpath, "w") as fh:
        fh.write(header)
    with open(bpath, "w") as fh:
        fh.write(body)
    instance.set(header_checks="regexp:" + hpath, body_checks="regexp:" + bpath)
    return hpath, bpath


def build(subject, extra_headers=(), body_lines=None, to=DEMO):
    marker = new_marker()
    lines = ["From: <%s>" % SENDER, "To: <%s>" % to, "Subject: %s %s" % (subject, marker)]
    lines += list(extra_headers)
    lines += ["", "body of " + marker] + list(body_lines or [])
    return ("\r\n".join(lines) + "\r\n").encode(), marker


def send(instance, msg, to=DEMO):
    s = instance.smtp()
    try:
        return s.sendmail(SENDER, [to], msg)
    finally:
        try:
            s.quit()
        except smtplib.SMTPException:
            pass


def delivered_with(instance, marker, timeout=20):
    def find():
        for data in read_delivered(instance.maildir):
            if marker.encode() in data:
                return data
        return None
    return wait_until(find, timeout)


def test_reject_header(instance):
    setup_checks(instance)
    instance.start()
    msg, marker = build("please reject-me")
    with pytest.raises(smtplib.SMTPDataError) as e:
        send(instance, msg)
    assert e.value.smtp_code in (550, 554), e.value
    assert b"5.7.1 no spam here" in e.value.smtp_error, e.value
    line = instance.wait_for_log(r"reject: header Subject: please reject-me %s from "
                                 r"\S+\[127\.0\.0\.1\]; from=<%s> to=<%s> proto=ESMTP "
                                 r"helo=<client\.test>: 5\.7\.1 no spam here"
                                 % (marker, SENDER, DEMO))
    assert line, instance.log_tail()
    time.sleep(0.3)
    assert instance.queue_is_empty(ALL_QUEUES), instance.queue_files(ALL_QUEUES)
    assert not maildir_files(instance.maildir)


def test_reject_folded_header(instance):
    setup_checks(instance)
    instance.start()
    msg, _ = build("folded", extra_headers=["X-Folded: first", "\tsecond"])
    with pytest.raises(smtplib.SMTPDataError) as e:
        send(instance, msg)
    assert b"folded header seen" in e.value.smtp_error


def test_reject_body(instance):
    setup_checks(instance)
    instance.start()
    msg, _ = build("innocent", body_lines=["ok line", "this line is forbidden", "more"])
    with pytest.raises(smtplib.SMTPDataError) as e:
        send(instance, msg)
    assert e.value.smtp_code in (550, 554), e.value
    assert b"5.7.1 body text refused" in e.value.smtp_error
    assert instance.wait_for_log(r"reject: body this line is forbidden from .*: "
                                 r"5\.7\.1 body text refused"), instance.log_tail()


def test_discard(instance):
    setup_checks(instance)
    instance.start()
    msg, marker = build("discard-me")
    s = instance.smtp()
    s.mail(SENDER)
    s.rcpt(DEMO)
    code, text = s.data(msg)
    s.quit()
    assert code == 250 and b"queued as" in text, (code, text)
    qid = text.split()[-1].decode()
    assert instance.wait_for_log(r"%s: discard: header Subject: discard-me %s from .*: "
                                 r"dropped by policy" % (qid, marker)), instance.log_tail()
    time.sleep(1.0)
    assert instance.queue_is_empty(ALL_QUEUES), instance.queue_files(ALL_QUEUES)
    assert not maildir_files(instance.maildir)


def test_hold(instance):
    setup_checks(instance)
    instance.start()
    msg, marker = build("hold-me")
    assert send(instance, msg) == {}
    held = wait_until(lambda: instance.queue_files(("hold",)), 10)
    assert len(held) == 1, instance.queue_files(ALL_QUEUES)
    assert os.stat(held[0]).st_mode & 0o100, "held file must be complete (mode 0700)"
    with open(held[0], "rb") as fh:
        assert marker.encode() in fh.read()
    assert instance.log_lines(r"hold: header Subject: hold-me .*: held for review")
    time.sleep(1.0)
    assert not maildir_files(instance.maildir)
    assert instance.queue_is_empty(("incoming", "active", "deferred"))


def test_warn_delivers(instance):
    setup_checks(instance)
    instance.start()
    msg, marker = build("warn-me", body_lines=["body-warn here"])
    assert send(instance, msg) == {}
    assert delivered_with(instance, marker), instance.log_tail()
    assert instance.log_lines(r"warning: header Subject: warn-me .*: just looking")
    assert instance.log_lines(r"warning: body body-warn here from .*: body warning")


def test_prepend_and_ignore(instance):
    setup_checks(instance)
    instance.start()
    msg, marker = build("prepend-me", extra_headers=["X-Remove-Me: secret", "X-Keep: 1"])
    assert send(instance, msg) == {}
    data = delivered_with(instance, marker)
    assert data, instance.log_tail()
    head = data.split(b"\n\n", 1)[0]
    assert b"X-Remove-Me" not in head, head
    assert b"X-Keep: 1" in head
    lines = head.split(b"\n")
    i = [n for n, l in enumerate(lines) if l.startswith(b"X-Checked:")]
    assert i and lines[i[0] + 1].startswith(b"Subject: prepend-me"), head
    assert lines[i[0]] == b"X-Checked: subject seen", head


def test_redirect(instance):
    setup_checks(instance)
    instance.start()
    # A relay recipient (allowed from mynetworks) redirected to the demo mailbox: if the
    # original recipient were kept, delivery to foreign.test would be attempted.
    msg, marker = build("redirect-demo-me", to="someone@foreign.test")
    assert send(instance, msg, to="someone@foreign.test") == {}
    data = delivered_with(instance, marker)
    assert data, instance.log_tail()
    assert b"Delivered-To: " + DEMO.encode() in data
    assert instance.log_lines(r"redirect: header Subject: redirect-demo-me .*: demo@example\.test")
    assert instance.wait_queue_empty(20), instance.queue_files()
    assert not instance.log_lines(r"to=<someone@foreign\.test>.*status=")


def test_malformed_table(instance):
    instance.allowed_log_patterns = [r"fatal: table regexp:.*header_checks:3: bad regular expression"]
    setup_checks(instance, header="/ok/ WARN\n\n/unbalanced(/ REJECT\n")
    want = r"header_checks:3: bad regular expression"
    # `postern check` names the file and line.
    p = instance.run("check", check=False)
    out = (p.stdout + p.stderr).decode(errors="replace")
    assert p.returncode != 0 and re.search(want, out), out
    # The daemons still start (start does not run the checks); cleanup refuses to work
    # with the broken table: a fatal naming file:line, the client is deferred.
    instance.start()
    msg, _ = build("anything")
    with pytest.raises(smtplib.SMTPException) as e:
        send(instance, msg)
    assert str(getattr(e.value, "smtp_code", "4")).startswith("4"), e.value
    assert instance.wait_for_log(r"fatal: table regexp:\S+header_checks: \S+header_checks:3: "
                                 r"bad regular expression"), instance.log_tail()
    # A reload with the broken table is refused, naming the line.
    p = instance.run("reload", check=False)
    out = (p.stdout + p.stderr).decode(errors="replace")
    assert p.returncode != 0 and re.search(want, out), out
    # Fixing the table makes the next message go through.
    with open(os.path.join(instance.conf, "header_checks"), "w") as fh:
        fh.write(HEADER_TABLE)
    instance.run("reload")
    msg, marker = build("fixed")
    ok = False
    for _ in range(15):
        try:
            send(instance, msg)
            ok = True
            break
        except smtplib.SMTPException:
            time.sleep(1)
    assert ok and delivered_with(instance, marker), instance.log_tail()
