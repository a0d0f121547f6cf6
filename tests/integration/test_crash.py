"""test_crash.py: crash safety of the queue (DESIGN.md section 2).

A sender streams messages and records every one that got "250" after DATA. Meanwhile
random smtpd, cleanup, qmgr and local processes of the instance are killed with SIGKILL
every ~0.3 s, the master is killed once and started again, and the configuration is
reloaded once. Afterwards every 250'd message must be delivered at least once, no
delivered file may be truncated, and incoming/, active/ and deferred/ must drain."""
import os
import random
import signal
import smtplib
import threading
import time

from harness import DEMO, SENDER, read_delivered, wait_until
from messages import markers_in, message

MAX_MESSAGES = 300
SEND_SECONDS = 30          # messages are paced evenly over this time
DRAIN_SECONDS = 90
VICTIMS = ("smtpd", "cleanup", "qmgr", "local")


def restart_master(instance, timeout=20):
    """`postern start` until it succeeds (old children may still hold the listener for a
    moment after the master died). Returns the number of attempts."""
    deadline = time.monotonic() + timeout
    attempts = 0
    while True:
        attempts += 1
        p = instance.run("start", check=False)
        if p.returncode == 0:
            instance.wait_for_port()
            return attempts
        assert time.monotonic() < deadline, \
            "postern start after killing the master kept failing:\n%s%s" % (
                p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"))
        time.sleep(0.5)


def test_crash_safety(instance):
    instance.set(minimal_backoff_time="1s", maximal_backoff_time="2s",
                 queue_run_delay="1s", service_throttle_time="1s")
    # Killed peers may make survivors log fatal errors; panics and sanitizer reports
    # still fail the test.
    instance.allowed_log_patterns = [r"fatal:"]
    instance.start()
    accepted, stop = [], threading.Event()
    rng = random.Random(int(os.environ.get("POSTERN_CRASH_SEED", str(os.getpid()))))

    def sender():
        t0 = time.monotonic()
        deadline = t0 + SEND_SECONDS + 10
        for i in range(MAX_MESSAGES):
            if time.monotonic() > deadline or stop.is_set():
                break
            pause = t0 + i * SEND_SECONDS / MAX_MESSAGES - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            msg, marker = message(body_lines=["line %d of %s" % (i, "x" * 60) for i in range(40)])
            try:
                s = smtplib.SMTP("127.0.0.1", instance.port, timeout=10)
                try:
                    s.ehlo("client.test")
                    if s.sendmail(SENDER, [DEMO], msg) == {}:
                        accepted.append(marker)
                finally:
                    try:
                        s.quit()
                    except Exception:
                        s.close()
            except (OSError, smtplib.SMTPException):
                time.sleep(0.05)

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    begin = time.monotonic()
    killed = {p: 0 for p in VICTIMS}
    master_killed = reloaded = False
    restarts = 0
    while t.is_alive() and time.monotonic() - begin < SEND_SECONDS + 20:
        time.sleep(0.3)
        elapsed = time.monotonic() - begin
        if not master_killed and elapsed > SEND_SECONDS / 3:
            master = instance.master_pid()
            assert master, "cannot find the master pid"
            instance.remember_pids()
            os.kill(master, signal.SIGKILL)
            master_killed = True
            wait_until(lambda: not os.path.exists("/proc/%d" % master) or
                       open("/proc/%d/stat" % master).read().split(") ")[1][0] == "Z", 5)
            restarts = restart_master(instance)
            continue
        if not reloaded and elapsed > 2 * SEND_SECONDS / 3:
            instance.reload()
            reloaded = True
            continue
        program = rng.choice(VICTIMS)
        pids = instance.pids(program)
        if pids:
            try:
                os.kill(rng.choice(pids), signal.SIGKILL)
                killed[program] += 1
            except ProcessLookupError:
                pass
    stop.set()
    t.join(30)
    assert master_killed and reloaded, "sender ended too early to test master kill/reload"
    print("accepted %d messages; killed %r; master restart attempts %d" % (
        len(accepted), killed, restarts))
    assert len(accepted) >= 20, "too few messages accepted under fire (%d)\n%s" % (
        len(accepted), instance.log_tail())
    assert sum(killed.values()) >= 10, killed

    def all_delivered():
        got = set(markers_in(read_delivered(instance.maildir)))
        return all(m in got for m in accepted) and instance.queue_is_empty()
    wait_until(all_delivered, DRAIN_SECONDS, 0.5)

    delivered = read_delivered(instance.maildir)
    markers = markers_in(delivered)
    missing = [m for m in accepted if m not in markers]
    assert not missing, "%d of %d accepted messages lost, e.g. %s\nqueue: %s\n%s" % (
        len(missing), len(accepted), missing[:3], instance.queue_files(), instance.log_tail())
    for data, marker in zip(delivered, markers):
        assert marker is not None, "delivered file without a marker: %r" % data[:300]
        assert data.endswith(b"END-" + marker.encode() + b"\n"), \
            "truncated delivery of %s: ends %r" % (marker, data[-100:])
    left = instance.queue_files()
    assert not left, "queue did not drain: %s" % [
        (f, oct(os.stat(f).st_mode & 0o777)) for f in left if os.path.exists(f)]


def test_abandoned_incomplete_file_is_removed(instance):
    """A cleanup killed mid-message leaves an incomplete (mode 0600) file that nobody
    holds locked: qmgr removes it. A file that is still locked by its writer stays."""
    import fcntl
    instance.start()
    incoming = os.path.join(instance.queue, "incoming")
    dead = os.path.join(incoming, "1xVUAC2gBwk2g4")
    live = os.path.join(incoming, "1xVUAC2gBwk2g5")
    for path in (dead, live):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, b"V\x0fpostern-queue-1")
        st = os.stat(incoming)           # as root: the queue belongs to mail_owner
        os.chown(path, st.st_uid, st.st_gid)
        if path == dead:
            os.close(fd)
        else:
            live_fd = fd
            fcntl.flock(live_fd, fcntl.LOCK_EX)
    past = time.time() - 10
    os.utime(dead, (past, past))
    os.utime(live, (past, past))
    try:
        # the next message wakes qmgr, whose incoming/ scan finds the leftovers
        s = instance.smtp()
        s.sendmail(SENDER, [DEMO], message()[0])
        s.quit()
        assert wait_until(lambda: not os.path.exists(dead), 15), \
            "abandoned incomplete file still in incoming/:\n" + instance.log_tail()
        assert instance.log_lines("removed incomplete queue file")
        time.sleep(2)
        assert os.path.exists(live), "a file still locked by its writer was removed"
    finally:
        os.close(live_fd)
        if os.path.exists(live):
            os.unlink(live)
