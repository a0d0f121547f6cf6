"""bench_postern.py: build postern (plain -O2 build in its own build directory) and run a
private instance made by `postern init DIR --port N` for the benchmark.

The instance is exactly what init creates: virtual domain example.test, mailbox
demo@example.test -> DIR/mail/example.test/demo/ (Maildir), smtpd on 127.0.0.1:N,
log in DIR/maillog. Started and stopped with `postern -c DIR/conf start|stop`.
For the relay workload, setup_relay() adds relay_domains and a hash: transport_maps table
built with `postern map build` (one "dK.test smtp:[127.0.0.1]:PORT_k" line per sink),
and for held cells a header_checks regexp: table that puts messages with the benchmark's
hold subject on hold; release_held() is `postern queue release ALL` + `queue flush`."""

import os
import signal
import time

from bench_env import run, say
from bench_proc import count_tree_files, pid_alive, read_pid_file

PROGRAMS = ("master/master", "cmd/postern")     # the rest: whatever master.cf names
QUEUES = ("incoming", "active", "deferred", "hold")
# Postfix does no SPF/DKIM/DMARC out of the box (and DNS beyond loopback is unreachable
# here), so by default the benchmark switches postern's mail authentication off too.
MAIL_AUTH_OFF = {"smtpd_spf_checks": "no", "dkim_verify": "no", "dmarc_enable": "no"}


def build_postern(srcdir, builddir):
    """Configure (once) and make the daemons and the postern command in builddir."""
    os.makedirs(builddir, exist_ok=True)
    if not os.path.exists(os.path.join(srcdir, "configure")):
        say(f"{srcdir}/configure missing: running ./bootstrap")
        run(["sh", "-c", f"cd '{srcdir}' && ./bootstrap"], timeout=300)
    if not os.path.exists(os.path.join(builddir, "config.status")):
        say(f"configuring postern in {builddir} (CFLAGS=-O2)")
        run(["sh", "-c", f"cd '{builddir}' && '{srcdir}/configure' -q CFLAGS='-O2 -g'"],
            timeout=600)
    say(f"building postern in {builddir}")
    jobs = str(max(1, len(os.sched_getaffinity(0))))
    run(["make", "-C", builddir, "-j", jobs, "-s", "all"], timeout=900)


def check_build(builddir):
    missing = [p for p in PROGRAMS if not os.access(os.path.join(builddir, p), os.X_OK)]
    if missing:
        raise RuntimeError(f"postern build {builddir} lacks: {', '.join(missing)}")


class PosternInstance:
    name = "postern"

    def __init__(self, builddir, base, port, mail_auth=False):
        self.builddir = builddir
        self.mail_auth = mail_auth
        self.postern = os.path.join(builddir, "cmd", "postern")
        self.base = base
        self.port = port
        self.conf = os.path.join(base, "conf")
        self.maildir = os.path.join(base, "mail", "example.test", "demo")
        self.maildir_new = os.path.join(self.maildir, "new")
        self.pidfile = os.path.join(base, "queue", "pid", "master.pid")
        self.started = False

    def setup(self):
        run([self.postern, "init", self.base, "--port", str(self.port)], timeout=60)
        self._check_daemons()
        if not self.mail_auth:
            known = run([self.postern, "-c", self.conf, "config"], timeout=60).stdout
            names = {line.split(" = ", 1)[0] for line in known.splitlines()}
            extra = [f"{k} = {v}\n" for k, v in MAIL_AUTH_OFF.items() if k in names]
            with open(os.path.join(self.conf, "main.cf"), "a") as f:
                f.write("# compare-postfix: no SPF/DKIM/DMARC, like stock Postfix\n")
                f.writelines(extra)
        run([self.postern, "-c", self.conf, "check"], timeout=60)

    def setup_relay(self, routes, hold_subject=None):
        """routes: [(domain, port)]; call after setup(), before start()."""
        if hold_subject:
            checks = os.path.join(self.conf, "header_checks")
            with open(checks, "w") as f:
                f.write(f"/^Subject: {hold_subject}$/ HOLD\n")
            with open(os.path.join(self.conf, "main.cf"), "a") as f:
                f.write(f"header_checks = regexp:{checks}\n")
        table = os.path.join(self.conf, "transport")
        with open(table, "w") as f:
            f.writelines(f"{dom} smtp:[127.0.0.1]:{port}\n" for dom, port in routes)
        run([self.postern, "-c", self.conf, "map", "build", "hash:" + table], timeout=60)
        with open(os.path.join(self.conf, "main.cf"), "a") as f:
            f.write("# compare-postfix --workload relay: each domain to its own sink\n"
                    f"relay_domains = {' '.join(dom for dom, _ in routes)}\n"
                    f"transport_maps = hash:{table}\n")
        run([self.postern, "-c", self.conf, "check"], timeout=60)

    def settings(self, names):
        """Effective values of some parameters (for the report)."""
        out = run([self.postern, "-c", self.conf, "config"], timeout=60).stdout
        known = dict(line.split(" = ", 1) for line in out.splitlines() if " = " in line)
        return [(n, known.get(n, "n/a")) for n in names]

    def _check_daemons(self):
        """Every daemon that init's master.cf names must exist in the build."""
        missing = []
        with open(os.path.join(self.conf, "master.cf")) as f:
            for line in f:
                fields = line.split()
                if len(fields) < 8 or line[0] in "# \t":
                    continue
                cmd = fields[7]
                path = cmd if cmd.startswith("/") else os.path.join(self.builddir, cmd, cmd)
                if not os.access(path, os.X_OK):
                    missing.append(path)
        if missing:
            raise RuntimeError("postern build lacks daemons named in master.cf: "
                               + ", ".join(missing))

    def start(self):
        run([self.postern, "-c", self.conf, "start"], timeout=60)
        self.started = True
        if self.master_pid() is None:
            raise RuntimeError(f"postern did not write {self.pidfile}")

    def master_pid(self):
        pid = read_pid_file(self.pidfile)
        return pid if pid and pid_alive(pid) else None

    def queue_count(self):
        return sum(count_tree_files(os.path.join(self.base, "queue", q)) for q in QUEUES)

    def held_count(self):
        return count_tree_files(os.path.join(self.base, "queue", "hold"))

    def release_held(self):
        run([self.postern, "-c", self.conf, "queue", "release", "ALL"], timeout=120)
        run([self.postern, "-c", self.conf, "queue", "flush"], timeout=120)

    def purge_queue(self):
        """Only between cells after a failed round: delete queue files by hand."""
        for q in QUEUES:
            d = os.path.join(self.base, "queue", q)
            try:
                for name in os.listdir(d):
                    os.unlink(os.path.join(d, name))
            except OSError:
                pass

    def stop(self):
        """postern stop, then (only if that failed) SIGKILL to our own master."""
        if not self.started:
            return
        pid = self.master_pid()
        try:
            run([self.postern, "-c", self.conf, "stop"], timeout=60, check=False)
        except RuntimeError as e:
            say(str(e))
        deadline = time.monotonic() + 20
        while pid and pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if pid and pid_alive(pid):
            say(f"postern master {pid} still running after stop: SIGKILL")
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.started = False
