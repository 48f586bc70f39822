"""The stdlib's own TLS clients and servers, as a program would use them.

    python3 stdlib_scenarios.py [NAME...]                # with ssl
    python3 -m kssl run stdlib_scenarios.py [NAME...]    # kssl in place

Prints one JSON object: per scenario its outcome (result, or the exception
by class, errno, reason, library, verify code and message) and the TLS
sockets it saw (class, offload). test_stdlib_suite.py runs it both ways
and compares. Certificates come from KSSL_TEST_CERTS.
"""
import asyncio
import ftplib
import hashlib
import http.client
import imaplib
import io
import json
import logging
import logging.handlers
import os
import poplib
import smtplib
import socket
import socketserver
import ssl
import sys
import urllib.error
import urllib.request
import warnings
import xmlrpc.client
import xmlrpc.server

import stdlib_peers as peers
from stdlib_peers import TIMEOUT, note, sha

CERTS = os.environ.get("KSSL_TEST_CERTS", "")
BLOB = b"".join(hashlib.sha256(b"%d" % i).digest() for i in range(8192))
BLOB += b"\n.leading dot line\n..two dots\nend"  # dot-stuffing cases


def cert(name):
    return os.path.join(CERTS, name)


def client_ctx(ca="ca.pem"):
    return ssl.create_default_context(cafile=cert(ca))


SCTX = None  # the servers' context (server.pem)
SCENARIOS = {}


def scenario(fn):
    SCENARIOS[fn.__name__] = fn
    return fn


# -- FTP ------------------------------------------------------------------

def ftp_server():
    return peers.line_server(peers.FTPHandler, SCTX, blob=BLOB)


def ftp_session(port, context):
    ftp = ftplib.FTP_TLS(context=context, timeout=TIMEOUT)
    ftp.connect("localhost", port)
    try:
        ftp.login()
        note("client", ftp.sock)
        ftp.prot_p()
        got = []
        retr = ftp.retrbinary("RETR blob", got.append)
        stor = ftp.storbinary("STOR up", io.BytesIO(BLOB[::-1]))
        return [retr, sha(b"".join(got)), stor, ftp.quit()]
    finally:
        ftp.close()


@scenario
def ftp_tls(port_of):
    return ftp_session(port_of(ftp_server()), client_ctx())


@scenario
def ftp_tls_default_context(port_of):
    # FTP_TLS() without a context: ssl._create_stdlib_context()
    return ftp_session(port_of(ftp_server()), None)


@scenario
def ftp_tls_wrong_ca(port_of):
    return ftp_session(port_of(ftp_server()), client_ctx("other-ca.pem"))


# -- POP3 -----------------------------------------------------------------

def pop3_session(pop):
    try:
        note("client", pop.sock)
        pop.user("u")
        pop.pass_("p")
        resp, lines, octets = pop.retr(1)
        return [pop.stat(), resp.decode(), sha(b"\n".join(lines)), octets,
                pop.quit().decode()]
    finally:
        pop.close()


def line_port(port_of, handler, implicit_tls):
    return port_of(peers.line_server(handler, SCTX, implicit_tls, blob=BLOB))


@scenario
def pop3_ssl(port_of, ca="ca.pem"):
    return pop3_session(poplib.POP3_SSL(
        "localhost", line_port(port_of, peers.POP3Handler, True),
        context=client_ctx(ca), timeout=TIMEOUT))


@scenario
def pop3_stls(port_of):
    pop = poplib.POP3("localhost", line_port(port_of, peers.POP3Handler,
                                             False), timeout=TIMEOUT)
    reply = pop.stls()  # ssl._create_stdlib_context()
    return [reply.decode()] + pop3_session(pop)


@scenario
def pop3_ssl_wrong_ca(port_of):
    return pop3_ssl(port_of, "other-ca.pem")


# -- IMAP -----------------------------------------------------------------

def imap_session(imap):
    try:
        note("client", imap.sock)
        out = [imap.login("u", "p"), imap.select("INBOX")]
        typ, data = imap.fetch("1", "(BODY[])")
        out = [[t, [d.decode() for d in v]] for t, v in out]
        out.append([typ, sha(data[0][1])])
    except BaseException:
        imap.shutdown()
        raise
    return out + [imap.logout()[0]]  # logout() shuts the connection


@scenario
def imap4_ssl(port_of):
    return imap_session(imaplib.IMAP4_SSL(
        "localhost", line_port(port_of, peers.IMAPHandler, True),
        ssl_context=client_ctx(), timeout=TIMEOUT))


@scenario
def imap4_starttls(port_of):
    imap = imaplib.IMAP4("localhost", line_port(port_of, peers.IMAPHandler,
                                                False), timeout=TIMEOUT)
    typ, _ = imap.starttls()  # ssl._create_stdlib_context()
    return [typ] + imap_session(imap)


# -- SMTP -----------------------------------------------------------------

MAIL = b"Subject: kssl\r\n\r\n" + BLOB.replace(b"\n", b"\r\n") + b"\r\n"


def smtp_session(smtp, starttls_ctx=False):
    try:
        out = [smtp.ehlo()[0]]
        if starttls_ctx is not False:
            out.append(smtp.starttls(context=starttls_ctx)[0])
            out.append(smtp.ehlo()[0])
        note("client", smtp.sock)
        smtp.mail("a@localhost")
        smtp.rcpt("b@localhost")
        code, msg = smtp.data(MAIL)
        out += [code, msg.decode(), smtp.quit()[0]]
        return out
    finally:
        smtp.close()


def smtp_server(implicit_tls, received=None):
    return peers.line_server(peers.SMTPHandler, SCTX, implicit_tls,
                             received=[] if received is None else received)


@scenario
def smtp_ssl(port_of):
    port = port_of(smtp_server(True))
    return smtp_session(smtplib.SMTP_SSL("localhost", port,
                                         context=client_ctx(),
                                         timeout=TIMEOUT))


@scenario
def smtp_ssl_keyfile_certfile(port_of):
    # The deprecated keyfile/certfile arguments: smtplib builds the context
    # with ssl._create_stdlib_context(certfile=, keyfile=).
    port = port_of(smtp_server(True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        smtp = smtplib.SMTP_SSL("localhost", port, keyfile=cert("client.key"),
                                certfile=cert("client.pem"), timeout=TIMEOUT)
    return smtp_session(smtp)


@scenario
def smtp_starttls(port_of):
    port = port_of(smtp_server(False))
    return smtp_session(smtplib.SMTP("localhost", port, timeout=TIMEOUT),
                        None)  # None: ssl._create_stdlib_context()


@scenario
def smtp_starttls_wrong_ca(port_of):
    port = port_of(smtp_server(False))
    return smtp_session(smtplib.SMTP("localhost", port, timeout=TIMEOUT),
                        client_ctx("other-ca.pem"))


# -- HTTPS: http.client, urllib, http.server --------------------------------

def https_port(port_of, name="server", host="127.0.0.1", received=None):
    ctx = peers.server_context(cert, name)
    return port_of(peers.https_server(ctx, host, blob=BLOB,
                                      received=received))


def http_get(conn):
    try:
        conn.request("GET", "/blob")
        resp = conn.getresponse()
        # (an HTTP/1.0 reply: the connection passed its socket to resp)
        sock = resp.fp.raw._sock
        note("client", sock)
        version = sock.version()
        body = resp.read()
        return [resp.status, resp.getheader("Content-Length"), sha(body),
                version]
    finally:
        conn.close()


@scenario
def https_client(port_of):
    return http_get(http.client.HTTPSConnection(
        "localhost", https_port(port_of), context=client_ctx(),
        timeout=TIMEOUT))


@scenario
def https_client_default_context(port_of):
    # ssl._create_default_https_context(): the system CAs, not ours.
    return http_get(http.client.HTTPSConnection(
        "localhost", https_port(port_of), timeout=TIMEOUT))


@scenario
def https_unverified_idiom(port_of):
    # The scripts' idiom, then http.client and urllib without a context.
    saved = ssl._create_default_https_context
    ssl._create_default_https_context = ssl._create_unverified_context
    try:
        port = https_port(port_of)
        out = http_get(http.client.HTTPSConnection("localhost", port,
                                                   timeout=TIMEOUT))
        with urllib.request.urlopen("https://localhost:%d/blob" % port,
                                    timeout=TIMEOUT) as r:
            out.append(sha(r.read()))
        return out
    finally:
        ssl._create_default_https_context = saved


def urlopen(url, **kw):
    with urllib.request.urlopen(url, timeout=TIMEOUT, **kw) as r:
        return [r.status, sha(r.read())]


@scenario
def urlopen_context(port_of):
    return urlopen("https://localhost:%d/blob" % https_port(port_of),
                   context=client_ctx())


@scenario
def urlopen_cafile(port_of):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return urlopen("https://localhost:%d/blob" % https_port(port_of),
                       cafile=cert("ca.pem"))


@scenario
def urlopen_no_context(port_of):
    return urlopen("https://localhost:%d/blob" % https_port(port_of))


@scenario
def urlopen_wrong_ca(port_of):
    return urlopen("https://localhost:%d/blob" % https_port(port_of, "wrong"),
                   context=client_ctx())


@scenario
def urlopen_wrong_host(port_of):
    port = https_port(port_of, host="127.0.0.2")
    return urlopen("https://127.0.0.2:%d/blob" % port, context=client_ctx())


@scenario
def urlopen_expired(port_of):
    return urlopen("https://localhost:%d/blob" % https_port(port_of,
                                                            "expired"),
                   context=client_ctx())


# -- peers that misbehave -----------------------------------------------------

class RawServer(socketserver.ThreadingTCPServer):
    """Runs behaviour(sock) on each accepted TCP connection."""
    daemon_threads = True

    def __init__(self, behaviour):
        self.behaviour = behaviour
        super().__init__(("127.0.0.1", 0), socketserver.BaseRequestHandler)

    def finish_request(self, request, client_address):
        request.settimeout(TIMEOUT)
        try:
            self.behaviour(request)
        except OSError:
            pass

    def handle_error(self, request, client_address):
        pass


def tls_then(action):
    def behaviour(raw):
        tls = SCTX.wrap_socket(raw, server_side=True)
        action(tls)
    return behaviour


@scenario
def https_to_plain_http(port_of):
    # A TLS client talking to a plain-HTTP server.
    def plain(sock):
        sock.recv(4096)
        sock.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\nplain")
        sock.close()
    return http_get(http.client.HTTPSConnection(
        "localhost", port_of(RawServer(plain)), context=client_ctx(),
        timeout=TIMEOUT))


def read_hello_then(how):
    def behaviour(sock):
        sock.recv(4096)  # the ClientHello: read, so a close is a FIN
        if how == "rst":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                            b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()
    return behaviour


@scenario
def https_peer_fin_in_handshake(port_of):
    return http_get(http.client.HTTPSConnection(
        "localhost", port_of(RawServer(read_hello_then("fin"))),
        context=client_ctx(), timeout=TIMEOUT))


@scenario
def https_peer_rst_in_handshake(port_of):
    return http_get(http.client.HTTPSConnection(
        "localhost", port_of(RawServer(read_hello_then("rst"))),
        context=client_ctx(), timeout=TIMEOUT))


@scenario
def https_client_protocol_tlsv1_2(port_of):
    # The legacy pinned protocol: the stdlib negotiates TLS 1.2 only.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLSv1_2)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cert("ca.pem"))
    return http_get(http.client.HTTPSConnection(
        "localhost", https_port(port_of), context=ctx, timeout=TIMEOUT))


@scenario
def https_body_until_eof_no_close_notify(port_of):
    # HTTP/1.0 reply without Content-Length, ended by a close without
    # close_notify (as http.server's own SSLSocket.close() does).
    def reply(tls):
        tls.recv(4096)
        tls.sendall(b"HTTP/1.0 200 OK\r\n\r\n" + BLOB)
        tls.close()
    return http_get(http.client.HTTPSConnection(
        "localhost", port_of(RawServer(tls_then(reply))),
        context=client_ctx(), timeout=TIMEOUT))


@scenario
def https_client_cert_required(port_of):
    # TLS 1.3: the server's refusal (an alert) arrives after the client's
    # handshake. The server reads until the client closes, so the client
    # deterministically reads the alert (no RST for unread data).
    ctx = peers.server_context(cert)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cert("ca.pem"))

    def refuse(raw):
        keep = raw.dup()
        try:
            ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            while keep.recv(65536):
                pass
        finally:
            keep.close()
    return http_get(http.client.HTTPSConnection(
        "localhost", port_of(RawServer(refuse)), context=client_ctx(),
        timeout=TIMEOUT))


@scenario
def https_client_pinned_tls12(port_of):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cert("ca.pem"))
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    conn = http.client.HTTPSConnection("localhost", https_port(port_of),
                                       context=ctx, timeout=TIMEOUT)
    return http_get(conn)


@scenario
def pop3_server_vanishes(port_of):
    # The server closes the TCP connection (no close_notify) mid-session.
    def vanish(tls):
        tls.sendall(b"+OK hello\r\n")
        tls.recv(100)
        tls.close()
    pop = poplib.POP3_SSL("localhost", port_of(RawServer(tls_then(vanish))),
                          context=client_ctx(), timeout=TIMEOUT)
    try:
        pop.user("u")
        return pop.pass_("p")
    finally:
        pop.close()


@scenario
def pop3_server_silent_timeout(port_of):
    # A server that greets, then says nothing: the client's read times out
    # (the timeout is set after the handshake, so a slow machine cannot
    # turn it into a handshake timeout).
    def silent(tls):
        tls.sendall(b"+OK hello\r\n")
        while tls.recv(100):  # until the client gives up
            pass
    pop = poplib.POP3_SSL("localhost", port_of(RawServer(tls_then(silent))),
                          context=client_ctx(), timeout=TIMEOUT)
    try:
        pop.sock.settimeout(0.3)
        return pop.stat()
    finally:
        pop.close()


def server_reads_after(client_action):
    """A TLS server that reads until EOF; returns how its reads ended,
    after client_action(tls_client_socket) ran and closed the client."""
    import queue
    ended = queue.Queue()

    def serve(tls):
        got = 0
        try:
            while True:
                data = tls.recv(65536)
                if not data:
                    ended.put(["eof", got])
                    return
                if not got:
                    tls.sendall(b"!")  # one reply
                got += len(data)
        except Exception as e:  # reported to the client side
            ended.put(["raise", got, describe(e)])

    def run(port_of):
        port = port_of(RawServer(tls_then(serve)))
        raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        c = client_ctx().wrap_socket(raw, server_hostname="localhost")
        client_action(c)
        c.close()
        return ended.get(timeout=TIMEOUT)
    return run


@scenario
def server_read_client_closes_after_reading(port_of):
    # The client reads the server's reply (and its TLS 1.3 tickets), then
    # closes without close_notify: a FIN.
    def action(c):
        c.sendall(b"x" * 1000)
        c.recv(1)
    return server_reads_after(action)(port_of)


@scenario
def server_read_client_unwraps(port_of):
    def action(c):
        c.sendall(b"x" * 1000)
        c.recv(1)
        c.unwrap()
    return server_reads_after(action)(port_of)


@scenario
def client_unwrap_with_unread_data(port_of):
    # unwrap() while the server's reply is still unread: the stdlib's
    # shutdown reads it and fails (APPLICATION_DATA_AFTER_CLOSE_NOTIFY).
    def action(c):
        c.sendall(b"x" * 1000)
        c.unwrap()
    return server_reads_after(action)(port_of)


# -- socketserver, xmlrpc, logging ------------------------------------------

class EchoUpper(socketserver.StreamRequestHandler):
    def handle(self):
        note("server", self.connection)
        for line in self.rfile:
            self.wfile.write(line.upper())


@scenario
def socketserver_tls(port_of):
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), EchoUpper)
    srv.daemon_threads = True
    srv.socket = SCTX.wrap_socket(srv.socket, server_side=True)
    port = port_of(srv)
    raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    with client_ctx().wrap_socket(raw, server_hostname="localhost") as c:
        lines = [b"line %d %s\n" % (i, BLOB[i:i + 40].hex().encode())
                 for i in range(200)]
        c.sendall(b"".join(lines))
        f = c.makefile("rb")
        got = [f.readline() for _ in lines]
        note("client", c)
        f.close()
        return [c.version() is not None, sha(b"".join(got)),
                b"".join(got) == b"".join(lines).upper()]


class XMLRPCServer(xmlrpc.server.SimpleXMLRPCServer):
    daemon_threads = True


@scenario
def xmlrpc_https(port_of):
    srv = XMLRPCServer(("127.0.0.1", 0), logRequests=False)
    srv.register_function(lambda b: sha(b.data), "digest")
    srv.register_function(lambda: 1 / 0, "fail")
    srv.socket = SCTX.wrap_socket(srv.socket, server_side=True)
    port = port_of(srv)
    with xmlrpc.client.ServerProxy("https://localhost:%d" % port,
                                   context=client_ctx()) as proxy:
        out = [proxy.digest(xmlrpc.client.Binary(BLOB))]
        try:
            proxy.fail()
        except xmlrpc.client.Fault as e:
            out.append(e.faultCode)
        return out


class RecordingMixin:
    errors = None

    def handleError(self, record):
        self.errors.append(describe(sys.exc_info()[1]))


@scenario
def logging_smtp_handler(port_of):
    received = []
    port = port_of(smtp_server(False, received))
    handler = type("H", (RecordingMixin, logging.handlers.SMTPHandler),
                   {"errors": []})(("localhost", port), "a@localhost",
                                   ["b@localhost"], "kssl", secure=(),
                                   timeout=TIMEOUT)
    record = logging.makeLogRecord({"msg": "x" * 5000, "levelname": "INFO"})
    handler.emit(record)
    return [len(received), handler.errors]


class FixedFields:
    def mapLogRecord(self, record):
        return {"msg": record.msg}  # no timestamps: the body is compared


@scenario
def logging_http_handler(port_of):
    received = []
    port = https_port(port_of, received=received)
    handler = type("H", (RecordingMixin, FixedFields,
                         logging.handlers.HTTPHandler),
                   {"errors": []})("localhost:%d" % port, "/log", "POST",
                                   secure=True, context=client_ctx())
    handler.emit(logging.makeLogRecord({"msg": "y" * 3000}))
    return [received, handler.errors]


# -- asyncio ----------------------------------------------------------------

async def _echo(reader, writer):
    data = await reader.readexactly(len(BLOB))
    writer.write(hashlib.sha256(data).digest())
    await writer.drain()
    writer.close()


async def streams(ca):
    server = await asyncio.start_server(_echo, "127.0.0.1", 0, ssl=SCTX)
    port = server.sockets[0].getsockname()[1]
    async with server:
        reader, writer = await asyncio.open_connection(
            "localhost", port, ssl=client_ctx(ca))
        obj = writer.get_extra_info("ssl_object")
        writer.write(BLOB)
        reply = await reader.read()
        writer.close()
        await writer.wait_closed()
        return [reply.hex(), type(obj).__name__]


@scenario
def asyncio_streams(port_of):
    return asyncio.run(streams("ca.pem"))


@scenario
def asyncio_streams_wrong_ca(port_of):
    return asyncio.run(streams("other-ca.pem"))


class _Proto(asyncio.Protocol):
    def __init__(self, done=None):
        self.data = bytearray()
        self.done = done

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.data += data
        if self.done is None and len(self.data) == len(BLOB):
            self.transport.write(hashlib.sha256(self.data).digest())

    def connection_lost(self, exc):
        if self.done is not None and not self.done.done():
            self.done.set_result(bytes(self.data))


async def protocols():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Proto, "127.0.0.1", 0, ssl=SCTX)
    port = server.sockets[0].getsockname()[1]
    done = loop.create_future()
    transport, proto = await loop.create_connection(
        lambda: _Proto(done), "localhost", port, ssl=client_ctx())
    transport.write(BLOB)
    while len(proto.data) < 32:
        await asyncio.sleep(0.01)
    info = [transport.get_extra_info("cipher")[1],
            type(transport.get_extra_info("ssl_object")).__name__]
    transport.close()
    server.close()
    await server.wait_closed()
    return [bytes(proto.data).hex()] + info


@scenario
def asyncio_protocols(port_of):
    return asyncio.run(protocols())


async def start_tls():
    # StreamWriter.start_tls (3.11) on both sides: loop.start_tls() with
    # server_side=True on the server's transport, False on the client's.
    async def serve(reader, writer):
        line = await reader.readline()
        writer.write(b"GO " + line)
        await writer.drain()
        await writer.start_tls(SCTX)
        data = await reader.readexactly(len(BLOB))
        writer.write(hashlib.sha256(data).digest())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"STARTTLS\n")
        go = await reader.readline()
        await writer.start_tls(client_ctx(), server_hostname="localhost")
        writer.write(BLOB)
        reply = await reader.read()
        obj = writer.get_extra_info("ssl_object")
        writer.close()
        await writer.wait_closed()
        return [go.decode(), reply.hex(), type(obj).__name__]


@scenario
def asyncio_start_tls(port_of):
    return asyncio.run(start_tls())


# -- the runner -------------------------------------------------------------

def describe(e):
    """An exception as the fields a program can branch on."""
    if e is None:
        return None
    out = {"class": type(e).__module__ + "." + type(e).__qualname__,
           "message": str(e)}
    for attr in ("errno", "reason", "library", "verify_code",
                 "verify_message"):
        value = getattr(e, attr, None)
        if isinstance(value, BaseException):
            value = describe(value)
        out[attr] = value
    if isinstance(e, urllib.error.URLError) and isinstance(e.reason,
                                                           BaseException):
        out["reason"] = describe(e.reason)
    return out


def run(name):
    servers = []

    def port_of(server):
        servers.append(server)
        return peers.start(server)
    del peers.NOTES[:]
    del peers.SERVER_ERRORS[:]
    try:
        outcome = {"result": json.loads(json.dumps(SCENARIOS[name](port_of),
                                                   default=repr))}
    except Exception as e:  # the outcome to compare
        outcome = {"error": describe(e)}
    finally:
        for server in servers:
            peers.stop(server)
    outcome["sockets"] = list(peers.NOTES)
    outcome["server_errors"] = [describe(e) for e in peers.SERVER_ERRORS]
    return outcome


def main(names):
    global SCTX
    SCTX = peers.server_context(cert)
    names = names or list(SCENARIOS)
    report = {"ssl": ssl.__name__, "scenarios": {}}
    for name in names:
        report["scenarios"][name] = run(name)
    json.dump(report, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
