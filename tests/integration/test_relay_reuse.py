"""test_relay_reuse.py: connection reuse in the smtp delivery agent (smtp/smtp_cache.c,
qmgr_entry_take_next()).

A backlog for one destination is made the way it happens in real life: the sink answers
451 until every message sits in the deferred queue, then accepts, and `postern queue
flush` releases them all at once. qmgr then hands each agent connection the destination's
next message and the agent sends it over the SMTP session it kept open. The sink records
the session of every message ("conn"). Checked: every message arrives exactly once and
byte for byte; there are fewer sessions than messages (at most the concurrency limit) and
the log says conn_use=N; smtp_connection_cache_on_demand = no opens one session per
message; smtp_connection_reuse_count_limit caps messages per session; a session the server
closed while idle, or drops at the next MAIL, costs a reconnect, not a deferral; refused
recipients are cleaned up with RSET and the session goes on; reuse works over STARTTLS.
Without a backlog, mail that trickles in one message at a time still goes over one
session: qmgr parks the idle agent connection for $smtp_connection_cache_time_limit
(0 turns that off), the session is closed with QUIT when that runs out, and a parked
connection gives its process slot up at once when another destination needs it.
Every wait is bounded.
"""
import collections
import os
import time

import pytest

from harness import wait_until
from test_relay import RCPT, Relay

ONE_MX = "relay.test. 60 IN MX 10 mx1.relay.test.\nmx1.relay.test. 60 IN A 127.0.0.2\n"
SINK = "127.0.0.2"
CONC = 3


@pytest.fixture
def relay(instance):
    r = Relay(instance, ONE_MX, addresses=(SINK,))
    instance.set(minimal_backoff_time="300s", maximal_backoff_time="600s",
                 default_destination_concurrency_limit=str(CONC),
                 initial_destination_concurrency=str(CONC))
    yield r
    r.stop()


def make_backlog(r, instance, n, rcpts_for=lambda i: (RCPT,), accept="250 2.1.5 Ok"):
    """Queue n messages in deferred/ (sink answers 451), then let the sink answer RCPT
    with `accept` and flush the queue. Returns {subject: (rcpts, message)}."""
    sink = r.sinks[SINK]
    sink.replies["rcpt"] = "451 4.3.0 not now"
    instance.start()
    sent = {}
    for i in range(n):
        subject = "reuse %d" % i
        sent[subject] = (rcpts_for(i), r.send(rcpts=rcpts_for(i), subject=subject,
                                               body="message %d\n.dot line\n" % i))
    assert wait_until(lambda: len(instance.queue_files(("deferred",))) >= n, 60), \
        instance.log_tail()
    with sink.lock:
        sink.connections = 0
        sink.messages.clear()
        sink.commands.clear()
        sink.tls_sessions.clear()
    sink.replies["rcpt"] = accept
    assert instance.run("queue", "flush").returncode == 0
    return sent


def wait_delivered(r, instance, n):
    sink = r.sinks[SINK]
    assert wait_until(lambda: len(sink.messages) >= n, 90), instance.log_tail()
    assert instance.wait_queue_empty(30), instance.queue_files()
    time.sleep(0.5)
    return sink


def check_exactly_once(sink, sent):
    """Each message arrived once, its content byte for byte (after our Received)."""
    by_subject = collections.Counter()
    for m in sink.messages:
        subject = m["data"].split(b"Subject: ", 1)[1].split(b"\r\n", 1)[0].decode()
        by_subject[subject] += 1
        rcpts, original = sent[subject]
        assert m["data"].endswith(original.split(b"\r\n\r\n", 1)[1]), m["data"][-200:]
        assert b"Subject: %s\r\n" % subject.encode() in m["data"]
    assert all(c == 1 for c in by_subject.values()), by_subject
    return by_subject


def per_session(sink):
    return collections.Counter(m["conn"] for m in sink.messages)


def test_backlog_reuses_sessions(instance, relay):
    n = 24
    sent = make_backlog(relay, instance, n)
    sink = wait_delivered(relay, instance, n)
    assert len(check_exactly_once(sink, sent)) == n
    sessions = per_session(sink)
    # every session stays open while the destination has mail: at most the concurrency
    # limit of sessions (a little slack for a session closed between two scans)
    assert sink.connections <= CONC + 2, (sink.connections, sessions)
    assert max(sessions.values()) >= n // (CONC + 2), sessions
    reused = instance.log_lines(r"postern/smtp\[\d+\]: \w+: to=<%s>, relay=mx1\.relay\.test"
                                r"\[127\.0\.0\.2\]:\d+, conn_use=\d+, delay=.*status=sent"
                                % RCPT)
    assert len(reused) >= n - sink.connections, instance.log_tail()
    # sessions end with QUIT once the backlog is gone
    assert wait_until(lambda: sink.commands.count("QUIT") >= sink.connections, 20), \
        sink.commands[-10:]


def test_cache_on_demand_off_opens_one_session_per_message(instance, relay):
    instance.set(smtp_connection_cache_on_demand="no")
    n = 8
    sent = make_backlog(relay, instance, n)
    sink = wait_delivered(relay, instance, n)
    check_exactly_once(sink, sent)
    assert sink.connections == n, per_session(sink)
    assert not instance.log_lines(r"conn_use=")


def test_count_limit_caps_messages_per_session(instance, relay):
    instance.set(smtp_connection_reuse_count_limit="3")
    n = 15
    sent = make_backlog(relay, instance, n)
    sink = wait_delivered(relay, instance, n)
    check_exactly_once(sink, sent)
    sessions = per_session(sink)
    assert max(sessions.values()) == 3, sessions
    assert sink.connections >= n // 3, sessions


@pytest.mark.parametrize("how", ["closed_while_idle", "dropped_at_mail"])
def test_server_gone_means_reconnect_not_deferral(instance, relay, how):
    sink = relay.sinks[SINK]
    n = 12
    sent = make_backlog(relay, instance, n)
    if how == "closed_while_idle":
        sink.close_after = 2
    else:
        sink.drop_mail_after = 2
    wait_delivered(relay, instance, n)
    check_exactly_once(sink, sent)
    sessions = per_session(sink)
    assert max(sessions.values()) == 2, sessions             # reused, up to the drop
    # nothing was deferred after the flush: the flush's sends all say status=sent
    assert len(relay.smtp_lines(status="sent")) == n
    assert len(relay.smtp_lines(status="deferred")) == n      # the 451 round only
    # found dead before use (poll) or at the first reply (stale): a fresh connection
    gone = r"(reused|kept) session with mx1\.relay\.test\[127\.0\.0\.2\] (is gone|was closed)"
    assert instance.log_lines(gone), instance.log_tail()
    if how == "dropped_at_mail":
        assert instance.log_lines(r"reused session with .* is gone"), instance.log_tail()


def test_refused_recipients_reset_and_session_goes_on(instance, relay):
    sink = relay.sinks[SINK]
    n = 12
    bad = "nobody@relay.test"
    rcpts_for = lambda i: (bad,) if i % 3 == 0 else (RCPT,)
    sent = make_backlog(relay, instance, n, rcpts_for,
                        accept=lambda a: ("550 5.1.1 <%s>: no such user" % a
                                          if a == bad else "250 2.1.5 Ok"))
    good = {s: v for s, v in sent.items() if v[0] == (RCPT,)}
    wait_delivered(relay, instance, len(good))
    check_exactly_once(sink, good)
    assert "RSET" in sink.commands, sink.commands
    assert sink.connections < n, per_session(sink)
    assert len(relay.smtp_lines(bad, "bounced")) == n // 3
    assert len(relay.smtp_lines(RCPT, "sent")) == len(good)


def test_reuse_over_starttls(instance, relay, tmp_path):
    from test_relay_tls import leaf, server_context
    from tls_helpers import Certs
    os.chmod(str(tmp_path), 0o755)
    certs = Certs(str(tmp_path))
    cert = leaf(certs, "mx", "mx1.relay.test")
    for f in os.listdir(str(tmp_path)):
        os.chmod(os.path.join(str(tmp_path), f), 0o644)
    sink = relay.sinks[SINK]
    sink.tls_context = server_context(*cert)
    instance.set(smtp_tls_security_level="verify", smtp_tls_CAfile=certs.ca)
    n = 12
    sent = make_backlog(relay, instance, n)
    wait_delivered(relay, instance, n)
    check_exactly_once(sink, sent)
    assert all(m["tls"] and m["tls"].startswith("TLSv1.") for m in sink.messages), \
        [m["tls"] for m in sink.messages]
    assert len(sink.tls_sessions) == sink.connections < n, per_session(sink)


def send_one_at_a_time(r, instance, n, sink):
    for i in range(n):
        r.send(subject="trickle %d" % i)
        assert wait_until(lambda: len(sink.messages) > i, 30), instance.log_tail()
        time.sleep(0.2)


def test_trickle_goes_over_one_parked_session(instance, relay):
    sink = relay.sinks[SINK]
    instance.set(smtp_connection_cache_time_limit="3s")
    instance.start()
    send_one_at_a_time(relay, instance, 5, sink)
    assert sink.connections == 1, per_session(sink)
    assert relay.smtp_lines(status="sent")[-1].count("conn_use=5") == 1, \
        relay.smtp_lines(status="sent")
    # idle longer than the time limit: qmgr closes the parked connection, the agent QUITs
    assert wait_until(lambda: "QUIT" in sink.commands, 15), sink.commands
    relay.send(subject="after the time limit")
    assert wait_until(lambda: len(sink.messages) == 6, 30), instance.log_tail()
    assert sink.connections == 2


def test_trickle_without_parking_opens_a_session_each(instance, relay):
    sink = relay.sinks[SINK]
    instance.set(smtp_connection_cache_time_limit="0")
    instance.start()
    send_one_at_a_time(relay, instance, 4, sink)
    assert sink.connections == 4, per_session(sink)


TWO_DOMAINS = ONE_MX + """
other.test.     60 IN MX 10 mx1.other.test.
mx1.other.test. 60 IN A 127.0.0.3
"""


def test_parked_connection_yields_its_slot(instance):
    """smtp maxproc 1: the session parked for relay.test (for a minute) must not hold up
    mail for other.test, which needs that one process."""
    r = Relay(instance, TWO_DOMAINS, addresses=(SINK, "127.0.0.3"))
    try:
        instance.set(smtp_connection_cache_time_limit="60s")
        mcf = os.path.join(instance.conf, "master.cf")
        with open(mcf) as fh:
            lines = fh.readlines()
        with open(mcf, "w") as fh:
            for line in lines:
                f = line.split()
                if f[:2] == ["smtp", "unix"]:
                    line = "smtp       unix  y       -       n       -       1       smtp\n"
                fh.write(line)
        instance.start()
        r.send(subject="first")
        assert wait_until(lambda: r.sinks[SINK].messages, 30), instance.log_tail()
        time.sleep(0.5)
        started = time.time()
        r.send(rcpts=("user@other.test",), subject="second")
        assert wait_until(lambda: r.sinks["127.0.0.3"].messages, 30), instance.log_tail()
        assert time.time() - started < 20, "other.test waited for the parked connection"
        assert "QUIT" in r.sinks[SINK].commands      # relay.test's session was closed
    finally:
        r.stop()


def test_killing_agents_mid_reuse_loses_nothing(instance, relay):
    """SIGKILL smtp agents (and once qmgr, which holds the reused and parked agent
    connections) while they relay a backlog over kept sessions: every message still
    arrives (at least once: a message whose "250" the agent never reported to qmgr is sent
    again), the queue drains, and the survivors carry on over their sessions."""
    import signal
    instance.set(minimal_backoff_time="1s", maximal_backoff_time="2s",
                 service_throttle_time="1s")
    instance.allowed_log_patterns = [r"fatal:"]
    sink = relay.sinks[SINK]
    sink.replies["dot"] = lambda a: (time.sleep(0.02), "250 2.0.0 Ok: queued as SINK{n}")[1]
    n = 60
    sent = make_backlog(relay, instance, n)
    killed = 0
    deadline = time.monotonic() + 20
    while len(sink.messages) < n and time.monotonic() < deadline and killed < 4:
        time.sleep(0.15)
        victims = instance.pids("qmgr" if killed == 2 else "smtp")
        if victims and len(sink.messages) > 5 * (killed + 1):
            os.kill(victims[killed % len(victims)], signal.SIGKILL)
            killed += 1
    assert killed >= 3, "the backlog went too fast to kill enough: %d" % len(sink.messages)
    assert wait_until(lambda: set(check_exactly_once_or_more(sink, sent)) == set(sent), 90), \
        instance.log_tail()
    assert instance.wait_queue_empty(60), instance.queue_files()
    assert max(per_session(sink).values()) > 1         # sessions were being reused


def check_exactly_once_or_more(sink, sent):
    seen = set()
    for m in list(sink.messages):
        subject = m["data"].split(b"Subject: ", 1)[1].split(b"\r\n", 1)[0].decode()
        assert m["data"].endswith(sent[subject][1].split(b"\r\n\r\n", 1)[1])
        seen.add(subject)
    return seen
