"""test_routing.py: transport_maps and relayhost (lib/resolve.c, qmgr/qmgr_special.c).

The table is built with `postern map build` and checked with `postern map query`; then
real mail goes through smtpd -> qmgr -> smtp to sinks (sink.SinkGroup on 127.0.0.2/.3),
with a test DNS server for MX look-ups (test_relay.Relay). Covered: exact domain,
".domain" for subdomains only, "[host]:port" and domain next hops, "user@domain" keys,
"smtp:" with an empty next hop (= the default: $relayhost), error: (bounce with the
table's status and text, accepted by smtpd first), discard: (dropped, logged as sent),
relayhost as [host]:port and as an MX domain. Every wait is bounded.
"""
import os
import re
import time

import pytest

from harness import wait_until
from test_relay import Relay

ZONE = """
relay.test.      60 IN MX 10 mx.relay.test.
mx.relay.test.   60 IN A  127.0.0.2
"""


@pytest.fixture
def relay(instance):
    r = Relay(instance, ZONE)
    yield r
    r.stop()


def build_map(inst, name, text):
    path = os.path.join(inst.conf, name)
    with open(path, "w") as fh:
        fh.write(text)
    inst.run("map", "build", "hash:" + path)
    return "hash:" + path


def query(inst, spec, key):
    p = inst.run("map", "query", spec, key, check=False)
    return p.returncode, p.stdout.decode().strip()


def status_line(inst, rcpt, status, timeout=30):
    pat = r"postern/\w+\[\d+\]: \w+: to=<%s>.*status=%s" % (re.escape(rcpt), status)
    lines = wait_until(lambda: inst.log_lines(pat), timeout)
    assert lines, "no status=%s line for %s:\n%s" % (status, rcpt, inst.log_tail())
    return lines[0]


def rcpts_at(sink):
    return sorted(r for m in sink.messages for r in m["rcpts"])


def test_transport_maps_route(instance, relay):
    port = relay.sinks.port
    spec = build_map(instance, "transport", (
        "# routing table for the test\n"
        "special.test     smtp:[127.0.0.3]:%d\n"
        ".sub.test        smtp:[127.0.0.3]\n"
        "vip@other.test   smtp:[127.0.0.3]:%d\n"
        "other.test       smtp:relay.test\n"
        "bounce.test      error:5.1.1 this domain is gone\n"
        "drop.test        discard:dropped by policy\n" % (port, port)))
    assert query(instance, spec, "special.test") == (0, "smtp:[127.0.0.3]:%d" % port)
    assert query(instance, spec, ".sub.test") == (0, "smtp:[127.0.0.3]")
    assert query(instance, spec, "BOUNCE.test") == (0, "error:5.1.1 this domain is gone")
    assert query(instance, spec, "nowhere.test")[0] != 0
    instance.set(transport_maps=spec)
    instance.start()
    rcpts = ["a@special.test", "b@deep.sub.test", "vip@other.test", "c@other.test",
             "d@bounce.test", "e@drop.test", "f@relay.test"]
    relay.send(rcpts=rcpts)
    s2, s3 = relay.sinks["127.0.0.2"], relay.sinks["127.0.0.3"]
    assert wait_until(lambda: len(rcpts_at(s2)) + len(rcpts_at(s3)) >= 5, 30), \
        instance.log_tail()
    line = status_line(instance, "d@bounce.test", "bounced")
    assert "relay=none" in line and "dsn=5.1.1" in line and "(this domain is gone)" in line
    line = status_line(instance, "e@drop.test", "sent")
    assert "relay=none" in line and "(dropped by policy)" in line
    assert instance.wait_queue_empty(20), instance.queue_files()
    time.sleep(0.5)
    assert rcpts_at(s3) == ["a@special.test", "b@deep.sub.test", "vip@other.test"]
    assert rcpts_at(s2) == ["c@other.test", "f@relay.test"]
    line = status_line(instance, "a@special.test", "sent")
    assert "relay=127.0.0.3[127.0.0.3]:%d" % port in line, line


def test_parent_entry_does_not_match_itself(instance, relay):
    """".sub.test" is for subdomains; sub.test itself takes the default route (DNS)."""
    spec = build_map(instance, "transport", ".sub.test smtp:[127.0.0.3]\n")
    relay.dns.set_zone(ZONE + "sub.test. 60 IN MX 10 mx.relay.test.\n")
    instance.set(transport_maps=spec)
    instance.start()
    relay.send(rcpts=["x@sub.test"])
    status_line(instance, "x@sub.test", "sent")
    assert rcpts_at(relay.sinks["127.0.0.2"]) == ["x@sub.test"]
    assert rcpts_at(relay.sinks["127.0.0.3"]) == []


@pytest.mark.parametrize("form", ["literal", "mx"])
def test_relayhost(instance, relay, form):
    port = relay.sinks.port
    if form == "literal":
        instance.set(relayhost="[127.0.0.3]:%d" % port)
        target, other = "127.0.0.3", "127.0.0.2"
    else:
        instance.set(relayhost="relay.test")
        target, other = "127.0.0.2", "127.0.0.3"
    # "smtp:" with no next hop keeps the default next hop, i.e. the relayhost
    spec = build_map(instance, "transport", "nodns.test smtp:\nlocal.example smtp:[%s]:%d\n"
                     % (other, port))
    instance.set(transport_maps=spec)
    instance.start()
    relay.send(rcpts=["u@nodns.test", "v@anything.test", "w@local.example"])
    assert wait_until(lambda: len(rcpts_at(relay.sinks[target])) >= 2
                      and rcpts_at(relay.sinks[other]), 30), instance.log_tail()
    assert instance.wait_queue_empty(20), instance.queue_files()
    assert rcpts_at(relay.sinks[target]) == ["u@nodns.test", "v@anything.test"]
    assert rcpts_at(relay.sinks[other]) == ["w@local.example"]
    # the relayhost was used: nodns.test and anything.test were never looked up
    names = {q[0] for q in relay.dns.queries}
    assert "nodns.test" not in names and "anything.test" not in names, names


def test_error_without_text_and_bad_entry(instance, relay):
    """"error:" alone bounces with 5.0.0; a bad transport name defers (never crashes)."""
    spec = build_map(instance, "transport", "plain-error.test error:\n"
                     "weird.test bad/name:somewhere\n"
                     "soft.test error:4.2.2 not a bounce status\n")
    instance.set(transport_maps=spec)
    instance.start()
    relay.send(rcpts=["a@plain-error.test", "b@weird.test", "c@soft.test"])
    line = status_line(instance, "a@plain-error.test", "bounced")
    assert "dsn=5.0.0" in line, line
    line = status_line(instance, "b@weird.test", "deferred")
    assert "dsn=4.3.5" in line and "bad transport_maps entry" in line, line
    line = status_line(instance, "c@soft.test", "bounced")      # error: always bounces
    assert "dsn=5.0.0" in line and "4.2.2 not a bounce status" in line, line
    assert instance.log_lines(r"warning: transport_maps: bad transport name")
