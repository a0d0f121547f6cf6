"""test_restrictions.py: smtpd_recipient_restrictions and reject_unknown_sender_domain.

A DNS server on 127.0.0.1 serves: mx.test (MX), a.test (address record only), nullmx.test
(RFC 7505 null MX), broken.test (SERVFAIL); missing.test does not exist. The sender domain
must have an MX or an address record; the null sender and address literals pass."""
import pytest

from dnsserver import TestDNS
from harness import DEMO

ZONE = """
mx.test.       60 IN MX 10 mail.mx.test.
mail.mx.test.  60 IN A  192.0.2.10
a.test.        60 IN A  192.0.2.11
nullmx.test.   60 IN MX 0 .
"""


@pytest.fixture
def dns():
    d = TestDNS(ZONE, servfail={"broken.test"}).start()
    yield d
    d.stop()


def rcpt_reply(instance, sender):
    c = instance.raw()
    try:
        assert c.reply()[0] == 220
        assert c.cmd("EHLO client.example")[0] == 250
        code, lines = c.cmd("MAIL FROM:<%s>" % sender)
        if code != 250:
            return "MAIL", code, lines
        code, lines = c.cmd("RCPT TO:<%s>" % DEMO)
        return "RCPT", code, lines
    finally:
        c.close()


@pytest.mark.parametrize("sender,stage,code,text", [
    ("someone@mx.test", "RCPT", 250, ""),
    ("someone@a.test", "RCPT", 250, ""),
    ("", "RCPT", 250, ""),
    ("someone@[192.0.2.1]", "RCPT", 250, ""),
    ("someone@missing.test", "RCPT", 450, "450 4.1.8 <someone@missing.test>: Sender address "
                                          "rejected: Domain not found"),
    ("someone@nullmx.test", "RCPT", 550, "550 5.7.27 <someone@nullmx.test>: Sender address "
                                         "rejected: Domain nullmx.test does not accept mail"),
    ("someone@broken.test", "RCPT", 450, "450 4.1.8"),
], ids=["mx", "a-only", "null-sender", "literal", "nxdomain", "null-mx", "servfail"])
def test_unknown_sender_domain_in_recipient_restrictions(instance, dns, sender, stage, code,
                                                          text):
    instance.set(dns_servers="127.0.0.1:%d" % dns.port, dns_timeout="2s", dns_retries="1",
                 smtpd_recipient_restrictions="reject_unknown_sender_domain")
    instance.start()
    got_stage, got, lines = rcpt_reply(instance, sender)
    assert (got_stage, got) == (stage, code), lines
    assert " ".join(lines).startswith(text), lines


def test_unknown_sender_domain_at_mail_with_custom_code(instance, dns):
    instance.set(dns_servers="127.0.0.1:%d" % dns.port, dns_timeout="2s", dns_retries="1",
                 smtpd_sender_restrictions="reject_unknown_sender_domain",
                 unknown_address_reject_code="550")
    instance.start()
    stage, code, lines = rcpt_reply(instance, "someone@missing.test")
    assert (stage, code) == ("MAIL", 550), lines
    assert lines[-1].startswith("550 5.1.8 "), lines
    assert rcpt_reply(instance, "someone@mx.test")[:2] == ("RCPT", 250)


def test_recipient_restrictions_are_evaluated_after_relay_rules(instance):
    """permit_mynetworks in smtpd_relay_restrictions does not skip the recipient list."""
    instance.set(smtpd_recipient_restrictions="reject_non_fqdn_sender, permit")
    instance.start()
    stage, code, lines = rcpt_reply(instance, "someone@localhost")
    assert (stage, code) == ("RCPT", 504), lines
    assert "need fully-qualified address" in lines[-1], lines
    assert rcpt_reply(instance, "someone@example.org")[:2] == ("RCPT", 250)
