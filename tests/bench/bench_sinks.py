"""bench_sinks.py: the relay workload's SMTP sinks: one Postfix smtp-sink(1) per
destination on 127.0.0.1:PORT_k, started fresh for every round (so its counters count
that round only) and stopped after it.

Counting: each sink runs with -c, which writes "sess=S quit=Q mesg=M" followed by a CR to
its stdout (a file here) whenever a session ends, a QUIT arrives or a message's "." is
received. The last complete record is the sink's state: mesg = messages received,
sess = sessions that ended. SMTP connections a sink saw = sess + connections still
established to its port (from /proc/net/tcp), read once the round is over."""

import os
import re
import signal
import subprocess
import time

SMTP_SINK = "/usr/sbin/smtp-sink"
SINK_USER = "nobody"           # smtp-sink must drop root (-u)
BACKLOG = "256"
COUNTER_RE = re.compile(rb"sess=(\d{1,12}) quit=(\d{1,12}) mesg=(\d{1,12})\r")
TAIL_BYTES = 512
TCP_LISTEN, TCP_ESTABLISHED = "0A", "01"
PROC_TCP_MAX_LINES = 1_000_000


def read_counters(path):
    """(sessions ended, messages received) from the last complete -c record, or (0, 0)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - TAIL_BYTES))
            tail = f.read(TAIL_BYTES)
    except OSError:
        return 0, 0
    last = None
    for m in COUNTER_RE.finditer(tail):
        last = m
    if last is None:
        return 0, 0
    return int(last.group(1)), int(last.group(3))


def tcp_port_states(ports):
    """{port: (listening, established count)} for local 127.0.0.1/any ports in ports."""
    want = set(ports)
    out = {p: [False, 0] for p in want}
    try:
        with open("/proc/net/tcp") as f:
            f.readline()
            for n, line in enumerate(f):
                if n >= PROC_TCP_MAX_LINES:
                    break
                fields = line.split()
                if len(fields) < 4 or ":" not in fields[1]:
                    continue
                try:
                    port = int(fields[1].rsplit(":", 1)[1], 16)
                except ValueError:
                    continue
                if port not in want:
                    continue
                if fields[3] == TCP_LISTEN:
                    out[port][0] = True
                elif fields[3] == TCP_ESTABLISHED:
                    out[port][1] += 1
    except OSError:
        pass
    return {p: (v[0], v[1]) for p, v in out.items()}


class SinkSet:
    """Ten (or D) smtp-sink processes, one per destination port."""

    def __init__(self, workdir, ports):
        self.workdir = workdir
        self.ports = list(ports)
        self.procs = []
        os.makedirs(workdir, exist_ok=True)

    def _out(self, port):
        return os.path.join(self.workdir, f"sink-{port}.out")

    def start(self, timeout=10):
        """Start one sink per port and wait until all listen; RuntimeError if not."""
        self.stop()
        for port in self.ports:
            with open(self._out(port), "wb") as out, \
                    open(os.path.join(self.workdir, f"sink-{port}.err"), "ab") as err:
                self.procs.append(subprocess.Popen(
                    [SMTP_SINK, "-c", "-u", SINK_USER, f"127.0.0.1:{port}", BACKLOG],
                    stdin=subprocess.DEVNULL, stdout=out, stderr=err))
        deadline = time.monotonic() + timeout
        while True:
            states = tcp_port_states(self.ports)
            down = [p for p, (listening, _) in states.items() if not listening]
            dead = [p.args[-2] for p in self.procs if p.poll() is not None]
            if not down:
                return
            if dead or time.monotonic() >= deadline:
                self.stop()
                raise RuntimeError(f"smtp-sink not listening on {', '.join(map(str, down))}"
                                   f"{' (exited: ' + ', '.join(dead) + ')' if dead else ''}"
                                   f"; see {self.workdir}/sink-*.err")
            time.sleep(0.05)

    def messages(self):
        """Messages received so far by each sink, in port order."""
        return [read_counters(self._out(p))[1] for p in self.ports]

    def connections(self, settle_seconds=5):
        """SMTP connections per sink: ended sessions + still established ones. Waits up to
        settle_seconds for the MTA to close idle (cached) connections first."""
        deadline = time.monotonic() + settle_seconds
        while time.monotonic() < deadline:
            if not any(est for _, est in tcp_port_states(self.ports).values()):
                break
            time.sleep(0.1)
        states = tcp_port_states(self.ports)
        return [read_counters(self._out(p))[0] + states[p][1] for p in self.ports]

    def stop(self):
        """SIGTERM our own sinks (SIGKILL after 5 s)."""
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        self.procs = []
