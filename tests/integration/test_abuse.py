"""test_abuse.py: anti-abuse in smtpd with the anvil service (issue 7): connection count,
connection rate, message rate and recipient rate limits trigger at their configured value
and not before (clients bound to 127.0.0.x source addresses), mynetworks is exempt;
repeated AUTH failures ban the client at connect, `postern ban list|remove` show and lift
the ban, bans survive a reload and expire on time; reject_rbl_client /
reject_rhsbl_sender against a local DNS server and check_client_access with a cidr:
table; the pregreet test rejects a client that talks first while smtplib still
delivers."""
import base64
import os
import smtplib
import time

import harness
import tls_helpers as th
from dnsserver import TestDNS

RCPT = "demo@" + harness.DOMAIN
# 127.0.0.1 (the harness's own readiness probe) stays exempt; test clients are not.
LIMITED = dict(smtpd_client_event_limit_exceptions="127.0.0.1/32")


def greet(instance, source, port=None):
    c = harness.SmtpRaw(port or instance.port, source=source, timeout=10)
    return c, c.reply()


def test_connection_count_limit(instance):
    instance.set(smtpd_client_connection_count_limit="2", **LIMITED)
    instance.start()
    open_ = []
    for _ in range(2):
        c, (code, _) = greet(instance, "127.0.0.5")
        assert code == 220
        open_.append(c)
    c, (code, lines) = greet(instance, "127.0.0.5")
    assert code == 421 and "4.7.0" in lines[0] and "too many connections" in lines[0]
    c.close()
    # another address is counted separately
    other, (code, _) = greet(instance, "127.0.0.6")
    assert code == 220
    other.close()
    for c in open_:
        c.close()
    # once the others are gone the address may connect again
    def ok():
        c, (code, _) = greet(instance, "127.0.0.5")
        c.close()
        return code == 220
    assert harness.wait_until(ok, 5, 0.2)
    assert instance.wait_for_log(r"warning: Connection concurrency limit exceeded: 3 from "
                                 r"\S+\[127\.0\.0\.5\] for service")
    assert instance.log_lines(r"reject: CONNECT from \S+\[127\.0\.0\.5\]: 421 4\.7\.0")


def test_mynetworks_exempt_by_default(instance):
    instance.set(smtpd_client_connection_count_limit="1",
                 smtpd_client_connection_rate_limit="1")
    instance.start()
    conns = []
    for _ in range(3):
        c, (code, _) = greet(instance, "127.0.0.5")   # in the default mynetworks
        assert code == 220
        conns.append(c)
    for c in conns:
        c.close()
    assert not instance.log_lines(r"limit exceeded")


def test_connection_rate_limit(instance):
    instance.set(smtpd_client_connection_rate_limit="3", anvil_rate_time_unit="60s", **LIMITED)
    instance.start()
    for _ in range(3):
        c, (code, _) = greet(instance, "127.0.0.6")
        assert code == 220
        assert c.cmd("QUIT")[0] == 221
        c.close()
    c, (code, lines) = greet(instance, "127.0.0.6")
    assert code == 421 and "too many connections from 127.0.0.6" in lines[0]
    c.close()
    for _ in range(4):                                 # exempt address: no limit
        c, (code, _) = greet(instance, "127.0.0.1")
        assert code == 220
        c.close()
    assert instance.wait_for_log(r"warning: Connection rate limit exceeded: 4 from "
                                 r"\S+\[127\.0\.0\.6\]")


def test_message_and_recipient_rate_limits(instance):
    instance.set(smtpd_client_message_rate_limit="2", smtpd_client_recipient_rate_limit="3",
                 **LIMITED)
    instance.start()
    c, (code, _) = greet(instance, "127.0.0.8")
    assert c.cmd("EHLO client.test")[0] == 250
    for _ in range(2):
        assert c.cmd("MAIL FROM:<a@client.test>")[0] == 250
        assert c.cmd("RSET")[0] == 250
    code, lines = c.cmd("MAIL FROM:<a@client.test>")
    assert code == 450 and lines[0].startswith("450 4.7.1 Error: too much mail from 127.0.0.8")
    c.close()
    c, (code, _) = greet(instance, "127.0.0.9")
    assert c.cmd("EHLO client.test")[0] == 250
    assert c.cmd("MAIL FROM:<a@client.test>")[0] == 250
    for _ in range(3):
        assert c.cmd("RCPT TO:<%s>" % RCPT)[0] == 250
    code, lines = c.cmd("RCPT TO:<%s>" % RCPT)
    assert code == 450 and "4.7.1 Error: too many recipients from 127.0.0.9" in lines[0]
    assert c.cmd("DATA")[0] == 354
    c.send("Subject: rate\r\n\r\nbody\r\n.\r\n")
    assert c.reply()[0] == 250
    c.cmd("QUIT")
    c.close()
    harness.wait_for_maildir(instance.maildir, 1)
    assert instance.log_lines(r"warning: Message delivery request rate limit exceeded: 3 from "
                              r"\S+\[127\.0\.0\.8\]")
    assert instance.log_lines(r"reject: RCPT from \S+\[127\.0\.0\.9\]: 450 4\.7\.1 .*to=<")


def _fail_auth(instance, certs, source, n):
    for _ in range(n):
        c = smtplib.SMTP("127.0.0.1", instance.sub_port, timeout=30,
                         source_address=(source, 0))
        c.starttls(context=th.client_context(certs))
        c.ehlo("client.test")
        code, _ = c.docmd("AUTH", "PLAIN " + base64.b64encode(b"\0alice\0guess").decode())
        assert code == 535                          # exactly one failure per connection
        c.quit()


def test_auth_failures_ban_list_remove_reload_expiry(instance, tmp_path):
    certs = th.Certs(str(tmp_path))
    th.setup(instance, certs, smtpd_ban_threshold="3", smtpd_ban_time="8s",
             smtpd_sasl_failure_limit="100", **LIMITED)
    instance.start()
    _fail_auth(instance, certs, "127.0.0.7", 3)
    c, (code, lines) = greet(instance, "127.0.0.7", instance.sub_port)
    assert code == 421 and "blocked for abuse" in lines[0]
    c.close()
    c, (code, _) = greet(instance, "127.0.0.7")        # every smtpd service refuses it
    assert code == 421
    c.close()
    c, (code, _) = greet(instance, "127.0.0.8")        # others are not affected
    assert code == 220
    c.close()
    out = instance.run("ban", "list").stdout.decode()
    assert out.startswith("127.0.0.7 until ") and "AUTH failure" in out, out
    assert instance.log_lines(r"anvil\[\d+\]: ban 127\.0\.0\.7 for 8s")
    # removal lifts it at once; unknown addresses are an error
    assert "removed" in instance.run("ban", "remove", "127.0.0.7").stdout.decode()
    assert instance.run("ban", "list").stdout.decode() == ""
    assert instance.run("ban", "remove", "127.0.0.7", check=False).returncode == 1
    assert instance.run("ban", "remove", "not-an-address", check=False).returncode == 2
    c, (code, _) = greet(instance, "127.0.0.7")
    assert code == 220
    c.close()
    # banned again; the ban survives a reload and then expires on time
    _fail_auth(instance, certs, "127.0.0.7", 3)
    t_ban = time.monotonic()
    instance.reload()
    time.sleep(0.5)
    c, (code, _) = greet(instance, "127.0.0.7")
    assert code == 421
    c.close()
    time.sleep(max(0, 8.3 - (time.monotonic() - t_ban)))
    c, (code, _) = greet(instance, "127.0.0.7")
    assert code == 220
    c.close()
    assert instance.run("ban", "list").stdout.decode() == ""


DNSBL_ZONE = """
2.0.0.127.bl.test.       60 IN A   127.0.0.2
2.0.0.127.bl.test.       60 IN TXT "listed for testing"
bad.example.rhs.test.    60 IN A   127.0.0.2
"""


def test_dnsbl_rhsbl_and_client_access(instance):
    dns = TestDNS(DNSBL_ZONE).start()
    try:
        with open(os.path.join(instance.conf, "clients.cidr"), "w") as fh:
            fh.write("127.0.0.4/32 REJECT go away\n127.0.0.11 OK\n")
        instance.set(dns_servers="127.0.0.1:%d" % dns.port,
                     smtpd_sender_restrictions="check_client_access cidr:%s/clients.cidr, "
                     "reject_rhsbl_sender rhs.test" % instance.conf,
                     smtpd_relay_restrictions="reject_rbl_client bl.test, permit_mynetworks, "
                     "reject_unauth_destination")
        instance.start()
        c, _ = greet(instance, "127.0.0.2")
        c.cmd("EHLO client.test")
        assert c.cmd("MAIL FROM:<a@client.test>")[0] == 250
        code, lines = c.cmd("RCPT TO:<%s>" % RCPT)
        assert code == 554
        assert lines[0] == ("554 5.7.1 Service unavailable; Client host [127.0.0.2] blocked "
                            "using bl.test; listed for testing")
        c.close()
        s = instance.smtp(source="127.0.0.3")
        s.sendmail("a@client.test", [RCPT], "Subject: dnsbl\r\n\r\nnot listed\r\n")
        s.quit()
        harness.wait_for_maildir(instance.maildir, 1)
        c, _ = greet(instance, "127.0.0.3")
        c.cmd("EHLO client.test")
        code, lines = c.cmd("MAIL FROM:<x@bad.example>")
        assert code == 554 and "Sender address [bad.example] blocked using rhs.test" in lines[0]
        c.close()
        c, _ = greet(instance, "127.0.0.4")
        c.cmd("EHLO client.test")
        code, lines = c.cmd("MAIL FROM:<a@client.test>")
        assert code == 550 and "Client host rejected: go away" in lines[0], lines
        c.close()
        assert instance.log_lines(r"reject: RCPT from \S+\[127\.0\.0\.2\]: 554 5\.7\.1 Service "
                                  r"unavailable; Client host \[127\.0\.0\.2\] blocked using bl")
        assert dns.count("3.0.0.127.bl.test", "A") >= 1
    finally:
        dns.stop()


def test_pregreet(instance):
    instance.set(smtpd_pregreet_wait="1s", smtpd_ban_threshold="1", **LIMITED)
    instance.start()
    c = harness.SmtpRaw(instance.port, source="127.0.0.10", timeout=10)
    c.send("EHLO talker.test\r\n")
    code, lines = c.reply()
    assert code == 554 and lines[0].startswith("554 5.5.1") and "protocol error" in lines[0]
    c.close()
    assert instance.wait_for_log(r"warning: PREGREET \d+ after [\d.]+s from "
                                 r"\S+\[127\.0\.0\.10\]: EHLO talker\.test")
    c, (code, _) = greet(instance, "127.0.0.10")       # threshold 1: now banned
    assert code == 421
    c.close()
    t0 = time.monotonic()
    s = instance.smtp(source="127.0.0.12")             # smtplib waits for the greeting
    assert time.monotonic() - t0 >= 0.9
    s.sendmail("a@client.test", [RCPT], "Subject: pregreet\r\n\r\npatient client\r\n")
    s.quit()
    harness.wait_for_maildir(instance.maildir, 1)


def _login(instance, certs, source, user, password):
    c = smtplib.SMTP("127.0.0.1", instance.sub_port, timeout=30, source_address=(source, 0))
    c.starttls(context=th.client_context(certs))
    c.ehlo("client.test")
    c.login(user, password)
    return c


def test_sasl_user_rate_limits_follow_the_user(instance, tmp_path):
    """Per-user limits count the login name, not the address: a user hopping addresses
    is still limited, other users and unauthenticated clients are not, and the limits
    apply to clients in smtpd_client_event_limit_exceptions (mynetworks) too."""
    certs = th.Certs(str(tmp_path))
    th.setup(instance, certs, smtpd_sasl_user_message_rate_limit="2",
             smtpd_sasl_user_recipient_rate_limit="3", anvil_rate_time_unit="60s")
    instance.start()
    alice = "alice@example.test"
    for source in ("127.0.0.21", "127.0.0.22"):             # one MAIL from each address
        c = _login(instance, certs, source, "alice", th.PASSWORD)
        assert c.docmd("MAIL", "FROM:<%s>" % alice)[0] == 250
        c.rset()
        c.quit()
    c = _login(instance, certs, "127.0.0.23", "alice", th.PASSWORD)   # third address
    code, msg = c.docmd("MAIL", "FROM:<%s>" % alice)
    assert code == 450 and msg.decode().startswith("4.7.1 Error: too much mail from user "
                                                   "alice"), msg
    c.quit()
    c = _login(instance, certs, "127.0.0.23", "bob", "bobs password")  # bob is not alice
    assert c.docmd("MAIL", "FROM:<bob@example.test>")[0] == 250
    for _ in range(3):
        assert c.docmd("RCPT", "TO:<%s>" % RCPT)[0] == 250
    code, msg = c.docmd("RCPT", "TO:<%s>" % RCPT)
    assert code == 450 and b"4.7.1 Error: too many recipients from user bob" in msg, msg
    code, _ = c.data(b"Subject: user limits\r\n\r\nthree recipients accepted\r\n")
    assert code == 250
    c.quit()
    c = _login(instance, certs, "127.0.0.24", "bob", "bobs password")  # new address
    assert c.docmd("MAIL", "FROM:<bob@example.test>")[0] == 250
    assert c.docmd("RCPT", "TO:<%s>" % RCPT)[0] == 450
    c.quit()
    # unauthenticated sessions from the same addresses are not limited by user counters
    s = instance.smtp(source="127.0.0.21")
    for _ in range(3):
        assert s.docmd("MAIL", "FROM:<x@client.test>")[0] == 250
        s.rset()
    s.quit()
    harness.wait_for_maildir(instance.maildir, 1)
    assert instance.log_lines(r"warning: SASL user message rate limit exceeded: 3 from "
                              r"sasl_username=alice \(client \S+\[127\.0\.0\.23\]\)")
    assert instance.log_lines(r"warning: SASL user recipient rate limit exceeded: 4 from "
                              r"sasl_username=bob \(client \S+\[127\.0\.0\.23\]\)")
    assert instance.log_lines(r"reject: MAIL from \S+\[127\.0\.0\.23\]: 450 4\.7\.1 Error: "
                              r"too much mail from user alice")
    assert instance.log_lines(r"reject: RCPT from \S+\[127\.0\.0\.24\]: 450 4\.7\.1 .*"
                              r"from user bob")


def _anvil_request(sock_file, sock, **attrs):
    sock.sendall("".join("%s=%s\n" % kv for kv in attrs.items()).encode() + b"\n")
    reply = {}
    for _ in range(64):
        line = sock_file.readline()
        if line in (b"\n", b""):
            break
        name, _, value = line.decode().rstrip("\n").partition("=")
        reply[name] = value
    return reply


def test_anvil_user_requests_validated(instance):
    """The anvil protocol counts user_* requests per login name, apart from addresses,
    and refuses a bad login name (control characters, too long) with status=1."""
    import socket
    instance.start()
    path = os.path.join(instance.queue, "private", "anvil")

    def session():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(path)
        f = s.makefile("rb")
        assert f.readline() == b"protocol=anvil\n" and f.readline() == b"\n"
        return s, f

    s, f = session()
    for n in (1, 2):
        r = _anvil_request(f, s, request="user_message", ident="carol@example.test")
        assert r == {"status": "0", "rate": str(n)}
    r = _anvil_request(f, s, request="user_recipient", ident="carol@example.test")
    assert r == {"status": "0", "rate": "1"}
    assert _anvil_request(f, s, request="user_message", ident="x" * 255)["rate"] == "1"
    # an address and a user of the same spelling are different counters
    assert _anvil_request(f, s, request="message", ident="127.0.0.30")["rate"] == "1"
    assert _anvil_request(f, s, request="user_message", ident="127.0.0.30")["rate"] == "1"
    s.close()
    for bad in ("a%0Ab", "x" * 256, ""):
        s, f = session()
        r = _anvil_request(f, s, request="user_message", ident=bad)
        assert r.get("status") == "1", (bad, r)
        assert f.readline() == b""                       # and the connection is closed
        s.close()
    s, f = session()                                     # a user name is no address
    assert _anvil_request(f, s, request="message", ident="carol")["status"] == "1"
    s.close()
