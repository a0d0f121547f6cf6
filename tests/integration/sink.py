"""sink.py: scriptable SMTP sink servers for the relay tests.

    sinks = SinkGroup(["127.0.0.2", "127.0.0.3"])   # same TCP port on every address
    sinks.start(); port = sinks.port
    s = sinks["127.0.0.2"]
    s.replies["rcpt"] = "451 4.3.0 try later"      # per command: greeting ehlo helo mail
                                                    # rcpt data dot quit (str or callable)
    s.ehlo_lines = ["PIPELINING", "SIZE 1000", "8BITMIME"]
    s.messages     -> [{"helo", "mail_from", "mail_params", "rcpts", "data", "tls"}]
    s.connections  -> number of sessions seen (each message records its session: "conn")
    s.close_after = N     # close a session right after its Nth message (no 421)
    s.drop_mail_after = N # close a session, without a reply, at the MAIL after N messages
    s.tls_context = ssl server context   # optional: offer STARTTLS (RFC 3207)
    s.tls_sessions -> [(version, cipher name)] of the completed TLS handshakes
    sinks.stop()

With a tls_context, EHLO offers STARTTLS (only before TLS); after the handshake the
session starts over (RFC 3207: EHLO again) and each message records "tls": the TLS
version ("TLSv1.3") or None for plain text. A failed handshake ends the session.

A reply value may be a callable taking the command argument (e.g. the RCPT address) and
returning the reply line(s) ("\\n" separates the lines of a multi-line reply). Only
transactions that got a 2xx after the final dot are recorded in `messages`. Data is kept
as received with dot-unstuffing (CRLF line ends). Every read is bounded by `timeout`.
"""
import socket
import socketserver
import ssl
import threading

DEFAULT_REPLIES = {
    "greeting": "220 {name} ESMTP sink",
    "ehlo": "250 {name}",
    "helo": "250 {name}",
    "mail": "250 2.1.0 Ok",
    "rcpt": "250 2.1.5 Ok",
    "data": "354 End data with <CR><LF>.<CR><LF>",
    "dot": "250 2.0.0 Ok: queued as SINK{n}",
    "quit": "221 2.0.0 Bye",
}
MAX_LINE = 100000
MAX_DATA = 50 * 1024 * 1024


class Sink:
    def __init__(self, address, name=None, timeout=30):
        self.address = address
        self.name = name or "sink-%s.test" % address.replace(".", "-")
        self.timeout = timeout
        self.replies = dict(DEFAULT_REPLIES)
        self.ehlo_lines = ["PIPELINING", "SIZE 10240000", "8BITMIME"]
        self.messages = []
        self.commands = []
        self.connections = 0
        self.close_after = None
        self.drop_mail_after = None
        self.tls_context = None
        self.tls_sessions = []
        self.tls_failures = 0
        self.lock = threading.Lock()
        self.server = None

    def reply_for(self, cmd, arg=""):
        value = self.replies[cmd]
        if callable(value):
            value = value(arg)
        with self.lock:
            n = len(self.messages) + 1
        lines = value.format(name=self.name, n=n).split("\n")
        code = lines[-1][:3]
        out = ""
        for line in lines[:-1]:
            out += code + "-" + line[4:] + "\r\n" if line[:3] == code else line + "\r\n"
        return out + lines[-1] + "\r\n"

    def handle(self, rfile, wfile, sock=None):
        with self.lock:
            self.connections += 1
            conn = self.connections
        in_session = 0
        tls = None
        def send(text):
            wfile.write(text.encode("latin-1"))
            wfile.flush()
        def readline():
            line = rfile.readline(MAX_LINE)
            if not line:
                raise EOFError
            return line
        send(self.reply_for("greeting"))
        if not self.replies["greeting"].startswith("2"):
            return
        helo, mail_from, params, rcpts = None, None, "", []
        while True:
            line = readline().decode("latin-1").rstrip("\r\n")
            with self.lock:
                self.commands.append(line)
            verb = line[:4].upper()
            if verb == "EHLO":
                reply = self.reply_for("ehlo", line[5:])
                if reply.startswith("250"):
                    first = reply.rstrip("\r\n").split("\r\n")
                    body = [l[4:] for l in first] + self.ehlo_lines
                    if self.tls_context is not None and tls is None and sock is not None:
                        body.append("STARTTLS")
                    reply = "".join("250-%s\r\n" % l for l in body[:-1]) + "250 %s\r\n" % body[-1]
                    helo = line[5:]
                send(reply)
            elif verb == "HELO":
                helo = line[5:]
                send(self.reply_for("helo", helo))
            elif verb == "MAIL":
                if self.drop_mail_after is not None and in_session >= self.drop_mail_after:
                    return
                arg = line[10:]
                addr, _, rest = arg.partition(">")
                reply = self.reply_for("mail", addr.lstrip("<"))
                if reply.startswith("2"):
                    mail_from, params, rcpts = addr.lstrip("<"), rest.strip(), []
                send(reply)
            elif verb == "RCPT":
                addr = line[8:].partition(">")[0].lstrip("<")
                reply = self.reply_for("rcpt", addr)
                if reply.startswith("2") and mail_from is not None:
                    rcpts.append(addr)
                send(reply)
            elif verb == "DATA":
                if mail_from is None or not rcpts:
                    send("554 5.5.1 Error: no valid recipients\r\n")
                    continue
                reply = self.reply_for("data")
                send(reply)
                if not reply.startswith("354"):
                    continue
                data, size = [], 0
                while True:
                    l = readline()
                    if l == b".\r\n":
                        break
                    if l.startswith(b"."):
                        l = l[1:]
                    size += len(l)
                    if size > MAX_DATA:
                        raise EOFError
                    data.append(l)
                reply = self.reply_for("dot")
                if reply.startswith("2"):
                    with self.lock:
                        self.messages.append({"helo": helo, "mail_from": mail_from,
                                              "mail_params": params, "rcpts": list(rcpts),
                                              "data": b"".join(data), "tls": tls,
                                              "conn": conn})
                    in_session += 1
                mail_from, rcpts = None, []
                send(reply)
                if self.close_after is not None and in_session >= self.close_after:
                    return
            elif line.upper() == "STARTTLS" and self.tls_context is not None \
                    and tls is None and sock is not None:
                send("220 2.0.0 Ready to start TLS\r\n")
                try:
                    sock = self.tls_context.wrap_socket(sock, server_side=True)
                except (ssl.SSLError, OSError):
                    with self.lock:
                        self.tls_failures += 1
                    return
                tls = sock.version()
                with self.lock:
                    self.tls_sessions.append((tls, sock.cipher()[0]))
                rfile, wfile = sock.makefile("rb"), sock.makefile("wb")
                helo, mail_from, params, rcpts = None, None, "", []
            elif verb == "RSET":
                mail_from, rcpts = None, []
                send("250 2.0.0 Ok\r\n")
            elif verb == "QUIT":
                send(self.reply_for("quit"))
                return
            else:
                send("502 5.5.2 Error: command not recognized\r\n")


class _Handler(socketserver.StreamRequestHandler):
    def handle(self):
        self.request.settimeout(self.server.sink.timeout)
        try:
            self.server.sink.handle(self.rfile, self.wfile, self.request)
        except (EOFError, OSError, socket.timeout):
            pass


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class SinkGroup:
    """Sinks on several loopback addresses sharing one TCP port (smtp_tcp_port)."""

    def __init__(self, addresses, timeout=30):
        self.sinks = {a: Sink(a, timeout=timeout) for a in addresses}
        self.port = None
        self.threads = []

    def __getitem__(self, address):
        return self.sinks[address]

    def start(self, attempts=20):
        for _ in range(attempts):
            with socket.socket() as s:
                s.bind((next(iter(self.sinks)), 0))
                port = s.getsockname()[1]
            servers = []
            try:
                for addr, sink in self.sinks.items():
                    srv = _Server((addr, port), _Handler)
                    srv.sink = sink
                    sink.server = srv
                    servers.append(srv)
            except OSError:
                for srv in servers:
                    srv.server_close()
                continue
            for srv in servers:
                t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1},
                                     daemon=True)
                t.start()
                self.threads.append(t)
            self.port = port
            return self
        raise RuntimeError("no free port shared by the sink addresses")

    def stop_one(self, address):
        """Close one sink's listener (connections to it are then refused)."""
        sink = self.sinks[address]
        if sink.server:
            sink.server.shutdown()
            sink.server.server_close()
            sink.server = None

    def stop(self):
        for addr in list(self.sinks):
            self.stop_one(addr)
        for t in self.threads:
            t.join(timeout=5)

    def all_messages(self):
        return {a: list(s.messages) for a, s in self.sinks.items()}
