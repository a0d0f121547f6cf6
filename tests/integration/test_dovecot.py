"""test_dovecot.py: a real Dovecot (Debian dovecot-imapd / dovecot-pop3d) reads the Maildirs
that postern's local delivery agent writes (issue 8, point 4, IMAP/POP3 half), and takes mail
from postern over LMTP (the smtp program run as service "lmtp", virtual_transport =
lmtp:unix:SOCKET; Debian dovecot-lmtpd) which IMAP then fetches byte for byte. A small
Python LMTP server in this file checks what Dovecot makes awkward: one reply per recipient
after the final dot (250 / 452 / 550 mixed) and the inet: nexthop form.

A message goes in through postern's SMTP port to the demo virtual mailbox; then a private
Dovecot started for this test alone (its own dovecot.conf in the instance's temp dir,
-F in the foreground, unprivileged loopback ports, passwd-file with a test password,
mail_location maildir:MAILBASE/%n, run as the invoking user, stopped by PID) serves that
Maildir, and Python's imaplib and poplib fetch the message. What they return must be
exactly the bytes local wrote (the protocols send CRLF line ends; the Maildir file has LF).
The system's Dovecot service is never used or touched. Skipped with the reason when
Dovecot is not installed (tests/lib/deps.sh installs it when run as root)."""
import grp
import imaplib
import os
import poplib
import pwd
import shutil
import signal
import re
import socket
import socketserver
import subprocess
import threading
import time

import pytest

from harness import DEMO, DOMAIN, SENDER, free_port, wait_for_maildir, wait_until

DOVECOT = "/usr/sbin/dovecot"
PASSWORD = "dovecot test password 42"
USER = DEMO.split("@")[0]
USER2 = "demo2"                       # a second mailbox both postern and Dovecot know
GHOST = "ghost@" + DOMAIN             # postern accepts it, Dovecot does not know it
LMTP = "/usr/lib/dovecot/lmtp"
LMTP_SERVICE = """service lmtp {{
  user = {user}
  unix_listener lmtp {{
    mode = 0666
  }}
}}
lmtp_save_to_detail_mailbox = no
"""


def lmtp_socket(d):
    return os.path.join(d, "run", "lmtp")


def dovecot_missing():
    for path in (DOVECOT, "/usr/lib/dovecot/imap", "/usr/lib/dovecot/pop3"):
        if not os.access(path, os.X_OK):
            return path
    return None


needs_dovecot = pytest.mark.skipif(
    dovecot_missing() is not None,
    reason="Dovecot is not installed (%s missing; Debian packages dovecot-imapd dovecot-pop3d, "
           "installed by tests/lib/deps.sh as root)" % dovecot_missing())


def write_config(d, mail_base, uid, gid, imap_port, pop3_port, lmtp=False):
    """dovecot.conf for a private instance under d; returns its path. With lmtp, Dovecot
    also takes mail over LMTP on the UNIX socket lmtp_socket(d)."""
    me = pwd.getpwuid(os.getuid()).pw_name
    root = os.getuid() == 0
    login_user = "dovenull" if root else me
    internal_user = "dovecot" if root else me
    internal_group = "dovecot" if root else grp.getgrgid(os.getgid()).gr_name
    with open(os.path.join(d, "passwd"), "w") as fh:
        for user in (USER, USER2):
            fh.write("%s:{PLAIN}%s::::::\n" % (user, PASSWORD))
    os.makedirs(os.path.join(d, "run"), exist_ok=True)
    conf = os.path.join(d, "dovecot.conf")
    with open(conf, "w") as fh:
        fh.write("""# private Dovecot for test_dovecot.py
protocols = imap pop3{lmtp_proto}
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
instance_name = postern-test-{imap_port}
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = {login_user}
default_internal_user = {internal_user}
default_internal_group = {internal_group}
mail_location = maildir:{mail_base}/%n
mail_fsync = never
first_valid_uid = 0
first_valid_gid = 0
pop3_uidl_format = %08Xu%08Xv
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%n {d}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={mail_base}/%n
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  chroot =
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {pop3_port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service auth-worker {{
  user = {worker_user}
}}
{lmtp_service}""".format(d=d, mail_base=mail_base, uid=uid, gid=gid, imap_port=imap_port, pop3_port=pop3_port,
           login_user=login_user, internal_user=internal_user, internal_group=internal_group,
           worker_user="root" if root else me, lmtp_proto=" lmtp" if lmtp else "",
           lmtp_service=LMTP_SERVICE.format(user="root" if root else me) if lmtp else ""))
    return conf


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


class Dovecot:
    def __init__(self, d, conf, ports, sockets=()):
        self.d, self.conf, self.ports, self.sockets = d, conf, ports, sockets
        self.out = open(os.path.join(d, "dovecot.stdout"), "wb")
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", conf], stdin=subprocess.DEVNULL,
                                     stdout=self.out, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout=20):
        ok = wait_until(lambda: self.proc.poll() is None and all(port_open(p) for p in self.ports)
                        and all(os.path.exists(s) for s in self.sockets), timeout, 0.1)
        assert ok, "dovecot did not come up:\n" + self.log()

    def log(self):
        text = ""
        for f in ("dovecot.stdout", "dovecot.log"):
            try:
                with open(os.path.join(self.d, f), "rb") as fh:
                    text += fh.read().decode(errors="replace")[-5000:]
            except OSError:
                pass
        return text

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)        # the master stops its children
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.out.close()


@pytest.fixture
def dovecot_for(instance):
    started = []

    def start(mail_base, uid, gid, lmtp=False):
        d = os.path.join(instance.base, "dovecot")
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o755)
        ports = (free_port(), free_port())
        conf = write_config(d, mail_base, uid, gid, *ports, lmtp=lmtp)
        dv = Dovecot(d, conf, ports, (lmtp_socket(d),) if lmtp else ())
        started.append(dv)
        dv.wait_ready()
        return dv
    yield start
    for dv in started:
        dv.stop()


def deliver_one(instance):
    body = ("Dovecot reads what postern delivered.\r\n"
            ".a line that starts with a dot\r\n"
            "..and one with two\r\n"
            "8-bit: Gr\u00fc\u00dfe\r\n"
            "last line\r\n").encode("utf-8")
    msg = (b"From: <%s>\r\nTo: <%s>\r\nSubject: dovecot check\r\n"
           b"Message-ID: <dovecot-test@client.test>\r\n"
           b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
           b"Content-Transfer-Encoding: 8bit\r\n\r\n" % (SENDER.encode(), DEMO.encode())) + body
    s = instance.smtp()
    assert s.sendmail(SENDER, [DEMO], msg, mail_options=["BODY=8BITMIME"]) == {}
    s.quit()
    files = wait_for_maildir(instance.maildir, 1)
    assert len(files) == 1, "not delivered:\n" + instance.log_tail()
    with open(files[0], "rb") as fh:
        written = fh.read()
    st = os.stat(files[0])
    assert b"\r" not in written, "local wrote CR bytes into the Maildir file"
    assert b"Subject: dovecot check" in written
    return written, st.st_uid, st.st_gid


@needs_dovecot
def test_imap_and_pop3_fetch_what_local_wrote(instance, dovecot_for):
    instance.start()
    written, uid, gid = deliver_one(instance)
    dv = dovecot_for(os.path.dirname(instance.maildir), uid, gid)
    expected = written.replace(b"\n", b"\r\n")

    imap = imaplib.IMAP4("127.0.0.1", dv.ports[0], timeout=20)
    try:
        imap.login(USER, PASSWORD)
        typ, data = imap.select("INBOX", readonly=True)
        assert typ == "OK" and data[0] == b"1", (typ, data, dv.log())
        typ, data = imap.fetch("1", "(RFC822.SIZE BODY.PEEK[])")
        assert typ == "OK", (typ, data)
        meta, fetched = data[0]
        assert fetched == expected, "IMAP returned other bytes than local wrote:\n%r\n%r" % (
            fetched[:500], expected[:500])
        assert b"RFC822.SIZE %d" % len(expected) in meta, meta
        imap.logout()
    finally:
        try:
            imap.shutdown()
        except OSError:
            pass

    pop = poplib.POP3("127.0.0.1", dv.ports[1], timeout=20)
    try:
        pop.user(USER)
        pop.pass_(PASSWORD)
        count, size = pop.stat()
        assert count == 1 and size == len(expected), (count, size, len(expected))
        _resp, lines, _octets = pop.retr(1)      # poplib removes the dot-stuffing
        assert b"\r\n".join(lines) + b"\r\n" == expected, \
            "POP3 returned other bytes than local wrote:\n%r" % (lines[:20],)
    finally:
        pop.quit()
    # the message is still where local put it (read-only IMAP, no POP3 DELE)
    assert wait_for_maildir(instance.maildir, 1)


# ----- LMTP ----------------------------------------------------------------------------------

def lmtp_message(subject):
    body = (".a line that starts with a dot\r\n..and one with two\r\n"
            "8-bit: Gr\u00fc\u00dfe\r\nlast line\r\n").encode("utf-8")
    return (b"From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: <%s@client.test>\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n\r\n" % (
                SENDER.encode(), DEMO.encode(), subject.encode(),
                subject.replace(" ", "-").encode())) + body


def add_mailboxes(instance, *addrs):
    """Make postern accept these virtual addresses (its vmailbox table)."""
    vmailbox = os.path.join(instance.conf, "vmailbox")
    with open(vmailbox, "a") as fh:
        for a in addrs:
            fh.write("%s %s/%s/\n" % (a, DOMAIN, a.split("@")[0]))
    instance.run("map", "build", "hash:" + vmailbox)


def wait_status(instance, rcpt, status, timeout=30):
    rx = r"to=<%s>, .*status=%s" % (re.escape(rcpt), status)
    assert instance.wait_for_log(rx, timeout), \
        "no status=%s for %s:\n%s" % (status, rcpt, instance.log_tail())
    return instance.log_lines(rx)


def imap_fetch_by_id(port, user, message_id):
    """The one message in user's INBOX with that Message-ID (others, like the bounce
    notice the postmaster alias forwards to demo, are left alone)."""
    imap = imaplib.IMAP4("127.0.0.1", port, timeout=20)
    try:
        imap.login(user, PASSWORD)
        typ, data = imap.select("INBOX", readonly=True)
        assert typ == "OK", (user, typ, data)
        typ, data = imap.search(None, "HEADER", "Message-ID", message_id)
        assert typ == "OK" and len(data[0].split()) == 1, (user, typ, data)
        typ, data = imap.fetch(data[0].split()[0], "(BODY.PEEK[])")
        assert typ == "OK", (typ, data)
        imap.logout()
        return data[0][1]
    finally:
        try:
            imap.shutdown()
        except OSError:
            pass


@needs_dovecot
@pytest.mark.skipif(not os.access(LMTP, os.X_OK),
                    reason="Dovecot LMTP is not installed (%s missing; Debian package "
                           "dovecot-lmtpd)" % LMTP)
def test_lmtp_delivery_to_dovecot(instance, dovecot_for):
    user2 = "%s@%s" % (USER2, DOMAIN)
    add_mailboxes(instance, user2, GHOST)
    mail_base = os.path.join(instance.base, "dovecot-mail")
    os.makedirs(mail_base, exist_ok=True)
    uid, gid = os.getuid(), os.getgid()
    if uid == 0:                      # Dovecot stores no mail as root: use nobody's ids
        nobody = pwd.getpwnam("nobody")
        uid, gid = nobody.pw_uid, nobody.pw_gid
        os.chown(mail_base, uid, gid)
    dv = dovecot_for(mail_base, uid, gid, lmtp=True)
    sock = lmtp_socket(dv.d)
    instance.set(virtual_transport="lmtp:unix:" + sock)
    instance.start()

    msg = lmtp_message("lmtp to dovecot")
    s = instance.smtp()
    assert s.sendmail(SENDER, [DEMO, user2, GHOST], msg, mail_options=["BODY=8BITMIME"]) == {}
    s.quit()

    for rcpt in (DEMO, user2):
        line = wait_status(instance, rcpt, "sent")[0]
        assert "relay=%s[%s]" % (instance.param("myhostname") or "", sock) in line \
            or "[%s]" % sock in line, line
        assert "dsn=2." in line, line
    # Dovecot refuses the unknown user at RCPT time: a permanent per-recipient bounce
    line = wait_status(instance, GHOST, "bounced")[0]
    assert "dsn=5.1.1" in line and "in reply to RCPT TO command" in line, line

    for user in (USER, USER2):
        fetched = imap_fetch_by_id(dv.ports[0], user, "<lmtp-to-dovecot@client.test>")
        # Dovecot puts its own trace headers first; everything after is what postern sent:
        # postern's Received: header, then the client's message byte for byte.
        assert fetched.endswith(msg), "IMAP returned other bytes than were sent:\n%r" % (
            fetched[:800],)
        added = fetched[:-len(msg)]
        assert added.startswith(b"Return-Path: <%s>\r\n" % SENDER.encode()), added
        assert b"with LMTP" in added and b"(postern) with ESMTP" in added, added
        assert b"\r\n\r\n" not in added, added


class LmtpSink:
    """A minimal LMTP server (RFC 2033) on a loopback TCP port: LHLO only, and after the
    final dot one reply per accepted recipient, chosen by the recipient's local part."""
    AFTER_DOT = {"soft": "452 4.2.2 Mailbox full", "hard": "550 5.2.1 Mailbox disabled"}

    def __init__(self):
        self.commands, self.messages, self.lock = [], [], threading.Lock()
        sink = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                try:
                    sink.session(self.rfile, self.wfile)
                except (EOFError, OSError):
                    pass

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def session(self, rfile, wfile):
        def send(text):
            wfile.write(text.encode())
            wfile.flush()

        def readline():
            line = rfile.readline(4096)
            if not line:
                raise EOFError
            return line
        send("220 lmtp-sink.test LMTP ready\r\n")
        rcpts, sender = [], None
        for _ in range(1000):
            line = readline().decode("latin-1").rstrip("\r\n")
            with self.lock:
                self.commands.append(line)
            verb = line[:4].upper()
            if verb == "LHLO":
                send("250-lmtp-sink.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
                     "250 ENHANCEDSTATUSCODES\r\n")
            elif verb == "MAIL":
                sender, rcpts = line[10:].partition(">")[0].lstrip("<"), []
                send("250 2.1.0 Ok\r\n")
            elif verb == "RCPT":
                rcpts.append(line[8:].partition(">")[0].lstrip("<"))
                send("250 2.1.5 Ok\r\n")
            elif verb == "DATA":
                send("354 go ahead\r\n")
                data = []
                while True:
                    l = readline()
                    if l == b".\r\n":
                        break
                    data.append(l[1:] if l.startswith(b".") else l)
                with self.lock:
                    self.messages.append((sender, list(rcpts), b"".join(data)))
                for r in rcpts:
                    send(self.AFTER_DOT.get(r.split("@")[0], "250 2.0.0 <%s> Saved" % r)
                         + "\r\n")
            elif verb == "QUIT":
                send("221 2.0.0 Bye\r\n")
                return
            else:
                send("500 5.5.2 what?\r\n")

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def test_lmtp_replies_per_recipient_after_data(instance):
    soft, hard = "soft@" + DOMAIN, "hard@" + DOMAIN
    add_mailboxes(instance, soft, hard)
    sink = LmtpSink()
    try:
        instance.set(virtual_transport="lmtp:inet:127.0.0.1:%d" % sink.port)
        instance.start()
        msg = lmtp_message("lmtp per recipient")
        s = instance.smtp()
        assert s.sendmail(SENDER, [DEMO, soft, hard], msg,
                          mail_options=["BODY=8BITMIME"]) == {}
        s.quit()
        sent = wait_status(instance, DEMO, "sent")[0]
        assert "relay=127.0.0.1[127.0.0.1]:%d" % sink.port in sent, sent
        deferred = wait_status(instance, soft, "deferred")[0]
        assert "dsn=4.2.2" in deferred and "Mailbox full" in deferred, deferred
        assert "in reply to end of DATA command" in deferred, deferred
        bounced = wait_status(instance, hard, "bounced")[0]
        assert "dsn=5.2.1" in bounced and "Mailbox disabled" in bounced, bounced
        with sink.lock:
            commands, messages = list(sink.commands), list(sink.messages)
        verbs = [c[:4].upper() for c in commands]
        assert verbs[0] == "LHLO", commands
        assert "EHLO" not in verbs and "HELO" not in verbs and "STAR" not in verbs, commands
        assert messages and sorted(messages[0][1]) == sorted([DEMO, soft, hard]), messages
        assert messages[0][2].endswith(msg), messages[0][2][:800]
    finally:
        sink.stop()


def test_lmtp_unix_socket_missing_defers(instance):
    missing = os.path.join(instance.base, "no-such-lmtp-socket")
    instance.set(virtual_transport="lmtp:unix:" + missing)
    instance.start()
    s = instance.smtp()
    assert s.sendmail(SENDER, [DEMO], lmtp_message("lmtp missing socket")) == {}
    s.quit()
    line = wait_status(instance, DEMO, "deferred")[0]
    assert "connect to %s" % missing in line and "dsn=4.4.1" in line, line
