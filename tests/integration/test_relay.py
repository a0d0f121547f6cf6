"""test_relay.py: the smtp delivery agent against a test DNS server and SMTP sinks.

Each test runs a DNS server (dnsserver.TestDNS, python3-dnslib) on 127.0.0.1 with its own
zone, and sink SMTP servers (sink.SinkGroup) on 127.0.0.2, 127.0.0.3, ... sharing one port;
the instance gets dns_servers = 127.0.0.1:DNSPORT and smtp_tcp_port = SINKPORT and an
"smtp" service in master.cf. Mail to user@relay.test is accepted by smtpd (client in
mynetworks), routed by qmgr to smtp and relayed. Covered: MX preference order and fallback
(refused / 421), equal preferences shared, no MX -> A record, null MX, NXDOMAIN, SERVFAIL,
4xx deferral and later delivery, 5xx bounce with the remote text, per-recipient results,
mail that loops back to ourselves (MX name and greeting name), content (dot-stuffing,
CRLF, BODY=8BITMIME), SIZE limit. Every wait is bounded.
"""
import os
import re
import time

import pytest

from dnsserver import TestDNS
from harness import SENDER, wait_until
from sink import SinkGroup

RCPT = "user@relay.test"
SMTP_LOG = r"postern/smtp\[\d+\]: \w+: to=<%s>"


class Relay:
    """DNS + sinks + instance settings for one test."""

    def __init__(self, instance, zone, addresses=("127.0.0.2", "127.0.0.3"), servfail=()):
        self.inst = instance
        self.dns = TestDNS(zone, servfail=servfail).start()
        self.sinks = SinkGroup(list(addresses)).start()
        instance.set(dns_servers="127.0.0.1:%d" % self.dns.port,
                     smtp_tcp_port=str(self.sinks.port),
                     dns_timeout="2s", dns_retries="1",
                     smtp_connect_timeout="5s", smtp_helo_timeout="10s",
                     minimal_backoff_time="2s", maximal_backoff_time="4s",
                     queue_run_delay="1s")
        mcf = os.path.join(instance.conf, "master.cf")
        with open(mcf) as fh:           # `postern init` adds the smtp service already
            have = any(l.split()[:2] == ["smtp", "unix"] for l in fh)
        if not have:
            with open(mcf, "a") as fh:
                fh.write("smtp       unix  y       -       n       -       -       smtp\n")

    def stop(self):
        self.sinks.stop()
        self.dns.stop()

    def send(self, rcpts=(RCPT,), body="hello relay\n", subject="relay test", options=()):
        msg = ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n\r\n%s" %
               (SENDER, rcpts[0], subject, body.replace("\n", "\r\n"))).encode("utf-8")
        s = self.inst.smtp()
        refused = s.sendmail(SENDER, list(rcpts), msg, mail_options=list(options))
        s.quit()
        assert refused == {}
        return msg

    def smtp_lines(self, rcpt=RCPT, status=None):
        pat = SMTP_LOG % re.escape(rcpt)
        if status:
            pat += r".*status=%s" % status
        return self.inst.log_lines(pat)

    def wait_status(self, status, rcpt=RCPT, n=1, timeout=30):
        lines = wait_until(lambda: len(self.smtp_lines(rcpt, status)) >= n and
                           self.smtp_lines(rcpt, status), timeout)
        assert lines, "no smtp log line with status=%s for %s:\n%s" % (
            status, rcpt, self.inst.log_tail())
        return lines


@pytest.fixture
def relay_factory(instance):
    made = []

    def make(zone, **kw):
        r = Relay(instance, zone, **kw)
        made.append(r)
        return r
    yield make
    for r in made:
        r.stop()


TWO_MX = """
relay.test.     60 IN MX 10 mx1.relay.test.
relay.test.     60 IN MX 20 mx2.relay.test.
mx1.relay.test. 60 IN A 127.0.0.2
mx2.relay.test. 60 IN A 127.0.0.3
"""


@pytest.mark.parametrize("trouble", ["refused", "421"])
def test_mx_fallback_to_second(instance, relay_factory, trouble):
    r = relay_factory(TWO_MX)
    if trouble == "refused":
        r.sinks.stop_one("127.0.0.2")
    else:
        r.sinks["127.0.0.2"].replies["greeting"] = "421 4.3.2 {name} busy"
    instance.start()
    body = "first line\n.starts with a dot\n..two dots\n.\n8bit: Gr\u00fc\u00dfe\nlast\n"
    original = r.send(body=body)
    good = r.sinks["127.0.0.3"]
    assert wait_until(lambda: good.messages, 30), instance.log_tail()
    time.sleep(1)
    assert len(good.messages) == 1
    assert r.sinks["127.0.0.2"].messages == []
    m = good.messages[0]
    assert m["mail_from"] == SENDER and m["rcpts"] == [RCPT]
    assert "BODY=8BITMIME" in m["mail_params"] and "SIZE=" in m["mail_params"]
    # the relayed content is the original plus our Received header, CRLF, dot-unstuffed
    assert m["data"].endswith(original.split(b"\r\n\r\n", 1)[1]), m["data"][-300:]
    assert b"Subject: relay test\r\n" in m["data"]
    assert b"\n" not in m["data"].replace(b"\r\n", b"")
    lines = r.wait_status("sent")
    assert "relay=mx2.relay.test[127.0.0.3]:%d" % r.sinks.port in lines[0], lines
    assert "dsn=2.0.0" in lines[0] and "queued as SINK1" in lines[0], lines
    assert instance.wait_queue_empty(10), instance.queue_files()


def test_equal_preferences_both_used(instance, relay_factory):
    zone = TWO_MX.replace("MX 20", "MX 10")
    r = relay_factory(zone)
    # equal preferences are shuffled per connection; a reused session keeps its host
    # (as in Postfix), so this test opens one connection per message
    instance.set(smtp_connection_cache_on_demand="no", smtp_connection_cache_time_limit="0")
    instance.start()
    n = 12
    for i in range(n):
        r.send(subject="eq %d" % i)
    total = lambda: sum(len(s.messages) for s in r.sinks.sinks.values())
    assert wait_until(lambda: total() >= n, 60), instance.log_tail()
    time.sleep(1)
    assert total() == n
    assert r.sinks["127.0.0.2"].messages and r.sinks["127.0.0.3"].messages, \
        "equal-preference MX hosts not shuffled: %s" % {a: len(s.messages)
                                                      for a, s in r.sinks.sinks.items()}


def test_no_mx_uses_address_record(instance, relay_factory):
    r = relay_factory("relay.test. 60 IN A 127.0.0.3\nrelay.test. 60 IN TXT \"x\"\n")
    instance.start()
    r.send()
    lines = r.wait_status("sent")
    assert "relay=relay.test[127.0.0.3]:" in lines[0], lines
    assert len(r.sinks["127.0.0.3"].messages) == 1


def test_null_mx_bounces_at_once(instance, relay_factory):
    r = relay_factory("relay.test. 60 IN MX 0 .\n")
    instance.start()
    r.send()
    lines = r.wait_status("bounced")
    assert "dsn=5.1.10" in lines[0] and "nullMX" in lines[0], lines
    assert "relay=none" in lines[0]
    assert all(s.connections == 0 for s in r.sinks.sinks.values())


def test_nxdomain_bounces(instance, relay_factory):
    r = relay_factory("other.test. 60 IN A 127.0.0.2\n")
    instance.start()
    r.send()
    lines = r.wait_status("bounced")
    assert "dsn=5.1.2" in lines[0] and "Host or domain name not found" in lines[0], lines


def test_servfail_defers(instance, relay_factory):
    r = relay_factory(TWO_MX, servfail={"relay.test"})
    instance.start()
    r.send()
    lines = r.wait_status("deferred")
    assert "dsn=4.4.3" in lines[0] and "try again" in lines[0], lines
    assert instance.queue_files(("deferred",)) or instance.queue_files(("active",))


def test_451_deferred_then_delivered(instance, relay_factory):
    r = relay_factory("relay.test. 60 IN MX 10 mx1.relay.test.\nmx1.relay.test. 60 IN A 127.0.0.2\n",
                      addresses=("127.0.0.2",))
    sink = r.sinks["127.0.0.2"]
    sink.replies["rcpt"] = "451 4.3.0 <{name}> greylisted, try again"
    instance.start()
    r.send()
    lines = r.wait_status("deferred")
    assert "dsn=4.3.0" in lines[0], lines
    assert "said: 451 4.3.0" in lines[0] and "(in reply to RCPT TO command)" in lines[0], lines
    assert "relay=mx1.relay.test[127.0.0.2]:" in lines[0], lines
    assert wait_until(lambda: instance.queue_files(("deferred",)), 10), \
        "deferred message not in queue/deferred: %s" % instance.queue_files(
            ("incoming", "active", "deferred", "hold", "corrupt"))
    sink.replies["rcpt"] = "250 2.1.5 Ok"
    sent = wait_until(lambda: r.smtp_lines(status="sent"), 40)
    assert sent, "qmgr did not retry the deferred message:\n" + instance.log_tail()
    assert len(sink.messages) == 1
    assert instance.wait_queue_empty(10)


def test_550_bounced_with_remote_text(instance, relay_factory):
    r = relay_factory(TWO_MX)
    r.sinks["127.0.0.2"].replies["rcpt"] = \
        lambda a: "550 5.1.1 <%s>: Recipient address rejected: no such user" % a \
        if a.startswith("nobody") else "250 2.1.5 Ok"
    instance.start()
    other = "other@relay.test"
    r.send(rcpts=("nobody@relay.test", other))
    bad = r.wait_status("bounced", rcpt="nobody@relay.test")
    assert "dsn=5.1.1" in bad[0], bad
    assert ("host mx1.relay.test[127.0.0.2] said: 550 5.1.1 <nobody@relay.test>: "
            "Recipient address rejected: no such user (in reply to RCPT TO command)") in bad[0]
    good = r.wait_status("sent", rcpt=other)
    assert "relay=mx1.relay.test[127.0.0.2]:" in good[0]
    msgs = r.sinks["127.0.0.2"].messages
    assert len(msgs) == 1 and msgs[0]["rcpts"] == [other]
    assert r.sinks["127.0.0.3"].messages == []


def test_mx_pointing_to_myself_bounces(instance, relay_factory):
    me = instance.param("myhostname")
    r = relay_factory("relay.test. 60 IN MX 10 %s.\n" % me)
    instance.start()
    r.send()
    lines = r.wait_status("bounced")
    assert "loops back to myself" in lines[0] and "dsn=5.4.6" in lines[0], lines


def test_lower_preference_than_myself_is_skipped(instance, relay_factory):
    me = instance.param("myhostname")
    zone = TWO_MX.replace("MX 10 mx1.relay.test.", "MX 5 mx1.relay.test.") + \
        "relay.test. 60 IN MX 10 %s.\n" % me
    r = relay_factory(zone)                    # mx1 (5) < me (10) < mx2 (20)
    r.sinks.stop_one("127.0.0.2")
    instance.start()
    r.send()
    lines = r.wait_status("deferred")
    assert "connect to mx1.relay.test[127.0.0.2]" in lines[0], lines
    assert r.sinks["127.0.0.3"].connections == 0


def test_greeting_names_myself_bounces(instance, relay_factory):
    me = instance.param("myhostname")
    r = relay_factory("relay.test. 60 IN MX 10 mx1.relay.test.\nmx1.relay.test. 60 IN A 127.0.0.2\n",
                      addresses=("127.0.0.2",))
    r.sinks["127.0.0.2"].name = me
    instance.start()
    r.send()
    lines = r.wait_status("bounced")
    assert "loops back to myself" in lines[0], lines
    assert r.sinks["127.0.0.2"].messages == []


def test_size_limit_of_server_bounces(instance, relay_factory):
    r = relay_factory("relay.test. 60 IN MX 10 mx1.relay.test.\nmx1.relay.test. 60 IN A 127.0.0.2\n",
                      addresses=("127.0.0.2",))
    r.sinks["127.0.0.2"].ehlo_lines = ["PIPELINING", "SIZE 200"]
    instance.start()
    r.send(body="x" * 500 + "\n")
    lines = r.wait_status("bounced")
    assert "dsn=5.3.4" in lines[0] and "exceeds size limit 200" in lines[0], lines
    assert r.sinks["127.0.0.2"].messages == []


def test_without_pipelining_and_ehlo_rejected(instance, relay_factory):
    r = relay_factory("relay.test. 60 IN MX 10 mx1.relay.test.\nmx1.relay.test. 60 IN A 127.0.0.2\n",
                      addresses=("127.0.0.2",))
    r.sinks["127.0.0.2"].replies["ehlo"] = "502 5.5.2 no ESMTP here"
    instance.start()
    r.send(rcpts=(RCPT, "two@relay.test"))
    r.wait_status("sent")
    r.wait_status("sent", rcpt="two@relay.test")
    cmds = r.sinks["127.0.0.2"].commands
    assert any(c.startswith("HELO ") for c in cmds), cmds
    m = r.sinks["127.0.0.2"].messages[0]
    assert m["mail_params"] == "" and sorted(m["rcpts"]) == sorted([RCPT, "two@relay.test"])


ONE_MX = "relay.test. 60 IN MX 10 mx1.relay.test.\nmx1.relay.test. 60 IN A 127.0.0.2\n"


@pytest.mark.parametrize("reply,expect", [
    ("\n".join(["250-line %d" % i for i in range(150)] + ["250 ok"]), "too many lines"),
    ("250 " + "x" * 5000, "line too long"),
    ("250-ok\n251 changed code", "reply code changes"),
    ("abc not a reply", "bad line syntax"),
], ids=["too-many-lines", "line-too-long", "code-changes", "bad-syntax"])
def test_malformed_server_reply_defers(instance, relay_factory, reply, expect):
    r = relay_factory(ONE_MX, addresses=("127.0.0.2",))
    r.sinks["127.0.0.2"].replies["rcpt"] = lambda a: reply
    instance.start()
    r.send()
    lines = r.wait_status("deferred")
    assert "malformed reply: " + expect in lines[0] and "dsn=4.5.0" in lines[0], lines
    assert r.sinks["127.0.0.2"].messages == []


def test_multiline_reject_text_logged(instance, relay_factory):
    r = relay_factory(ONE_MX, addresses=("127.0.0.2",))
    r.sinks["127.0.0.2"].replies["dot"] = "554-5.7.1 first line\n554 5.7.1 second line"
    instance.start()
    r.send()
    lines = r.wait_status("bounced")
    assert "dsn=5.7.1" in lines[0], lines
    assert "said: 554-5.7.1 first line 554 5.7.1 second line (in reply to end of DATA " \
        "command)" in lines[0], lines
