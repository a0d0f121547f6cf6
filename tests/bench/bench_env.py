"""bench_env.py: what the benchmark needs from the machine: root, Debian's postfix
package (daemons + smtp-source) installed without starting the system service, free
loopback ports, and a description of the machine for the report."""

import os
import platform
import random
import shutil
import socket
import subprocess
import sys

POLICY_RC_D = "/usr/sbin/policy-rc.d"
POSTFIX_TOOLS = ("/usr/sbin/postfix", "/usr/sbin/postconf", "/usr/sbin/postmap",
                 "/usr/sbin/smtp-source")


def say(msg):
    print(f"compare-postfix: {msg}", file=sys.stderr, flush=True)


def require_root():
    if os.geteuid() != 0:
        say("must run as root: a Postfix instance needs root to own its queue "
            "(postfix/postdrop ownership) and to switch to the mail owner")
        sys.exit(2)


def run(argv, timeout=120, check=True, env=None, quiet=False):
    """Run a command with a time bound; returns CompletedProcess (text)."""
    try:
        cp = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{' '.join(argv)}: did not finish within {timeout} s")
    if check and cp.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {cp.returncode}:\n{cp.stdout.strip()}")
    if not quiet and cp.stdout.strip() and cp.returncode != 0:
        say(cp.stdout.strip())
    return cp


def postfix_installed():
    return all(os.access(p, os.X_OK) for p in POSTFIX_TOOLS)


def ensure_postfix():
    """Install Debian's postfix when missing: debconf "No configuration", and a
    policy-rc.d that forbids service starts (removed afterwards only if we made it)."""
    if postfix_installed():
        return
    say("installing Debian's postfix package (no configuration, service not started)")
    made_policy = False
    if not os.path.exists(POLICY_RC_D):
        with open(POLICY_RC_D, "w") as f:
            f.write("#!/bin/sh\n# temporary: written by tests/bench/compare-postfix\nexit 101\n")
        os.chmod(POLICY_RC_D, 0o755)
        made_policy = True
    try:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["debconf-set-selections"], input=(
            "postfix postfix/main_mailer_type select No configuration\n"),
            text=True, check=True, timeout=60)
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends",
                   "-o", "Dpkg::Options::=--force-confold", "postfix"]
        cp = run(install, timeout=600, check=False, env=env, quiet=True)
        if cp.returncode != 0:
            run(["apt-get", "update", "-q"], timeout=600, env=env, quiet=True)
            run(install, timeout=600, env=env, quiet=True)
    finally:
        if made_policy:
            os.unlink(POLICY_RC_D)
    if not postfix_installed():
        raise RuntimeError("postfix installed but " + ", ".join(POSTFIX_TOOLS) + " not all present")


_port_random = random.SystemRandom()


def free_port():
    """An unused TCP port on 127.0.0.1 (bound and released), chosen at random in
    10000-19999: below the kernel's ephemeral range (so the thousands of outgoing
    connections of a round cannot take a sink's port while it restarts between rounds)
    and below the 20000-31999 the integration tests pick from."""
    for _ in range(500):
        port = _port_random.randrange(10000, 20000)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free TCP port on 127.0.0.1 between 10000 and 19999")


def _fs_of(path):
    """(mount point, fs type, options) of the mount holding path, from /proc/mounts."""
    path = os.path.realpath(path)
    best = ("?", "?", "?")
    try:
        with open("/proc/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) < 4:
                    continue
                mnt = parts[1].replace("\\040", " ")
                if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and \
                        len(mnt) >= len(best[0] if best[0] != "?" else ""):
                    best = (mnt, parts[2], parts[3])
    except OSError:
        pass
    return best


def load_average():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def machine_description(tmpdir):
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            mem = f"{kb / 1048576:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    mnt, fstype, opts = _fs_of(tmpdir)
    postfix_version = "?"
    if shutil.which("postconf") or os.path.exists("/usr/sbin/postconf"):
        cp = run(["/usr/sbin/postconf", "-d", "-h", "mail_version"], check=False, quiet=True)
        if cp.returncode == 0:
            postfix_version = cp.stdout.strip().splitlines()[-1]
    return [
        ("CPUs (nproc)", str(len(os.sched_getaffinity(0)))),
        ("CPU model", model),
        ("memory", mem),
        ("kernel", platform.release()),
        ("temp dir file system", f"{fstype} on {mnt} ({opts})"),
        ("Postfix", postfix_version),
    ]
