"""Client sessions: kssl against the stdlib ssl, differentially.

The same scenario runs with an ssl client and a kssl client, against an
ssl server and a kssl server, TLS 1.3 and 1.2: sock.session, resumption
through wrap_socket(session=) and sock.session = ..., session_reused,
session_stats(), the session object's attributes and behaviour (equality,
no hash, no ordering, no pickling) and the stdlib's errors for sessions set
too late, on a server socket or from another context. In the kTLS VM a
resumed kssl connection must still put both directions into the kernel.
"""
import copy
import pickle
import socket
import ssl
import unittest

import kssl
from support import (IN_VM, KTLS, TIMEOUT, OffloadAssertions, client_ctx,
                     connect, payload, serve, server_ctx, sha256)

MODS = (ssl, kssl)
VERSIONS = (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2)
DATA = payload(100000, seed=b"session")


def echo(s):
    """Server side: read DATA, send its SHA-256 back, wait for the end."""
    got = bytearray()
    while len(got) < len(DATA):
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    s.sendall(sha256(bytes(got)).encode())
    s.recv(1)
    return s.session_reused


def session_info(sess):
    return (type(sess).__name__, len(sess.id), sess.has_ticket,
            sess.timeout, sess.ticket_lifetime_hint, type(sess.time))


def exchange(c):
    c.sendall(DATA)
    digest = c.recv(64)
    return digest.decode() == sha256(DATA)


class ResumptionTest(OffloadAssertions, unittest.TestCase):

    def run_pair(self, cmod, smod, version, set_by="wrap"):
        """Two connections, the second resuming the first's session.
        Returns what a program can observe, to compare across modules."""
        sctx = server_ctx(smod, maximum_version=version)
        cctx = client_ctx(cmod)
        seen = []
        sess = None
        for i in range(2):
            port, peer = serve(sctx, echo)
            if i == 0 or set_by == "wrap":
                c = connect(cctx, port, session=sess)
            else:
                c = connect(cctx, port, do_handshake_on_connect=False)
                c.session = sess
                c.do_handshake()
            with c:
                before = session_info(c.session)
                self.assertTrue(exchange(c))
                after = c.session
                if cmod is kssl:
                    self.assert_offloaded(c)
                c.sendall(b"x")
                server_reused = peer.result()
                seen.append((c.session_reused, server_reused, before,
                             session_info(after), c.version()))
                if i == 0:
                    sess = after
                else:
                    # TLS 1.3 issues a new ticket: a new session; TLS 1.2
                    # keeps the one it resumed.
                    seen.append(("same", after == sess, after != sess))
        stats = cctx.session_stats()
        sstats = sctx.session_stats()
        seen.append(("client", stats["connect"], stats["connect_good"],
                     stats["hits"]))
        seen.append(("server", sstats["accept_good"], sstats["hits"]))
        return seen

    def test_resume_differential(self):
        for version in VERSIONS:
            for smod in MODS:
                for set_by in ("wrap", "attr"):
                    with self.subTest(version=version, server=smod.__name__,
                                      set_by=set_by):
                        want = self.run_pair(ssl, smod, version, set_by)
                        got = self.run_pair(kssl, smod, version, set_by)
                        self.assertEqual(got, want)
                        self.assertTrue(got[1][0], "second handshake resumed")

    def test_session_object(self):
        for mod in MODS:
            with self.subTest(mod=mod.__name__):
                port, peer = serve(server_ctx(ssl), echo)
                with connect(client_ctx(mod), port) as c:
                    exchange(c)
                    a, b = c.session, c.session
                    c.sendall(b"x")
                    peer.result()
                self.assertIsInstance(a, mod.SSLSession)
                self.assertEqual(type(a).__module__, "_ssl")
                self.assertTrue(a == b and not a != b)
                self.assertFalse(a == object())
                self.assertIsInstance(a.id, bytes)
                self.assertGreater(len(a.id), 0)
                errors = []
                for action in (lambda: pickle.dumps(a), lambda: copy.copy(a),
                               lambda: hash(a), lambda: a < b,
                               lambda: setattr(a, "id", b""),
                               lambda: type(a)()):
                    try:
                        action()
                        errors.append(None)
                    except Exception as e:  # compared below
                        errors.append((type(e), str(e)))
                if mod is ssl:
                    want = errors
                else:
                    self.assertEqual(errors, want)

    def errors_for(self, mod):
        """The stdlib's errors for sessions it refuses, as (type, text)."""
        def err(fn):
            try:
                fn()
            except Exception as e:
                return type(e), str(e)
            return None
        sctx, cctx = server_ctx(mod), client_ctx(mod)
        out = []
        port, peer = serve(sctx, echo)
        with connect(cctx, port) as c:
            exchange(c)
            sess = c.session
            out.append(err(lambda: setattr(c, "session", sess)))  # too late
            out.append(err(lambda: setattr(c, "session", None)))
            out.append(err(lambda: setattr(c, "session", b"x")))
            c.sendall(b"x")
            peer.result()
        # From another context: refused when the socket connects.
        other = client_ctx(mod)
        port, peer = serve(sctx, echo)
        raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        with raw:
            out.append(err(lambda: other.wrap_socket(
                raw, server_hostname="localhost", session=sess)))
        peer.result(raise_error=False)
        # On a server socket.
        with socket.socket() as raw:
            out.append(err(lambda: sctx.wrap_socket(raw, server_side=True,
                                                    session=sess)))
        a, b = socket.socketpair()
        with a, b:
            s = sctx.wrap_socket(a, server_side=True,
                                 do_handshake_on_connect=False)
            out.append(err(lambda: setattr(s, "session", sess)))
            # A stdlib session on a kssl socket and the reverse.
            c = cctx.wrap_socket(b, server_hostname="localhost",
                                 do_handshake_on_connect=False)
            foreign = self.foreign_session(ssl if mod is kssl else kssl)
            out.append(err(lambda: setattr(c, "session", foreign)))
            s.close()
            c.close()
        return out

    def foreign_session(self, mod):
        port, peer = serve(server_ctx(mod), echo)
        with connect(client_ctx(mod), port) as c:
            exchange(c)
            sess = c.session
            c.sendall(b"x")
        peer.result()
        return sess

    def test_refusals_differential(self):
        want = self.errors_for(ssl)
        got = self.errors_for(kssl)
        self.assertEqual(got, want)
        self.assertEqual(want[0], (ValueError, "Cannot set session after handshake."))
        self.assertEqual(want[3][0], ValueError)  # another context

    def test_before_handshake(self):
        """No session before the handshake, as the stdlib."""
        for mod in MODS:
            with client_ctx(mod).wrap_socket(
                    socket.socket(), server_hostname="localhost") as c:
                self.assertIsNone(c.session)
                self.assertIsNone(c.session_reused)

    @unittest.skipUnless(IN_VM and KTLS, "kernel offload: kTLS VM only")
    def test_resumed_connection_offloads(self):
        """A resumed kssl connection (kssl server, kssl client) puts both
        directions into the kernel on both sides, TLS 1.3 and 1.2."""
        for version in VERSIONS:
            with self.subTest(version=version):
                sctx = server_ctx(kssl, maximum_version=version)
                cctx = client_ctx(kssl)
                sess = None
                for i in range(2):
                    stat0 = kssl.tls_stat()

                    def server(s):
                        reused = echo(s)
                        return reused, s.offload
                    port, peer = serve(sctx, server)
                    with connect(cctx, port, session=sess) as c:
                        self.assertTrue(exchange(c))
                        self.assert_offloaded(c)
                        sess = c.session
                        c.sendall(b"x")
                        reused, soff = peer.result()
                        self.assertEqual(c.session_reused, bool(i))
                    self.assertEqual(reused, bool(i))
                    self.assertEqual((soff.tx, soff.rx), ("kernel", "kernel"))
                    stat1 = kssl.tls_stat()
                    self.assertGreaterEqual(stat1["TlsTxSw"] - stat0["TlsTxSw"], 2)
                    self.assertGreaterEqual(stat1["TlsRxSw"] - stat0["TlsRxSw"], 2)


if __name__ == "__main__":
    unittest.main()
