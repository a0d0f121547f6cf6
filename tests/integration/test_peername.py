"""test_peername.py: smtpd's client names (smtpd_peername_lookup): /etc/hosts first, then
forward-confirmed reverse DNS against a test DNS server (dnsserver.TestDNS).

Clients bind to loopback source addresses that are not in /etc/hosts (127.0.0.9 ...) so the
lookups go to the test DNS server; 127.0.0.1 is named from /etc/hosts without any query.
Each address is one case (the zone below): confirmed name (mixed case in the PTR), a PTR
name that resolves elsewhere, no PTR at all, SERVFAIL, and two PTR names of which only the
second is confirmed."""
import re

import pytest

import harness
from dnsserver import TestDNS
from harness import DEMO, SENDER

ZONE = """
9.0.0.127.in-addr.arpa.   60 IN PTR Client.Example.TEST.
client.example.test.      60 IN A   127.0.0.9
10.0.0.127.in-addr.arpa.  60 IN PTR liar.example.test.
liar.example.test.        60 IN A   127.0.0.99
13.0.0.127.in-addr.arpa.  60 IN PTR other.example.test.
13.0.0.127.in-addr.arpa.  60 IN PTR multi.example.test.
other.example.test.       60 IN A   127.0.0.98
multi.example.test.       60 IN A   127.0.0.13
"""
SERVFAIL = {"12.0.0.127.in-addr.arpa"}


def hosts_name(addr):
    """The first /etc/hosts name of addr, or None (what smtpd should use)."""
    try:
        with open("/etc/hosts") as fh:
            for line in fh:
                fields = line.split("#", 1)[0].split()
                if len(fields) >= 2 and fields[0] == addr:
                    return fields[1].lower().rstrip(".")
    except OSError:
        pass
    return None


@pytest.fixture
def dns():
    d = TestDNS(ZONE, servfail=SERVFAIL).start()
    yield d
    d.stop()


def send_from(instance, source, subject):
    s = instance.smtp(source=source)
    try:
        s.sendmail(SENDER, [DEMO], "Subject: %s\r\n\r\nbody\r\n" % subject)
    finally:
        s.quit()


def received_of(instance, subject, n):
    """The Received: header block of the delivered message with this subject."""
    files = harness.wait_for_maildir(instance.maildir, n)
    assert len(files) >= n, instance.log_tail()
    for data in harness.read_delivered(instance.maildir):
        if ("Subject: %s\n" % subject).encode() in data.replace(b"\r\n", b"\n"):
            return harness.split_delivered(data)[0][2].decode()
    raise AssertionError("no delivered message with subject %s" % subject)


def start(instance, dns, **extra):
    instance.set(dns_servers="127.0.0.1:%d" % dns.port, dns_timeout="2s", dns_retries="1",
                 **extra)
    instance.start()


def assert_named(instance, name, addr, subject, n):
    peer = re.escape("%s[%s]" % (name, addr))
    assert instance.wait_for_log(r"smtpd\[\d+\]: connect from %s$" % peer), instance.log_tail()
    assert instance.wait_for_log(r"smtpd\[\d+\]: \w+: client=%s" % peer), instance.log_tail()
    assert instance.wait_for_log(r"smtpd\[\d+\]: disconnect from %s " % peer), \
        instance.log_tail()
    received = received_of(instance, subject, n)
    assert received.startswith("Received: from client.test (%s [%s])" % (name, addr)), received


CASES = [  # source address, expected name, subject
    ("127.0.0.9", "client.example.test", "confirmed"),
    ("127.0.0.10", "unknown", "not-confirmed"),
    ("127.0.0.11", "unknown", "no-ptr"),
    ("127.0.0.12", "unknown", "servfail"),
    ("127.0.0.13", "multi.example.test", "second-ptr-confirmed"),
]


def test_client_names(instance, dns):
    start(instance, dns)
    for i, (source, name, subject) in enumerate(CASES, 1):
        send_from(instance, source, subject)
        assert_named(instance, name, source, subject, i)
    assert instance.wait_for_log(r"warning: hostname liar\.example\.test does not resolve "
                                 r"to address 127\.0\.0\.10"), instance.log_tail()
    assert instance.wait_for_log(r"warning: 127\.0\.0\.12: client name lookup failed "
                                 r"temporarily"), instance.log_tail()
    assert dns.count("9.0.0.127.in-addr.arpa", "PTR") == 1
    assert dns.count("client.example.test", "A") == 1
    assert dns.count("client.example.test", "AAAA") == 0     # IPv4 client: A only


def test_hosts_file_first(instance, dns):
    """127.0.0.1 is named from /etc/hosts and never looked up in DNS."""
    start(instance, dns)
    name = hosts_name("127.0.0.1") or "unknown"
    send_from(instance, "127.0.0.1", "hosts")
    assert_named(instance, name, "127.0.0.1", "hosts", 1)
    assert not [q for q in dns.queries if q[0].endswith("in-addr.arpa")], dns.queries


def test_lookup_disabled(instance, dns):
    """smtpd_peername_lookup = no: every client is unknown and no query is made."""
    start(instance, dns, smtpd_peername_lookup="no")
    send_from(instance, "127.0.0.9", "disabled")
    send_from(instance, "127.0.0.1", "disabled-local")
    assert_named(instance, "unknown", "127.0.0.9", "disabled", 2)
    assert_named(instance, "unknown", "127.0.0.1", "disabled-local", 2)
    assert dns.queries == [], dns.queries
