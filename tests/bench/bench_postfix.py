"""bench_postfix.py: a private Postfix instance for the benchmark, in its own directory,
never touching the system instance or /etc/postfix.

Layout under BASE: conf/ (main.cf, master.cf, vmailbox(.db)), queue/, data/,
mail/example.test/demo/ (the Maildir), maillog. Stock settings except what an own
instance needs: own config/queue/data directories, smtpd on 127.0.0.1:PORT only, chroot
off, virtual mailbox domain example.test delivered by virtual(8) into a Maildir owned by
"nobody", log to a file via postlogd (postern also logs to a file). For the relay
workload, setup_relay() sets relay_domains and a hash: transport_maps table built with
postmap (one "dK.test smtp:[127.0.0.1]:PORT_k" line per sink), and for held cells a
header_checks regexp: table that puts messages with the benchmark's hold subject on hold;
release_held() is `postsuper -H ALL` + `postqueue -f`."""

import os
import pwd
import signal
import time

from bench_env import run, say
from bench_proc import count_tree_files, pid_alive, read_pid_file

POSTFIX = "/usr/sbin/postfix"
POSTMAP = "/usr/sbin/postmap"
POSTSUPER = "/usr/sbin/postsuper"
POSTCONF = "/usr/sbin/postconf"
POSTQUEUE = "/usr/sbin/postqueue"

# Debian 3.7 master.cf services that mail flow can touch, all with chroot off.
MASTER_CF = """\
# master.cf of the benchmark's private Postfix instance (tests/bench/bench_postfix.py)
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

MAIN_CF = """\
# main.cf of the benchmark's private Postfix instance (tests/bench/bench_postfix.py)
compatibility_level = 3.6
queue_directory = {base}/queue
data_directory = {base}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = bench-postfix.example.net
mydomain = example.net
myorigin = $myhostname
mydestination =
relay_domains =
alias_maps =
alias_database =
local_recipient_maps =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
biff = no
append_dot_mydomain = no
smtputf8_enable = no
maillog_file = {base}/maillog
maillog_file_prefixes = {base}
virtual_mailbox_domains = example.test
virtual_mailbox_maps = hash:{base}/conf/vmailbox
virtual_mailbox_base = {base}/mail
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
virtual_minimum_uid = 100
"""

QUEUES = ("maildrop", "incoming", "active", "deferred", "hold")


class PostfixInstance:
    name = "Postfix"

    def __init__(self, base, port):
        self.base = base
        self.port = port
        self.conf = os.path.join(base, "conf")
        self.maildir = os.path.join(base, "mail", "example.test", "demo")
        self.maildir_new = os.path.join(self.maildir, "new")
        self.pidfile = os.path.join(base, "queue", "pid", "master.pid")
        self.started = False

    def setup(self):
        nobody = pwd.getpwnam("nobody")
        os.makedirs(self.conf, exist_ok=True)
        os.makedirs(os.path.join(self.base, "mail"), exist_ok=True)
        os.chmod(self.base, 0o755)
        os.makedirs(os.path.join(self.base, "queue"), mode=0o755, exist_ok=True)
        data = os.path.join(self.base, "data")
        os.makedirs(data, mode=0o700, exist_ok=True)
        postfix_user = pwd.getpwnam("postfix")
        os.chown(data, postfix_user.pw_uid, postfix_user.pw_gid)
        os.chown(os.path.join(self.base, "mail"), nobody.pw_uid, nobody.pw_gid)
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write(MAIN_CF.format(base=self.base, uid=nobody.pw_uid, gid=nobody.pw_gid))
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write(MASTER_CF.format(port=self.port))
        with open(os.path.join(self.conf, "vmailbox"), "w") as f:
            f.write("demo@example.test example.test/demo/\n")
        run([POSTMAP, "-c", self.conf, "hash:" + os.path.join(self.conf, "vmailbox")])
        run([POSTFIX, "-c", self.conf, "check"], timeout=120)

    def setup_relay(self, routes, hold_subject=None):
        """routes: [(domain, port)]; call after setup(), before start()."""
        if hold_subject:
            checks = os.path.join(self.conf, "header_checks")
            with open(checks, "w") as f:
                f.write(f"/^Subject: {hold_subject}$/ HOLD\n")
            run([POSTCONF, "-c", self.conf, "-e", f"header_checks = regexp:{checks}"])
        table = os.path.join(self.conf, "transport")
        with open(table, "w") as f:
            f.writelines(f"{dom} smtp:[127.0.0.1]:{port}\n" for dom, port in routes)
        run([POSTMAP, "-c", self.conf, "hash:" + table])
        run([POSTCONF, "-c", self.conf, "-e",
             f"relay_domains = {' '.join(dom for dom, _ in routes)}",
             f"transport_maps = hash:{table}"])
        run([POSTFIX, "-c", self.conf, "check"], timeout=120)

    def settings(self, names):
        """Effective values of some parameters (for the report)."""
        out = run([POSTCONF, "-c", self.conf] + list(names), check=False).stdout
        known = dict(line.split(" = ", 1) for line in out.splitlines() if " = " in line)
        return [(n, known.get(n, "n/a")) for n in names]

    def start(self):
        run([POSTFIX, "-c", self.conf, "start"], timeout=120)
        self.started = True
        if self.master_pid() is None:
            raise RuntimeError(f"Postfix did not write {self.pidfile}")

    def master_pid(self):
        pid = read_pid_file(self.pidfile)
        return pid if pid and pid_alive(pid) else None

    def queue_count(self):
        return sum(count_tree_files(os.path.join(self.base, "queue", q)) for q in QUEUES)

    def held_count(self):
        return count_tree_files(os.path.join(self.base, "queue", "hold"))

    def release_held(self):
        run([POSTSUPER, "-c", self.conf, "-H", "ALL"], timeout=120, quiet=True)
        run([POSTQUEUE, "-c", self.conf, "-f"], timeout=120)

    def purge_queue(self):
        run([POSTSUPER, "-c", self.conf, "-d", "ALL"], check=False, quiet=True)

    def stop(self):
        """postfix stop, then (only if that failed) SIGTERM/SIGKILL to our own master."""
        if not self.started:
            return
        pid = self.master_pid()
        try:
            run([POSTFIX, "-c", self.conf, "stop"], timeout=60, check=False)
        except RuntimeError as e:
            say(str(e))
        deadline = time.monotonic() + 20
        while pid and pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if pid and pid_alive(pid):
            say(f"Postfix master {pid} still running after stop: SIGKILL")
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.started = False
