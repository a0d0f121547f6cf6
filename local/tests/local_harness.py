"""local_harness.py: drive the local delivery agent without master or qmgr.

Builds a throw-away instance (main.cf + queue directory), writes queue files with the
record format of lib/record.h / lib/qfile.h, starts local/local the way master does
(listening socket on fd 3, status pipe on fd 4) and sends one delivery request
(docs/PROTOCOLS.md section 3). Used by test_local.py."""
import fcntl
import os
import socket
import subprocess
import time

# Berkeley DB keeps its handle memory until exit (dict_get caches tables per process)
LSAN_SUPP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lsan.supp")
B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def b62(n, width=0):
    out = ""
    while n:
        out = B62[n % 62] + out
        n //= 62
    return out.rjust(width, "0") if width else (out or "0")


_counter = [0]


def new_queue_id():
    _counter[0] += 1
    now = time.time()
    return b62(int(now), 6) + b62(int((now % 1) * 1e6), 4) + b62(100000 + _counter[0])


def rec(rtype, data):
    if isinstance(data, str):
        data = data.encode()
    n, hdr = len(data), b""
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            hdr += bytes([byte | 0x80])
        else:
            hdr += bytes([byte])
            break
    return rtype.encode() + hdr + data


def write_queue_file(qdir, sender, rcpts, lines, arrival=None, qid=None, done=()):
    """rcpts: list of address or (address, orig). lines: content lines (bytes or str)
    without terminators. Returns (qid, [offset of each R record])."""
    qid = qid or new_queue_id()
    arrival = arrival if arrival is not None else time.time() - 1.5
    lines = [l.encode() if isinstance(l, str) else l for l in lines]
    size = sum(len(l) + 1 for l in lines)
    head = rec("V", "postern-queue-1")
    csize_pos = len(head)
    head += rec("C", b"0" * 38)
    head += rec("T", "%d.%06d" % (int(arrival), int((arrival % 1) * 1e6)))
    head += rec("F", sender)
    offsets = []
    for i, r in enumerate(rcpts):
        addr, orig = (r, None) if isinstance(r, str) else r
        if orig:
            head += rec("O", orig)
        offsets.append(len(head))
        head += rec("D" if i in done else "R", addr)
    content_offset = len(head)
    body = rec("M", b"")
    for l in lines:
        body += rec("N", l)
    body += rec("X", b"") + rec("E", b"")
    csize = ("%15d %15d %6d" % (content_offset, size, len(rcpts))).encode()
    data = head[:csize_pos] + rec("C", csize) + head[csize_pos + 2 + 38:] + body
    path = os.path.join(qdir, "active", qid)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o700)
    return qid, offsets


def attr_escape(value):
    if isinstance(value, str):
        value = value.encode()
    out = bytearray()
    for c in value:
        if (0x21 <= c <= 0x7E and c != 0x25) or c == 0x20:
            out.append(c)
        else:
            out += b"%%%02X" % c
    return bytes(out)


def attr_encode(items):
    return b"".join(n.encode() + b"=" + attr_escape(v) + b"\n" for n, v in items) + b"\n"


def attr_decode(data):
    out = {}
    for line in data.split(b"\n"):
        if not line:
            continue
        name, _, v = line.partition(b"=")
        raw, i = bytearray(), 0
        while i < len(v):
            if v[i] == 0x25:
                raw.append(int(v[i + 1:i + 3], 16))
                i += 3
            else:
                raw.append(v[i])
                i += 1
        out[name.decode()] = raw.decode("utf-8", "replace")
    return out


def read_list(sock, deadline):
    buf = b""
    while not buf.endswith(b"\n\n") and buf != b"\n":
        sock.settimeout(max(0.1, deadline - time.time()))
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buf += chunk
    return attr_decode(buf)


class Instance:
    def __init__(self, root, local_bin, main_cf):
        self.root = root
        self.local_bin = local_bin
        self.conf = os.path.join(root, "conf")
        self.qdir = os.path.join(root, "queue")
        self.log = os.path.join(root, "maillog")
        self.preexec = None
        for d in (self.conf, self.qdir, os.path.join(self.qdir, "active"),
                  os.path.join(self.qdir, "private")):
            os.makedirs(d, exist_ok=True)
        self.write_main_cf(main_cf)

    def write_main_cf(self, extra):
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write("queue_directory = %s\nmaillog_file = %s\n%s" % (self.qdir, self.log, extra))

    def log_lines(self):
        try:
            with open(self.log) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def request(self, sender, rcpts, lines, extra_attrs=None, mangle=None, qid=None,
                preexec=None, timeout=30, done=()):
        """Write a queue file, start local, send the request; returns (reply, qid)."""
        qid, offsets = write_queue_file(self.qdir, sender, rcpts, lines, qid=qid, done=done)
        items = [("queue_name", "active"), ("queue_id", qid), ("sender", sender),
                 ("nexthop", "local"), ("arrival", str(int(time.time()) - 1)),
                 ("rcpt_count", str(len(rcpts)))]
        for i, r in enumerate(rcpts):
            addr, orig = (r, None) if isinstance(r, str) else r
            items.append(("rcpt_%d" % i, addr))
            if orig:
                items.append(("rcpt_%d_orig" % i, orig))
            items.append(("rcpt_%d_offset" % i, str(offsets[i])))
        items += extra_attrs or []
        if mangle:
            items = mangle(items)
        return self.raw_request(attr_encode(items), preexec=preexec, timeout=timeout), qid

    def start_service(self, name, binary):
        """Start binary as master would for unix service private/NAME. Returns
        (Popen, status pipe read end); closing that end tells the child master is gone."""
        path = os.path.join(self.qdir, "private", name)
        if os.path.exists(path):
            os.unlink(path)
        lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        lsock.bind(path)
        lsock.listen(5)
        os.chmod(path, 0o777)
        rfd, wfd0 = os.pipe()
        lfd = fcntl.fcntl(lsock.fileno(), fcntl.F_DUPFD_CLOEXEC, 10)   # clear of 3 and 4
        wfd = fcntl.fcntl(wfd0, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(wfd0)
        # master's layout: listening socket on fd 3, status pipe on fd 4 (bash moves them)
        shell = 'exec "$0" "$@" 3<&%d 4>&%d %d<&- %d>&-' % (lfd, wfd, lfd, wfd)
        proc = subprocess.Popen(["/bin/bash", "-c", shell, binary, "-c", self.conf,
                                 "-n", name, "-t", "unix"],
                                pass_fds=(lfd, wfd), preexec_fn=self.preexec,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                env=dict(os.environ, LSAN_OPTIONS="suppressions=" + LSAN_SUPP))
        os.close(wfd)
        os.close(lfd)
        lsock.close()
        return proc, rfd

    @staticmethod
    def stop_service(proc, rfd):
        os.close(rfd)                  # master gone: the idle child exits
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        err = proc.stderr.read().decode("utf-8", "replace")
        proc.stderr.close()
        return err

    def raw_request(self, payload, preexec=None, timeout=30):
        path = os.path.join(self.qdir, "private", "local")
        self.preexec = preexec
        proc, rfd = self.start_service("local", self.local_bin)
        self.preexec = None
        reply = None
        try:
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.connect(path)
            deadline = time.time() + timeout
            proto = read_list(c, deadline)
            assert proto == {"protocol": "delivery"}, proto
            c.sendall(payload)
            reply = read_list(c, deadline)
            c.close()
        finally:
            self.last_stderr = self.stop_service(proc, rfd)
        for bad in ("Sanitizer", "runtime error:", "panic:", "fatal:"):
            assert bad not in self.last_stderr, self.last_stderr
        return reply
