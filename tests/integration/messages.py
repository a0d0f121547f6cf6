"""messages.py: builds test messages (CRLF wire form) with a unique marker, and finds
markers in delivered mail. Every message carries its own From, To, Date, Message-ID and
Subject so cleanup has no reason to add headers to SMTP mail."""
import re
import uuid

from harness import DEMO, SENDER


def new_marker():
    return "MARK-" + uuid.uuid4().hex


def message(marker=None, to=DEMO, body_lines=None, sender=SENDER):
    """A small message as bytes with CRLF line ends; the last body line is END-<marker>."""
    marker = marker or new_marker()
    headers = [
        "From: Sender <%s>" % sender,
        "To: <%s>" % to,
        "Subject: test %s" % marker,
        "Date: Sun, 23 Nov 2025 10:00:00 +0000",
        "Message-ID: <%s@client.test>" % marker,
    ]
    body = body_lines if body_lines is not None else ["Hello " + marker, "second line"]
    lines = headers + [""] + list(body) + ["END-" + marker]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8"), marker


MARK_RX = re.compile(rb"Message-ID: <(MARK-[0-9a-f]{32})@client\.test>")


def markers_in(delivered):
    """List of markers (str) found in the Message-ID headers of delivered messages."""
    out = []
    for data in delivered:
        m = MARK_RX.search(data)
        out.append(m.group(1).decode() if m else None)
    return out
