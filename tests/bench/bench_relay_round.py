"""bench_relay_round.py: one measured round of the relay workload against one MTA.

A round: wait for an empty queue, start one fresh smtp-sink per destination (dK.test ->
127.0.0.1:PORT_k, bench_sinks.py), read the MTA's process-tree CPU, start one smtp-source
per destination at the same moment (its share of the N messages, S sessions, one
message per connection, SIZE bytes, to bench@dK.test via the MTA's smtpd), poll the sinks'
counters until they have N messages, wait for the queue to drain, read the CPU again,
count the connections the sinks saw, stop the sinks. Every wait is bounded.

Result fields (besides those of bench_round.run_round): relayed_rate (N / time from the
start of injection until the sinks hold all N), accepted_rate (N / time until the last
smtp-source exited), connections (SMTP connections the sinks saw, all destinations),
per_sink (messages each sink received), misrouted (a sink got a count other than its
destination's share).

Held cells (held=True): the messages carry a subject that both MTAs' header_checks put on
hold; once all N are in the hold queue (accepted_rate = N / injection time) the CPU is
read, the MTA's release command runs, and relayed_rate = N / time from the release until
the sinks hold all N: pure relaying out of a full queue."""

import subprocess
import tempfile
import time

from bench_round import wait_queue_empty
from bench_proc import tree_cpu_ms

SMTP_SOURCE = "/usr/sbin/smtp-source"
POLL_SECONDS = 0.05
DRAIN_SECONDS = 30
STALL_SECONDS = 10     # all sent, empty queue, sinks' total unchanged: stop waiting
HOLD_SUBJECT = "compare-postfix-hold"   # header_checks: /^Subject: THIS$/ HOLD


def shares(messages, destinations):
    """Messages per destination: N/D each, the first N%D get one more."""
    base, extra = divmod(messages, destinations)
    return [base + (1 if k < extra else 0) for k in range(destinations)]


def start_clients(mta, routes, counts, sessions, size, subject=None):
    clients = []
    for (dom, _), count in zip(routes, counts):
        if count == 0:
            continue
        err = tempfile.TemporaryFile(mode="w+")
        argv = [SMTP_SOURCE, "-s", str(min(sessions, count)), "-m", str(count),
                "-l", str(size), "-f", "from@bench.test", "-t", f"bench@{dom}",
                f"127.0.0.1:{mta.port}"]
        if subject:
            argv[1:1] = ["-S", subject]
        clients.append({"proc": subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                                 stdout=subprocess.DEVNULL, stderr=err),
                        "err": err, "dom": dom, "end": None})
    return clients


def poll_clients(clients, now):
    for c in clients:
        if c["end"] is None and c["proc"].poll() is not None:
            c["end"] = now


def finish_clients(clients):
    """Kill clients still running (time limit); collect the failures' stderr tails."""
    errors = []
    for c in clients:
        if c["proc"].poll() is None:
            c["proc"].kill()
        try:
            c["proc"].wait(10)
        except subprocess.TimeoutExpired:
            pass
        c["err"].seek(0)
        text = c["err"].read(65536)
        c["err"].close()
        if c["end"] is not None and c["proc"].returncode != 0:
            tail = " | ".join(text.strip().splitlines()[-2:])
            errors.append(f"smtp-source to {c['dom']} exit {c['proc'].returncode}: {tail}")
    return errors


def run_relay_round(mta, sinks, routes, messages, sessions, size, timeout, held=False):
    res = {"ok": False, "accepted_rate": None, "relayed_rate": None, "cpu_ms_per_msg": None,
           "connections": None, "per_sink": [], "misrouted": False, "delivered": 0,
           "lost": 0, "queued": 0, "error": ""}
    t_begin = time.monotonic()
    master = mta.master_pid()
    if master is None:
        res["error"] = f"{mta.name} master is not running"
        return res
    left = wait_queue_empty(mta, DRAIN_SECONDS)
    if left:
        res["error"] = f"{left} files still queued before the round"
        return res
    try:
        sinks.start()
    except RuntimeError as e:
        res["error"] = str(e)
        return res
    try:
        return _measure(mta, sinks, routes, messages, sessions, size, timeout, res,
                        master, time.monotonic() - t_begin, held)
    finally:
        sinks.stop()


def _fill_hold(mta, sinks, clients, messages, deadline):
    """Held cells: wait until every client is done and all N are on hold; returns the
    time the last client finished, or None with an error text."""
    while time.monotonic() < deadline:
        now = time.monotonic()
        poll_clients(clients, now)
        if all(c["end"] is not None for c in clients):
            if any(c["proc"].returncode for c in clients):
                return None, "smtp-source failed while filling the hold queue"
            if mta.held_count() >= messages:
                if sum(sinks.messages()):
                    return None, "messages reached the sinks although on hold"
                return max(c["end"] for c in clients), ""
        time.sleep(POLL_SECONDS)
    return None, f"hold queue not filled in time ({mta.held_count()}/{messages})"


def _measure(mta, sinks, routes, messages, sessions, size, timeout, res, master, prep, held):
    counts = shares(messages, len(routes))
    cpu0, _ = tree_cpu_ms(master)
    t0 = time.monotonic()
    deadline = t0 + timeout
    clients = start_clients(mta, routes, counts, sessions, size, HOLD_SUBJECT if held else None)
    t_accept = t_relay = None
    relayed, stall_count, stall_since = 0, -1, t0
    errors = []
    fill = ""
    try:
        if held:
            t_filled, err = _fill_hold(mta, sinks, clients, messages, deadline)
            if not err:
                res["accepted_rate"] = messages / max(t_filled - t0, 1e-6)
                cpu0, _ = tree_cpu_ms(master)
                fill = f"fill hold {time.monotonic() - t0:.1f} s, "
                t0 = stall_since = time.monotonic()
                deadline = t0 + timeout
                t_accept = t0
                try:
                    mta.release_held()
                except RuntimeError as e:
                    err = f"release failed: {e}"
            if err:
                errors.append(err)
                deadline = 0             # skip the relaying phase
        while time.monotonic() < deadline:
            now = time.monotonic()
            poll_clients(clients, now)
            if t_accept is None and all(c["end"] is not None for c in clients):
                t_accept = max(c["end"] for c in clients)
            relayed = sum(sinks.messages())
            if relayed >= messages and t_relay is None:
                t_relay = now
            if t_accept is not None and t_relay is not None:
                break
            if t_accept is not None and any(c["proc"].returncode for c in clients):
                break          # a client gave up: not all N will arrive
            if t_accept is not None:
                if relayed != stall_count or mta.queue_count() != 0:
                    stall_count, stall_since = relayed, now
                elif now - stall_since >= STALL_SECONDS:
                    break
            time.sleep(POLL_SECONDS)
    finally:
        client_errors = finish_clients(clients)
    t_end = time.monotonic()
    res["queued"] = wait_queue_empty(mta, DRAIN_SECONDS if t_relay is None else 10)
    cpu1, _ = tree_cpu_ms(master)
    t_drained = time.monotonic()
    res["connections"] = sum(sinks.connections())
    res["per_sink"] = per_sink = sinks.messages()
    relayed = res["delivered"] = sum(per_sink)
    res["phases"] = (f"prepare {prep:.1f} s, {fill}run {t_end - t0:.1f} s, "
                     f"drain {t_drained - t_end:.1f} s, "
                     f"connections closed {time.monotonic() - t_drained:.1f} s")
    errors += client_errors
    res["client_killed"] = t_accept is None
    res["client_ok"] = t_accept is not None and not client_errors
    if t_relay is None and not (held and errors):
        if t_accept is None:
            errors.append(f"smtp-source not finished within {timeout} s")
        elif client_errors:
            errors.append("smtp-source failed")
        elif time.monotonic() < deadline:
            errors.append(f"sinks' total unchanged with an empty queue for {STALL_SECONDS} s")
        else:
            errors.append(f"relaying not finished within {timeout} s")
        errors[-1] += f" ({relayed}/{messages} at the sinks)"
    if relayed < messages and res["queued"] == 0:
        res["lost"] = messages - relayed
    if relayed > messages:
        errors.append(f"{relayed - messages} duplicate messages at the sinks")
    if relayed == messages and per_sink != counts:
        res["misrouted"] = True
        errors.append(f"messages per sink {per_sink}, expected {counts}")
    res["error"] = "; ".join(errors)
    if t_accept is not None and not held:
        res["accepted_rate"] = messages / max(t_accept - t0, 1e-6)
    if t_relay is not None:
        res["relayed_rate"] = messages / max(t_relay - t0, 1e-6)
    if cpu0 is not None and cpu1 is not None:
        res["cpu_ms_per_msg"] = (cpu1 - cpu0) / messages
    res["ok"] = not res["error"] and res["lost"] == 0 and relayed == messages
    return res
