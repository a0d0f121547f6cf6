"""test_policy.py: what smtpd must refuse, and that refused mail is never queued.

Covers: unknown virtual user (550 5.1.1), relay control by mynetworks (554 5.7.1 outside,
250 inside), SIZE and message_size_limit (552), and command order / syntax errors
(503, 501, 502, 500)."""
import time

from harness import DEMO, DOMAIN, SENDER, maildir_files
from messages import message


def reply_ok(reply, code, dsn=None):
    c, lines = reply
    text = "\n".join(lines)
    assert c == code, "expected %d, got %r" % (code, lines)
    if dsn:
        assert dsn in text, "expected DSN %s in %r" % (dsn, lines)


def test_unknown_user(instance):
    instance.start()
    s = instance.smtp()
    assert s.mail(SENDER)[0] == 250
    code, text = s.rcpt("nosuchuser@" + DOMAIN)
    assert code == 550 and b"5.1.1" in text, (code, text)
    s.quit()
    assert instance.wait_for_log(r"NOQUEUE: reject: RCPT from .*550 5\.1\.1"), instance.log_tail()


def test_relay_denied_outside_mynetworks(instance):
    instance.set(mynetworks="127.0.0.2/32")
    instance.start()
    s = instance.smtp(source="127.0.0.1")
    assert s.mail(SENDER)[0] == 250
    code, text = s.rcpt("someone@foreign.test")
    assert code == 554 and b"5.7.1" in text, (code, text)
    code, text = s.docmd("DATA")
    assert code in (503, 554), (code, text)
    s.quit()
    time.sleep(0.5)
    assert instance.queue_is_empty(("incoming", "active", "deferred", "hold")), \
        instance.queue_files(("incoming", "active", "deferred", "hold"))


def test_relay_allowed_inside_mynetworks(instance):
    instance.set(mynetworks="127.0.0.2/32")
    instance.start()
    s = instance.smtp(source="127.0.0.2")
    msg, _ = message(to="someone@foreign.test")
    # no smtp client exists yet: only acceptance is checked here
    assert s.sendmail(SENDER, ["someone@foreign.test"], msg) == {}
    s.quit()


def test_size_parameter_too_big(instance):
    instance.start()
    s = instance.smtp()
    assert s.has_extn("size"), s.esmtp_features
    code, text = s.docmd("MAIL FROM:<%s> SIZE=99999999" % SENDER)
    assert code == 552 and b"5.3.4" in text, (code, text)
    s.quit()


def test_message_size_limit(instance):
    instance.set(message_size_limit="10000")
    instance.start()
    s = instance.smtp()
    body = ["x" * 99 for _ in range(200)]        # ~20000 bytes
    msg, _ = message(body_lines=body)
    assert len(msg) > 20000
    assert s.mail(SENDER)[0] == 250            # no SIZE= parameter: the limit applies at DATA
    assert s.rcpt(DEMO)[0] == 250
    code, text = s.data(msg)
    assert code == 552, (code, text)
    s.quit()
    time.sleep(1)
    assert instance.queue_is_empty(), instance.queue_files()
    assert maildir_files(instance.maildir) == []


def test_command_order_and_syntax(instance):
    instance.start()
    c = instance.raw()
    assert c.reply()[0] == 220
    reply_ok(c.cmd("MAIL FROM:<%s>" % SENDER), 503)          # before EHLO
    reply_ok(c.cmd("EHLO client.test"), 250)
    reply_ok(c.cmd("RCPT TO:<%s>" % DEMO), 503)               # before MAIL
    reply_ok(c.cmd("MAIL FROM:<%s>" % SENDER), 250)
    code, lines = c.cmd("DATA")                               # before RCPT
    assert code in (503, 554), lines
    reply_ok(c.cmd("MAIL FROM:<%s>" % SENDER), 503)           # nested MAIL
    reply_ok(c.cmd("RSET"), 250)
    reply_ok(c.cmd("MAIL FROM:<bad address"), 501)            # bad syntax
    reply_ok(c.cmd("MAIL FROM:<%s>" % SENDER), 250)
    reply_ok(c.cmd("RCPT TO:"), 501)
    reply_ok(c.cmd("FROBNICATE now"), 502)                    # unknown command
    reply_ok(c.cmd("NOOP"), 250)
    code, lines = c.cmd("NOOP " + "x" * 5000)                 # too long line
    assert code == 500, lines
    c.close()
    time.sleep(0.5)
    assert instance.queue_is_empty(), instance.queue_files()
