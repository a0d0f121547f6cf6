"""test_qmgr.py: qmgr against a fake delivery agent (see qmgr_harness.py).
Run: /usr/bin/python3 -m pytest -q qmgr/tests  (QMGR_BUILD=<build dir>, MKQFILE=<helper>)."""
import fcntl
import os
import re
import signal
import time

import pytest

from qmgr_harness import FakeAgent, FakeBounce, Instance


@pytest.fixture
def inst(tmp_path):
    made = []

    def make(main_cf="", master_cf=None, agent=True):
        i = Instance(tmp_path / ("i%d" % len(made)), main_cf, master_cf)
        i.agent = FakeAgent(i.qdir) if agent else None
        made.append(i)
        return i
    yield make
    for i in made:
        i.stop()
        if i.agent:
            i.agent.stop()
            assert not i.agent.errors, i.agent.errors


def test_deliver_and_remove(inst):
    i = inst()
    i.start_qmgr()
    qid = i.submit("a@example.org", "sent1@localhost", "sent2@example.test")
    i.wakeup()
    assert i.wait_log(r"%s: removed" % qid), i.logtext()
    log = i.logtext()
    assert re.search(r"postern/qmgr\[\d+\]: %s: from=<a@example.org>, size=\d+, nrcpt=2 "
                     r"\(queue active\)" % qid, log)
    assert i.files("active") == [] and i.files("incoming") == []
    # local_destination_recipient_limit = 1: one request per recipient
    reqs = [r for r in i.agent.requests if r["queue_id"] == qid]
    assert len(reqs) == 2 and all(r["rcpt_count"] == "1" for r in reqs)
    assert {r["nexthop"] for r in reqs} == {"localhost", "example.test"}
    assert reqs[0]["queue_name"] == "active" and reqs[0]["sender"] == "a@example.org"


def test_recipient_limit_groups(inst):
    i = inst("local_destination_recipient_limit = 3\n")
    i.start_qmgr()
    qid = i.submit("a@example.org", *["sent%d@localhost" % n for n in range(5)])
    i.wakeup()
    assert i.wait_log(r"%s: removed" % qid), i.logtext()
    counts = sorted(int(r["rcpt_count"]) for r in i.agent.requests)
    assert counts == [2, 3]


def test_not_ready_file_untouched(inst):
    i = inst()
    i.start_qmgr()
    qid = i.submit("a@example.org", "sent@localhost", ready=False)
    # a live writer (cleanup) holds an flock on the file until it commits
    path = os.path.join(i.qdir, "incoming", qid)
    writer = os.open(path, os.O_RDONLY)
    fcntl.flock(writer, fcntl.LOCK_EX)
    try:
        i.wakeup()
        time.sleep(2.5)
        assert i.files("incoming") == [qid]
        os.chmod(path, 0o700)
    finally:
        os.close(writer)
    assert i.wait_log(r"%s: removed" % qid, timeout=5), i.logtext()


def test_abandoned_file_removed(inst):
    """An incomplete file nobody holds locked (its writer died) is removed."""
    i = inst()
    i.start_qmgr()
    qid = i.submit("a@example.org", "sent@localhost", ready=False)
    past = time.time() - 10
    os.utime(os.path.join(i.qdir, "incoming", qid), (past, past))
    i.wakeup()
    assert i.wait_log(r"%s: removed incomplete queue file" % qid, timeout=5), i.logtext()
    assert i.files("incoming") == []


def test_periodic_scan_without_wakeup(inst):
    i = inst()
    i.start_qmgr()
    time.sleep(0.3)
    qid = i.submit("a@example.org", "sent@localhost")
    assert i.wait_log(r"%s: removed" % qid, timeout=5), i.logtext()


def test_deferred_then_retried(inst):
    i = inst()
    i.start_qmgr()
    qid = i.submit("a@example.org", "sent@localhost", "defer@localhost")
    i.wakeup()
    assert i.wait_log(r"%s: from=" % qid)
    deadline = time.time() + 5
    while time.time() < deadline and i.files("deferred") != [qid]:
        time.sleep(0.05)
    assert i.files("deferred") == [qid]
    st = os.stat(os.path.join(i.qdir, "deferred", qid))
    # minimal_backoff_time = 2s; the retry time is stored in whole seconds
    assert 0.3 <= st.st_mtime - time.time() <= 2.5
    # retried after the backoff: only the deferred recipient again
    assert i.wait_log(r"%s: from=" % qid, count=2, timeout=8), i.logtext()
    time.sleep(0.5)
    reqs = [r["rcpt_0"] for r in i.agent.requests if r["queue_id"] == qid]
    assert reqs.count("sent@localhost") == 1
    assert reqs.count("defer@localhost") >= 2


def test_mark_done_in_file(inst):
    i = inst()
    i.start_qmgr()
    qid = i.submit("a@example.org", "sent@localhost", "defer@localhost")
    i.wakeup()
    deadline = time.time() + 5
    while time.time() < deadline and i.files("deferred") != [qid]:
        time.sleep(0.05)
    data = open(os.path.join(i.qdir, "deferred", qid), "rb").read()
    # record = type byte, 1-byte varint length (short), data
    assert bytes([ord("D"), len("sent@localhost")]) + b"sent@localhost" in data
    assert bytes([ord("R"), len("defer@localhost")]) + b"defer@localhost" in data


def test_bounce_notification_requested(inst):
    i = inst()
    bounce = FakeBounce(i.qdir)
    try:
        i.start_qmgr()
        qid = i.submit("a@example.org", "bounce@localhost", "sent@localhost")
        i.wakeup()
        assert i.wait_log(r"%s: removed" % qid), i.logtext()
        assert bounce.requests == [{"queue_name": "active", "queue_id": qid}]
        log = bounce.logs[0]
        assert b"recipient=bounce@localhost\n" in log and b"dsn=5.1.1\n" in log
        assert b"action=failed\n" in log and b"sent@localhost" not in log
        assert i.files("bounce") == [] and i.files("active") == []
    finally:
        bounce.stop()


def test_bounce_service_failure_keeps_message(inst):
    i = inst("minimal_backoff_time = 1s\nmaximal_backoff_time = 1s\nqueue_run_delay = 1s\n")
    i.start_qmgr()
    qid = i.submit("a@example.org", "bounce@localhost")
    i.wakeup()
    assert i.wait_log(r"warning: %s: sender notification failed: connect to "
                      r"private/bounce" % qid), i.logtext()
    deadline = time.time() + 5
    while time.time() < deadline and i.files("deferred") != [qid]:
        time.sleep(0.05)
    assert i.files("deferred") == [qid] and i.files("bounce") == [qid]
    bounce = FakeBounce(i.qdir)
    try:
        assert i.wait_log(r"%s: removed" % qid, timeout=10), i.logtext()
        assert len(bounce.requests) == 1
        # the recipient was done: the agent saw it once
        assert [r["rcpt_0"] for r in i.agent.requests] == ["bounce@localhost"]
        assert i.files("bounce") == [] and i.files("deferred") == []
    finally:
        bounce.stop()


@pytest.mark.parametrize("who,reason", [
    ("crash", r"delivery temporarily suspended: private/local: delivery agent crashed"),
    ("garbage", r"delivery agent protocol error"),
])
def test_agent_failures_defer(inst, who, reason):
    i = inst()
    i.start_qmgr()
    qid = i.submit("a@example.org", "%s@localhost" % who)
    i.wakeup()
    assert i.wait_log(r"%s: to=<%s@localhost>, relay=none, .*status=deferred \(%s"
                      % (qid, who, reason)), i.logtext()
    deadline = time.time() + 5
    while time.time() < deadline and i.files("deferred") != [qid]:
        time.sleep(0.05)
    assert i.files("deferred") == [qid]


def test_agent_timeout(inst):
    i = inst("local_delivery_timeout = 1s\n")
    i.start_qmgr()
    qid = i.submit("a@example.org", "hang@localhost")
    t0 = time.time()
    i.wakeup()
    assert i.wait_log(r"%s: to=<hang@localhost>.*status=deferred \(delivery temporarily "
                      r"suspended: private/local: delivery agent timed out" % qid), i.logtext()
    assert time.time() - t0 < 4


def test_no_agent(inst):
    i = inst(agent=False)
    i.start_qmgr()
    qid = i.submit("a@example.org", "sent@localhost")
    i.wakeup()
    assert i.wait_log(r"%s: to=<sent@localhost>.*status=deferred \(delivery temporarily "
                      r"suspended: connect to private/local: " % qid), i.logtext()
    deadline = time.time() + 5
    while time.time() < deadline and i.files("deferred") != [qid]:
        time.sleep(0.05)
    assert i.files("deferred") == [qid]


def test_corrupt_file(inst):
    i = inst()
    i.start_qmgr()
    qid = i.submit("a@example.org", "sent@localhost", ready=False)   # a valid name
    path = os.path.join(i.qdir, "incoming", qid)
    with open(path, "r+b") as f:
        f.truncate(30)
    os.chmod(path, 0o700)
    i.wakeup()
    assert i.wait_log(r"warning: %s: corrupt queue file: " % qid), i.logtext()
    assert i.files("corrupt") == [qid]


def test_recover_active_at_startup(inst):
    i = inst()
    qid = i.submit("a@example.org", "sent@localhost", queue="active")
    i.start_qmgr()
    assert i.wait_log(r"%s: removed" % qid), i.logtext()


def test_expired_message_bounced(inst):
    i = inst("maximal_queue_lifetime = 1h\n")
    i.start_qmgr()
    qid = i.submit("a@example.org", "defer@localhost", ago=7200)
    i.wakeup()
    assert i.wait_log(r"%s: sender notification failed" % qid), i.logtext()
    log = i.logtext()
    assert re.search(r"%s: to=<defer@localhost>, .*status=expired" % qid, log)
    assert "%s: sender notification failed" % qid in log    # no bounce service here
    deadline = time.time() + 5
    while time.time() < deadline and i.files("deferred") != [qid]:
        time.sleep(0.05)
    assert i.files("bounce") == [qid]
    with open(os.path.join(i.qdir, "bounce", qid), "rb") as fh:
        entry = fh.read()
    assert entry.startswith(b"recipient=defer@localhost\ndsn=4.4.7\nreason=message expired")
    with open(os.path.join(i.qdir, "deferred", qid), "rb") as fh:    # marked done
        assert bytes([ord("D"), len("defer@localhost")]) + b"defer@localhost" in fh.read()


def test_destination_concurrency(inst):
    i = inst("local_destination_concurrency_limit = 2\n")
    i.start_qmgr()
    ids = [i.submit("a@example.org", "slow300@localhost") for _ in range(6)]
    i.wakeup()
    for qid in ids:
        assert i.wait_log(r"%s: removed" % qid), i.logtext()
    assert i.agent.peak == 2


def test_transport_process_limit(inst):
    i = inst("local_destination_concurrency_limit = 10\n",
             master_cf="local unix - n n - 1 local\n")
    i.start_qmgr()
    ids = [i.submit("a@example.org", "slow200@localhost", "slow200@example.test")
           for _ in range(3)]
    i.wakeup()
    for qid in ids:
        assert i.wait_log(r"%s: removed" % qid), i.logtext()
    assert i.agent.peak == 1


def test_active_limit(inst):
    i = inst("qmgr_message_active_limit = 2\nlocal_destination_concurrency_limit = 10\n")
    i.start_qmgr()
    ids = [i.submit("a@example.org", "slow200@localhost") for _ in range(6)]
    i.wakeup()
    peak = 0
    deadline = time.time() + 15
    while time.time() < deadline and (i.files("incoming") or i.files("active")):
        peak = max(peak, len(i.files("active")))
        time.sleep(0.02)
    for qid in ids:
        assert i.wait_log(r"%s: removed" % qid), i.logtext()
    assert 1 <= peak <= 2


def test_oldest_first(inst):
    i = inst("qmgr_message_active_limit = 1\n")
    ids = [i.submit("a@example.org", "sent@localhost") for _ in range(4)]
    i.start_qmgr()
    for qid in ids:
        assert i.wait_log(r"%s: removed" % qid), i.logtext()
    order = [r["queue_id"] for r in i.agent.requests]
    assert order == sorted(ids)


def test_exit_when_master_gone_and_redeliver(inst):
    i = inst()
    p = i.start_qmgr()
    qid = i.submit("a@example.org", "hang@localhost")
    i.wakeup()
    assert i.wait_log(r"%s: from=" % qid)
    time.sleep(0.3)
    t0 = time.time()
    i.master_gone(p)
    p.wait(5)
    assert time.time() - t0 < 3
    assert i.files("active") == [qid]          # in flight: left for the next qmgr
    i.agent.requests.clear()
    p2 = i.start_qmgr()
    assert i.wait_log(r"moved 1 message\(s\) left in active/ back to incoming/")
    assert i.wait_log(r"%s: from=" % qid, count=2)
    p2.send_signal(signal.SIGTERM)
    p2.wait(5)


def test_second_qmgr_waits_for_lock(inst):
    i = inst()
    p1 = i.start_qmgr()
    time.sleep(0.5)
    p2 = i.start_qmgr()
    assert i.wait_log(r"waiting for another qmgr to release")
    assert p2.poll() is None
    p1.send_signal(signal.SIGTERM)
    p1.wait(5)
    qid = i.submit("a@example.org", "sent@localhost")
    assert i.wait_log(r"%s: removed" % qid, timeout=5), i.logtext()
    assert p2.poll() is None


def test_bad_wakeup_requests_do_not_hurt(inst):
    import socket
    i = inst()
    i.start_qmgr()
    for junk in [b"request=bogus\n\n", b"%%%\n\n", b"x" * 5000, b""]:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(os.path.join(i.qdir, "private", "qmgr"))
        s.sendall(junk)
        s.close()
    qid = i.submit("a@example.org", "sent@localhost")
    i.wakeup()
    assert i.wait_log(r"%s: removed" % qid), i.logtext()
    assert i.procs[0].poll() is None


@pytest.mark.parametrize("who", ["badstatus", "baddsnclass", "baddsnsyntax", "missingdsn",
                                 "extraattr", "badindex", "dupattr", "badescape", "badname",
                                 "noequals", "huge", "partial"])
def test_malformed_replies_defer(inst, who):
    i = inst("local_delivery_timeout = 3s\n")
    i.start_qmgr()
    qid = i.submit("a@example.org", "%s@localhost" % who)
    i.wakeup()
    assert i.wait_log(r"%s: to=<%s@localhost>, relay=none, .*status=deferred \((delivery "
                      r"agent protocol error|delivery temporarily suspended)" % (qid, who),
                      timeout=8), i.logtext()
    deadline = time.time() + 5
    while time.time() < deadline and i.files("deferred") != [qid]:
        time.sleep(0.05)
    assert i.files("deferred") == [qid]
    assert i.procs[0].poll() is None


def test_wrong_protocol_announcement(inst):
    i = inst()
    i.agent.protocol = "cleanup"
    i.start_qmgr()
    qid = i.submit("a@example.org", "sent@localhost")
    i.wakeup()
    assert i.wait_log(r"%s: to=<sent@localhost>, relay=none, .*status=deferred \(delivery "
                      r"agent protocol error\)" % qid), i.logtext()
    assert "expected protocol=delivery" in i.logtext()
    assert i.agent.requests == []
