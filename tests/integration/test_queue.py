"""test_queue.py: the queue management commands `postern queue list [--json] | show |
delete | hold | release | requeue | flush` and mailq.

Messages are kept in the queue by sending them to stuck@example.test, a virtual mailbox
whose Maildir path is a regular file: local defers every attempt ("cannot create maildir")
until the test removes that file. With the default backoff (300 s) a deferred message
stays in deferred/ for the whole test unless a command moves it.

Covers: list/mailq/--json contents (done and pending recipients, defer reasons read from
defer/ID logs, the hold flag), show, malformed/unknown IDs and usage errors with their exit
codes, access refused to a user who does not own the queue, delete (also ALL --deferred and
the defer log), hold/release/flush (delivered at once after flush), requeue (only the
recipients not done, old file gone), and every command run repeatedly while a stream of
mail is delivered, counting markers so that no message is lost or delivered twice.
Every wait is bounded."""
import json
import os
import pwd
import subprocess
import re
import threading
import time

import pytest

from harness import DEMO, DOMAIN, SENDER, maildir_files, read_delivered, wait_for_maildir, \
    wait_until
from messages import markers_in, message

STUCK = "stuck@" + DOMAIN
UNKNOWN_ID = "1AbCdE0000Z"          # valid queue ID syntax, never a live file
EXIT_FAIL, EXIT_USAGE = 1, 2


# ----- helpers ---------------------------------------------------------------------------
def stuck_path(inst):
    return os.path.join(inst.mail, "stuck")


def stuck_maildir(inst):
    return os.path.join(inst.mail, "stuck") + "/"


def setup_stuck(inst, **params):
    """Add the stuck mailbox, block it and start the instance."""
    vmailbox = os.path.join(inst.conf, "vmailbox")
    with open(vmailbox, "a") as fh:
        fh.write("%s %s/stuck/\n" % (STUCK, DOMAIN))
    inst.run("map", "build", "hash:" + vmailbox)
    inst.set(**params)
    inst.start()
    block_stuck(inst)


def block_stuck(inst):
    """A regular file where the Maildir should be: local cannot create it and defers."""
    base = os.path.dirname(inst.mail)                # .../mail, owned by the mail uid
    st = os.stat(base)
    if not os.path.isdir(inst.mail):
        os.mkdir(inst.mail, 0o700)
        os.chown(inst.mail, st.st_uid, st.st_gid)
    with open(stuck_path(inst), "w") as fh:
        fh.write("not a maildir\n")


def unblock_stuck(inst):
    os.unlink(stuck_path(inst))


def send(inst, rcpts, marker=None):
    data, marker = message(marker=marker, to=rcpts[0])
    s = inst.smtp()
    try:
        s.sendmail(SENDER, rcpts, data)
    finally:
        s.quit()
    return marker


def queue(inst, *args, check=True, timeout=60):
    return inst.run("queue", *args, check=check, timeout=timeout)


def listing(inst):
    """Parsed `postern queue list --json`."""
    p = queue(inst, "list", "--json")
    return json.loads(p.stdout.decode("utf-8"))


def files_in(inst, q):
    d = os.path.join(inst.queue, q)
    return sorted(f for f in os.listdir(d) if not f.startswith("."))


def wait_deferred(inst, n, timeout=30):
    """Wait until n messages sit in deferred/ (and nothing is in incoming/active)."""
    ok = wait_until(lambda: len(files_in(inst, "deferred")) == n and
                    not files_in(inst, "incoming") and not files_in(inst, "active"), timeout)
    assert ok, "expected %d deferred message(s): deferred=%s incoming=%s active=%s\n%s" % (
        n, files_in(inst, "deferred"), files_in(inst, "incoming"), files_in(inst, "active"),
        inst.log_tail())
    return files_in(inst, "deferred")


def stuck_markers(inst):
    return markers_in(read_delivered(stuck_maildir(inst)))


def demo_markers(inst):
    return markers_in(read_delivered(inst.maildir))


def write_defer_log(inst, qid, entries):
    """A defer log in the documented format: attr lists (name=value lines, blank line)."""
    def enc(v):
        return "".join(c if 0x21 <= ord(c) <= 0x7e and c != "%" or c == " " else
                       "".join("%%%02X" % b for b in c.encode()) for c in v)
    with open(os.path.join(inst.queue, "defer", qid), "w") as fh:
        for rcpt, dsn, reason in entries:
            fh.write("recipient=%s\ndsn=%s\nreason=%s\n\n" % (enc(rcpt), enc(dsn), enc(reason)))


# ----- tests -------------------------------------------------------------------------------
def test_list_json_show_mailq(instance):
    setup_stuck(instance)
    marker = send(instance, [DEMO, STUCK])
    assert wait_for_maildir(instance.maildir, 1), instance.log_tail()
    (qid,) = wait_deferred(instance, 1)

    msgs = listing(instance)
    assert len(msgs) == 1, msgs
    m = msgs[0]
    assert m["id"] == qid and m["queue"] == "deferred" and m["sender"] == SENDER
    assert m["size"] > 0 and abs(m["arrival"] - time.time()) < 120
    st = {r["address"]: r["status"] for r in m["recipients"]}
    assert st == {DEMO: "done", STUCK: "pending"} or st == {DEMO: "done", STUCK: "deferred"}, st

    text = queue(instance, "list").stdout.decode()
    assert qid in text and SENDER in text and STUCK in text, text
    assert DEMO not in text, "a done recipient is not listed:\n" + text
    assert "1 Request" in text

    # mailq = sendmail -bp: the same listing code
    mailq = subprocess.run([os.path.join(instance.build, "cmd", "sendmail"), "-C", instance.conf,
                            "-bp"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    assert mailq.returncode == 0, mailq.stderr
    assert qid.encode() in mailq.stdout and STUCK.encode() in mailq.stdout

    # defer reasons come from defer/ID (a later entry for a recipient replaces the earlier)
    write_defer_log(instance, qid, [(STUCK, "4.0.0", "old reason"),
                                    (STUCK, "4.3.0", "cannot create maildir: Not a directory")])
    text = queue(instance, "list").stdout.decode()
    assert "(cannot create maildir: Not a directory)" in text and "old reason" not in text, text
    r = {r["address"]: r for r in listing(instance)[0]["recipients"]}
    assert r[STUCK]["status"] == "deferred" and r[STUCK]["dsn"] == "4.3.0"
    assert r[STUCK]["reason"] == "cannot create maildir: Not a directory"
    assert r[DEMO]["reason"] is None

    show = queue(instance, "show", qid).stdout.decode()
    assert "queue: deferred" in show and "sender: " + SENDER in show, show
    assert "recipient: %s (done)" % DEMO in show
    assert "recipient: %s (deferred: 4.3.0 cannot create maildir" % STUCK in show
    assert "Subject: test " + marker in show and "END-" + marker in show
    assert show.index("*** MESSAGE CONTENTS") < show.index("Subject: test")

    # a garbage defer log only loses the reasons
    with open(os.path.join(instance.queue, "defer", qid), "wb") as fh:
        fh.write(b"recipient=\xff\x00%ZZ\n=\n\n" * 100)
    assert listing(instance)[0]["id"] == qid


def test_json_escaping(instance):
    """Odd but legal sender bytes still give valid JSON."""
    setup_stuck(instance)
    data, _ = message(to=STUCK)
    s = instance.smtp()
    try:
        s.sendmail('"we\\"ird\\\\x"@client.test', [STUCK], data)
    finally:
        s.quit()
    wait_deferred(instance, 1)
    msgs = listing(instance)
    assert msgs[0]["sender"] == '"we\\"ird\\\\x"@client.test', msgs


def test_empty_queue(instance):
    instance.start()
    assert listing(instance) == []
    assert "Mail queue is empty" in queue(instance, "list").stdout.decode()
    assert queue(instance, "flush").returncode == 0
    assert queue(instance, "delete", "ALL").returncode == 0
    assert queue(instance, "release", "ALL").returncode == 0


@pytest.mark.parametrize("cmd", ["show", "delete", "hold", "release", "requeue"])
def test_bad_and_unknown_ids(instance, cmd):
    instance.start()
    for bad in ("bad!id", "../../etc/passwd", "x" * 200, "", "ALLx"):
        p = queue(instance, cmd, bad, check=False)
        assert p.returncode == EXIT_USAGE, (bad, p)
        assert b"malformed queue ID" in p.stderr or b"usage" in p.stderr, p.stderr
    p = queue(instance, cmd, UNKNOWN_ID, check=False)
    assert p.returncode == EXIT_FAIL, p
    assert b"no such message" in p.stderr, p.stderr
    # nothing is done when any operand is malformed
    p = queue(instance, cmd, UNKNOWN_ID, "bad/id", check=False)
    assert p.returncode == EXIT_USAGE


def test_usage_errors(instance):
    instance.start()
    for args in (["queue"], ["queue", "frobnicate"], ["queue", "list", "--xml"],
                 ["queue", "show"], ["queue", "show", UNKNOWN_ID, UNKNOWN_ID],
                 ["queue", "delete"], ["queue", "hold"], ["queue", "flush", "now"],
                 ["queue", "delete", "ALL", UNKNOWN_ID], ["queue", "show", "ALL"]):
        p = instance.run(*args, check=False)
        assert p.returncode == EXIT_USAGE, (args, p)
    assert instance.run("queue", "--help").returncode == 0


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to run as another user")
def test_access_refused_to_other_users(instance):
    instance.start()
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user nobody")
    p = subprocess.run(["runuser", "-u", "nobody", "--", instance.postern_bin, "-c", instance.conf,
                        "queue", "list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30, cwd="/")
    assert p.returncode == EXIT_USAGE, p
    assert b"permission denied" in p.stderr, p.stderr


def test_delete(instance):
    setup_stuck(instance)
    for _ in range(3):
        send(instance, [STUCK])
    ids = wait_deferred(instance, 3)
    write_defer_log(instance, ids[0], [(STUCK, "4.3.0", "x")])
    queue(instance, "delete", ids[0])
    assert files_in(instance, "deferred") == ids[1:]
    assert not os.path.exists(os.path.join(instance.queue, "defer", ids[0]))
    assert instance.wait_for_log(r"postern/postern\[\d+\]: %s: removed \(by postern queue "
                                 r"delete\)" % ids[0]), instance.log_tail()
    p = queue(instance, "delete", ids[0], check=False)      # already gone
    assert p.returncode == EXIT_FAIL and b"no such message" in p.stderr
    # hold one; --deferred leaves it alone, ALL takes it
    queue(instance, "hold", ids[1])
    queue(instance, "delete", "ALL", "--deferred")
    assert files_in(instance, "deferred") == [] and files_in(instance, "hold") == [ids[1]]
    p = queue(instance, "delete", "--deferred", ids[1], check=False)
    assert p.returncode == EXIT_FAIL
    queue(instance, "delete", "ALL")
    assert instance.queue_is_empty(("incoming", "active", "deferred", "hold"))
    assert listing(instance) == []


def test_hold_release_flush(instance):
    setup_stuck(instance)
    m1 = send(instance, [STUCK])
    m2 = send(instance, [STUCK])
    ids = wait_deferred(instance, 2)
    queue(instance, "hold", ids[0])
    queue(instance, "hold", ids[0])          # holding a held message is fine
    assert files_in(instance, "hold") == [ids[0]]
    text = queue(instance, "list").stdout.decode()
    assert ids[0] + "!" in text, text
    assert {m["id"]: m["queue"] for m in listing(instance)} == {ids[0]: "hold", ids[1]: "deferred"}
    assert instance.wait_for_log(r"%s: placed on hold" % ids[0])
    p = queue(instance, "release", ids[1], check=False)      # not on hold
    assert p.returncode == EXIT_FAIL and b"not on hold" in p.stderr

    unblock_stuck(instance)
    # flush does not touch held mail
    queue(instance, "flush")
    assert wait_until(lambda: len(maildir_files(stuck_maildir(instance))) >= 1, 20), \
        instance.log_tail()
    time.sleep(1)
    assert stuck_markers(instance) == [m2]
    assert files_in(instance, "hold") == [ids[0]]

    before = time.time()
    queue(instance, "release", ids[0])
    assert files_in(instance, "hold") == []
    path = os.path.join(instance.queue, "deferred", ids[0])
    if os.path.exists(path):
        assert os.stat(path).st_mtime >= before - 2       # due now
    queue(instance, "flush")
    assert wait_until(lambda: len(maildir_files(stuck_maildir(instance))) >= 2, 20), \
        instance.log_tail()
    assert sorted(stuck_markers(instance)) == sorted([m1, m2])
    assert instance.wait_queue_empty(20)


def test_requeue(instance):
    setup_stuck(instance)
    marker = send(instance, [DEMO, STUCK])
    assert wait_for_maildir(instance.maildir, 1)
    (old,) = wait_deferred(instance, 1)
    write_defer_log(instance, old, [(STUCK, "4.3.0", "x")])
    queue(instance, "requeue", old)
    assert instance.wait_for_log(r"%s: requeued as \w+ \(by postern queue requeue\)" % old)
    (new,) = wait_deferred(instance, 1)
    assert new != old
    assert not os.path.exists(os.path.join(instance.queue, "defer", old))
    msgs = listing(instance)
    assert [r["address"] for r in msgs[0]["recipients"]] == [STUCK], msgs
    show = queue(instance, "show", new).stdout.decode()
    assert "Message-ID: <%s@client.test>" % marker in show
    p = queue(instance, "requeue", old, check=False)
    assert p.returncode == EXIT_FAIL
    unblock_stuck(instance)
    queue(instance, "flush")
    assert wait_until(lambda: len(maildir_files(stuck_maildir(instance))) >= 1, 20), \
        instance.log_tail()
    assert instance.wait_queue_empty(20)
    time.sleep(1)
    assert stuck_markers(instance) == [marker]
    assert demo_markers(instance) == [marker]        # the done recipient got no second copy
    # a requeued message is not a new arrival: still one Received header from us
    (data,) = read_delivered(stuck_maildir(instance))
    assert data.count(b"(postern) with ") == 1, data[:800]


def test_commands_during_a_stream(instance):
    """Every command, repeatedly, while mail flows: no message lost or delivered twice."""
    setup_stuck(instance)
    sent_demo, sent_stuck, errors = [], [], []
    stop = threading.Event()

    def sender():
        try:
            s = instance.smtp()
            i = 0
            while not stop.is_set() and i < 600:   # streams until the commands are done
                rcpt = STUCK if i % 4 == 3 else DEMO
                data, marker = message(to=rcpt)
                s.sendmail(SENDER, [rcpt], data)
                (sent_stuck if rcpt == STUCK else sent_demo).append(marker)
                i += 1
            stop.wait(90)                   # all sent: stay until the commands are done
            s.quit()
        except Exception as e:          # reported by the main thread
            errors.append(repr(e))

    t = threading.Thread(target=sender)
    t.start()
    try:
        # at least 20 s and at least 3 rounds of commands while the stream flows (a loaded
        # machine runs them slowly), never more than 90 s
        start = time.monotonic()
        rounds = 0
        while (time.monotonic() < start + 20 or rounds < 3) \
                and time.monotonic() < start + 90 and t.is_alive():
            for args in (["list", "--json"], ["hold", "ALL"], ["list"], ["requeue", "ALL"],
                         ["release", "ALL"], ["flush"]):
                p = queue(instance, *args, check=False)
                assert p.returncode == 0, (args, p.stderr)
                if args == ["list", "--json"]:
                    json.loads(p.stdout.decode("utf-8"))
            ids = [m["id"] for m in listing(instance)]
            if ids:
                # single IDs as well: they may be delivered meanwhile (then "no such message")
                for cmd in ("hold", "release", "requeue"):
                    p = queue(instance, cmd, ids[-1], check=False)
                    assert p.returncode in (0, 1), (cmd, p.stderr)
            rounds += 1
    finally:
        stop.set()
        t.join(60)
    assert not t.is_alive(), "sender thread did not finish"
    assert not errors, errors
    assert rounds >= 2

    unblock_stuck(instance)
    queue(instance, "release", "ALL")
    queue(instance, "flush")
    total_demo, total_stuck = len(sent_demo), len(sent_stuck)

    def all_delivered():
        if files_in(instance, "deferred"):
            queue(instance, "flush", check=False)
        return len(maildir_files(instance.maildir)) >= total_demo and \
            len(maildir_files(stuck_maildir(instance))) >= total_stuck and \
            instance.queue_is_empty(("incoming", "active", "deferred", "hold"))
    assert wait_until(all_delivered, 60, 0.5), "not everything delivered:\n%s\n%s" % (
        queue(instance, "list").stdout.decode()[:3000], instance.log_tail())
    time.sleep(1)
    got_demo, got_stuck = demo_markers(instance), stuck_markers(instance)
    assert sorted(got_demo) == sorted(sent_demo), "demo: lost %s doubled %s" % (
        set(sent_demo) - set(got_demo), [m for m in set(got_demo) if got_demo.count(m) > 1])
    assert sorted(got_stuck) == sorted(sent_stuck), "stuck: lost %s doubled %s" % (
        set(sent_stuck) - set(got_stuck), [m for m in set(got_stuck) if got_stuck.count(m) > 1])


def test_malformed_queue_files(instance):
    """Garbage and truncated files are reported and skipped, never crash a command."""
    setup_stuck(instance)
    send(instance, [STUCK])
    (good,) = wait_deferred(instance, 1)
    with open(os.path.join(instance.queue, "deferred", good), "rb") as fh:
        data = fh.read()
    hold = os.path.join(instance.queue, "hold")
    bad = {"1AbCdE0000a": b"\x00" * 100, "1AbCdE0000b": data[:len(data) // 2],
           "1AbCdE0000c": data[:60] + b"\xff" * 40 + data[100:], "1AbCdE0000d": b""}
    for name, content in bad.items():
        with open(os.path.join(hold, name), "wb") as fh:
            fh.write(content)
        os.chmod(os.path.join(hold, name), 0o700)
    with open(os.path.join(hold, "not-an-id"), "wb") as fh:
        fh.write(data)
    p = queue(instance, "list")
    assert good.encode() in p.stdout and b"1 Request" in p.stdout, p.stdout
    for name in bad:
        assert name.encode() in p.stderr, p.stderr
    assert [m["id"] for m in listing(instance)] == [good]
    for name in bad:
        p = queue(instance, "show", name, check=False)
        assert p.returncode == EXIT_USAGE and name.encode() in p.stderr, p
    p = queue(instance, "requeue", "1AbCdE0000b", check=False)
    assert p.returncode == EXIT_FAIL
    assert os.path.exists(os.path.join(hold, "1AbCdE0000b"))      # left where it was
    queue(instance, "delete", "ALL")
    assert sorted(os.listdir(hold)) == ["not-an-id"]


def test_defer_reason_written_by_qmgr(instance):
    """The reason local gave for a deferral reaches `postern queue list`, --json and mailq
    through qmgr's defer log; once the message is delivered the log is gone too."""
    setup_stuck(instance)
    marker = send(instance, [STUCK])
    [qid] = wait_deferred(instance, 1)
    log = os.path.join(instance.queue, "defer", qid)
    assert wait_until(lambda: os.path.exists(log), 10), instance.log_tail()
    [msg] = listing(instance)
    [r] = msg["recipients"]
    assert r["address"] == STUCK and r["reason"], msg
    # the same text the delivery agent logged for the deferral
    logged = [l for l in instance.log_lines(r"to=<%s>.*status=deferred" % re.escape(STUCK))]
    assert logged and r["reason"] in logged[-1], (r, logged)
    text = queue(instance, "list").stdout.decode()
    assert "(" + r["reason"] + ")" in text, text
    unblock_stuck(instance)
    queue(instance, "flush")
    assert wait_until(lambda: marker in stuck_markers(instance), 20), instance.log_tail()
    assert wait_until(lambda: not os.path.exists(log), 10), "defer log left behind"
