"""bench_proc.py: process-tree CPU accounting and small file-system probes for the
benchmark (tests/bench/compare-postfix).

CPU of an MTA = utime+stime+cutime+cstime summed over its master and every live
descendant, read from /proc/PID/stat. Children that exited and were reaped by their
parent are in that parent's cutime/cstime, so short-lived daemons are counted too.
The difference between two readings is the CPU the whole MTA spent in between."""

import os

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _read_stat(pid):
    """(ppid, ticks) of one process, or None if it vanished or the line is odd."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            line = f.read(4096).decode("ascii", "replace")
    except OSError:
        return None
    close = line.rfind(")")
    if close < 0:
        return None
    fields = line[close + 2:].split()
    # after "pid (comm) ": state ppid ... utime(14) stime(15) cutime(16) cstime(17)
    if len(fields) < 15:
        return None
    try:
        ppid = int(fields[1])
        ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))
    except ValueError:
        return None
    return ppid, ticks


def tree_cpu_ms(root_pid):
    """(CPU milliseconds, process count) of root_pid and all its descendants."""
    children = {}
    ticks = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = _read_stat(name)
        if st is None:
            continue
        pid = int(name)
        ticks[pid] = st[1]
        children.setdefault(st[0], []).append(pid)
    if root_pid not in ticks:
        return None, 0
    total, count, todo, seen = 0, 0, [root_pid], set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += ticks.get(pid, 0)
        count += 1
        todo.extend(children.get(pid, ()))
    return total * 1000.0 / CLOCK_TICKS, count


def pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def read_pid_file(path):
    """First integer in a pid file (Postfix and postern both write one), or None."""
    try:
        with open(path, "rb") as f:
            text = f.read(64).decode("ascii", "replace").split()
        pid = int(text[0]) if text else 0
    except (OSError, ValueError):
        return None
    return pid if pid > 1 else None


def count_files(directory, limit=10_000_000):
    """Number of regular files in directory (0 if it does not exist)."""
    n = 0
    try:
        with os.scandir(directory) as it:
            for entry in it:
                n += 1
                if n >= limit:
                    break
    except FileNotFoundError:
        return 0
    return n


def count_tree_files(directory, max_depth=4):
    """Files below directory, recursively (queue directories may have hashed subdirs)."""
    n = 0
    try:
        with os.scandir(directory) as it:
            for entry in it:
                if entry.is_dir(follow_symlinks=False):
                    if max_depth > 0:
                        n += count_tree_files(entry.path, max_depth - 1)
                else:
                    n += 1
    except FileNotFoundError:
        return 0
    return n


def empty_maildir(maildir):
    """Remove the messages in maildir/{new,cur,tmp}, keep the directories."""
    for sub in ("new", "cur", "tmp"):
        d = os.path.join(maildir, sub)
        try:
            with os.scandir(d) as it:
                for entry in it:
                    if not entry.is_dir(follow_symlinks=False):
                        os.unlink(entry.path)
        except FileNotFoundError:
            pass
