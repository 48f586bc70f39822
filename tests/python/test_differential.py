"""Same calls on the stdlib ssl module and on kssl: same results, same
exception classes. The peer is always a stdlib ssl endpoint."""
import socket
import ssl
import threading
import unittest

import kssl
from support import (TIMEOUT, Peer, cert, client_ctx, connect, listener,
                     serve, server_ctx)

MODS = (ssl, kssl)
CA_PEM = None


def setUpModule():
    global CA_PEM
    with open(cert("ca.pem")) as f:
        CA_PEM = f.read()


def outcome(fn):
    """('ok', value) or ('raise', exception class, exception)."""
    try:
        return ("ok", fn())
    except Exception as e:  # compared by the caller
        return ("raise", type(e), e)


class ContextDifferentialTest(unittest.TestCase):

    def ctx_view(self, ctx):
        return dict(
            protocol=ctx.protocol, verify_mode=ctx.verify_mode,
            check_hostname=ctx.check_hostname, options=ctx.options,
            minimum_version=ctx.minimum_version,
            maximum_version=ctx.maximum_version,
            verify_flags=ctx.verify_flags, security_level=ctx.security_level,
            num_tickets=ctx.num_tickets,
            post_handshake_auth=ctx.post_handshake_auth,
            hostname_checks_common_name=ctx.hostname_checks_common_name,
            ciphers=[c["name"] for c in ctx.get_ciphers()],
            stats=ctx.cert_store_stats())

    def test_default_contexts(self):
        for make in (lambda m: m.create_default_context(),
                     lambda m: m.create_default_context(m.Purpose.CLIENT_AUTH),
                     lambda m: m.create_default_context(cafile=cert("ca.pem")),
                     lambda m: m.SSLContext(m.PROTOCOL_TLS_CLIENT),
                     lambda m: m.SSLContext(m.PROTOCOL_TLS_SERVER)):
            a, b = make(ssl), make(kssl)
            self.assertIsInstance(b, kssl.SSLContext)
            self.assertEqual(self.ctx_view(a), self.ctx_view(b))

    def test_setters_and_errors(self):
        steps = [
            lambda c: setattr(c, "minimum_version", ssl.TLSVersion.TLSv1_3),
            lambda c: setattr(c, "options", c.options | ssl.OP_NO_TICKET),
            lambda c: setattr(c, "verify_mode", ssl.CERT_NONE),  # ValueError
            lambda c: setattr(c, "check_hostname", False),
            lambda c: setattr(c, "verify_mode", ssl.CERT_OPTIONAL),
            lambda c: c.set_ciphers("NOT-A-CIPHER"),                # SSLError
            lambda c: c.set_ciphers("ECDHE+AESGCM"),
            lambda c: c.set_alpn_protocols(["h2", "http/1.1"]),
            lambda c: c.set_alpn_protocols(["x" * 300]),            # ValueError
            lambda c: c.load_cert_chain("/nonexistent.pem"),        # FileNotFound
            lambda c: c.load_cert_chain(cert("server.pem"), cert("client.key")),
            lambda c: c.load_verify_locations(cafile="/nonexistent"),
            lambda c: c.load_verify_locations(cadata="garbage"),
            lambda c: c.load_verify_locations(cadata=CA_PEM),
            lambda c: setattr(c, "num_tickets", 1),                 # client: ValueError
            lambda c: c.set_ecdh_curve("prime256v1"),
            lambda c: c.set_ecdh_curve("no-such-curve"),
        ]
        ctxs = [m.create_default_context() for m in MODS]
        for i, step in enumerate(steps):
            a, b = (outcome(lambda: step(c)) for c in ctxs)
            self.assertEqual(a[:2], b[:2], "step %d: %r vs %r" % (i, a, b))
            if a[0] == "raise":
                self.assertEqual(str(a[2]), str(b[2]), "step %d" % i)
            self.assertEqual(ContextDifferentialTest.ctx_view(self, ctxs[0]),
                             ContextDifferentialTest.ctx_view(self, ctxs[1]),
                             "step %d" % i)

    def test_role_mismatch(self):
        for m in MODS:
            ctx = m.SSLContext(m.PROTOCOL_TLS_CLIENT)
            with socket.socket() as s, self.assertRaisesRegex(
                    ValueError, "check_hostname requires server_hostname"):
                ctx.wrap_socket(s)
            ctx.check_hostname = False
            port, peer = serve(server_ctx(ssl), lambda s: None)
            with socket.create_connection(("127.0.0.1", port)) as s, \
                    self.assertRaisesRegex(ssl.SSLError, "PROTOCOL_TLS_CLIENT"):
                ctx.wrap_socket(s, server_side=True)
            peer.result(raise_error=False)
            sctx = m.SSLContext(m.PROTOCOL_TLS_SERVER)
            port, peer = serve(server_ctx(ssl), lambda s: None)
            with socket.create_connection(("127.0.0.1", port)) as s, \
                    self.assertRaisesRegex(ssl.SSLError, "PROTOCOL_TLS_SERVER"):
                sctx.wrap_socket(s)
            peer.result(raise_error=False)


class ConnectionDifferentialTest(unittest.TestCase):
    """Run one client scenario with ssl and with kssl; compare."""

    def both(self, scenario):
        return [outcome(lambda: scenario(m)) for m in MODS]

    def assert_same(self, results, compare_value=True):
        (ka, *ra), (kb, *rb) = results
        self.assertEqual(ka, kb, results)
        if ka == "raise":
            self.assertIs(ra[0], rb[0], results)
        elif compare_value:
            self.assertEqual(ra[0], rb[0])
        return results

    def client_run(self, mod, sctx, body, cctx=None, hostname="localhost",
                   handler=None, **wrap_kw):
        def default_handler(s):
            s.sendall(b"hello")
            s.recv(10)
        port, peer = serve(sctx, handler or default_handler)
        try:
            with connect(cctx or client_ctx(mod), port, hostname, **wrap_kw) as c:
                return body(c)
        finally:
            peer.result(raise_error=False)

    def test_verify_failures(self):
        cases = [("wrong", "localhost"), ("expired", "localhost"),
                 ("server", "example.com"), ("server", "127.0.0.2")]
        for certname, host in cases:
            with self.subTest(cert=certname, host=host):
                res = self.both(lambda m: self.client_run(
                    m, server_ctx(ssl, certname), lambda c: c.version(),
                    hostname=host))
                self.assert_same(res)
                a, b = res[0][2], res[1][2]
                self.assertIsInstance(b, ssl.SSLCertVerificationError)
                self.assertEqual(a.verify_code, b.verify_code)
                self.assertEqual(a.verify_message, b.verify_message)
                self.assertEqual((a.library, a.reason), (b.library, b.reason))
                self.assertEqual(a.errno, b.errno)
                # OpenSSL's text, as the stdlib spells it, line included
                self.assertEqual(str(a), str(b))
                self.assertEqual(a.args, b.args)

    def assert_same_exception(self, a, b):
        self.assertIs(type(a), type(b), (a, b))
        self.assertEqual(str(a), str(b))
        self.assertEqual(a.args, b.args)
        for attr in ("errno", "library", "reason", "verify_code",
                     "verify_message"):
            self.assertEqual(getattr(a, attr, None), getattr(b, attr, None),
                             attr)

    def test_alert_message(self):
        # The server (ssl or kssl) receives the stdlib client's unknown_ca
        # alert: "[SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca
        # (_ssl.c:NNN)" from both.
        def scenario(m):
            port, peer = serve(server_ctx(m), lambda s: s.recv(5))
            untrusting = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            try:
                connect(untrusting, port).close()
            except ssl.SSLError:
                pass
            return peer.result()
        res = self.assert_same(self.both(scenario))
        self.assertEqual(res[1][2].reason, "TLSV1_ALERT_UNKNOWN_CA")
        self.assert_same_exception(res[0][2], res[1][2])

    def test_eof_in_handshake_message(self):
        # The peer reads the ClientHello and closes the TCP connection.
        def scenario(m):
            ls = listener()
            port = ls.getsockname()[1]

            def run():
                with ls:
                    raw, _ = ls.accept()
                with raw:
                    raw.recv(16384)
                    raw.shutdown(socket.SHUT_WR)
                    raw.recv(16384)
            peer = Peer(run).start()
            try:
                connect(client_ctx(m), port).close()
            finally:
                peer.result(raise_error=False)
        res = self.assert_same(self.both(scenario))
        self.assert_same_exception(res[0][2], res[1][2])

    def test_tls_unique_matches_the_peer(self):
        # Both ends of one handshake see the same first Finished: the
        # stdlib client's value is kssl's (libkssl's kssl_conn_tls_unique).
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            with self.subTest(version=version):
                sctx = server_ctx(kssl)
                sctx.maximum_version = version
                port, peer = serve(
                    sctx, lambda s: (s.recv(1),
                                     s.get_channel_binding("tls-unique")))
                with connect(client_ctx(ssl), port) as c:
                    ours = c.get_channel_binding("tls-unique")
                    c.sendall(b"x")
                    theirs = peer.result()[1]
                self.assertIsInstance(ours, bytes)
                self.assertGreater(len(ours), 0)
                self.assertEqual(ours, theirs)

    def test_wrong_version(self):
        def scenario(m):
            cctx = client_ctx(m)
            cctx.maximum_version = ssl.TLSVersion.TLSv1_2
            sctx = server_ctx(ssl)
            sctx.minimum_version = ssl.TLSVersion.TLSv1_3
            return self.client_run(m, sctx, lambda c: c.version(), cctx=cctx)
        res = self.assert_same(self.both(scenario))
        self.assertIs(res[1][1], ssl.SSLError)
        self.assertEqual(res[0][2].reason, res[1][2].reason)

    def test_connection_info(self):
        def info(c):
            return dict(cert=c.getpeercert(), der=c.getpeercert(True),
                        cipher=c.cipher(), version=c.version(),
                        alpn=c.selected_alpn_protocol(),
                        compression=c.compression(),
                        shared=c.shared_ciphers(), pending=c.pending(),
                        cb=type(c.get_channel_binding("tls-unique")),
                        server_side=c.server_side,
                        server_hostname=c.server_hostname,
                        reused=c.session_reused)
        for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
            with self.subTest(version=version):
                def scenario(m):
                    cctx = client_ctx(m)
                    cctx.maximum_version = version
                    cctx.set_alpn_protocols(["h2", "http/1.1"])
                    sctx = server_ctx(ssl)
                    sctx.set_alpn_protocols(["http/1.1"])
                    return self.client_run(m, sctx, info, cctx=cctx)
                res = self.assert_same(self.both(scenario), compare_value=False)
                a, b = res[0][1], res[1][1]
                self.assertEqual(a, b)
                self.assertEqual(b["alpn"], "http/1.1")
                self.assertEqual(len(b["cipher"]), 3)

    def test_server_side_info(self):
        # kssl (or ssl) as the server, a stdlib client with a certificate.
        def scenario(m):
            sctx = server_ctx(m)
            sctx.verify_mode = ssl.CERT_REQUIRED
            sctx.load_verify_locations(cert("ca.pem"))

            def handler(s):
                return dict(cert=s.getpeercert(), version=s.version(),
                            cipher=s.cipher(), server_side=s.server_side,
                            shared=s.shared_ciphers(),
                            hostname=s.server_hostname, data=s.recv(5))
            port, peer = serve(sctx, handler)
            cctx = client_ctx(ssl)
            cctx.load_cert_chain(cert("client.pem"), cert("client.key"))
            with connect(cctx, port) as c:
                c.sendall(b"hello")
                return peer.result()
        res = self.assert_same(self.both(scenario), compare_value=False)
        a, b = res[0][1], res[1][1]
        # shared_ciphers() as this CPython's: the server's ciphers the
        # client offered (>= 3.11.4) or the server's whole list (3.11.2).
        self.assertEqual(a, b)
        self.assertTrue(b["shared"])

    def test_shared_ciphers(self):
        # Exactly the stdlib's list (order included), both roles, with
        # restricted cipher strings on either side, and before the
        # handshake (do_handshake_on_connect=False).
        v12 = ssl.TLSVersion.TLSv1_2
        cases = [(None, None, None),
                 (None, "ECDHE-RSA-AES128-GCM-SHA256:AES256-SHA", None),
                 ("ECDHE+AESGCM", None, None),
                 ("ECDHE+AESGCM:ECDHE+CHACHA20",
                  "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256",
                  v12)]
        for sciphers, cciphers, maxv in cases:
            for side in ("server", "client"):
                def scenario(m):
                    sm, cm = (m, ssl) if side == "server" else (ssl, m)
                    sctx, cctx = server_ctx(sm), client_ctx(cm)
                    if sciphers:
                        sctx.set_ciphers(sciphers)
                    if cciphers:
                        cctx.set_ciphers(cciphers)
                    if maxv:
                        cctx.maximum_version = maxv

                    def handler(s):
                        s.do_handshake()
                        return s.shared_ciphers()
                    port, peer = serve(sctx, handler, wrap_kw=dict(
                        do_handshake_on_connect=False))
                    with connect(cctx, port, do_handshake_on_connect=False) \
                            as c:
                        before = c.shared_ciphers()
                        c.do_handshake()
                        after = c.shared_ciphers()
                    return dict(server=peer.result(), client_before=before,
                                client=after)
                with self.subTest(side=side, s=sciphers, c=cciphers):
                    res = self.assert_same(self.both(scenario),
                                           compare_value=False)
                    self.assertEqual(res[0][1], res[1][1])
                    self.assertTrue(res[1][1]["server"])

    def test_client_cert_missing(self):
        def scenario(m):
            sctx = server_ctx(m)
            sctx.verify_mode = ssl.CERT_REQUIRED
            sctx.load_verify_locations(cert("ca.pem"))
            port, peer = serve(sctx, lambda s: s.recv(5))
            with connect(client_ctx(ssl), port) as c:
                try:
                    c.sendall(b"hello")
                    c.recv(5)
                except (ssl.SSLError, OSError):
                    pass
            return peer.result()
        res = self.assert_same(self.both(scenario))
        self.assertEqual(res[0][2].reason, res[1][2].reason)

    def test_recv_after_close_notify(self):
        def handler(s):
            s.sendall(b"last words")
            s.unwrap()
        for ragged in (True, False):
            res = self.both(lambda m: self.client_run(
                m, server_ctx(ssl), lambda c: [c.recv(100), c.recv(100),
                                               c.recv(100)],
                handler=handler, suppress_ragged_eofs=ragged))
            self.assert_same(res)
            self.assertEqual(res[1][1], [b"last words", b"", b""])

    def test_recv_after_ragged_eof(self):
        # A bare TCP FIN (no close_notify). What the stdlib does depends on
        # its default options: Debian's 3.11.2 sets OP_IGNORE_UNEXPECTED_EOF
        # (the FIN reads as b''), 3.11.4+ does not (SSLEOFError, which
        # suppress_ragged_eofs turns into b''; 3.11.2 without the option
        # raises a plain SSLError it does not catch). The test takes the running
        # stdlib as the reference and runs each option setting explicitly
        # too; test_ragged_eof runs every path.
        def handler(s):
            s.sendall(b"cut")
            s.shutdown(socket.SHUT_RDWR)

        def reads(c):
            out = []
            for _ in range(3):
                r = outcome(lambda: c.recv(100))
                out.append(r if r[0] == "ok" else
                           ("raise", r[1], r[2].errno,
                            getattr(r[2], "reason", None),
                            getattr(r[2], "library", None), str(r[2])))
            return out

        def scenario(m, ragged, option):
            cctx = client_ctx(m)
            if option is True:
                cctx.options |= ssl.OP_IGNORE_UNEXPECTED_EOF
            elif option is False:
                cctx.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF
            return self.client_run(m, server_ctx(ssl), reads, cctx=cctx,
                                   handler=handler,
                                   suppress_ragged_eofs=ragged)
        for option in (None, True, False):  # None: the stdlib's default
            for ragged in (True, False):
                with self.subTest(option=option, suppress_ragged_eofs=ragged):
                    res = self.assert_same(self.both(
                        lambda m: scenario(m, ragged, option)))
                    std = res[0][1]
                    self.assertEqual(std[0], ("ok", b"cut"))
                    ignore = option if option is not None else bool(
                        client_ctx(ssl).options & ssl.OP_IGNORE_UNEXPECTED_EOF)
                    if ignore:
                        self.assertEqual(std[1:], [("ok", b"")] * 2)
                    elif not ragged:  # SSLError or SSLEOFError: compared
                        self.assertEqual(std[1][0], "raise")

    def test_recv_after_local_close(self):
        def body(c):
            c.close()
            return c.recv(10)
        self.assert_same(self.both(lambda m: self.client_run(
            m, server_ctx(ssl), body)))

    def test_nonblocking_want_read(self):
        def body(c):
            c.setblocking(False)
            try:
                c.recv(100)  # the server waits for us: nothing to read
            except ssl.SSLWantReadError as e:
                return type(e), e.errno
            return None
        def handler(s):
            s.recv(10)
        res = self.assert_same(self.both(lambda m: self.client_run(
            m, server_ctx(ssl), body, handler=handler)))
        self.assertEqual(res[1][1], (ssl.SSLWantReadError, ssl.SSL_ERROR_WANT_READ))

    def test_nonblocking_handshake(self):
        # do_handshake on a non-blocking socket: want-read, then done.
        import select

        def scenario(m):
            # The server answers only after our first attempt, so the
            # first do_handshake() must want to read.
            ls = listener()
            go = threading.Event()

            def server():
                with ls:
                    raw, _ = ls.accept()
                go.wait(TIMEOUT)
                with server_ctx(ssl).wrap_socket(raw, server_side=True) as s:
                    s.sendall(b"x")
            peer = Peer(server).start()
            raw = socket.create_connection(ls.getsockname(), timeout=TIMEOUT)
            raw.setblocking(False)
            c = client_ctx(m).wrap_socket(raw, server_hostname="localhost",
                                          do_handshake_on_connect=False)
            wants = set()
            with c:
                for _ in range(1000):
                    try:
                        c.do_handshake()
                        break
                    except ssl.SSLWantReadError:
                        wants.add("read")
                        go.set()
                        select.select([c], [], [], TIMEOUT)
                        continue
                    except ssl.SSLWantReadError:
                        wants.add("read")
                        select.select([c], [], [], TIMEOUT)
                    except ssl.SSLWantWriteError:
                        wants.add("write")
                        select.select([], [c], [], TIMEOUT)
                c.settimeout(TIMEOUT)
                data = c.recv(1)
            go.set()
            peer.result()
            return "read" in wants, data
        self.assert_same(self.both(scenario))

    def test_handshake_timeout(self):
        def scenario(m):
            ls = listener()  # accepts (backlog) but never answers
            with ls, socket.create_connection(ls.getsockname(), timeout=0.2) as raw:
                with client_ctx(m).wrap_socket(
                        raw, server_hostname="localhost",
                        do_handshake_on_connect=False) as c:
                    c.do_handshake()
        res = self.assert_same(self.both(scenario))
        self.assertIs(res[1][1], TimeoutError)
        self.assertEqual(str(res[0][2]), str(res[1][2]))

    def test_sni_callback(self):
        seen = []

        def scenario(m):
            sctx = server_ctx(m)
            other = server_ctx(m, "server-ec")

            def callback(sock, name, ctx):
                seen.append((m.__name__, name, isinstance(sock, ssl.SSLSocket)
                             or isinstance(sock, ssl.SSLObject)))
                sock.context = other
            sctx.sni_callback = callback
            port, peer = serve(sctx, lambda s: s.recv(1))
            with connect(client_ctx(ssl), port) as c:
                c.sendall(b"x")
                key = c.getpeercert(True)
            peer.result()
            return len(key) > 0, c.cipher()[0] if False else None
        self.assert_same(self.both(scenario))
        self.assertEqual([s[1:] for s in seen], [("localhost", True)] * 2)


if __name__ == "__main__":
    unittest.main()
