"""test_dovecot.py: a real Dovecot (Debian dovecot-imapd / dovecot-pop3d) reads the Maildirs
that postern's local delivery agent writes (issue 8, point 4, IMAP/POP3 half).

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
import socket
import subprocess
import time

import pytest

from harness import DEMO, SENDER, free_port, wait_for_maildir, wait_until

DOVECOT = "/usr/sbin/dovecot"
PASSWORD = "dovecot test password 42"
USER = DEMO.split("@")[0]


def dovecot_missing():
    for path in (DOVECOT, "/usr/lib/dovecot/imap", "/usr/lib/dovecot/pop3"):
        if not os.access(path, os.X_OK):
            return path
    return None


pytestmark = pytest.mark.skipif(
    dovecot_missing() is not None,
    reason="Dovecot is not installed (%s missing; Debian packages dovecot-imapd dovecot-pop3d, "
           "installed by tests/lib/deps.sh as root)" % dovecot_missing())


def write_config(d, mail_base, uid, gid, imap_port, pop3_port):
    """dovecot.conf for a private instance under d; returns its path."""
    me = pwd.getpwuid(os.getuid()).pw_name
    root = os.getuid() == 0
    login_user = "dovenull" if root else me
    internal_user = "dovecot" if root else me
    internal_group = "dovecot" if root else grp.getgrgid(os.getgid()).gr_name
    with open(os.path.join(d, "passwd"), "w") as fh:
        fh.write("%s:{PLAIN}%s::::::\n" % (USER, PASSWORD))
    os.makedirs(os.path.join(d, "run"), exist_ok=True)
    conf = os.path.join(d, "dovecot.conf")
    with open(conf, "w") as fh:
        fh.write("""# private Dovecot for test_dovecot.py
protocols = imap pop3
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
""".format(d=d, mail_base=mail_base, uid=uid, gid=gid, imap_port=imap_port, pop3_port=pop3_port,
           login_user=login_user, internal_user=internal_user, internal_group=internal_group,
           worker_user="root" if root else me))
    return conf


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


class Dovecot:
    def __init__(self, d, conf, ports):
        self.d, self.conf, self.ports = d, conf, ports
        self.out = open(os.path.join(d, "dovecot.stdout"), "wb")
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", conf], stdin=subprocess.DEVNULL,
                                     stdout=self.out, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout=20):
        ok = wait_until(lambda: self.proc.poll() is None and all(port_open(p) for p in self.ports),
                        timeout, 0.1)
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

    def start(mail_base, uid, gid):
        d = os.path.join(instance.base, "dovecot")
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o755)
        ports = (free_port(), free_port())
        conf = write_config(d, mail_base, uid, gid, *ports)
        dv = Dovecot(d, conf, ports)
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
