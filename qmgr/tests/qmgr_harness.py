"""qmgr_harness.py: runs the real qmgr binary against a scratch queue directory, the way
master would (listening socket on fd 3, status pipe on fd 4), with a fake delivery agent
on QDIR/private/local that speaks docs/PROTOCOLS.md section 3.

The fake agent decides per recipient from its local part:
  sent*      -> sent 2.0.0          defer*  -> deferred 4.2.0    bounce* -> bounced 5.1.1
  crash*     -> close without reply garbage* -> reply with a wrong rcpt_count
  slow<ms>*  -> wait <ms> then sent   hang* -> never answer
  badstatus, baddsnclass, ... (BAD_REPLIES below) -> one kind of malformed reply
It checks every request (offset points at an 'R' record in active/ID naming the address)
and records requests and its peak concurrency for the tests. Setting agent.protocol makes
it announce another protocol name.
"""
import fcntl
import os
import re
import socket
import subprocess
import threading
import time

BUILD = os.environ.get("QMGR_BUILD", "/tmp/b-qmgr")
QMGR = os.path.join(BUILD, "qmgr/qmgr")
MKQFILE = os.environ.get("MKQFILE", os.path.join(BUILD, "qmgr/tests/mkqfile"))

QUEUES = ["incoming", "active", "deferred", "hold", "corrupt", "bounce", "defer",
          "private", "public", "pid"]


def attr_encode(pairs):
    out = bytearray()
    for name, value in pairs:
        out += name.encode() + b"="
        for b in str(value).encode():
            if 0x21 <= b <= 0x7e and b != 0x25:
                out.append(b)
            else:
                out += b"%%%02X" % b
        out += b"\n"
    return bytes(out + b"\n")


def attr_decode_value(v):
    return re.sub(rb"%([0-9A-F]{2})", lambda m: bytes([int(m.group(1), 16)]), v).decode()


# Malformed replies, chosen by the first recipient's local part (see test_qmgr.py).
BAD_REPLIES = {
    "badstatus": lambda r: attr_encode([r[0], ("rcpt_0_status", "maybe")] + r[2:]),
    "baddsnclass": lambda r: attr_encode([r[0], r[1], ("rcpt_0_dsn", "5.0.0")] + r[3:]),
    "baddsnsyntax": lambda r: attr_encode([r[0], r[1], ("rcpt_0_dsn", "2.0.x")] + r[3:]),
    "missingdsn": lambda r: attr_encode([r[0], r[1], r[3]]),
    "extraattr": lambda r: attr_encode(r + [("surprise", "1")]),
    "badindex": lambda r: attr_encode([r[0]] + [("rcpt_1" + k[6:], v) for k, v in r[1:]]),
    "dupattr": lambda r: attr_encode(r) [:-1] + b"rcpt_count=1\n\n",
    "badescape": lambda r: b"rcpt_count=%G1\n\n",
    "badname": lambda r: b"RCPT=1\n\n",
    "noequals": lambda r: b"rcpt_count\n\n",
    "huge": lambda r: b"rcpt_0_reason=" + b"x" * (20 * 1024 * 1024),
    "partial": lambda r: attr_encode(r)[:-5],
}


class FakeAgent:
    def __init__(self, qdir, service="local"):
        self.qdir = qdir
        self.path = os.path.join(qdir, "private", service)
        self.requests = []
        self.errors = []
        self.active = 0
        self.peak = 0
        self.lock = threading.Lock()
        self.stopping = False
        self.protocol = "delivery"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if os.path.exists(self.path):
            os.unlink(self.path)
        self.sock.bind(self.path)
        self.sock.listen(128)
        self.sock.settimeout(0.2)
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def stop(self):
        self.stopping = True
        self.thread.join(5)
        self.sock.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def run(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def check_offset(self, qid, addr, off):
        try:
            with open(os.path.join(self.qdir, "active", qid), "rb") as f:
                f.seek(off)
                rec = f.read(1 + 4 + len(addr.encode()))
        except OSError as e:
            return "open: %s" % e
        if rec[:1] != b"R":
            return "offset %d is not an R record (%r)" % (off, rec[:1])
        if addr.encode() not in rec:
            return "R record at %d does not name %s" % (off, addr)
        return None

    def serve(self, conn):
        """One agent connection: the greeting, then requests one after the other until
        qmgr closes it (docs/PROTOCOLS.md section 3: qmgr may send a destination's next
        request over the same connection)."""
        try:
            conn.settimeout(30)
            f = conn.makefile("rb")
            conn.sendall(attr_encode([("protocol", self.protocol)]))
            while self.serve_one(conn, f):
                pass
        except (ConnectionResetError, BrokenPipeError):
            pass                            # qmgr went away meanwhile (tests kill it)
        except Exception as e:  # noqa: BLE001 - recorded for the test to see
            self.errors.append(repr(e))
        finally:
            conn.close()

    def serve_one(self, conn, f):
        """Read and answer one request; False when the connection is to be closed."""
        buf = []
        while True:
            line = f.readline()
            if not line:
                return False
            if line == b"\n":
                break
            buf.append(line.rstrip(b"\n"))
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        state = {"counted": True}
        try:
            return self.answer(conn, buf, state)
        finally:
            if state["counted"]:
                with self.lock:
                    self.active -= 1

    def answer(self, conn, buf, state):
        first = None
        req = {}
        for l in buf:
            n, _, v = l.partition(b"=")
            req[n.decode()] = attr_decode_value(v)
        with self.lock:
            self.requests.append(req)
        n = int(req["rcpt_count"])
        reply = [("rcpt_count", n)]
        for i in range(n):
            addr = req["rcpt_%d" % i]
            err = self.check_offset(req["queue_id"], addr, int(req["rcpt_%d_offset" % i]))
            if err:
                self.errors.append(err)
            local = addr.split("@")[0]
            first = first or local
            if local.startswith("defer"):
                reply += [("rcpt_%d_status" % i, "deferred"), ("rcpt_%d_dsn" % i, "4.2.0"),
                          ("rcpt_%d_reason" % i, "fake agent says later")]
            elif local.startswith("bounce"):
                reply += [("rcpt_%d_status" % i, "bounced"), ("rcpt_%d_dsn" % i, "5.1.1"),
                          ("rcpt_%d_reason" % i, "fake agent says no such user")]
            else:
                reply += [("rcpt_%d_status" % i, "sent"), ("rcpt_%d_dsn" % i, "2.0.0"),
                          ("rcpt_%d_reason" % i, "delivered to fake mailbox")]
        if first.startswith("crash"):
            return False
        if first.startswith("hang"):
            time.sleep(60)
            return False
        m = re.match(r"slow(\d+)", first)
        if m:
            time.sleep(int(m.group(1)) / 1000.0)
        if first.startswith("garbage"):
            reply[0] = ("rcpt_count", n + 1)
        bad = BAD_REPLIES.get(first)
        if bad:
            try:
                conn.sendall(bad(reply))
            except OSError:
                pass                        # qmgr hung up on the bad reply: fine
            return False
        # stop counting before the reply: qmgr may send or connect again at once
        with self.lock:
            self.active -= 1
        state["counted"] = False
        conn.sendall(attr_encode(reply))
        return True


class FakeBounce:
    """A fake bounce service on QDIR/private/bounce (man/bounce.8): greets with
    protocol=bounce, records each request and the bounce log it names, and answers
    status=0 queue_id=NOTIFY1 (or `reply`, a list of pairs)."""

    def __init__(self, qdir):
        self.qdir = qdir
        self.path = os.path.join(qdir, "private", "bounce")
        self.requests = []
        self.logs = []
        self.reply = [("status", "0"), ("queue_id", "NOTIFY1")]
        self.stopping = False
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def stop(self):
        self.stopping = True
        self.thread.join(5)
        self.sock.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def run(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(10)
                conn.sendall(attr_encode([("protocol", "bounce")]))
                f = conn.makefile("rb")
                req = {}
                while True:
                    line = f.readline()
                    if not line or line == b"\n":
                        break
                    n, _, v = line.rstrip(b"\n").partition(b"=")
                    req[n.decode()] = attr_decode_value(v)
                self.requests.append(req)
                try:
                    with open(os.path.join(self.qdir, "bounce", req.get("queue_id", "x")),
                              "rb") as fh:
                        self.logs.append(fh.read())
                except OSError as e:
                    self.logs.append(str(e).encode())
                conn.sendall(attr_encode(self.reply))


class Instance:
    """A scratch queue + config directory and a qmgr process."""

    def __init__(self, tmp, main_cf="", master_cf=None):
        self.root = str(tmp)
        self.qdir = os.path.join(self.root, "queue")
        self.conf = os.path.join(self.root, "conf")
        self.log = os.path.join(self.root, "maillog")
        for q in QUEUES:
            os.makedirs(os.path.join(self.qdir, q), exist_ok=True)
        os.makedirs(self.conf, exist_ok=True)
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write("queue_directory = %s\nmaillog_file = %s\n" % (self.qdir, self.log))
            f.write("myhostname = mx.example.test\nmydestination = localhost, example.test\n")
            f.write("queue_run_delay = 1s\nminimal_backoff_time = 2s\n"
                    "maximal_backoff_time = 4s\n")
            f.write(main_cf)
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write(master_cf if master_cf is not None else
                    "qmgr unix n - n 300 1 qmgr\nlocal unix - n n - - local\n")
        self.procs = []

    def start_qmgr(self, extra=()):
        lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        path = os.path.join(self.qdir, "private", "qmgr")
        if os.path.exists(path):
            os.unlink(path)
        lsock.bind(path)
        lsock.listen(100)
        rfd, wfd = os.pipe()
        lfd = lsock.fileno()

        def child():
            # fd 3 = listener, fd 4 = status pipe write end (as master does)
            a = fcntl.fcntl(lfd, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(wfd, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)
        # close_fds=False: Python's own descriptors are close-on-exec anyway, and
        # close_fds would run after preexec_fn and close 3 and 4 again.
        p = subprocess.Popen([QMGR, "-c", self.conf, "-n", "qmgr", "-t", "unix"] + list(extra),
                             preexec_fn=child, close_fds=False, stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(self.root, "qmgr.stderr"), "ab"))
        os.close(wfd)
        p.status_rfd = rfd
        p.lsock = lsock
        self.procs.append(p)
        return p

    def master_gone(self, p):
        """Close the status pipe's read end: what happens when master dies."""
        os.close(p.status_rfd)
        p.status_rfd = None

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            if p.status_rfd is not None:
                os.close(p.status_rfd)
            p.lsock.close()

    def submit(self, sender, *rcpts, ago=0, ready=True, queue="incoming"):
        args = [MKQFILE, self.qdir]
        if ago:
            args += ["-a", str(ago)]
        if not ready:
            args += ["-n"]
        args += ["-q", queue, sender] + list(rcpts)
        return subprocess.check_output(args).decode().strip()

    def wakeup(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(os.path.join(self.qdir, "private", "qmgr"))
        s.sendall(b"request=wakeup\n\n")
        s.close()

    def logtext(self):
        try:
            with open(self.log) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern, timeout=10, count=1):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if len(re.findall(pattern, self.logtext())) >= count:
                return True
            time.sleep(0.05)
        return False

    def files(self, queue):
        return sorted(os.listdir(os.path.join(self.qdir, queue)))
