"""test_smuggling.py: SMTP smuggling (end-of-data confusion with bare CR / bare LF).

For each non-standard "end of data" sequence a client hides a second transaction inside
the message body. Whatever smtpd does with the body (accept it whole, reject it, drop the
connection), it must never end the DATA phase at the fake terminator, so no second message
from <evil@x> may ever be delivered."""
import time

import pytest

from harness import DEMO, SENDER, read_delivered, split_delivered, wait_for_maildir

SEQUENCES = [b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r\n.\n"]


def smuggle(instance, seq, tag):
    c = instance.raw(timeout=10)
    assert c.reply()[0] == 220
    assert c.cmd("EHLO client.test")[0] == 250
    assert c.cmd("MAIL FROM:<%s>" % SENDER)[0] == 250
    assert c.cmd("RCPT TO:<%s>" % DEMO)[0] == 250
    assert c.cmd("DATA")[0] == 354
    body = (b"Subject: smuggling " + tag + b"\r\n\r\nlegit body " + tag + seq +
            b"MAIL FROM:<evil@x>\r\nRCPT TO:<" + DEMO.encode() + b">\r\nDATA\r\n"
            b"Smuggled " + tag + b"\r\n" + b"\r\n.\r\n" + b"QUIT\r\n")
    try:
        c.send(body)
    except OSError:
        pass                      # the server may hang up on a bare CR/LF: that is fine
    replies = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            code, lines = c.reply()
        except (TimeoutError, OSError):
            break
        if code is None:
            break
        replies.append((code, lines))
        if code == 221:
            break
    c.close()
    return replies


@pytest.mark.parametrize("seq", SEQUENCES, ids=["LF.LF", "CR.CR", "LF.CRLF", "CRLF.LF"])
def test_no_smuggling(instance, seq):
    instance.start()
    tag = repr(seq).encode()
    replies = smuggle(instance, seq, tag)
    # at most one 250 for a completed DATA (the legit message); a smuggled 354 means the
    # server took the fake terminator as the end of data
    assert not any(code == 354 for code, _ in replies), replies
    # the legitimate message is either accepted (one 250) or rejected whole (5xx for the
    # bare CR/LF): wait for what was accepted, never for a fixed time
    accepted = sum(1 for code, _ in replies if code == 250)
    assert accepted <= 1, replies
    if accepted:
        wait_for_maildir(instance.maildir, 1, timeout=15)
    instance.wait_queue_empty(15)
    time.sleep(0.5)
    delivered = read_delivered(instance.maildir)
    assert len(delivered) <= 1, "%d messages delivered: %r" % (len(delivered), delivered)
    for data in delivered:
        blocks, content = split_delivered(data)
        assert b"evil@x" not in blocks[0], data[:500]
        assert not content.startswith(b"Smuggled"), data[:500]
        assert content.startswith(b"Subject: smuggling"), data[:500]
