"""test_alias_targets.py: "|command" and "/file" alias targets of the local delivery agent.

A real instance gets an aliases table (built with `postern map build -a`) whose entries
pipe mail into a small shell script or append it to a file or Maildir; mail is sent over
SMTP to ALIAS@$myhostname. Covered: the bytes the command reads on stdin, its
environment and uid (as root: $default_privs for a root-owned table, the table owner
otherwise; as an ordinary user: ourselves), exit 75 (deferred, delivered once the script
is fixed), exit 67 (bounced with the script's output in log and DSN), the time limit, mbox
and Maildir file targets, and allow_mail_to_commands / allow_mail_to_files = (empty).
Runs as root and as an ordinary user; only the table-owner test needs root."""
import os
import pwd
import re
import stat

import pytest

from harness import DEMO, crlf_to_lf, read_delivered, split_delivered, wait_for_maildir, \
    wait_until
from messages import message

IS_ROOT = os.getuid() == 0
HOST = "mail.example.test"          # $myhostname of `postern init`: a LOCAL domain

SCRIPT = """#!/bin/sh
# test command: stdin -> $OUT/msg.N, environment and uid -> $OUT/env.N
n=$(ls "$OUT" | grep -c '^msg\\.' || true)
cat > "$OUT/msg.$n"
{ env; echo "UID=$(id -u)"; echo "CWD=$(pwd)"; } > "$OUT/env.$n"
if [ -e "$OUT/fail" ]; then echo "temporary trouble"; exit 75; fi
exit 0
"""


def setup_aliases(inst, entries, owner=None):
    """Write the aliases source (entries: name -> target list) and build it; a world-
    writable output directory for the commands and files. Returns that directory."""
    out = os.path.join(inst.base, "out")
    os.makedirs(out, exist_ok=True)
    os.chmod(out, 0o1777)
    src = os.path.join(inst.conf, "aliases")
    with open(src, "w") as fh:
        fh.write("postmaster: %s\n" % DEMO)
        for name, target in entries.items():
            fh.write("%s: %s\n" % (name, target.replace("@OUT@", out)))
    inst.run("map", "build", "-a", "hash:" + src)
    if owner is not None:
        os.chown(src + ".db", owner.pw_uid, owner.pw_gid)
    return out


def make_script(inst, name, body):
    path = os.path.join(inst.base, name)
    with open(path, "w") as fh:
        fh.write(body)
    os.chmod(path, 0o755)
    return path


def send(inst, rcpt, sender=DEMO):
    msg, marker = message(to=rcpt, sender=sender)
    s = inst.smtp()
    assert s.sendmail(sender, [rcpt], msg) == {}
    s.quit()
    return msg


def read_env(path):
    env = {}
    with open(path) as fh:
        for line in fh:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                env[k] = v
    return env


def wait_file(path, timeout=20):
    return wait_until(lambda: os.path.exists(path) and os.path.getsize(path) > 0, timeout)


def expect_log(inst, pattern, timeout=20):
    lines = inst.wait_for_log(pattern, timeout)
    assert lines, "no log line matching %r:\n%s" % (pattern, inst.log_tail())
    return lines


def command_env(inst, rcpt_local, owner=None):
    script = make_script(inst, "cmd.sh", SCRIPT)
    out = setup_aliases(inst, {rcpt_local: '"|env OUT=@OUT@ %s"' % script}, owner)
    inst.start()
    rcpt = "%s@%s" % (rcpt_local, HOST)
    msg = send(inst, rcpt)
    assert wait_file(os.path.join(out, "env.0")), inst.log_tail()
    expect_log(inst, r"to=<%s>.*relay=local.*status=sent \(delivered to command: env OUT="
               % re.escape(rcpt))
    return out, msg, rcpt


def test_command_gets_message_and_environment(instance):
    out, msg, rcpt = command_env(instance, "pipe")
    with open(os.path.join(out, "msg.0"), "rb") as fh:
        data = fh.read()
    blocks, rest = split_delivered(data)
    assert blocks[0] == ("Return-Path: <%s>" % DEMO).encode()
    assert blocks[1] == ("Delivered-To: %s" % rcpt).encode()
    assert rest == crlf_to_lf(msg)
    env = read_env(os.path.join(out, "env.0"))
    assert env["SENDER"] == DEMO
    assert env["RECIPIENT"] == rcpt
    assert env["LOCAL"] == "pipe" and env["DOMAIN"] == HOST
    assert env["ORIGINAL_RECIPIENT"] == rcpt
    assert re.match(r"^[0-9A-Za-z]+$", env["QUEUE_ID"]), env
    assert env["PATH"] == "/usr/bin:/bin" and env["SHELL"] == "/bin/sh"
    for name in ("HOME", "LOGNAME", "USER"):
        assert name in env, env
    assert not any(k.startswith(("POSTERN", "ASAN", "MAIL_CONFIG")) for k in env), env
    if IS_ROOT:      # a root-owned table: $default_privs (nobody)
        assert int(env["UID"]) == pwd.getpwnam("nobody").pw_uid, env
    else:
        assert int(env["UID"]) == os.getuid(), env
    instance.wait_queue_empty()


@pytest.mark.skipif(not IS_ROOT, reason="needs root to own the table as another user")
def test_command_runs_as_table_owner(instance):
    owner = pwd.getpwnam("daemon")
    out, _, _ = command_env(instance, "owned", owner)
    env = read_env(os.path.join(out, "env.0"))
    assert int(env["UID"]) == owner.pw_uid, env


def test_tempfail_defers_then_delivers(instance):
    instance.set(minimal_backoff_time="1s", maximal_backoff_time="2s", queue_run_delay="1s")
    script = make_script(instance, "cmd.sh", SCRIPT)
    out = setup_aliases(instance, {"flaky": '"|env OUT=@OUT@ %s"' % script})
    open(os.path.join(out, "fail"), "w").close()
    instance.start()
    rcpt = "flaky@" + HOST
    send(instance, rcpt)
    expect_log(instance, r"to=<%s>.*status=deferred \(command \".*\" died with status 75\. "
               r"Command output: temporary trouble\)" % re.escape(rcpt))
    os.unlink(os.path.join(out, "fail"))
    expect_log(instance, r"to=<%s>.*status=sent \(delivered to command" % re.escape(rcpt), 30)
    instance.wait_queue_empty()


def test_hard_failure_bounces_with_output(instance):
    script = make_script(instance, "fail.sh", "#!/bin/sh\ncat >/dev/null\n"
                         "echo 'no such mailbox: ask the admin'\nexit 67\n")
    setup_aliases(instance, {"hard": "|" + script})
    instance.start()
    rcpt = "hard@" + HOST
    send(instance, rcpt)
    expect_log(instance, r"to=<%s>.*dsn=5\.3\.0.*status=bounced \(command \"%s\" died with "
               r"status 67\. Command output: no such mailbox: ask the admin\)"
               % (re.escape(rcpt), re.escape(script)))
    # the DSN goes back to the sender (the demo mailbox)
    files = wait_for_maildir(instance.maildir, 1)
    assert files, instance.log_tail()
    dsn = read_delivered(instance.maildir)[0]
    assert b"no such mailbox: ask the admin" in dsn
    instance.wait_queue_empty()


def test_time_limit_defers(instance):
    instance.set(command_time_limit="2s")
    script = make_script(instance, "slow.sh", "#!/bin/sh\nsleep 60\n")
    setup_aliases(instance, {"slow": "|" + script})
    instance.start()
    rcpt = "slow@" + HOST
    send(instance, rcpt)
    expect_log(instance, r"to=<%s>.*dsn=4\.3\.0.*status=deferred \(command time limit "
               r"exceeded" % re.escape(rcpt), 20)
    # the process group was killed: no sleep of ours is left behind
    assert not [p for p in os.listdir("/proc") if p.isdigit() and _cmd_has(p, script)]


def _cmd_has(pid, text):
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as fh:
            return text.encode() in fh.read()
    except OSError:
        return False


def test_file_and_maildir_targets(instance):
    setup_aliases(instance, {"tofile": "@OUT@/mbox", "todir": "@OUT@/md/"})
    instance.start()
    out = os.path.join(instance.base, "out")
    msg1 = send(instance, "tofile@" + HOST)
    msg2 = send(instance, "todir@" + HOST)
    assert wait_file(os.path.join(out, "mbox")), instance.log_tail()
    files = wait_for_maildir(os.path.join(out, "md"), 1)
    assert len(files) == 1, instance.log_tail()
    expect_log(instance, r"to=<tofile@%s>.*status=sent \(delivered to file: %s/mbox\)"
               % (re.escape(HOST), re.escape(out)))
    expect_log(instance, r"to=<todir@%s>.*status=sent \(delivered to file: %s/md/\)"
               % (re.escape(HOST), re.escape(out)))
    with open(os.path.join(out, "mbox"), "rb") as fh:
        data = fh.read()
    first, rest = data.split(b"\n", 1)
    assert re.match(rb"^From \S+ \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$", first), first
    assert rest.endswith(b"\n\n")
    blocks, body = split_delivered(rest[:-1])
    assert blocks[1] == ("Delivered-To: tofile@%s" % HOST).encode()
    assert body == crlf_to_lf(msg1)
    st = os.stat(os.path.join(out, "mbox"))
    assert stat.S_ISREG(st.st_mode)
    assert st.st_uid == (pwd.getpwnam("nobody").pw_uid if IS_ROOT else os.getuid())
    blocks, body = split_delivered(read_delivered(os.path.join(out, "md"))[0])
    assert blocks[1] == ("Delivered-To: todir@%s" % HOST).encode()
    assert body == crlf_to_lf(msg2)
    instance.wait_queue_empty()


def test_restricted_targets_bounce(instance):
    with open(instance.main_cf, "a") as fh:
        fh.write("\nallow_mail_to_commands =\nallow_mail_to_files = forward\n")
    setup_aliases(instance, {"cmd": "|/bin/cat", "file": "@OUT@/never"})
    instance.start()
    send(instance, "cmd@" + HOST)
    send(instance, "file@" + HOST)
    expect_log(instance, r"to=<cmd@%s>.*dsn=5\.7\.1.*status=bounced \(mail to command is "
               r"restricted\)" % re.escape(HOST))
    expect_log(instance, r"to=<file@%s>.*dsn=5\.7\.1.*status=bounced \(mail to file is "
               r"restricted\)" % re.escape(HOST))
    assert not os.path.exists(os.path.join(instance.base, "out", "never"))


def test_command_descriptors_and_output_bound(instance):
    """The command sees only stdin/stdout/stderr of the agent's descriptors (its own
    shell may hold its script open), and a flood of output is cut for the reason."""
    script = make_script(instance, "fds.sh", "#!/bin/sh\nls -l /proc/$$/fd > \"$OUT/fds\"\n"
                         "head -c 200000 /dev/zero | tr '\\000' x\nexit 65\n")
    out = setup_aliases(instance, {"fds": '"|env OUT=@OUT@ %s"' % script})
    instance.start()
    send(instance, "fds@" + HOST)
    lines = expect_log(instance, r"to=<fds@%s>.*dsn=5\.3\.0.*status=bounced \(command .* "
                       r"died with status 65\. Command output: x+\)" % re.escape(HOST))
    assert lines[0].count("x") < 600, lines[0][:200]
    with open(os.path.join(out, "fds")) as fh:
        listing = fh.read()
    fds = dict(re.findall(r" (\d+) -> (.*)", listing))
    assert "memfd:" in fds["0"] and fds["2"].startswith("pipe:"), listing
    for fd, target in fds.items():        # the shell's own: its script, a saved stdout
        assert int(fd) <= 2 or target in (script, fds["2"]), listing


def test_agent_watchdog_kills_command(instance):
    """local_delivery_timeout shorter than command_time_limit: the agent's watchdog
    kills the command's process group as well; the mail is deferred."""
    instance.set(local_delivery_timeout="2s", command_time_limit="100s")
    script = make_script(instance, "hang.sh", "#!/bin/sh\nsleep 77\n")
    setup_aliases(instance, {"hang": "|" + script})
    instance.start()
    send(instance, "hang@" + HOST)
    assert wait_until(lambda: [p for p in os.listdir("/proc") if p.isdigit()
                               and _cmd_has(p, script)], 10), instance.log_tail()
    assert wait_until(lambda: not [p for p in os.listdir("/proc") if p.isdigit()
                                   and (_cmd_has(p, script) or _cmd_has(p, "sleep\0" + "77"))],
                      15), "command still running after the agent's timeout"
