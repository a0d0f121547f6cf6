"""test_bounce.py: non-delivery notifications (the bounce daemon, qmgr/qmgr_bounce.c).

Mail from demo@example.test (a local virtual mailbox, so the notification lands in a
Maildir we can read) to user@relay.test is relayed by the smtp agent to a sink SMTP
server (sink.py) on 127.0.0.2 found through a test DNS server (dnsserver.py). The sink
answers RCPT with 550 (permanent failure) or 451 with a 1-second queue lifetime
(expiry). Checked: exactly one DSN, parsed by Python's email package as
multipart/report; report-type=delivery-status, with the right Final-Recipient, Action
and Status and the original headers, delivered with Return-Path: <> (MAIL FROM:<>);
a notification to an undeliverable sender ends at postmaster once (double bounce); a
double bounce that fails too is discarded; the queue (and bounce/, defer/) is empty
afterwards. Every wait is bounded.
"""
import email
import email.policy
import os
import time

import pytest

from dnsserver import TestDNS
from harness import DEMO, read_delivered, split_delivered, wait_for_maildir, wait_until
from sink import SinkGroup

RCPT = "user@relay.test"
ZONE = """
relay.test.     60 IN MX 10 mx1.relay.test.
mx1.relay.test. 60 IN A 127.0.0.2
"""


@pytest.fixture
def relay(instance):
    dns = TestDNS(ZONE).start()
    sinks = SinkGroup(["127.0.0.2"]).start()
    instance.set(dns_servers="127.0.0.1:%d" % dns.port, smtp_tcp_port=str(sinks.port),
                 dns_timeout="2s", dns_retries="1", smtp_connect_timeout="5s",
                 minimal_backoff_time="1s", maximal_backoff_time="2s",
                 queue_run_delay="1s")
    yield sinks["127.0.0.2"]
    sinks.stop()
    dns.stop()


def send(instance, sender, rcpt=RCPT, subject="bounce test"):
    msg = ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: <t1@client.test>\r\n"
           "\r\nbody\r\n" % (sender, rcpt, subject)).encode()
    s = instance.smtp()
    assert s.sendmail(sender, [rcpt], msg) == {}
    s.quit()


def only_delivery(instance, timeout=30):
    """Wait for the demo Maildir to get a message, make sure no second one follows;
    return (return_path_line, parsed message)."""
    files = wait_for_maildir(instance.maildir, 1, timeout)
    assert files, "nothing delivered to %s\n%s" % (DEMO, instance.log_tail())
    assert instance.wait_queue_empty(15), instance.queue_files()
    time.sleep(1.5)
    data = read_delivered(instance.maildir)
    assert len(data) == 1, "expected exactly one notification, got %d" % len(data)
    blocks, rest = split_delivered(data[0])
    return blocks[0], email.message_from_bytes(rest, policy=email.policy.compat32)


def report_fields(msg):
    """(per-message fields, [per-recipient fields]) of the message/delivery-status part."""
    assert msg.get_content_type() == "multipart/report", msg.get_content_type()
    assert msg.get_param("report-type") == "delivery-status"
    parts = msg.get_payload()
    assert [p.get_content_type() for p in parts] == \
        ["text/plain", "message/delivery-status", "text/rfc822-headers"], parts
    blocks = parts[1].get_payload()
    assert len(blocks) >= 2, blocks
    return blocks[0], blocks[1:], parts


def assert_queue_clean(instance):
    assert instance.wait_queue_empty(15), instance.queue_files()
    assert wait_until(lambda: not instance.queue_files(("bounce", "defer")), 10), \
        instance.queue_files(("bounce", "defer"))


def test_permanent_failure_one_dsn(instance, relay):
    relay.replies["rcpt"] = "550 5.1.1 <user@relay.test>: Recipient address rejected"
    instance.start()
    send(instance, DEMO)
    return_path, msg = only_delivery(instance)
    assert return_path == b"Return-Path: <>", return_path
    assert msg["To"] == "<%s>" % DEMO
    assert msg["Auto-Submitted"] == "auto-replied"
    head, rcpts, parts = report_fields(msg)
    assert head["Reporting-MTA"].startswith("dns; ")
    assert head["Arrival-Date"]
    assert len(rcpts) == 1
    r = rcpts[0]
    assert r["Final-Recipient"] == "rfc822; " + RCPT
    assert r["Action"] == "failed"
    assert r["Status"] == "5.1.1"
    assert r["Diagnostic-Code"].startswith("smtp; 550 5.1.1"), r["Diagnostic-Code"]
    assert r["Remote-MTA"] == "dns; mx1.relay.test"
    assert RCPT in parts[0].get_payload()
    assert "Subject: bounce test" in parts[2].get_payload()
    assert relay.messages == []
    assert instance.log_lines(r"postern/bounce\[\d+\]: \w+: sender non-delivery "
                              r"notification: \w+")
    assert_queue_clean(instance)


def test_expired_one_dsn(instance, relay):
    relay.replies["rcpt"] = "451 4.3.0 try again later"
    instance.set(maximal_queue_lifetime="1s")
    instance.start()
    send(instance, DEMO)
    return_path, msg = only_delivery(instance)
    assert return_path == b"Return-Path: <>", return_path
    _head, rcpts, _parts = report_fields(msg)
    assert len(rcpts) == 1
    assert rcpts[0]["Final-Recipient"] == "rfc822; " + RCPT
    assert rcpts[0]["Action"] == "failed"
    assert rcpts[0]["Status"] == "4.4.7"
    assert "expired" in rcpts[0]["Diagnostic-Code"]
    assert instance.log_lines(r"to=<%s>.*status=expired" % RCPT)
    assert_queue_clean(instance)


def test_double_bounce_to_postmaster_once(instance, relay):
    relay.replies["rcpt"] = lambda a: "550 5.1.1 %s: no such user" % a
    instance.start()
    send(instance, "gone@relay.test")
    return_path, msg = only_delivery(instance)
    assert return_path == b"Return-Path: <>", return_path
    assert msg["X-Postern-Notification"] == "double-bounce"
    _head, rcpts, _parts = report_fields(msg)
    assert [r["Final-Recipient"] for r in rcpts] == ["rfc822; gone@relay.test"]
    assert rcpts[0]["Status"] == "5.1.1"
    assert relay.messages == []
    assert len(instance.log_lines(r"sender non-delivery notification")) == 1
    assert len(instance.log_lines(r"postmaster non-delivery notification")) == 1
    assert_queue_clean(instance)


def test_failed_double_bounce_is_discarded(instance, relay):
    relay.replies["rcpt"] = lambda a: "550 5.1.1 %s: no such user" % a
    instance.set(**{"2bounce_notice_recipient": "pm@relay.test"})
    instance.start()
    send(instance, "gone@relay.test")
    assert instance.wait_for_log(r"undeliverable postmaster notification discarded", 30), \
        instance.log_tail()
    assert_queue_clean(instance)
    time.sleep(1.5)
    assert len(instance.log_lines(r"undeliverable postmaster notification discarded")) == 1
    assert len(instance.log_lines(r"postmaster non-delivery notification")) == 1
    rcpt_cmds = [c for c in relay.commands if c.upper().startswith("RCPT")]
    assert len(rcpt_cmds) == 3, rcpt_cmds          # original, DSN, double bounce
    assert relay.messages == []
    assert not os.path.isdir(os.path.join(instance.maildir, "new")) or \
        not os.listdir(os.path.join(instance.maildir, "new"))


def test_bounce_service_down_then_retried(instance, relay):
    """The notification is retried when the bounce service cannot be reached; the
    failed recipient is not delivered again."""
    relay.replies["rcpt"] = "550 5.1.1 <user@relay.test>: Recipient address rejected"
    instance.set(bounce_service_name="nobounce")
    instance.start()
    send(instance, DEMO)
    assert instance.wait_for_log(r"sender notification failed", 20), instance.log_tail()
    assert instance.queue_files(("deferred", "active")), "message must be kept"
    # point qmgr at the real service; the next retry sends the notification
    with open(instance.main_cf, "a") as fh:
        fh.write("bounce_service_name = bounce\n")
    instance.reload()
    return_path, msg = only_delivery(instance)
    assert return_path == b"Return-Path: <>"
    _head, rcpts, _parts = report_fields(msg)
    assert rcpts[0]["Final-Recipient"] == "rfc822; " + RCPT
    rcpt_cmds = [c for c in relay.commands if c.upper().startswith("RCPT")]
    assert len(rcpt_cmds) == 1, rcpt_cmds
    assert_queue_clean(instance)


def test_delay_warning_once(instance, relay):
    """delay_warning_time: a deferred message older than it gets exactly one delay
    warning (Action: delayed, Status 4.x.x) while it stays queued, also across a restart;
    once the sink accepts it is delivered and no further warning follows."""
    relay.replies["rcpt"] = "451 4.3.0 try again later"
    instance.set(delay_warning_time="1s")
    instance.start()
    send(instance, DEMO, subject="delay test")
    files = wait_for_maildir(instance.maildir, 1, 30)
    assert files, "no delay warning delivered\n%s" % instance.log_tail()
    data = read_delivered(instance.maildir)
    assert len(data) == 1, len(data)
    blocks, rest = split_delivered(data[0])
    assert blocks[0] == b"Return-Path: <>", blocks[0]
    msg = email.message_from_bytes(rest, policy=email.policy.compat32)
    assert msg["To"] == "<%s>" % DEMO
    assert msg["Subject"].startswith("Delayed Mail"), msg["Subject"]
    head, rcpts, parts = report_fields(msg)
    assert head["Arrival-Date"]
    assert len(rcpts) == 1
    r = rcpts[0]
    assert r["Final-Recipient"] == "rfc822; " + RCPT
    assert r["Action"] == "delayed"
    assert r["Status"].startswith("4."), r["Status"]
    assert r["Diagnostic-Code"].startswith("smtp; 451 4.3.0"), r["Diagnostic-Code"]
    assert r["Will-Retry-Until"], r
    assert "Subject: delay test" in parts[2].get_payload()
    assert instance.queue_files(("incoming", "active", "deferred")), "message must stay queued"
    # the "warned" fact survives a restart of the whole system (qmgr included)
    instance.stop()
    assert wait_until(lambda: not instance._stragglers(), 15), instance._stragglers()
    instance.start()
    # more deferrals: still exactly one warning
    tries = len([c for c in relay.commands if c.upper().startswith("RCPT")])
    assert wait_until(lambda: len([c for c in relay.commands
                                   if c.upper().startswith("RCPT")]) >= tries + 2, 30), \
        instance.log_tail()
    assert len(read_delivered(instance.maildir)) == 1
    assert relay.messages == []
    # the sink accepts now: delivered, no further warning, queue clean
    relay.replies["rcpt"] = "250 2.1.5 Ok"
    assert wait_until(lambda: len(relay.messages) == 1, 30), instance.log_tail()
    assert_queue_clean(instance)
    time.sleep(1.5)
    assert len(read_delivered(instance.maildir)) == 1
    assert len(relay.messages) == 1
    assert len(instance.log_lines(r"postern/bounce\[\d+\]: \w+: sender delay "
                                  r"notification: \w+")) == 1


def test_no_delay_warning_when_off(instance, relay):
    """delay_warning_time = 0 (the default): a deferred message gets no warning."""
    relay.replies["rcpt"] = "451 4.3.0 try again later"
    instance.start()
    send(instance, DEMO)
    assert wait_until(lambda: len([c for c in relay.commands
                                   if c.upper().startswith("RCPT")]) >= 3, 30), \
        instance.log_tail()
    assert not instance.log_lines(r"delay notification")
    assert not os.path.isdir(os.path.join(instance.maildir, "new")) or \
        not os.listdir(os.path.join(instance.maildir, "new"))
