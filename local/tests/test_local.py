"""test_local.py: tests of the local delivery agent (local/local) driven directly like
master + qmgr would (see local_harness.py). Run as root to cover privilege switching
(test users plocal1/plocal2 are created and removed again):

    LOCAL_BUILD=/tmp/b-local /usr/bin/python3 -m pytest -q local/tests/test_local.py
    (sanitizer build: LOCAL_BUILD=/tmp/b-asan LOCAL_MKMAP_BUILD=/tmp/b-local ...)
"""
import glob
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time

import pytest

from local_harness import Instance

BUILD = os.environ.get("LOCAL_BUILD", "/tmp/b-local")
# libpostern.a for the mkmap helper (a plain build; a sanitizer build needs its runtime)
MKMAP_LIB_BUILD = os.environ.get("LOCAL_MKMAP_BUILD", BUILD)
SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IS_ROOT = os.getuid() == 0
HOST = "host.example.test"
SENDER = "s@ex.test"
LINES = ["From: a@ex.test", "Subject: hi", "", "From the start", ">From quoted",
         "body", "From", ""]
USERS = ["plocal1", "plocal2"]

pytestmark = pytest.mark.skipif(not IS_ROOT, reason="these tests create accounts: run as root")


def delivered(rcpt, lines=LINES, sender=SENDER):
    out = "Return-Path: <%s>\nDelivered-To: %s\n" % (sender, rcpt)
    return (out + "".join(l + "\n" for l in lines)).encode()


def mbox_quoted(lines):
    return [(">" + l) if re.match(r"^>*From ", l) else l for l in lines]


MBOX_FROM = re.compile(rb"^From (\S+) \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\n")


def split_mbox(data):
    """Messages of an mbox file: list of (from_line_sender, message bytes)."""
    msgs = []
    for chunk in re.split(rb"(?m)^(?=From )", data):
        if chunk:
            m = MBOX_FROM.match(chunk)
            assert m, chunk[:80]
            assert chunk.endswith(b"\n\n")
            msgs.append((m.group(1).decode(), chunk[m.end():-1]))
    return msgs


@pytest.fixture(scope="module")
def inst():
    root = tempfile.mkdtemp(prefix="local-test-")
    os.chmod(root, 0o755)
    home = os.path.join(root, "home")
    os.makedirs(home)
    created = []
    try:
        for u in USERS:
            subprocess.run(["useradd", "-M", "-d", os.path.join(home, u), "-s",
                            "/usr/sbin/nologin", u], check=True)
            created.append(u)
            pw = pwd.getpwnam(u)
            os.makedirs(os.path.join(home, u))
            os.chown(os.path.join(home, u), pw.pw_uid, pw.pw_gid)
        p1 = pwd.getpwnam("plocal1")
        vmail = os.path.join(root, "vmail")
        os.makedirs(vmail)
        os.chown(vmail, p1.pw_uid, p1.pw_gid)
        os.makedirs(os.path.join(root, "spool"))
        conf = os.path.join(root, "conf")
        os.makedirs(conf)
        with open(os.path.join(conf, "aliases"), "w") as f:
            f.write("postmaster: plocal1\nloop1: loop2\nloop2: loop1\n"
                    "both: plocal1, plocal2@%s\nplocal2: plocal2, plocal1\n"
                    "piped: |/bin/cat\nfwd: someone@remote.test\nnested: both\n"
                    "deep0: deep1\n" % HOST
                    + "".join("deep%d: deep%d\n" % (i, i + 1) for i in range(1, 30))
                    + "deep30: plocal1\n")
        mkmap = os.path.join(root, "mkmap")
        subprocess.run(["cc", "-o", mkmap, "-I", os.path.join(SRC, "lib"),
                        os.path.join(SRC, "local", "tests", "mkmap.c"),
                        os.path.join(MKMAP_LIB_BUILD, "lib", "libpostern.a"), "-ldb", "-lssl",
                        "-lcrypto", "-lresolv"], check=True)
        subprocess.run([mkmap, "hash:" + os.path.join(conf, "aliases"), "aliases"], check=True)
        vmaps = ["v1@virt.test=virt.test/v1/", "v2@virt.test=virt.test/v2",
                 "@virt.test=virt.test/catchall/", "evil@virt.test=../evil/",
                 "abs@virt.test=/tmp/abs/", "low@lowuid.test=low/"]
        main_cf = (
            "myhostname = %s\nmydomain = example.test\nmydestination = $myhostname, localhost\n"
            "virtual_mailbox_domains = virt.test, lowuid.test, other.test\n"
            "virtual_mailbox_base = %s\n"
            "virtual_mailbox_maps = %s\n"
            "virtual_uid_maps = inline:{low@lowuid.test=5}, static:%d\n"
            "virtual_gid_maps = static:%d\n"
            "alias_maps = hash:%s\n"
            "recipient_delimiter = +\n"
            "mail_spool_directory = %s\n"
            % (HOST, vmail, ", ".join("inline:{%s}" % m for m in vmaps), p1.pw_uid,
               p1.pw_gid, os.path.join(conf, "aliases"), os.path.join(root, "spool")))
        i = Instance(root, os.path.join(BUILD, "local", "local"), main_cf)
        i.main_cf = main_cf
        yield i
    finally:
        for u in created:
            subprocess.run(["userdel", u], check=False)
        shutil.rmtree(root, ignore_errors=True)


def one(reply, status, dsn=None, reason=None):
    assert reply is not None, "no reply (request rejected)"
    assert reply["rcpt_count"] == "1", reply
    assert reply["rcpt_0_status"] == status, reply
    if dsn:
        assert reply["rcpt_0_dsn"] == dsn, reply
    if reason:
        assert re.search(reason, reply["rcpt_0_reason"]), reply


def log_for(inst, qid):
    return [l for l in inst.log_lines() if (" %s: " % qid) in l]


def newest(pattern):
    files = glob.glob(pattern)
    assert files, pattern
    return max(files, key=os.path.getmtime)


def test_virtual_maildir(inst):
    reply, qid = inst.request(SENDER, ["v1@virt.test"], LINES)
    one(reply, "sent", "2.0.0", r"^delivered to maildir$")
    d = os.path.join(inst.root, "vmail", "virt.test", "v1")
    files = os.listdir(os.path.join(d, "new"))
    assert len(files) == 1 and os.listdir(os.path.join(d, "tmp")) == []
    assert re.match(r"^\d+\.M\d+P\d+Q\d+\.host\.example\.test$", files[0]), files[0]
    with open(os.path.join(d, "new", files[0]), "rb") as f:
        assert f.read() == delivered("v1@virt.test")
    st = os.stat(os.path.join(d, "new", files[0]))
    assert st.st_uid == pwd.getpwnam("plocal1").pw_uid and (st.st_mode & 0o777) == 0o600
    for sub in ("tmp", "new", "cur"):
        assert (os.stat(os.path.join(d, sub)).st_mode & 0o777) == 0o700
    lines = log_for(inst, qid)
    assert len(lines) == 1
    assert re.search(r"postern/local\[\d+\]: %s: to=<v1@virt.test>, relay=local, "
                     r"delay=\d+\.\d\d, delays=[\d.]+/[\d.]+/[\d.]+/[\d.]+, dsn=2\.0\.0, "
                     r"status=sent \(delivered to maildir\)$" % qid, lines[0]), lines[0]


def test_virtual_mbox_quoting_and_append(inst):
    for _ in range(2):
        reply, _ = inst.request(SENDER, ["v2@virt.test"], LINES)
        one(reply, "sent", "2.0.0", r"^delivered to mailbox$")
    reply, _ = inst.request("", ["v2@virt.test"], ["Subject: bounce"])
    one(reply, "sent")
    path = os.path.join(inst.root, "vmail", "virt.test", "v2")
    with open(path, "rb") as f:
        msgs = split_mbox(f.read())
    assert len(msgs) == 3
    assert msgs[0] == (SENDER, delivered("v2@virt.test", mbox_quoted(LINES)))
    assert msgs[1] == msgs[0]
    assert msgs[2] == ("MAILER-DAEMON", delivered("v2@virt.test", ["Subject: bounce"], ""))
    assert b"\n>>From quoted\n" in open(path, "rb").read()
    assert not os.path.exists(path + ".lock")


def test_virtual_catchall_extension_and_unknown(inst):
    reply, _ = inst.request(SENDER, ["Whoever+x@virt.test"], LINES)
    one(reply, "sent", "2.0.0", "maildir")
    f = newest(os.path.join(inst.root, "vmail", "virt.test", "catchall", "new", "*"))
    assert open(f, "rb").read() == delivered("Whoever+x@virt.test")
    reply, _ = inst.request(SENDER, ["nobody@other.test"], LINES)
    one(reply, "bounced", "5.1.1", r'^unknown user: "nobody@other.test"$')


def test_virtual_unsafe_paths_and_low_uid(inst):
    for rcpt in ("evil@virt.test", "abs@virt.test"):
        reply, _ = inst.request(SENDER, [rcpt], LINES)
        one(reply, "deferred", "4.3.0", "unsafe virtual mailbox path")
    assert not os.path.exists(os.path.join(inst.root, "evil"))
    reply, _ = inst.request(SENDER, ["low@lowuid.test"], LINES)
    one(reply, "deferred", "4.3.0", "below virtual_minimum_uid")


def test_spool_mbox_user_and_extension(inst):
    spool = os.path.join(inst.root, "spool", "plocal1")
    before = os.path.getsize(spool) if os.path.exists(spool) else 0
    rcpt = "PLocal1+tag@%s" % HOST
    reply, qid = inst.request(SENDER, [rcpt], LINES)
    one(reply, "sent", "2.0.0", "^delivered to mailbox$")
    st = os.stat(spool)
    assert st.st_uid == pwd.getpwnam("plocal1").pw_uid and (st.st_mode & 0o777) == 0o600
    with open(spool, "rb") as f:
        f.seek(before)
        msgs = split_mbox(f.read())
    assert msgs == [(SENDER, delivered(rcpt, mbox_quoted(LINES)))]
    assert "status=sent (delivered to mailbox)" in log_for(inst, qid)[0]


def test_unknown_user(inst):
    reply, _ = inst.request(SENDER, ["nosuch@%s" % HOST], LINES)
    one(reply, "bounced", "5.1.1", r'^unknown user: "nosuch"$')
    reply, _ = inst.request(SENDER, ["../etc@%s" % HOST], LINES)
    one(reply, "bounced", "5.1.1")


def test_alias_fanout_logs_orig_to(inst):
    spool = os.path.join(inst.root, "spool")
    sizes = {u: (os.path.getsize(os.path.join(spool, u)) if os.path.exists(os.path.join(spool, u))
                 else 0) for u in USERS}
    reply, qid = inst.request(SENDER, ["nested@" + HOST], LINES)
    one(reply, "sent", "2.0.0")
    for u in USERS:
        with open(os.path.join(spool, u), "rb") as f:
            f.seek(sizes[u])
            assert split_mbox(f.read()) == [
                (SENDER, delivered("%s@%s" % (u, HOST), mbox_quoted(LINES)))]
    lines = log_for(inst, qid)
    assert len(lines) == 2, lines
    for u, l in zip(USERS, lines):
        assert "to=<%s@%s>, orig_to=<nested@%s>, relay=local" % (u, HOST, HOST) in l


def test_alias_self_reference_delivers_to_user(inst):
    reply, qid = inst.request(SENDER, ["plocal2@" + HOST], LINES)
    one(reply, "sent")
    lines = log_for(inst, qid)
    assert len(lines) == 2 and all("status=sent (delivered to mailbox)" in l for l in lines)


def test_alias_loop_and_depth(inst):
    reply, qid = inst.request(SENDER, ["loop1@" + HOST], LINES)
    one(reply, "bounced", "5.4.6", "^mail forwarding loop for loop1@")
    reply, qid = inst.request(SENDER, ["deep0@" + HOST], LINES)
    one(reply, "bounced", "5.4.6", "mail forwarding loop .*nested deeper than 20")


def test_alias_command_and_forward_without_cleanup(inst):
    reply, _ = inst.request(SENDER, ["piped@" + HOST], LINES)
    one(reply, "sent", "2.0.0", "^delivered to command: /bin/cat$")
    reply, qid = inst.request(SENDER, ["fwd@" + HOST], LINES)
    one(reply, "deferred", "4.3.0", "^cannot forward")


def test_delivered_to_loop(inst):
    lines = ["Delivered-To: <plocal1@%s>" % HOST.upper()] + LINES
    reply, _ = inst.request(SENDER, ["plocal1@" + HOST], lines)
    one(reply, "bounced", "5.4.6", "^mail forwarding loop for plocal1@")


def test_home_maildir(inst):
    inst.write_main_cf(inst.main_cf + "home_mailbox = Maildir/\n")
    try:
        reply, _ = inst.request(SENDER, ["plocal1@" + HOST], LINES)
    finally:
        inst.write_main_cf(inst.main_cf)
    one(reply, "sent", "2.0.0", "^delivered to maildir$")
    md = os.path.join(inst.root, "home", "plocal1", "Maildir")
    f = newest(os.path.join(md, "new", "*"))
    assert open(f, "rb").read() == delivered("plocal1@" + HOST)
    uid = pwd.getpwnam("plocal1").pw_uid
    assert os.stat(f).st_uid == uid and os.stat(md).st_uid == uid


def test_nonlocal_recipient_deferred(inst):
    reply, _ = inst.request(SENDER, ["x@remote.test"], LINES)
    one(reply, "deferred", "4.3.0", "non-local recipient")


def test_lock_busy_then_stale(inst):
    lock = os.path.join(inst.root, "spool", "plocal2.lock")
    open(lock, "w").close()
    try:
        t0 = time.time()
        reply, _ = inst.request(SENDER, ["plocal2+x@" + HOST], LINES)
        one(reply, "deferred", "4.2.0", "mailbox busy")
        assert time.time() - t0 < 20
        old = time.time() - 600
        os.utime(lock, (old, old))
        reply, _ = inst.request(SENDER, ["plocal2+x@" + HOST], LINES)
        one(reply, "sent")
        assert not os.path.exists(lock)
    finally:
        if os.path.exists(lock):
            os.unlink(lock)


def test_request_validation(inst):
    # malformed requests: no reply at all, qmgr counts the recipients as deferred
    bad = [
        lambda it: [(n, "../../etc/passwd" if n == "queue_id" else v) for n, v in it],
        lambda it: it + [("surprise", "1")],
        lambda it: [(n, "deferred" if n == "queue_name" else v) for n, v in it],
        lambda it: [(n, v) for n, v in it if n != "rcpt_0_offset"],
        lambda it: [(n, "99999" if n == "rcpt_count" else v) for n, v in it],
        lambda it: it + [("rcpt_5", "x@y")],
    ]
    for mangle in bad:
        reply, _ = inst.request(SENDER, ["v1@virt.test"], LINES, mangle=mangle)
        assert reply is None
    # well-formed requests that do not match the queue file
    wrong_off = lambda it: [(n, "1" if n == "rcpt_0_offset" else v) for n, v in it]
    reply, _ = inst.request(SENDER, ["v1@virt.test"], LINES, mangle=wrong_off)
    one(reply, "deferred", "4.3.0", "does not match")
    other_rcpt = lambda it: [(n, "v2@virt.test" if n == "rcpt_0" else v) for n, v in it]
    reply, _ = inst.request(SENDER, ["v1@virt.test"], LINES, mangle=other_rcpt)
    one(reply, "deferred", "4.3.0", "does not match")
    reply, _ = inst.request(SENDER, ["v1@virt.test"], LINES, done=(0,))
    one(reply, "deferred", "4.3.0", "does not match")
    other_sender = lambda it: [(n, "evil@x" if n == "sender" else v) for n, v in it]
    reply, _ = inst.request(SENDER, ["v1@virt.test"], LINES, mangle=other_sender)
    one(reply, "deferred", "4.3.0", "does not match")


def test_missing_and_corrupt_queue_file(inst):
    def gone(items):
        qid = dict(items)["queue_id"]
        os.unlink(os.path.join(inst.qdir, "active", qid))
        return items
    reply, _ = inst.request(SENDER, ["v1@virt.test"], LINES, mangle=gone)
    one(reply, "deferred", "4.3.0", "cannot open queue file")

    def truncate(items):
        path = os.path.join(inst.qdir, "active", dict(items)["queue_id"])
        data = open(path, "rb").read()
        with open(path, "wb") as f:
            f.write(data[:-3])
        return items
    reply, _ = inst.request(SENDER, ["v1@virt.test"], LINES, mangle=truncate)
    one(reply, "deferred", "4.3.0", "corrupt queue file")


def test_multiple_recipients_one_reply(inst):
    rcpts = ["v1@virt.test", ("nosuch@" + HOST, "Orig@ex.test"), "x@remote.test"]
    reply, qid = inst.request(SENDER, rcpts, LINES)
    assert reply["rcpt_count"] == "3"
    assert [reply["rcpt_%d_status" % i] for i in range(3)] == ["sent", "bounced", "deferred"]
    lines = log_for(inst, qid)
    assert "to=<nosuch@%s>, orig_to=<Orig@ex.test>," % HOST in lines[1]


def test_unprivileged_agent(inst):
    """Run as plocal1: only plocal1 itself can get mail."""
    pw = pwd.getpwnam("plocal1")
    os.chmod(inst.log, 0o666)
    os.chown(inst.qdir + "/private", pw.pw_uid, pw.pw_gid)

    def own(items):
        os.chown(os.path.join(inst.qdir, "active", dict(items)["queue_id"]), pw.pw_uid,
                 pw.pw_gid)
        return items

    def drop():
        os.setgroups([])
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
    os.chmod(os.path.join(inst.root, "spool"), 0o1777)
    try:
        reply, qid = inst.request(SENDER, ["plocal2@" + HOST], LINES, mangle=own, preexec=drop)
        one(reply, "deferred", "4.3.0", 'cannot deliver to user "plocal2": postern is not '
            'running as root')
        lines = log_for(inst, qid)   # alias plocal2: plocal2, plocal1 -> plocal1 still got it
        assert "to=<plocal2@%s>" % HOST in lines[0] and "status=deferred" in lines[0]
        assert "to=<plocal1@%s>" % HOST in lines[1] and "status=sent" in lines[1]
        reply, _ = inst.request(SENDER, ["plocal1+u@" + HOST], LINES, mangle=own, preexec=drop)
        one(reply, "sent", "2.0.0", "delivered to mailbox")
        reply, _ = inst.request(SENDER, ["v1@virt.test"], LINES, mangle=own, preexec=drop)
        one(reply, "sent", "2.0.0", "delivered to maildir")
    finally:
        os.chown(inst.qdir + "/private", 0, 0)
        os.chmod(os.path.join(inst.root, "spool"), 0o755)


def read_records(path):
    """(type, data) records of a queue file."""
    data, out, i = open(path, "rb").read(), [], 0
    while i < len(data):
        t, i, n, shift = chr(data[i]), i + 1, 0, 0
        while True:
            b = data[i]
            i += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        out.append((t, data[i:i + n]))
        i += n
    return out


CLEANUP = os.path.join(BUILD, "cleanup", "cleanup")


@pytest.mark.skipif(not os.path.exists(CLEANUP), reason="cleanup not built")
def test_alias_forward_through_cleanup(inst):
    for q in ("incoming", "deferred", "hold", "corrupt", "bounce", "defer", "public", "pid"):
        os.makedirs(os.path.join(inst.qdir, q), exist_ok=True)
    before = set(os.listdir(os.path.join(inst.qdir, "incoming")))
    proc, rfd = inst.start_service("cleanup", CLEANUP)
    try:
        reply, qid = inst.request(SENDER, [("fwd@" + HOST, "Orig@ex.test")], LINES)
    finally:
        err = inst.stop_service(proc, rfd)
    one(reply, "sent", "2.0.0", r"^forwarded as \w+$")
    newid = reply["rcpt_0_reason"].split()[-1]
    assert set(os.listdir(os.path.join(inst.qdir, "incoming"))) - before == {newid}, err
    recs = read_records(os.path.join(inst.qdir, "incoming", newid))
    assert ("F", SENDER.encode()) in recs
    assert ("R", b"someone@remote.test") in recs
    assert ("O", b"Orig@ex.test") in recs
    content = [d for t, d in recs if t == "N"]
    assert (b"Delivered-To: fwd@" + HOST.encode()) in content
    assert b"From the start" in content
    line = log_for(inst, qid)[0]
    assert ("to=<fwd@%s>, orig_to=<Orig@ex.test>, relay=local" % HOST) in line
    assert line.endswith("status=sent (forwarded as %s)" % newid)


def test_home_mbox(inst):
    inst.write_main_cf(inst.main_cf + "home_mailbox = Mailbox\n")
    try:
        reply, _ = inst.request(SENDER, ["plocal1@" + HOST], LINES)
    finally:
        inst.write_main_cf(inst.main_cf)
    one(reply, "sent", "2.0.0", "^delivered to mailbox$")
    path = os.path.join(inst.root, "home", "plocal1", "Mailbox")
    assert split_mbox(open(path, "rb").read()) == [
        (SENDER, delivered("plocal1@" + HOST, mbox_quoted(LINES)))]
    assert os.stat(path).st_uid == pwd.getpwnam("plocal1").pw_uid


def test_garbage_requests_are_dropped(inst):
    for payload in (b"\xff\x00garbage\n\n", b"=x\n\n", b"a" * 200000 + b"\n\n",
                    b"rcpt_count=1\nrcpt_count=1\n\n", b"rcpt_count=-5\n\n",
                    b"rcpt_count=1%ZZ\n\n", b"\n"):
        assert inst.raw_request(payload) is None


# --- hardening (review2): failure paths that must neither lose nor corrupt mail ---------

def _mbox_size(path):
    return os.path.getsize(path) if os.path.exists(path) else 0


def test_mbox_failed_append_is_truncated(inst):
    """A write error in the middle of an mbox append (here: file size limit, as a quota
    would give) leaves the mailbox exactly as it was and defers."""
    path = os.path.join(inst.root, "vmail", "virt.test", "v2")
    reply, _ = inst.request(SENDER, ["v2@virt.test"], LINES)       # make sure it exists
    one(reply, "sent")
    with open(path, "ab") as f:                 # bigger than the log, so the limit hits
        f.write(b"x" * (1 << 20) + b"\n\n")     # the mailbox only
    before = open(path, "rb").read()
    limit = len(before) + 100
    assert _mbox_size(inst.log) < limit

    def small_files():
        import resource
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    big = LINES + ["y" * 1000] * 20
    reply, _ = inst.request(SENDER, ["v2@virt.test"], big, preexec=small_files)
    one(reply, "deferred", "4.2.2", "cannot write mailbox")
    assert open(path, "rb").read() == before
    assert not os.path.exists(path + ".lock")


def test_timeout_removes_dotlock(inst):
    """When local_delivery_timeout kills a delivery, the dot-lock it holds goes too
    (else the mailbox is blocked until the lock turns stale)."""
    import fcntl
    spool = os.path.join(inst.root, "spool", "plocal2")
    reply, _ = inst.request(SENDER, ["plocal2+x@" + HOST], LINES)
    one(reply, "sent")
    before = open(spool, "rb").read()
    inst.write_main_cf(inst.main_cf + "local_delivery_timeout = 1s\n")
    try:
        with open(spool, "ab") as holder:
            fcntl.lockf(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
            t0 = time.time()
            reply, _ = inst.request(SENDER, ["plocal2+x@" + HOST], LINES)
            assert time.time() - t0 < 4
    finally:
        inst.write_main_cf(inst.main_cf)
    assert reply is None                        # qmgr defers: "delivery agent crashed"
    assert not os.path.exists(spool + ".lock")
    assert open(spool, "rb").read() == before


def test_fifo_mailbox_does_not_block(inst):
    """A user who replaces the mailbox with a FIFO must not hang the agent."""
    spool = os.path.join(inst.root, "spool", "plocal2")
    pw = pwd.getpwnam("plocal2")
    saved = spool + ".saved"
    if os.path.exists(spool):
        os.rename(spool, saved)
    os.mkfifo(spool, 0o600)
    os.chown(spool, pw.pw_uid, pw.pw_gid)
    try:
        t0 = time.time()
        reply, _ = inst.request(SENDER, ["plocal2+x@" + HOST], LINES, timeout=10)
        one(reply, "deferred", "4.3.0", "unsafe mailbox|cannot open mailbox")
        assert time.time() - t0 < 5
        assert not os.path.exists(spool + ".lock")
    finally:
        os.unlink(spool)
        if os.path.exists(saved):
            os.rename(saved, spool)


def test_many_recipients_never_panic(inst):
    """More recipients than one reply list can hold: the request is refused cleanly
    (no reply, so qmgr defers) instead of a panic while building the reply."""
    rcpts = ["x%d@remote.test" % i for i in range(342)]
    nlog = len(inst.log_lines())
    reply, _ = inst.request(SENDER, rcpts, LINES)
    assert reply is None
    new = inst.log_lines()[nlog:]
    assert not [l for l in new if "panic:" in l or "fatal:" in l], new[-3:]
    assert [l for l in new if "malformed delivery request" in l and "rcpt_count" in l], new


def test_alias_fanout_is_not_exponential(inst):
    """Aliases that fan out to the same sub-aliases are expanded once each, not
    2^depth times."""
    conf = os.path.join(inst.root, "conf")
    src = os.path.join(conf, "fanout")
    with open(src, "w") as f:
        for i in range(19):
            for a in ("f", "g"):
                f.write("%s%d: f%d, g%d\n" % (a, i, i + 1, i + 1))
        f.write("f19: plocal1\ng19: plocal1\n")
    subprocess.run([os.path.join(inst.root, "mkmap"), "hash:" + src, "aliases"], check=True)
    inst.write_main_cf(inst.main_cf.replace("alias_maps = ", "alias_maps = hash:%s, " % src))
    try:
        t0 = time.time()
        reply, qid = inst.request(SENDER, ["f0@" + HOST], LINES)
        elapsed = time.time() - t0
    finally:
        inst.write_main_cf(inst.main_cf)
    one(reply, "sent")
    assert len(log_for(inst, qid)) == 1
    assert elapsed < 5, elapsed


def test_failed_id_switch_defers(inst):
    """Root without CAP_SETUID cannot become the recipient: the delivery must defer, not
    happen as root."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)

    def no_setuid():
        if libc.prctl(24, 7, 0, 0, 0) != 0:          # PR_CAPBSET_DROP, CAP_SETUID
            raise OSError(ctypes.get_errno(), "prctl")
    d = os.path.join(inst.root, "vmail", "virt.test", "v1", "new")
    before = set(os.listdir(d)) if os.path.isdir(d) else set()
    reply, _ = inst.request(SENDER, ["v1@virt.test"], LINES, preexec=no_setuid)
    one(reply, "deferred", "4.3.0", "cannot switch to uid")
    assert (set(os.listdir(d)) if os.path.isdir(d) else set()) == before
    # still root for everything else: the spool mailbox (no id switch) works
    reply, _ = inst.request(SENDER, ["plocal1@" + HOST], LINES, preexec=no_setuid)
    one(reply, "sent")
