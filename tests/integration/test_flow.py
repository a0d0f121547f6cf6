"""test_flow.py: in_flow_delay, the intake back pressure of lib/flow.h.

master primes a token pipe with $default_process_limit tokens, qmgr puts one back for every
message it moves out of incoming/ (and tops the pipe up to that level when it has taken
everything), and cleanup takes one per new message, waiting at most
$in_flow_delay when there is none. The tests stop qmgr (SIGSTOP of its PID) so that no
token comes back, then send PRIME + EXTRA messages in one SMTP session:
- with in_flow_delay = 3s that takes at least about EXTRA * 3 s (asserted: half of it) and
  no message waits much longer than the delay (generous upper bound);
- with in_flow_delay = 0 it takes well under that lower bound;
after qmgr continues every message is delivered exactly once. Also: `postern check`
accepts the parameter and rejects a bad value. Every wait is bounded; qmgr is always
continued (SIGCONT) before the test ends."""
import array
import fcntl
import os
import signal
import termios
import time

from harness import DEMO, SENDER, read_delivered, wait_for_maildir, wait_until
from messages import markers_in, message

PRIME = 8             # tokens while qmgr keeps up: $default_process_limit (set below)
EXTRA = 4             # messages beyond the primed tokens: each one waits in_flow_delay
DELAY = 3             # seconds


def qmgr_pid(inst):
    pids = []
    assert wait_until(lambda: pids.extend(inst.pids("qmgr")) or pids, 15), \
        "no qmgr process\n" + inst.log_tail()
    assert len(pids) == 1, pids
    return pids[0]


def tokens_in_pipe(pid):
    """Tokens waiting in the flow pipe, seen through the process's fd 5 (read end); the
    count is read with FIONREAD, nothing is taken."""
    fd = os.open("/proc/%d/fd/5" % pid, os.O_RDONLY | os.O_NONBLOCK)
    try:
        buf = array.array("i", [0])
        fcntl.ioctl(fd, termios.FIONREAD, buf, True)
        return buf[0]
    finally:
        os.close(fd)


def deliver_one(inst):
    """One message through the running system: qmgr is up and has put its token back."""
    msg, marker = message()
    s = inst.smtp()
    assert s.sendmail(SENDER, [DEMO], msg) == {}
    s.quit()
    wait_for_maildir(inst.maildir, 1)
    assert wait_until(inst.queue_is_empty, 15), "queue did not drain"
    return marker


def send_burst(inst, count):
    """count messages in one session; returns (elapsed seconds, markers)."""
    markers = []
    s = inst.smtp(timeout=120)
    start = time.monotonic()
    for _ in range(count):
        msg, marker = message()
        assert s.sendmail(SENDER, [DEMO], msg) == {}
        markers.append(marker)
    elapsed = time.monotonic() - start
    s.quit()
    print("burst of %d messages: %.2f s" % (count, elapsed))
    return elapsed, markers


def burst_with_qmgr_stopped(inst):
    first = deliver_one(inst)
    pid = qmgr_pid(inst)
    os.kill(pid, signal.SIGSTOP)
    try:
        elapsed, markers = send_burst(inst, PRIME + EXTRA)
        # nothing delivered while qmgr is stopped: the burst really met an idle qmgr
        assert len(os.listdir(os.path.join(inst.maildir, "new"))) == 1
    finally:
        os.kill(pid, signal.SIGCONT)
    files = wait_for_maildir(inst.maildir, PRIME + EXTRA + 1, timeout=60)
    got = markers_in(read_delivered(inst.maildir))
    assert sorted(got) == sorted([first] + markers), "lost or duplicated messages"
    assert len(files) == PRIME + EXTRA + 1
    assert wait_until(inst.queue_is_empty, 30), "queue did not drain"
    return elapsed


def test_intake_slows_down_while_qmgr_is_stopped(instance):
    instance.set(in_flow_delay="%ds" % DELAY, default_process_limit=PRIME)
    instance.start()
    elapsed = burst_with_qmgr_stopped(instance)
    assert elapsed >= EXTRA * DELAY / 2, \
        "burst of %d took only %.1f s: no back pressure" % (PRIME + EXTRA, elapsed)
    # each message waits at most in_flow_delay, then goes ahead anyway
    assert elapsed <= (PRIME + EXTRA) * DELAY + 30, "burst took %.1f s" % elapsed


def test_no_delay_when_in_flow_delay_is_zero(instance):
    instance.set(in_flow_delay="0", default_process_limit=PRIME)
    instance.start()
    elapsed = burst_with_qmgr_stopped(instance)
    assert elapsed < EXTRA * DELAY / 2, \
        "burst of %d took %.1f s with in_flow_delay = 0" % (PRIME + EXTRA, elapsed)


def test_lost_tokens_are_topped_up(instance):
    """Transactions aborted after RCPT take tokens that never come back; once qmgr has
    caught up it tops the pipe up to $default_process_limit, so later mail does not wait."""
    instance.set(in_flow_delay="%ds" % DELAY, default_process_limit=PRIME)
    instance.start()
    pid = qmgr_pid(instance)
    assert wait_until(lambda: tokens_in_pipe(pid) == PRIME, 10), tokens_in_pipe(pid)
    s = instance.smtp()
    for _ in range(PRIME):
        assert s.mail(SENDER)[0] == 250
        assert s.rcpt(DEMO)[0] == 250
        assert s.rset()[0] == 250
    s.quit()
    assert wait_until(lambda: tokens_in_pipe(pid) == 0, 10), tokens_in_pipe(pid)
    deliver_one(instance)       # waits up to DELAY for a token, then goes ahead
    assert wait_until(lambda: tokens_in_pipe(pid) == PRIME, 10), tokens_in_pipe(pid)
    os.kill(pid, signal.SIGSTOP)
    try:
        elapsed, markers = send_burst(instance, PRIME)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert elapsed < DELAY, "burst of %d took %.1f s after the top-up" % (PRIME, elapsed)
    wait_for_maildir(instance.maildir, PRIME + 1, timeout=60)
    assert wait_until(instance.queue_is_empty, 30), "queue did not drain"


def test_check_accepts_in_flow_delay(instance):
    instance.set(in_flow_delay="2s")
    p = instance.run("check", check=False)
    assert p.returncode == 0, (p.stdout + p.stderr).decode(errors="replace")
    instance.set(in_flow_delay="soon")
    p = instance.run("check", check=False)
    out = (p.stdout + p.stderr).decode(errors="replace")
    assert p.returncode != 0 and "in_flow_delay" in out, out
