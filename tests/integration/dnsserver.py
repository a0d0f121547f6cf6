"""dnsserver.py: a tiny authoritative DNS server for the integration tests (python3-dnslib).

    dns = TestDNS('''
    relay.test.      60 IN MX 10 mx1.relay.test.
    mx1.relay.test.  60 IN A  127.0.0.2
    ''', servfail={"broken.test"})
    dns.start()            # UDP and TCP on 127.0.0.1:dns.port
    ...
    dns.stop()

Answers from the zone text only (zone-file syntax, absolute names). A name that has no
record of any type is NXDOMAIN; a name with records of other types gets NODATA; names in
`servfail` get SERVFAIL. CNAMEs are returned (and followed) like a real server does.
set_zone() / servfail may be changed while the server runs. Every query is recorded in
dns.queries as (name, type) for assertions.
"""
import socket
import threading

from dnslib import QTYPE, RCODE, RR
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class _Resolver(BaseResolver):
    def __init__(self, owner):
        self.owner = owner

    def resolve(self, request, handler):
        reply = request.reply()
        qname = str(request.q.qname).lower().rstrip(".")
        qtype = request.q.qtype
        with self.owner.lock:
            self.owner.queries.append((qname, QTYPE.get(qtype)))
            if qname in self.owner.servfail:
                reply.header.rcode = RCODE.SERVFAIL
                return reply
            records = list(self.owner.records)
        name, seen = qname, set()
        for _hop in range(8):
            mine = [rr for rr in records if str(rr.rname).lower().rstrip(".") == name]
            if not mine:
                if name == qname:
                    reply.header.rcode = RCODE.NXDOMAIN
                return reply
            wanted = [rr for rr in mine if rr.rtype == qtype or qtype == QTYPE.ANY]
            if wanted:
                for rr in wanted:
                    reply.add_answer(rr)
                return reply
            cnames = [rr for rr in mine if rr.rtype == QTYPE.CNAME]
            if not cnames or name in seen:
                return reply                       # NODATA
            seen.add(name)
            reply.add_answer(cnames[0])
            name = str(cnames[0].rdata.label).lower().rstrip(".")
        return reply


class TestDNS:
    __test__ = False                               # not a pytest test class

    def __init__(self, zone="", servfail=()):
        self.lock = threading.Lock()
        self.records = []
        self.servfail = set(s.lower().rstrip(".") for s in servfail)
        self.queries = []
        self.port = None
        self.servers = []
        self.set_zone(zone)

    def set_zone(self, zone):
        records = RR.fromZone(zone) if zone.strip() else []
        with self.lock:
            self.records = records

    def start(self, attempts=20):
        resolver = _Resolver(self)
        logger = DNSLogger(logf=lambda s: None)
        for _ in range(attempts):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            try:
                udp = DNSServer(resolver, address="127.0.0.1", port=port, logger=logger)
            except OSError:
                continue
            try:
                tcp = DNSServer(resolver, address="127.0.0.1", port=port, tcp=True,
                                logger=logger)
            except OSError:
                udp.server.server_close()
                continue
            udp.start_thread()
            tcp.start_thread()
            self.servers = [udp, tcp]
            self.port = port
            return self
        raise RuntimeError("no free port for the test DNS server")

    def stop(self):
        for srv in self.servers:
            try:
                srv.stop()
                srv.server.server_close()
            except Exception:                      # noqa: BLE001 - best effort at teardown
                pass
        self.servers = []

    def count(self, name, qtype):
        with self.lock:
            return sum(1 for q in self.queries if q == (name.lower().rstrip("."), qtype))
