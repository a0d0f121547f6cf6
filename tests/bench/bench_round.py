"""bench_round.py: one measured round against one MTA instance.

A round: empty the Maildir, wait for an empty queue, read the MTA's process-tree CPU,
start smtp-source (N messages, S sessions, one message per connection, SIZE bytes),
poll the Maildir new/ directory until N files are there, wait for the queue to drain,
read the CPU again. Everything is bounded by the round timeout.

Result fields: ok, accepted_rate (N / smtp-source wall time), delivered_rate (N / time
until the N-th file is in new/), cpu_ms_per_msg, delivered, client_ok (smtp-source exit 0),
client_killed (stopped at the time limit), phases (where the round's time went),
lost (not delivered although the queue is empty: lost if client_ok, else possibly
rejected), queued (still in the queue at the end), error."""

import os
import subprocess
import tempfile
import threading
import time

from bench_proc import count_files, empty_maildir, tree_cpu_ms

SMTP_SOURCE = "/usr/sbin/smtp-source"
POLL_SECONDS = 0.05
DRAIN_SECONDS = 30
STALL_SECONDS = 10     # empty queue, all sent, nothing new delivered: stop waiting


def wait_queue_empty(mta, seconds):
    deadline = time.monotonic() + seconds
    while True:
        n = mta.queue_count()
        if n == 0 or time.monotonic() >= deadline:
            return n
        time.sleep(0.05)


def run_round(mta, messages, sessions, size, timeout):
    res = {"ok": False, "accepted_rate": None, "delivered_rate": None,
           "cpu_ms_per_msg": None, "delivered": 0, "lost": 0, "queued": 0, "error": ""}
    t_begin = time.monotonic()
    master = mta.master_pid()
    if master is None:
        res["error"] = f"{mta.name} master is not running"
        return res
    empty_maildir(mta.maildir)
    os.sync()              # no write-back of the previous round inside this one
    left = wait_queue_empty(mta, DRAIN_SECONDS)
    if left:
        res["error"] = f"{left} files still queued before the round"
        return res
    cpu0, _ = tree_cpu_ms(master)
    prep_seconds = time.monotonic() - t_begin
    argv = [SMTP_SOURCE, "-s", str(sessions), "-m", str(messages), "-l", str(size),
            "-f", "from@bench.test", "-t", "demo@example.test", f"127.0.0.1:{mta.port}"]
    t0 = time.monotonic()
    deadline = t0 + timeout
    errfile = tempfile.TemporaryFile(mode="w+")
    client = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=errfile)
    finished = []          # the client's exit time, taken by a waiter thread

    def wait_client():
        client.wait()
        finished.append(time.monotonic())
    waiter = threading.Thread(target=wait_client, daemon=True)
    waiter.start()
    t_accept = t_deliver = None
    delivered = 0
    stall_count, stall_since = -1, t0
    try:
        while time.monotonic() < deadline:
            now = time.monotonic()
            if t_accept is None and finished:
                t_accept = finished[0]
            delivered = count_files(mta.maildir_new)
            if delivered >= messages and t_deliver is None:
                t_deliver = now
            if t_accept is not None and t_deliver is not None:
                break
            if t_accept is not None and client.returncode != 0:
                break          # the client gave up: no point waiting for all N
            if t_accept is not None and delivered < messages:
                # all sent: an empty queue with no new delivery for a while means lost mail
                if delivered != stall_count or mta.queue_count() != 0:
                    stall_count, stall_since = delivered, now
                elif now - stall_since >= STALL_SECONDS:
                    break
            time.sleep(POLL_SECONDS)
    finally:
        if not finished:
            client.kill()
        waiter.join(10)
        errfile.seek(0)
        client_err = errfile.read(65536)
        errfile.close()
    t_end = time.monotonic()
    # let stragglers land (a failed client, or a delivery after the N-th), then drain
    res["queued"] = wait_queue_empty(mta, DRAIN_SECONDS if t_deliver is None else 10)
    cpu1, _ = tree_cpu_ms(master)
    res["phases"] = (f"prepare {prep_seconds:.1f} s, run {t_end - t0:.1f} s, "
                     f"drain {time.monotonic() - t_end:.1f} s")
    delivered = count_files(mta.maildir_new)
    res["delivered"] = delivered
    res["client_killed"] = t_accept is None
    if t_accept is not None and client.returncode != 0:
        tail = client_err.strip().splitlines()[-3:]
        res["error"] = f"smtp-source exit {client.returncode}: {' | '.join(tail)}"
    if t_accept is None or t_deliver is None:
        if t_accept is None:
            what = f"smtp-source not finished within {timeout} s"
        elif client.returncode != 0:
            what = "smtp-source failed"
        elif time.monotonic() < deadline:
            what = f"deliveries stopped with an empty queue for {STALL_SECONDS} s"
        else:
            what = f"delivery not finished within {timeout} s"
        res["error"] = (res["error"] + "; " if res["error"] else "") + \
            f"{what} ({delivered}/{messages} delivered)"
    res["client_ok"] = client.returncode == 0
    if delivered < messages and res["queued"] == 0:
        res["lost"] = messages - delivered      # "lost" if client_ok, else maybe rejected
    if delivered > messages:
        res["error"] = (res["error"] + "; " if res["error"] else "") + \
            f"{delivered - messages} duplicate deliveries"
    if t_accept is not None:
        res["accepted_rate"] = messages / max(t_accept - t0, 1e-6)
    if t_deliver is not None:
        res["delivered_rate"] = messages / max(t_deliver - t0, 1e-6)
    if cpu0 is not None and cpu1 is not None:
        res["cpu_ms_per_msg"] = (cpu1 - cpu0) / messages
    res["ok"] = not res["error"] and res["lost"] == 0 and delivered == messages
    return res
