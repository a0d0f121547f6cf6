"""test_client_restrictions.py: reject_unknown_client_hostname and
reject_unknown_reverse_client_hostname (smtpd_check.c) with the client names smtpd finds at
connect (smtpd_peer.c) against a test DNS server (dnsserver.TestDNS).

Clients bind to loopback source addresses that are not in /etc/hosts (127.0.0.9 ...) so the
names come from the test DNS server. One address per case (the zone below): a confirmed
PTR name, a PTR name whose A record points elsewhere, no PTR, a SERVFAIL for the PTR query,
and a PTR name whose A query gets SERVFAIL. The loopback clients are in the default
$mynetworks; the restriction lists below put permit_mynetworks first only where a test
says so."""
import smtplib
import time

import pytest

from dnsserver import TestDNS
from harness import DEMO, SENDER

ZONE = """
9.0.0.127.in-addr.arpa.   60 IN PTR client.example.test.
client.example.test.      60 IN A   127.0.0.9
10.0.0.127.in-addr.arpa.  60 IN PTR liar.example.test.
liar.example.test.        60 IN A   127.0.0.99
14.0.0.127.in-addr.arpa.  60 IN PTR slow.example.test.
"""
SERVFAIL = {"12.0.0.127.in-addr.arpa", "slow.example.test"}

CONFIRMED, LIAR, NO_PTR, PTR_SERVFAIL, A_SERVFAIL = (
    "127.0.0.9", "127.0.0.10", "127.0.0.11", "127.0.0.12", "127.0.0.14")


def hostname(code, addr):
    return "%d %s Client host rejected: cannot find your hostname, [%s]" % (
        code, "5.7.25" if code >= 500 else "4.7.25", addr)


def reverse(code, addr):
    return "%d %s Client host rejected: cannot find your reverse hostname, [%s]" % (
        code, "5.7.25" if code >= 500 else "4.7.25", addr)


@pytest.fixture
def dns():
    d = TestDNS(ZONE, servfail=SERVFAIL).start()
    yield d
    d.stop()


def start(instance, dns, **extra):
    instance.set(dns_servers="127.0.0.1:%d" % dns.port, dns_timeout="2s", dns_retries="1",
                 **extra)
    instance.start()


def attempt(instance, source):
    """("MAIL"|"RCPT", code, "code text") of one transaction from source."""
    s = smtplib.SMTP(timeout=30, source_address=(source, 0))
    try:
        s.connect("127.0.0.1", instance.port)
        code, _ = s.ehlo("client.test")
        assert code == 250
        code, msg = s.mail(SENDER)
        if code != 250:
            return "MAIL", code, "%d %s" % (code, msg.decode())
        code, msg = s.rcpt(DEMO)
        return "RCPT", code, "%d %s" % (code, msg.decode())
    finally:
        try:
            s.quit()
        except smtplib.SMTPException:
            pass


def check_all(instance, expected):
    for source, (stage, code, text) in expected.items():
        got = attempt(instance, source)
        assert got[:2] == (stage, code), (source, got, instance.log_tail())
        assert got[2] == text if text else True, (source, got)


ACCEPT = ("RCPT", 250, None)


def test_client_hostname(instance, dns):
    start(instance, dns, smtpd_recipient_restrictions="reject_unknown_client_hostname")
    check_all(instance, {
        CONFIRMED: ACCEPT,
        LIAR: ("RCPT", 450, hostname(450, LIAR)),
        NO_PTR: ("RCPT", 450, hostname(450, NO_PTR)),
        PTR_SERVFAIL: ("RCPT", 450, hostname(450, PTR_SERVFAIL)),
        A_SERVFAIL: ("RCPT", 450, hostname(450, A_SERVFAIL)),
    })
    assert instance.wait_for_log(
        r"smtpd\[\d+\]: NOQUEUE: reject: RCPT from unknown\[127\.0\.0\.11\]: 450 4\.7\.25 "
        r"Client host rejected: cannot find your hostname, \[127\.0\.0\.11\]; "
        r"from=<%s> to=<%s> proto=ESMTP helo=<client\.test>" % (SENDER, DEMO)), \
        instance.log_tail()


def test_reverse_client_hostname(instance, dns):
    start(instance, dns, smtpd_recipient_restrictions="reject_unknown_reverse_client_hostname")
    check_all(instance, {
        CONFIRMED: ACCEPT,
        LIAR: ACCEPT,                      # a PTR name is enough, confirmed or not
        A_SERVFAIL: ACCEPT,
        NO_PTR: ("RCPT", 450, reverse(450, NO_PTR)),
        PTR_SERVFAIL: ("RCPT", 450, reverse(450, PTR_SERVFAIL)),
    })
    assert instance.wait_for_log(
        r"smtpd\[\d+\]: NOQUEUE: reject: RCPT from unknown\[127\.0\.0\.12\]: 450 4\.7\.25 "
        r"Client host rejected: cannot find your reverse hostname"), instance.log_tail()


def test_reject_code_550_but_tempfail_450(instance, dns):
    """unknown_client_reject_code = 550 applies to names not found; DNS trouble stays 450."""
    start(instance, dns, unknown_client_reject_code="550",
          smtpd_recipient_restrictions="reject_unknown_client_hostname")
    check_all(instance, {
        LIAR: ("RCPT", 550, hostname(550, LIAR)),
        NO_PTR: ("RCPT", 550, hostname(550, NO_PTR)),
        PTR_SERVFAIL: ("RCPT", 450, hostname(450, PTR_SERVFAIL)),
        A_SERVFAIL: ("RCPT", 450, hostname(450, A_SERVFAIL)),
    })


def test_reverse_reject_code_550_but_tempfail_450(instance, dns):
    start(instance, dns, unknown_client_reject_code="550",
          smtpd_recipient_restrictions="reject_unknown_reverse_client_hostname")
    check_all(instance, {
        LIAR: ACCEPT,
        NO_PTR: ("RCPT", 550, reverse(550, NO_PTR)),
        PTR_SERVFAIL: ("RCPT", 450, reverse(450, PTR_SERVFAIL)),
    })


def test_permit_mynetworks_first(instance, dns):
    """The admin orders the list: loopback clients are in $mynetworks and pass first."""
    start(instance, dns, smtpd_recipient_restrictions="permit_mynetworks, "
          "reject_unknown_client_hostname, reject_unknown_reverse_client_hostname")
    check_all(instance, {NO_PTR: ACCEPT, PTR_SERVFAIL: ACCEPT, LIAR: ACCEPT})


def test_in_sender_restrictions(instance, dns):
    """At MAIL FROM through smtpd_sender_restrictions; only listed addresses in mynetworks."""
    start(instance, dns, mynetworks="127.0.0.9/32",
          smtpd_sender_restrictions="permit_mynetworks, reject_unknown_client_hostname")
    check_all(instance, {
        CONFIRMED: ACCEPT,
        NO_PTR: ("MAIL", 450, hostname(450, NO_PTR)),
    })
    assert instance.wait_for_log(
        r"smtpd\[\d+\]: NOQUEUE: reject: MAIL from unknown\[127\.0\.0\.11\]: 450 4\.7\.25 "
        r"Client host rejected: cannot find your hostname, \[127\.0\.0\.11\];"), \
        instance.log_tail()


def xclient_attempt(instance, source, xclient):
    """RCPT reply code and text after "XCLIENT <xclient>" from source."""
    s = smtplib.SMTP(timeout=30, source_address=(source, 0))
    try:
        s.connect("127.0.0.1", instance.port)
        assert s.ehlo("client.test")[0] == 250
        code, msg = s.docmd("XCLIENT", xclient)
        assert code == 220, (code, msg)
        assert s.ehlo("client.test")[0] == 250
        assert s.mail(SENDER)[0] == 250
        code, msg = s.rcpt(DEMO)
        return code, "%d %s" % (code, msg.decode())
    finally:
        try:
            s.quit()
        except smtplib.SMTPException:
            pass


def test_xclient_name_counts(instance, dns):
    """After XCLIENT the restrictions judge the client XCLIENT describes: a NAME is a
    known name, NAME=[UNAVAILABLE] is not found, and a new ADDR drops what DNS said."""
    start(instance, dns, smtpd_authorized_xclient_hosts="127.0.0.0/8",
          smtpd_recipient_restrictions="reject_unknown_client_hostname")
    assert xclient_attempt(instance, NO_PTR, "NAME=mail.example.org")[0] == 250
    assert xclient_attempt(instance, CONFIRMED, "NAME=[UNAVAILABLE]") == \
        (450, hostname(450, CONFIRMED))
    assert xclient_attempt(instance, CONFIRMED, "ADDR=192.0.2.7 NAME=[UNAVAILABLE]") == \
        (450, hostname(450, "192.0.2.7"))
    assert xclient_attempt(instance, PTR_SERVFAIL, "ADDR=192.0.2.8 NAME=mx.example.org")[0] \
        == 250


def test_xclient_tempunavail_and_reverse_name(instance, dns):
    """NAME=[TEMPUNAVAIL] is a temporary failure (450 even with code 550); REVERSE_NAME is
    what reject_unknown_reverse_client_hostname judges, and defaults to NAME."""
    start(instance, dns, smtpd_authorized_xclient_hosts="127.0.0.0/8",
          unknown_client_reject_code="550",
          smtpd_recipient_restrictions="reject_unknown_client_hostname")
    assert xclient_attempt(instance, CONFIRMED, "NAME=[TEMPUNAVAIL]")[0] == 450
    assert xclient_attempt(instance, CONFIRMED, "NAME=[UNAVAILABLE]")[0] == 550
    instance.set(smtpd_recipient_restrictions="reject_unknown_reverse_client_hostname")
    instance.reload()
    time.sleep(1)
    assert xclient_attempt(instance, NO_PTR, "NAME=mx.example.org")[0] == 250
    assert xclient_attempt(instance, CONFIRMED,
                           "NAME=mx.example.org REVERSE_NAME=[UNAVAILABLE]")[0] == 550
    assert xclient_attempt(instance, CONFIRMED,
                           "NAME=[UNAVAILABLE] REVERSE_NAME=ptr.example.org")[0] == 250
    assert xclient_attempt(instance, CONFIRMED, "REVERSE_NAME=[TEMPUNAVAIL]")[0] == 450
