"""The end of the transport without close_notify (a "ragged EOF"): kssl
gives exactly what the stdlib gives, read after read.

The peer is always a stdlib endpoint; the side under test is run once
with ssl and once with kssl, and the sequences of results (data, b"",
exception class, errno, reason, library, message) are compared. The
peer ends the TCP stream in one of three ways:

  fin      close() after its data: a FIN
  rst      SO_LINGER 0 then close(): an RST
  tickets  a TLS 1.3 client that closes without reading the server's
           session tickets: its kernel answers with an RST (the case
           seen in the wild)

The reader reads the peer's last data, lets the peer end the stream, and
waits until its kernel has seen the FIN or RST before reading on, so both
runs see the same kernel events in the same order. In the kTLS VM the kssl side
reads through kernel TLS (asserted).
"""
import http.client
import itertools
import re
import select
import socket
import ssl
import struct
import tempfile
import threading
import unittest

import kssl
from support import (IN_VM, KTLS, TIMEOUT, Peer, client_ctx, listener,
                     payload, server_ctx)

V12, V13 = ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3
MODES = ("blocking", "timeout", "nonblocking", "makefile", "recv_into")
# (suppress_ragged_eofs, OP_IGNORE_UNEXPECTED_EOF)
FLAGS = ((True, True), (True, False), (False, True), (False, False))
VERSIONS = (V12, V13)
if IN_VM:
    # The emulated CPU is slow: the kernel RX paths (a blocking wait in
    # poll without the lock, a non-blocking read) with the two extreme
    # settings, TLS 1.3 (kernel RX for TLS 1.2 is the same read path).
    MODES = ("blocking", "nonblocking")
    FLAGS = ((True, True), (False, False))
    VERSIONS = (V13,)


def describe(e):
    """Everything a program can look at in an exception. The text of
    plain OSErrors (ConnectionResetError) is left to test_errors: kssl's
    names the operation."""
    # Whole, the stdlib's source position "(_ssl.c:NNN)" included.
    text = str(e)
    if not isinstance(e, ssl.SSLError):
        text = None
    return (type(e), getattr(e, "errno", None), getattr(e, "reason", None),
            getattr(e, "library", None), text)


def set_ignore(ctx, ignore):
    # Explicit both ways: CPython 3.11.2 sets OP_IGNORE_UNEXPECTED_EOF by
    # default, later versions do not.
    if ignore:
        ctx.options |= ssl.OP_IGNORE_UNEXPECTED_EOF
    else:
        ctx.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF


def end_stream(sock, how):
    raw = socket.socket(fileno=sock.detach())
    if how == "rst":
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                       struct.pack("ii", 1, 0))
    elif how == "tickets":
        # The tickets are in our receive queue, unread: close() sends RST.
        select.select([raw], [], [], TIMEOUT)
    raw.close()


def stdlib_server(ls, how, version, go):
    ctx = server_ctx(ssl)
    ctx.maximum_version = version
    with ls:
        raw, _ = ls.accept()
    raw.settimeout(TIMEOUT)
    tls = ctx.wrap_socket(raw, server_side=True)
    tls.recv(10)
    tls.sendall(b"last")
    go.wait(TIMEOUT)
    end_stream(tls, how)


def stdlib_client(port, how, version, go):
    ctx = client_ctx(ssl)
    ctx.maximum_version = version
    raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    tls = ctx.wrap_socket(raw, server_hostname="localhost")
    if how != "tickets":
        tls.recv(10)  # also consumes the TLS 1.3 tickets before it
    tls.sendall(b"last")
    go.wait(TIMEOUT)
    end_stream(tls, how)


def wait_hangup(sock):
    """Until the kernel has taken the peer's FIN or RST."""
    p = select.poll()
    p.register(sock.fileno(), select.POLLRDHUP)
    for _ in range(int(TIMEOUT * 10)):
        if any(ev & (select.POLLRDHUP | select.POLLHUP | select.POLLERR)
               for _, ev in p.poll(100)):
            return
    raise AssertionError("the peer's end of stream never arrived")


def read_once(s, mode, first=False):
    if mode == "nonblocking":
        while True:
            try:
                return s.recv(100)
            except ssl.SSLWantReadError:
                select.select([s], [], [], TIMEOUT)
    if mode == "makefile":
        with s.makefile("rb") as f:
            return f.read(4) if first else f.read()
    if mode == "recv_into":
        buf = bytearray(100)
        n = s.recv_into(buf)
        return bytes(buf[:n])
    return s.recv(100)


def outcome(fn):
    try:
        return fn()
    except Exception as e:  # compared by the caller
        return describe(e)


class RaggedEofTest(unittest.TestCase):

    def open_pair(self, mod, role, how, version, suppress, ignore):
        """(our socket, peer, go): the peer ends its stream after go.set()."""
        ls = listener()
        go = threading.Event()
        if role == "client":
            port = ls.getsockname()[1]
            peer = Peer(stdlib_server, ls, how, version, go).start()
            ctx = client_ctx(mod)
            raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
            wrap = dict(server_hostname="localhost")
        else:
            peer = Peer(stdlib_client, ls.getsockname()[1], how, version, go).start()
            ctx = server_ctx(mod)
            with ls:
                raw, _ = ls.accept()
            raw.settimeout(TIMEOUT)
            wrap = dict(server_side=True)
        set_ignore(ctx, ignore)
        s = ctx.wrap_socket(raw, suppress_ragged_eofs=suppress, **wrap)
        if how != "tickets":
            s.sendall(b"hi")
        if mod is kssl and IN_VM and KTLS:
            off = s.offload
            if off.rx == "pending":
                # A client keeps sessions (as the stdlib's do), so its RX
                # waits for the server's TLS 1.3 tickets, i.e. the first
                # application record; it has read none yet.
                self.assertFalse(wrap.get("server_side"), off.rx_reason)
                self.assertIn("session tickets", off.rx_reason)
            else:
                self.assertEqual(off.rx, "kernel", off.rx_reason)
        return s, peer, go

    def end_peer(self, s, peer, go):
        go.set()
        peer.result()
        wait_hangup(s)

    def sequence(self, mod, role, how, version, suppress, ignore, mode):
        s, peer, go = self.open_pair(mod, role, how, version, suppress, ignore)
        if mode == "blocking":
            s.settimeout(None)
        elif mode == "nonblocking":
            s.setblocking(False)
        with s:
            self.assertEqual(read_once(s, mode, first=True), b"last")
            self.end_peer(s, peer, go)
            got = [outcome(lambda: read_once(s, mode)) for _ in range(4)]
            s.setblocking(True)
            # Writes of 0, 1 and 2 bytes: OpenSSL's BAD_LENGTH for writes
            # shorter than a record it could not send (after an RST).
            got += [outcome(lambda: s.send(data)) for data in
                    (b"x", b"x", b"", b"xy", b"x")]
        return got

    def test_read_sequences(self):
        cases = [(role, how, version)
                 for role in ("client", "server") for how in ("fin", "rst")
                 for version in VERSIONS]
        cases.append(("server", "tickets", V13))
        for role, how, version in cases:
            for suppress, ignore in FLAGS:
                for mode in MODES:
                    args = (role, how, version, suppress, ignore, mode)
                    with self.subTest(args=args):
                        self.check_sequence(args)

    def check_sequence(self, args):
        how, ignore = args[1], args[4]
        ours, theirs = self.sequence(kssl, *args), self.sequence(ssl, *args)
        self.assertEqual(ours, theirs)
        # Not vacuous: the stdlib cases that used to differ.
        if how == "fin" and ignore:
            # The first write after a FIN read as b"" still goes out.
            self.assertEqual(theirs[4], 1)
        elif how != "fin" and not ignore:
            # After an RST and UNEXPECTED_EOF, OpenSSL holds its unsent
            # decode_error alert: writes shorter than 2 bytes are
            # BAD_LENGTH, longer ones SSLEOFError.
            self.assertEqual([x[2] for x in theirs[4:]],
                             ["BAD_LENGTH"] * 3 + [None, "BAD_LENGTH"])

    def test_writes_first(self):
        # Writing (sendfile, sendall) into a stream the peer ended, before
        # reading its end: the write error, then what reads give after it.
        with tempfile.TemporaryFile() as f:
            f.write(payload(1 << 22))
            for how in ("fin", "rst"):
                for ignore in (True, False):
                    for role in ("client", "server"):
                        args = (role, how, ignore)
                        with self.subTest(args=args):
                            self.assertEqual(self.writes(kssl, f, *args),
                                             self.writes(ssl, f, *args))

    def writes(self, mod, f, role, how, ignore):
        s, peer, go = self.open_pair(mod, role, how, V13, True, ignore)
        with s:
            self.assertEqual(s.recv(100), b"last")
            self.end_peer(s, peer, go)
            f.seek(0)
            return [outcome(lambda: s.sendfile(f)),
                    outcome(lambda: s.sendall(b"x" * 100000)),
                    outcome(lambda: s.recv(100)), outcome(lambda: s.recv(100))]

    def test_unwrap_after_end_of_stream(self):
        # unwrap() after the peer's FIN or RST: before reading it, after
        # reading it (once, twice), after a failed write, after a write
        # that failed following a reported RST; reads after such a write
        # without unwrap(); each then followed by reads, a write,
        # version() and getpeercert(). The stdlib's follow
        # OpenSSL's shutdown flags and error state (SHUTDOWN_WHILE_IN_INIT,
        # BrokenPipeError, SSLZeroReturnError, version() None).
        for role, how, version in itertools.product(
                ("client", "server"), ("fin", "rst"), VERSIONS):
            for suppress, ignore in FLAGS:
                for steps in ("u", "ru", "wu", "rru", "rwu", "wru",
                              "rwru", "wwu", "rw", "rrw", "wrw"):
                    args = (role, how, version, suppress, ignore, steps)
                    with self.subTest(args=args):
                        self.check_unwrap(args)

    def check_unwrap(self, args):
        how, ignore, steps = args[1], args[4], args[5]
        ours, theirs = self.unwrap_after(kssl, *args), self.unwrap_after(ssl, *args)
        self.assertEqual(ours, theirs)
        # Not vacuous: the stdlib answers that used to differ.
        at = steps.find("u")
        if steps == "wu":
            # close_notify waits behind the record the write left: errno
            # of that write.
            self.assertIn(theirs[at][0], (BrokenPipeError, ConnectionResetError))
        elif steps == "ru" and how == "fin" and not ignore:
            self.assertEqual(theirs[at][2], "SHUTDOWN_WHILE_IN_INIT")
            self.assertIsNone(theirs[-2])  # version()
        elif steps == "rru" and how == "rst" and ignore:
            # The peer's end read as close_notify, close_notify failed to
            # go out: ZERO_RETURN, and so is the read after it.
            self.assertEqual(theirs[at][0], ssl.SSLZeroReturnError)
            self.assertEqual(theirs[at + 1][0], ssl.SSLZeroReturnError)
        elif steps == "rw" and how == "rst":
            # The failed write leaves its record: a shorter write is
            # OpenSSL's fatal BAD_LENGTH, then version() None.
            self.assertEqual(theirs[1][0], ssl.SSLEOFError)
            self.assertEqual(theirs[4][2], "BAD_LENGTH")
            self.assertIsNone(theirs[5])

    STEPS = {"r": lambda s: lambda: s.recv(100),
             "w": lambda s: lambda: s.send(b"x" * 100000),
             "u": lambda s: lambda: s.unwrap() and "unwrapped"}

    def unwrap_after(self, mod, role, how, version, suppress, ignore, steps):
        s, peer, go = self.open_pair(mod, role, how, version, suppress, ignore)
        got = []
        with s:
            self.assertEqual(s.recv(100), b"last")
            self.end_peer(s, peer, go)
            for step in steps:
                got.append(outcome(self.STEPS[step](s)))
            if "unwrapped" not in got:
                got += [outcome(lambda: s.recv(100)) for _ in range(2)]
                got.append(outcome(lambda: s.send(b"x")))
            elif not (IN_VM and KTLS):
                # Reads on the socket unwrap() gave back (a send there
                # races the peer's RST). With kernel RX that socket keeps
                # kTLS, which reports the RST before the FIN
                # (docs/python.md, "Differences").
                got += [outcome(lambda: s.recv(100)) for _ in range(2)]
            got += [s.version(),
                    outcome(lambda: s.getpeercert(True) is not None)]
        return got

    def test_handshake_eof(self):
        # The peer takes the ClientHello and ends the stream.
        def run(mod, how, ignore):
            ls = listener()

            def server():
                with ls:
                    raw, _ = ls.accept()
                with raw:
                    raw.recv(65536)
                    end_stream(raw, how)
            peer = Peer(server).start()
            ctx = client_ctx(mod)
            set_ignore(ctx, ignore)
            raw = socket.create_connection(("127.0.0.1", ls.getsockname()[1]),
                                           timeout=TIMEOUT)
            with raw:
                got = outcome(lambda: ctx.wrap_socket(
                    raw, server_hostname="localhost"))
            peer.result()
            return got
        for how in ("fin", "rst"):
            for ignore in (True, False):
                with self.subTest(how=how, ignore=ignore):
                    self.assertEqual(run(kssl, how, ignore),
                                     run(ssl, how, ignore))

    def test_default_settings_read_as_end_of_data(self):
        # The case: default context, a TLS 1.3 client closes
        # without reading the tickets; the server reads its data, then b"".
        s, peer, go = self.open_pair(kssl, "server", "tickets", V13, True, True)
        with s:
            self.assertEqual(s.recv(100), b"last")
            self.end_peer(s, peer, go)
            self.assertEqual([s.recv(100), s.recv(100)], [b"", b""])


class HttpContentLengthTest(unittest.TestCase):
    """http.client reads a Content-Length body from a server that closes
    without close_notify (both directions of the stack: kssl client against
    a stdlib server, stdlib client against a kssl server)."""

    BODY = b"0123456789" * 1000

    def server(self, mod, ls):
        ctx = server_ctx(mod)
        with ls:
            raw, _ = ls.accept()
        raw.settimeout(TIMEOUT)
        tls = ctx.wrap_socket(raw, server_side=True)
        req = b""
        while b"\r\n\r\n" not in req:
            req += tls.recv(4096)
        tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n"
                    b"Connection: close\r\n\r\n" % len(self.BODY) + self.BODY)
        end_stream(tls, "fin")

    def fetch(self, client_mod, server_mod):
        ls = listener()
        peer = Peer(self.server, server_mod, ls).start()
        ctx = client_ctx(client_mod)
        conn = http.client.HTTPSConnection("localhost", ls.getsockname()[1],
                                           context=ctx, timeout=TIMEOUT)
        try:
            conn.request("GET", "/")
            resp = conn.getresponse()
            body = resp.read()
            extra = resp.read()
        finally:
            conn.close()
        peer.result()
        return resp.status, body, extra

    def test_kssl_client(self):
        self.assertEqual(self.fetch(kssl, ssl), self.fetch(ssl, ssl))
        self.assertEqual(self.fetch(kssl, ssl), (200, self.BODY, b""))

    def test_kssl_server(self):
        self.assertEqual(self.fetch(ssl, kssl), (200, self.BODY, b""))


if __name__ == "__main__":
    unittest.main()
