"""Small local servers for the stdlib differential suite: FTP (AUTH TLS,
PROT P data channel), POP3 (implicit TLS and STLS), IMAP (implicit TLS
and STARTTLS), SMTP (implicit TLS and STARTTLS), built on socketserver,
and HTTPS servers on http.server. They use whatever `ssl` module is in
sys.modules (the stdlib's, or kssl once installed), as a real server
would. Each records what it received (SHA-256) for the client to compare.
"""
import hashlib
import http.server
import socket
import socketserver
import ssl
import threading

TIMEOUT = 20.0
NOTES = []  # (role, socket class, offload) for the offload report


def note(role, sock):
    """Record which SSLSocket class served a connection, and its offload
    (a snapshot: kssl.SSLSocket.offload, None for the stdlib's)."""
    off = getattr(sock, "offload", None)
    NOTES.append((role, type(sock).__module__ + "." + type(sock).__name__,
                  None if off is None else list(off)))


def sha(data):
    return hashlib.sha256(data).hexdigest()


SERVER_ERRORS = []  # exceptions that ended a line server's session


class _Server(socketserver.ThreadingTCPServer):
    # server_close() joins the handler threads, so SERVER_ERRORS is
    # complete when stop() returns (every read has TIMEOUT).
    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True


def start(server):
    """Serve in a thread; returns the port. stop(server) ends it."""
    threading.Thread(target=server.serve_forever, args=(0.05,),
                     daemon=True).start()
    return server.server_address[1]


def stop(server):
    server.shutdown()
    server.server_close()


class LineHandler(socketserver.BaseRequestHandler):
    """CRLF line protocol with an optional TLS upgrade (STARTTLS)."""
    implicit_tls = False
    ctx = None  # set per server class

    def setup(self):
        self.s = self.request
        self.s.settimeout(TIMEOUT)
        self.f = self.s.makefile("rb")

    def starttls(self):
        self.f.close()
        self.s = self.ctx.wrap_socket(self.s, server_side=True)
        note("server", self.s)
        self.f = self.s.makefile("rb")

    def send(self, *lines):
        self.s.sendall(b"".join(line.encode() + b"\r\n" for line in lines))

    def readline(self):
        line = self.f.readline(65536)
        if not line:
            raise EOFError
        return line.rstrip(b"\r\n").decode()

    def handle(self):
        try:
            if self.implicit_tls:
                self.starttls()
            self.session()
        except EOFError:
            pass  # the client went away
        except OSError as e:  # e.g. the client refused the handshake
            SERVER_ERRORS.append(e)
        finally:
            self.f.close()
            self.s.close()


def dot_lines(data):
    """data as dot-stuffed CRLF lines (POP3 multi-line, SMTP DATA)."""
    out = []
    for line in data.split(b"\n"):
        out.append((b"." + line) if line.startswith(b".") else line)
    return out


class FTPHandler(LineHandler):
    """Enough FTP for ftplib.FTP_TLS: AUTH TLS, USER/PASS, PBSZ, PROT,
    TYPE, PASV, RETR, STOR, QUIT."""
    blob = b""

    def session(self):
        self.prot_p = False
        self.pasv = None
        self.send("220 kssl test FTP")
        while True:
            cmd, _, arg = self.readline().partition(" ")
            cmd = cmd.upper()
            if cmd == "AUTH":
                self.send("234 AUTH TLS ok")
                self.starttls()
            elif cmd == "USER":
                self.send("331 password please")
            elif cmd == "PASS":
                self.send("230 logged in")
            elif cmd in ("PBSZ", "TYPE"):
                self.send("200 ok")
            elif cmd == "PROT":
                self.prot_p = arg.upper() == "P"
                self.send("200 PROT %s" % arg)
            elif cmd == "PASV":
                self.pasv = socket.create_server(("127.0.0.1", 0))
                self.pasv.settimeout(TIMEOUT)
                port = self.pasv.getsockname()[1]
                self.send("227 Entering Passive Mode (127,0,0,1,%d,%d)."
                          % (port >> 8, port & 255))
            elif cmd in ("RETR", "STOR"):
                self.send("150 opening data connection")
                self.send("226 " + self.transfer(cmd == "STOR"))
            elif cmd == "QUIT":
                self.send("221 bye")
                return
            else:
                self.send("502 not implemented")

    def transfer(self, store):
        with self.pasv:
            conn, _ = self.pasv.accept()
        conn.settimeout(TIMEOUT)
        if self.prot_p:
            conn = self.ctx.wrap_socket(conn, server_side=True)
            note("server", conn)
        with conn:
            if store:
                chunks = []
                while True:
                    data = conn.recv(65536)
                    if not data:
                        break
                    chunks.append(data)
                reply = "stored sha256=" + sha(b"".join(chunks))
            else:
                conn.sendall(self.blob)
                reply = "sent"
            if self.prot_p:
                conn.unwrap()  # close_notify both ways, as ftplib does
        return reply


class POP3Handler(LineHandler):
    blob = b""

    def session(self):
        self.send("+OK kssl test POP3")
        lines = dot_lines(self.blob)
        while True:
            cmd = self.readline().split(" ")[0].upper()
            if cmd == "CAPA":
                self.send("+OK capabilities", "STLS", "USER", ".")
            elif cmd == "STLS":
                self.send("+OK begin TLS")
                self.starttls()
            elif cmd in ("USER", "PASS", "NOOP"):
                self.send("+OK")
            elif cmd == "STAT":
                self.send("+OK 1 %d" % len(self.blob))
            elif cmd == "RETR":
                self.send("+OK %d octets" % len(self.blob))
                self.s.sendall(b"".join(x + b"\r\n" for x in lines) + b".\r\n")
            elif cmd == "QUIT":
                self.send("+OK bye")
                return
            else:
                self.send("-ERR unknown")


class IMAPHandler(LineHandler):
    blob = b""

    def session(self):
        self.send("* OK kssl test IMAP ready")
        while True:
            tag, _, rest = self.readline().partition(" ")
            cmd = rest.split(" ")[0].upper()
            if cmd == "CAPABILITY":
                self.send("* CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN",
                          tag + " OK CAPABILITY completed")
            elif cmd == "STARTTLS":
                self.send(tag + " OK begin TLS")
                self.starttls()
            elif cmd == "LOGIN":
                self.send(tag + " OK LOGIN completed")
            elif cmd == "SELECT":
                self.send("* 1 EXISTS", "* 0 RECENT",
                          tag + " OK [READ-WRITE] SELECT completed")
            elif cmd == "FETCH":
                self.s.sendall(b"* 1 FETCH (BODY[] {%d}\r\n" % len(self.blob)
                               + self.blob + b")\r\n")
                self.send(tag + " OK FETCH completed")
            elif cmd == "LOGOUT":
                self.send("* BYE logging out", tag + " OK LOGOUT completed")
                return
            else:
                self.send(tag + " BAD unknown")


class SMTPHandler(LineHandler):
    received = None  # list, per server class

    def session(self):
        self.send("220 localhost kssl test ESMTP")
        while True:
            cmd = self.readline().split(" ")[0].upper()
            if cmd == "EHLO":
                self.send("250-localhost", "250-STARTTLS", "250 8BITMIME")
            elif cmd == "HELO":
                self.send("250 localhost")
            elif cmd == "STARTTLS":
                self.send("220 ready for TLS")
                self.starttls()
            elif cmd in ("MAIL", "RCPT", "RSET", "NOOP"):
                self.send("250 ok")
            elif cmd == "DATA":
                self.send("354 end with <CRLF>.<CRLF>")
                lines = []
                while True:
                    line = self.f.readline(1 << 20)
                    if line in (b".\r\n", b""):
                        break
                    lines.append(line[1:] if line.startswith(b".") else line)
                digest = sha(b"".join(lines))
                self.received.append(digest)
                self.send("250 queued sha256=" + digest)
            elif cmd == "QUIT":
                self.send("221 bye")
                return
            else:
                self.send("502 unknown")


def line_server(handler, ctx, implicit_tls=False, **attrs):
    cls = type(handler.__name__, (handler,),
               dict(attrs, ctx=ctx, implicit_tls=implicit_tls))
    return _Server(("127.0.0.1", 0), cls)


class HTTPHandler(http.server.BaseHTTPRequestHandler):
    """GET /blob: the blob; POST: records the body's SHA-256."""
    blob = b""
    received = None

    def do_GET(self):
        note("server", self.connection)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(self.blob)))
        self.end_headers()
        self.wfile.write(self.blob)

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append(sha(body))
        reply = sha(body).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


def https_server(ctx, host="127.0.0.1", **attrs):
    """http.server over TLS, the documented way: the listening socket is
    wrapped (accept() returns TLS sockets, handshake in accept)."""
    cls = type("Handler", (HTTPHandler,), attrs)
    srv = http.server.ThreadingHTTPServer((host, 0), cls)
    srv.daemon_threads = True
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    return srv


def server_context(certs, name="server"):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(certs(name + ".pem"), certs(name + ".key"))
    return ctx
