"""test_metrics.py: master's Prometheus endpoint ($metrics_listen) and `postern metrics`
(lib/metrics.c, lib/metrics_render.c, master/master_metrics.c, cmd/cmd_metrics.c).

A stream of mail goes through a real instance: local deliveries to the demo mailbox,
relayed mail routed by transport_maps to a closed loopback port (deferred), unknown
recipients (550 "recipient" rejections) and a relay attempt from outside $mynetworks
(554 "relay"). The endpoint is scraped during and after the stream; the counters and the
queue gauges must match what the test did (cross-checked with the maillog), and every
scrape must pass two parsers: a strict one here (HELP/TYPE before samples, grouped
families, no duplicate series, well-formed labels and values, cumulative histogram with
+Inf == _count) and python3-prometheus-client's text parser. Outcomes qmgr decides itself (error: routes, expiry) are counted too. Also: the HTTP front end
(404, 405, oversized and idle requests do not hurt the master) and `postern metrics`.
Every wait is bounded.
"""
import math
import os
import re
import socket
import time

import pytest

from harness import DOMAIN, DEMO, free_port, wait_until, wait_for_maildir

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:                       # tests/lib/deps.sh installs it; strict parser still runs
    text_string_to_metric_families = None

SENDER = "sender@client.test"
SLOW = "slow.test"
NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')
SUFFIXES = {"counter": ("",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}


# ----- parsing -----------------------------------------------------------------------
def parse_labels(text, line):
    labels, pos = {}, 0
    while pos < len(text):
        m = LABEL_RE.match(text, pos)
        assert m, "bad label set in %r" % line
        assert m.group(1) not in labels, "repeated label in %r" % line
        labels[m.group(1)] = m.group(2)
        pos = m.end()
        if pos < len(text):
            assert text[pos] == ",", "bad label separator in %r" % line
            pos += 1
    return labels


def strict_parse(text):
    """{(sample name, frozenset(labels)): value}; asserts the exposition format rules."""
    assert text.endswith("\n"), "output must end with a newline"
    families, helps, samples, done = {}, set(), {}, set()
    current = None
    for line in text[:-1].split("\n"):
        assert line, "empty line in output"
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            assert NAME_RE.match(name) and help_text and name not in helps, line
            helps.add(name)
            continue
        if line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            assert NAME_RE.match(name) and kind in SUFFIXES, line
            assert name not in families, "second TYPE for %s" % name
            assert name in helps, "TYPE before HELP for %s" % name
            if current:
                done.add(current)
            families[name] = kind
            current = name
            continue
        assert not line.startswith("#"), "unexpected comment %r" % line
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)\Z", line)
        assert m, "malformed sample line %r" % line
        name, labels, value = m.group(1), parse_labels(m.group(2) or "", line), m.group(3)
        assert current and any(name == current + s for s in SUFFIXES[families[current]]), \
            "sample %r outside its family (current %s)" % (line, current)
        v = float(value)                          # raises on a malformed number
        assert not math.isnan(v), line
        if families[current] in ("counter", "histogram") and not name.endswith("_sum"):
            assert v >= 0 and v == int(v), "counter/bucket not a natural number: %r" % line
        key = (name, frozenset(labels.items()))
        assert key not in samples, "duplicate series %r" % line
        samples[key] = v
    for name, kind in families.items():
        if kind != "histogram":
            continue
        buckets = sorted(((float("inf") if dict(k[1])["le"] == "+Inf" else float(dict(k[1])["le"])), v)
                         for k, v in samples.items() if k[0] == name + "_bucket")
        assert buckets and buckets[-1][0] == float("inf"), "%s: no +Inf bucket" % name
        assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), "%s not cumulative" % name
        assert buckets[-1][1] == samples[(name + "_count", frozenset())], "%s: +Inf != count" % name
    if text_string_to_metric_families:
        parsed = list(text_string_to_metric_families(text))
        assert len(parsed) == len(families), (len(parsed), len(families))
    return samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


# ----- talking to the endpoint ------------------------------------------------------
def http(port, request, timeout=10):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        data = b""
        deadline = time.time() + timeout
        while time.time() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            assert len(data) < 4 << 20, "response too large"
    head, _, body = data.partition(b"\r\n\r\n")
    return head.decode("latin-1"), body


def scrape(port):
    head, body = http(port, b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
    assert head.startswith("HTTP/1.0 200"), head
    assert "text/plain; version=0.0.4" in head, head
    m = re.search(r"Content-Length: (\d+)", head)
    assert m and int(m.group(1)) == len(body), head
    return strict_parse(body.decode("utf-8"))


# ----- the instance -------------------------------------------------------------------
@pytest.fixture
def metrics_instance(instance):
    mport = free_port()
    dead = free_port()                     # nothing listens here: relayed mail is deferred
    path = os.path.join(instance.conf, "transport")
    with open(path, "w") as fh:
        fh.write("%s smtp:[127.0.0.1]:%d\n" % (SLOW, dead))
    instance.run("map", "build", "hash:" + path)
    instance.set(metrics_listen="127.0.0.1:%d" % mport, transport_maps="hash:" + path,
                 mynetworks="127.0.0.2/32")
    instance.start()
    instance.metrics_port = mport
    instance.dead_port = dead
    return instance


def send(inst, rcpts, source="127.0.0.2"):
    s = inst.smtp(source=source)
    msg = "From: %s\r\nTo: %s\r\nSubject: metrics\r\n\r\nbody\r\n" % (SENDER, rcpts[0])
    refused = s.sendmail(SENDER, rcpts, msg)
    s.quit()
    assert refused == {}, refused


def reject_rcpt(inst, rcpt, source, want):
    s = inst.smtp(source=source)
    assert s.mail(SENDER)[0] == 250
    code, text = s.rcpt(rcpt)
    assert code == want, (code, text)
    s.quit()


def test_metrics_match_mail_stream(metrics_instance):
    inst, port = metrics_instance, metrics_instance.metrics_port
    first = scrape(port)
    assert value(first, "postern_messages_received_total") == 0
    assert value(first, "postern_queue_messages", queue="deferred") == 0
    # master publishes process counts every second
    assert wait_until(lambda: (value(scrape(port), "postern_processes",
                                     service="127.0.0.1:%d/inet" % inst.port) or 0) >= 1, 10)
    sessions = 1                                          # wait_for_port's banner check

    # the stream, scraped in the middle
    for i in range(3):
        send(inst, [DEMO]); sessions += 1
    send(inst, ["a@" + SLOW]); sessions += 1
    reject_rcpt(inst, "nobody@" + DOMAIN, "127.0.0.2", 550); sessions += 1
    middle = scrape(port)
    assert 3 <= value(middle, "postern_messages_received_total") <= 4
    for i in range(2):
        send(inst, [DEMO]); sessions += 1
    send(inst, ["b@" + SLOW]); sessions += 1
    send(inst, ["c@" + SLOW]); sessions += 1
    reject_rcpt(inst, "ghost@" + DOMAIN, "127.0.0.2", 550); sessions += 1
    reject_rcpt(inst, "x@foreign.test", "127.0.0.1", 554); sessions += 1

    # everything settled: 5 delivered, 3 deferred (no retry within minimal_backoff_time)
    wait_for_maildir(inst.maildir, 5)
    assert wait_until(lambda: len(inst.log_lines(r"to=<\w@%s>.*status=deferred" % SLOW)) >= 3, 30), \
        inst.log_tail()
    assert wait_until(lambda: not inst.queue_files(("incoming", "active")), 20)

    def settled():
        s = scrape(port)
        # (the queue gauges are cached for up to a second)
        return s if value(s, "postern_messages_deferred_total") == 3 and \
            value(s, "postern_messages_delivered_total") == 5 and \
            value(s, "postern_queue_messages", queue="deferred") == 3 else None
    final = wait_until(settled, 10)
    assert final, scrape(port)
    for name, labels in list(middle.keys()):
        if name.endswith("_total") or name.endswith("_count"):
            assert final[(name, labels)] >= middle[(name, labels)], name

    deferred_lines = inst.log_lines(r"status=deferred")
    sent_lines = inst.log_lines(r"status=sent")
    assert value(final, "postern_messages_received_total") == 8
    assert value(final, "postern_messages_delivered_total") == len(sent_lines) == 5
    assert value(final, "postern_messages_deferred_total") == len(deferred_lines) == 3
    assert value(final, "postern_messages_bounced_total") == 0
    assert value(final, "postern_messages_rejected_total", **{"class": "5xx", "reason": "recipient"}) == 2
    assert value(final, "postern_messages_rejected_total", **{"class": "5xx", "reason": "relay"}) == 1
    assert sum(v for (n, _), v in final.items() if n == "postern_messages_rejected_total") == 3
    assert value(final, "postern_smtp_sessions_total") >= sessions
    assert value(final, "postern_delivery_delay_seconds_count") == 5
    assert 0 <= value(final, "postern_delivery_delay_seconds_sum") < 60
    # queue gauges: the three deferred messages, nothing elsewhere
    assert value(final, "postern_queue_messages", queue="deferred") == 3
    for q in ("incoming", "active", "hold"):
        assert value(final, "postern_queue_messages", queue=q) == 0, q
        assert value(final, "postern_queue_oldest_age_seconds", queue=q) == 0, q
    assert 0 <= value(final, "postern_queue_oldest_age_seconds", queue="deferred") < 120
    # per-destination deferrals: one destination with all three
    dests = {dict(l)["destination"]: v for (n, l), v in final.items()
             if n == "postern_destination_deferrals_total"}
    assert sum(dests.values()) == 3 and len(dests) == 1, dests
    assert str(inst.dead_port) in list(dests)[0], dests

    # `postern metrics` prints the same counters (read from the file directly)
    out = inst.run("metrics").stdout.decode()
    direct = strict_parse(out)
    for key, v in final.items():
        if key[0].endswith("_total") and key[0] != "postern_smtp_sessions_total":
            assert direct[key] == v, key


def test_metrics_count_qmgr_outcomes(instance):
    """Outcomes that qmgr decides and logs itself (qmgr/qmgr_log.c) are counted like the
    agents' ones: an error: route bounces, a deferred message that expires bounces; the
    two notifications to the demo mailbox are delivered. Counters == maillog lines."""
    mport, dead = free_port(), free_port()
    path = os.path.join(instance.conf, "transport")
    with open(path, "w") as fh:
        fh.write("gone.test error:5.1.1 this domain is gone\n"
                 "%s smtp:[127.0.0.1]:%d\n" % (SLOW, dead))
    instance.run("map", "build", "hash:" + path)
    instance.set(metrics_listen="127.0.0.1:%d" % mport, transport_maps="hash:" + path,
                 maximal_queue_lifetime="1s", minimal_backoff_time="1s",
                 maximal_backoff_time="2s", queue_run_delay="1s", smtp_connect_timeout="5s")
    instance.start()
    for rcpt in ("a@gone.test", "b@" + SLOW):            # from DEMO: notifications stay local
        s = instance.smtp()
        assert s.sendmail(DEMO, [rcpt], "Subject: qmgr outcome\r\n\r\nbody\r\n") == {}
        s.quit()
    assert wait_until(lambda: instance.log_lines(r"to=<a@gone\.test>.*status=bounced"), 20), \
        instance.log_tail()
    assert wait_until(lambda: instance.log_lines(r"to=<b@%s>.*status=expired" % SLOW), 30), \
        instance.log_tail()
    wait_for_maildir(instance.maildir, 2)                 # the two notifications
    assert instance.wait_queue_empty(20), instance.queue_files()

    def settled():
        s = scrape(mport)
        return s if value(s, "postern_messages_bounced_total") == 2 and \
            value(s, "postern_messages_delivered_total") == 2 else None
    final = wait_until(settled, 10)
    assert final, scrape(mport)
    assert len(instance.log_lines(r"status=(bounced|expired)")) == 2
    assert len(instance.log_lines(r"status=sent")) == 2
    deferred = instance.log_lines(r"status=deferred")
    assert deferred, instance.log_tail()
    assert value(final, "postern_messages_deferred_total") == len(deferred)
    assert value(final, "postern_delivery_delay_seconds_count") == 2


def test_metrics_http_front_end(metrics_instance):
    inst, port = metrics_instance, metrics_instance.metrics_port
    assert http(port, b"GET / HTTP/1.0\r\n\r\n")[0].startswith("HTTP/1.0 404")
    assert http(port, b"POST /metrics HTTP/1.0\r\n\r\n")[0].startswith("HTTP/1.0 405")
    assert http(port, b"garbage\r\n\r\n")[0].startswith("HTTP/1.0 400")
    head, body = http(port, b"HEAD /metrics HTTP/1.1\r\n\r\n")
    assert head.startswith("HTTP/1.0 200") and body == b""
    # an oversized request is refused, not buffered without bound
    try:
        head, _ = http(port, b"GET /metrics HTTP/1.0\r\nX: " + b"a" * 9000 + b"\r\n\r\n")
        assert head.startswith("HTTP/1.0 431") or head == "", head
    except ConnectionResetError:
        pass                              # closed with the rest of the request unread
    # idle connections (more than the connection limit) do not stop scrapes for long,
    # and are closed by the master's timeout
    idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(20)]
    try:
        assert wait_until(lambda: _try_scrape(port), 15, 0.5)
    finally:
        for s in idle:
            s.close()
    assert value(scrape(port), "postern_queue_messages", queue="incoming") == 0
    # mail still flows
    send(inst, [DEMO])
    wait_for_maildir(inst.maildir, 1)


def _try_scrape(port):
    try:
        return scrape(port) is not None
    except (OSError, AssertionError):
        return False


def test_metrics_command_without_master(instance):
    """Before the master ever ran there is no counter file: queue gauges, exit 1."""
    p = instance.run("metrics", check=False)
    assert p.returncode == 1, p
    assert b"counter file" in p.stderr
    samples = strict_parse(p.stdout.decode())
    assert value(samples, "postern_queue_messages", queue="deferred") == 0


def test_metrics_listen_bad_value(instance):
    instance.set(metrics_listen="localhost-no-port")
    p = instance.run("start", check=False)
    assert p.returncode != 0
    assert b"metrics_listen" in p.stdout + p.stderr
    instance.allowed_log_patterns.append("metrics_listen")


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    import tls_helpers
    return tls_helpers.Certs(str(tmp_path_factory.mktemp("certs")))


def test_metrics_tls_and_auth(instance, certs):
    """smtpd's TLS handshakes (by protocol, failures) and AUTH results are counted."""
    import smtplib
    import ssl
    import tls_helpers as th
    th.setup(instance, certs)
    mport = free_port()
    instance.set(metrics_listen="127.0.0.1:%d" % mport)
    instance.start()
    ctx = th.client_context(certs)
    s = smtplib.SMTP("127.0.0.1", instance.sub_port, timeout=30)
    s._host = "mail.example.test"
    s.ehlo("client.test")
    s.starttls(context=ctx)
    s.ehlo("client.test")
    with pytest.raises(smtplib.SMTPAuthenticationError):
        s.login("alice", "wrong password")
    s.login("alice", th.PASSWORD)
    s.quit()
    # a client that does not speak TLS on the smtps port: a failed handshake
    with socket.create_connection(("127.0.0.1", instance.smtps_port), timeout=10) as raw:
        raw.sendall(b"EHLO plain.test\r\n")
        try:
            raw.recv(1024)
        except OSError:
            pass

    def counted():
        m = scrape(mport)
        ok = value(m, "postern_tls_handshakes_total", protocol=ctx.maximum_version.name
                   .replace("TLSv1_", "TLSv1.").replace("MAXIMUM_SUPPORTED", "TLSv1.3"))
        return m if ok == 1 and value(m, "postern_tls_handshake_failures_total") >= 1 else None
    m = wait_until(counted, 10)
    assert m, scrape(mport)
    assert value(m, "postern_smtp_auth_total", result="success") == 1
    # smtplib tries each advertised mechanism (PLAIN, LOGIN) with the wrong password
    failures = len(instance.log_lines(r"SASL \w+ authentication failed"))
    assert 1 <= failures <= 2
    assert value(m, "postern_smtp_auth_total", result="failure") == failures


def test_metrics_listen_follows_reload(instance):
    """reload moves the endpoint (new one first); an endpoint that cannot be opened (port
    taken) keeps the old one, logged; an empty value closes it."""
    a, b = free_port(), free_port()
    instance.set(metrics_listen="127.0.0.1:%d" % a)
    instance.start()
    assert wait_until(lambda: _try_scrape(a), 15)
    instance.set(metrics_listen="127.0.0.1:%d" % b)
    instance.reload()
    assert wait_until(lambda: _try_scrape(b), 15), instance.log_tail()
    assert wait_until(lambda: not _try_scrape(a), 15), "old endpoint still answers"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        instance.set(metrics_listen="127.0.0.1:%d" % taken.getsockname()[1])
        instance.allowed_log_patterns.append("keeping the current metrics endpoint")
        instance.reload()
        assert wait_until(lambda: instance.log_lines(
            r"reload: metrics_listen = .*keeping the current metrics endpoint"), 15), \
            instance.log_tail()
        assert _try_scrape(b)
    instance.set(metrics_listen="")
    instance.reload()
    assert wait_until(lambda: not _try_scrape(b), 15), "endpoint not closed"
