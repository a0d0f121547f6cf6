"""harness.py: drives one real postern instance for the integration tests.

An Instance lives in its own temporary directory: `postern init DIR --port P` creates the
configuration, queue and the demo virtual mailbox; tests add main.cf settings with
inst.set(...) before inst.start(). The harness knows the instance's process tree (walking
/proc from the master pid), reads its maillog and queue, and at teardown stops it, kills by
PID whatever is left and scans the log and sanitizer output for crashes. conftest.py turns
this into the `instance` fixture; the test_*.py files use the helpers below.

Every wait here is bounded in time: no test can hang the suite.
"""
import glob
import os
import re
import signal
import random
import socket
import smtplib
import subprocess
import tempfile
import time

DOMAIN = "example.test"
DEMO = "demo@" + DOMAIN
SENDER = "sender@client.test"
SANITIZER_PATTERNS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                      "runtime error:", "WARNING: AddressSanitizer")
QUEUES_THAT_MUST_DRAIN = ("incoming", "active", "deferred")


def build_dir():
    """The build tree under test: $POSTERN_BUILD, else build/plain in the repo."""
    env = os.environ.get("POSTERN_BUILD")
    if env:
        return os.path.abspath(env)
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return os.path.join(repo, "build", "plain")


_port_random = random.SystemRandom()


def free_port():
    """A free TCP port on 127.0.0.1 for a listener of a test. Chosen at random BELOW the
    kernel's ephemeral range (32768-60999 here): ports the kernel hands to outgoing
    connections and to bind(0) — many of them while tests run in parallel — can then
    never take it between this check and the listener's bind."""
    for _ in range(500):
        port = _port_random.randrange(20000, 32000)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port between 20000 and 32000")


def wait_until(predicate, timeout, interval=0.1):
    """Poll predicate() until it is truthy or timeout seconds pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def maildir_files(path):
    """Sorted paths of delivered messages in the Maildir's new/ (and cur/, if a reader moved them)."""
    files = []
    for sub in ("new", "cur"):
        d = os.path.join(path, sub)
        if os.path.isdir(d):
            files.extend(os.path.join(d, f) for f in os.listdir(d) if not f.startswith("."))
    return sorted(files)


def wait_for_maildir(path, n, timeout=20):
    """Wait until the Maildir holds at least n messages; returns the file list (maybe fewer)."""
    wait_until(lambda: len(maildir_files(path)) >= n, timeout)
    return maildir_files(path)


def read_delivered(path):
    """Contents (bytes) of every delivered message in the Maildir at path."""
    out = []
    for f in maildir_files(path):
        with open(f, "rb") as fh:
            out.append(fh.read())
    return out


def split_delivered(data):
    """Split a delivered message into (list of the three prepended header blocks, rest).

    Returns ([return_path_line, delivered_to_line, received_block], original) where each
    block keeps its folded continuation lines; raises AssertionError when the message does
    not start with Return-Path, Delivered-To and Received in that order."""
    lines = data.split(b"\n")
    blocks, i = [], 0
    for name in (b"Return-Path:", b"Delivered-To:", b"Received:"):
        assert i < len(lines) and lines[i].startswith(name), \
            "expected %r at line %d, got %r" % (name, i + 1, lines[i][:200] if i < len(lines) else None)
        block = [lines[i]]
        i += 1
        while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
            block.append(lines[i])
            i += 1
        blocks.append(b"\n".join(block))
    return blocks, b"\n".join(lines[i:])


def crlf_to_lf(data):
    return data.replace(b"\r\n", b"\n")


class SmtpRaw:
    """A raw SMTP client socket for tests that must control every byte (pipelining,
    smuggling, protocol errors). Replies are parsed as RFC 5321 multi-line replies."""

    def __init__(self, port, host="127.0.0.1", source=None, timeout=15):
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.buf = b""
        self.timeout = timeout

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def reply(self):
        """Next complete reply as (code, [text lines]); (None, []) on EOF."""
        lines = []
        deadline = time.monotonic() + self.timeout
        while True:
            while b"\n" not in self.buf:
                if time.monotonic() > deadline:
                    raise TimeoutError("no SMTP reply; got %r" % self.buf[:200])
                try:
                    chunk = self.sock.recv(65536)
                except (ConnectionResetError, BrokenPipeError):
                    chunk = b""
                if not chunk:
                    return (None, lines)
                self.buf += chunk
            line, self.buf = self.buf.split(b"\n", 1)
            line = line.rstrip(b"\r").decode("latin-1")
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                try:
                    return (int(line[:3]), lines)
                except ValueError:
                    return (-1, lines)

    def cmd(self, text):
        self.send(text + "\r\n")
        return self.reply()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Instance:
    """One postern instance in a temp directory. See the module comment."""

    def __init__(self, base):
        self.base = base                      # temp dir (0755), holds the instance and logs
        self.dir = os.path.join(base, "inst")
        self.conf = os.path.join(self.dir, "conf")
        self.main_cf = os.path.join(self.conf, "main.cf")
        self.queue = os.path.join(self.dir, "queue")
        self.maillog = os.path.join(self.dir, "maillog")
        self.mail = os.path.join(self.dir, "mail", DOMAIN)
        self.maildir = os.path.join(self.mail, "demo")
        self.san_dir = os.path.join(base, "san")
        self.cmd_log = os.path.join(base, "commands.log")
        self.build = build_dir()
        self.postern_bin = os.path.join(self.build, "cmd", "postern")
        self.port = free_port()
        self.started = False
        self.seen_pids = set()
        self.cmd_count = 0
        self.allowed_log_patterns = []        # e.g. ["fatal:"] for tests that expect them
        os.makedirs(self.san_dir, exist_ok=True)
        os.chmod(self.san_dir, 0o1777)
        self.env = self._environment()

    # ----- running commands ---------------------------------------------------------
    def _environment(self):
        env = dict(os.environ)
        # Sanitizer reports go to files we scan, whatever the daemons do with stderr.
        # (LeakSanitizer inside ASan uses ASAN_OPTIONS.)
        for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
            prefix = env.get(var, "")
            env[var] = (prefix + ":" if prefix else "") + \
                "log_path=" + os.path.join(self.san_dir, var.split("_")[0].lower())
        return env

    def run(self, *args, check=True, timeout=30, conf=True):
        """Run the postern command (with -c CONF unless conf=False); returns CompletedProcess.
        stdout/stderr go to files, not pipes: a daemon started by the command may keep
        them open (and whatever it writes there later is scanned for sanitizer reports)."""
        argv = [self.postern_bin] + (["-c", self.conf] if conf else []) + list(args)
        self.cmd_count += 1
        out_path = os.path.join(self.base, "cmd-%03d.out" % self.cmd_count)
        err_path = os.path.join(self.base, "cmd-%03d.err" % self.cmd_count)
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            try:
                rc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    timeout=timeout, env=self.env).returncode
            except subprocess.TimeoutExpired as e:
                raise AssertionError("%s timed out after %ss" % (" ".join(argv), timeout)) from e
        with open(out_path, "rb") as fh:
            stdout = fh.read()
        with open(err_path, "rb") as fh:
            stderr = fh.read()
        with open(self.cmd_log, "ab") as fh:
            fh.write(b"$ " + " ".join(argv).encode() + b"\n" + stdout + stderr +
                     b"[exit %d]\n" % rc)
        p = subprocess.CompletedProcess(argv, rc, stdout, stderr)
        if check and rc != 0:
            raise AssertionError("%s failed (exit %d):\n%s%s" % (
                " ".join(argv), rc, stdout.decode(errors="replace"),
                stderr.decode(errors="replace")))
        return p

    def init(self):
        self.run("init", self.dir, "--port", str(self.port), conf=False)
        assert os.path.isfile(self.main_cf), "postern init did not create " + self.main_cf

    # ----- configuration ------------------------------------------------------------
    def set(self, **params):
        """Append name = value lines to main.cf (before start, or before reload)."""
        with open(self.main_cf, "a") as fh:
            fh.write("\n# added by the test\n")
            for name, value in params.items():
                fh.write("%s = %s\n" % (name, value))

    def param(self, name):
        """Value of a parameter as written in main.cf (last one wins), with $name
        references to other main.cf parameters expanded; None if unset."""
        values = {}
        with open(self.main_cf) as fh:
            cur = None
            for line in fh:
                line = line.rstrip("\n")
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                if line[0] in " \t" and cur:
                    values[cur] += " " + line.strip()
                    continue
                if "=" in line:
                    cur, val = line.split("=", 1)
                    cur = cur.strip()
                    values[cur] = val.strip()
        def expand(v, depth=0):
            if depth > 10:
                return v
            return re.sub(r"\$\{?(\w+)\}?",
                          lambda m: expand(values.get(m.group(1), m.group(0)), depth + 1), v)
        return expand(values[name]) if name in values else None

    # ----- life cycle ---------------------------------------------------------------
    def start(self, wait=True):
        self.run("start")
        self.started = True
        if wait:
            self.wait_for_port()
        self.remember_pids()

    def stop(self):
        return self.run("stop", check=False, timeout=40)

    def reload(self):
        return self.run("reload")

    def wait_for_port(self, timeout=15):
        def ready():
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                    s.settimeout(5)
                    return s.recv(512).startswith(b"220")
            except OSError:
                return False
        assert wait_until(ready, timeout, 0.1), \
            "no 220 banner on 127.0.0.1:%d after %ss\n%s" % (self.port, timeout, self.log_tail())

    def smtp(self, source=None, timeout=30):
        """A connected smtplib client (after EHLO)."""
        s = smtplib.SMTP(timeout=timeout, source_address=(source, 0) if source else None)
        s.connect("127.0.0.1", self.port)
        s.ehlo("client.test")
        return s

    def raw(self, source=None, timeout=15):
        return SmtpRaw(self.port, source=source, timeout=timeout)

    # ----- processes ----------------------------------------------------------------
    def master_pid(self):
        """The master's pid: from a pid file under queue/pid/, else by scanning /proc for a
        process named master whose command line names this instance's conf dir."""
        for f in sorted(glob.glob(os.path.join(self.queue, "pid", "*master*"))):
            try:
                with open(f) as fh:
                    pid = int(fh.read().split()[0])
                if _alive(pid):
                    return pid
            except (OSError, ValueError, IndexError):
                pass
        for pid in _all_pids():
            if _comm(pid) == "master" and self.conf in _cmdline(pid):
                return pid
        return None

    def tree(self):
        """{pid: program} for the master and all its descendants."""
        master = self.master_pid()
        if master is None:
            return {}
        parents = {}
        for pid in _all_pids():
            ppid = _ppid(pid)
            if ppid is not None:
                parents.setdefault(ppid, []).append(pid)
        out, todo = {}, [master]
        while todo and len(out) < 10000:
            pid = todo.pop()
            if pid in out:
                continue
            out[pid] = _comm(pid)
            todo.extend(parents.get(pid, []))
        self.seen_pids.update(out)
        return out

    def pids(self, program):
        """pids of the instance's children running `program` (smtpd, cleanup, qmgr, local)."""
        return sorted(pid for pid, comm in self.tree().items() if comm == program)

    def remember_pids(self):
        self.tree()

    def _stragglers(self):
        """Live processes that belong to this instance (seen in its tree, or with its conf
        dir on their command line)."""
        mine = set(pid for pid in self.seen_pids if _alive(pid) and _belongs(pid, self))
        for pid in _all_pids():
            if self.conf in _cmdline(pid) and pid != os.getpid():
                mine.add(pid)
        return mine

    def shutdown(self):
        """Stop the instance (postern stop), then SIGKILL by PID anything left of it."""
        if self.started:
            self.remember_pids()
            self.stop()
            wait_until(lambda: not self._stragglers(), 10, 0.1)
        left = self._stragglers()
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        return left

    # ----- logs and queue -----------------------------------------------------------
    def log_text(self):
        try:
            with open(self.maillog, "rb") as fh:
                return fh.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_lines(self, pattern):
        rx = re.compile(pattern)
        return [l for l in self.log_text().splitlines() if rx.search(l)]

    def wait_for_log(self, pattern, timeout=10):
        return wait_until(lambda: self.log_lines(pattern), timeout)

    def log_tail(self, n=40):
        return "\n".join(self.log_text().splitlines()[-n:])

    def queue_files(self, queues=QUEUES_THAT_MUST_DRAIN):
        out = []
        for q in queues:
            d = os.path.join(self.queue, q)
            for root, _dirs, files in os.walk(d):
                out.extend(os.path.join(root, f) for f in files)
        return out

    def queue_is_empty(self, queues=QUEUES_THAT_MUST_DRAIN):
        return not self.queue_files(queues)

    def wait_queue_empty(self, timeout=30):
        return wait_until(self.queue_is_empty, timeout, 0.2)

    def problems(self):
        """Crash evidence: panic/fatal lines in the maillog (unless allowed) and sanitizer
        reports in the sanitizer log files, the command log and the maillog."""
        found = []
        log = self.log_text()
        for line in log.splitlines():
            for pat in ("panic:", "fatal:"):
                if pat in line and not any(re.search(a, line) for a in self.allowed_log_patterns):
                    found.append("maillog: " + line)
        texts = [("maillog", log)]
        for f in glob.glob(os.path.join(self.san_dir, "*")) + \
                glob.glob(os.path.join(self.base, "cmd-*")):
            try:
                with open(f, "rb") as fh:
                    texts.append((f, fh.read().decode("utf-8", errors="replace")))
            except OSError:
                pass
        for name, text in texts:
            for pat in SANITIZER_PATTERNS:
                if pat in text:
                    i = text.index(pat)
                    found.append("%s: sanitizer report:\n%s" % (name, text[max(0, i - 200):i + 3000]))
                    break
        return found


# ----- /proc helpers -------------------------------------------------------------------
def _all_pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _read(path):
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return b""


def _comm(pid):
    return _read("/proc/%d/comm" % pid).decode(errors="replace").strip()


def _cmdline(pid):
    return _read("/proc/%d/cmdline" % pid).replace(b"\0", b" ").decode(errors="replace")


def _ppid(pid):
    stat = _read("/proc/%d/stat" % pid).decode(errors="replace")
    try:
        return int(stat.rsplit(")", 1)[1].split()[1])
    except (IndexError, ValueError):
        return None


def _alive(pid):
    stat = _read("/proc/%d/stat" % pid).decode(errors="replace")
    if not stat:
        return False
    try:
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except IndexError:
        return False


def _belongs(pid, inst):
    """Guard against pid reuse: only kill a remembered pid if it still looks like ours."""
    comm = _comm(pid)
    return comm in ("master", "smtpd", "cleanup", "qmgr", "local", "smtp", "pickup", "bounce", "anvil",
                    "postern") or inst.conf in _cmdline(pid)


def make_base_dir():
    """A fresh temp dir, mode 0755 so mail_owner can traverse it when we run as root."""
    base = tempfile.mkdtemp(prefix="postern-it-", dir=os.environ.get("POSTERN_TEST_TMP"))
    os.chmod(base, 0o755)
    return base
