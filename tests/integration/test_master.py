"""test_master.py: the postern start / status / stop life cycle of an instance."""
import socket

from harness import wait_until


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_start_status_stop(instance):
    instance.start()
    master = instance.master_pid()
    assert master, "no master process found after postern start"

    second = instance.run("start", check=False)
    out = (second.stdout + second.stderr).decode(errors="replace")
    assert second.returncode != 0, "second `postern start` succeeded:\n" + out
    assert out.strip(), "second `postern start` failed without saying why"
    assert instance.master_pid() == master, "second start replaced the running master"
    assert port_open(instance.port)

    status = instance.run("status", check=False)
    assert status.returncode == 0, status
    assert str(master) in (status.stdout + status.stderr).decode() or \
        b"running" in (status.stdout + status.stderr).lower(), status

    stop = instance.run("stop", check=False, timeout=40)
    assert stop.returncode == 0, stop
    assert wait_until(lambda: instance.master_pid() is None, 10), "master still running after stop"
    assert wait_until(lambda: not port_open(instance.port), 10), "port still open after stop"

    status = instance.run("status", check=False)
    assert status.returncode != 0, "postern status says running after stop: %r" % status
