"""sslsock.context = other after the handshake, and exceptions or odd
return values from sni_callback: the same results, alerts and exceptions
on both sides with ssl and with kssl. The peer is a stdlib endpoint."""
import ssl
import unittest

import kssl
from support import cert, client_ctx, connect, serve, server_ctx


def err(e):
    return (type(e), getattr(e, "errno", None), getattr(e, "reason", None),
            getattr(e, "library", None))


def outcome(fn):
    try:
        return ("ok", fn())
    except Exception as e:  # compared
        return ("raise",) + err(e) + (str(e),)


def switch_steps(sock, other, wrong_role):
    return [outcome(lambda: setattr(sock, "context", other)),
            sock.context is other,
            outcome(lambda: sock.getpeercert()),
            outcome(lambda: sock.version()),
            outcome(lambda: setattr(sock, "context", "not a context")),
            outcome(lambda: setattr(sock, "context", wrong_role)),
            sock.context is wrong_role]


class ContextSwitchTest(unittest.TestCase):

    def client_side(self, mod):
        port, peer = serve(server_ctx(ssl), lambda s: (s.sendall(b"x"),
                                                       s.recv(10)))
        with connect(client_ctx(mod), port) as c:
            self.assertEqual(c.recv(10), b"x")
            other = mod.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            other.check_hostname = False
            other.verify_mode = ssl.CERT_NONE
            got = switch_steps(c, other, ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
            c.sendall(b"still works")
        peer.result()
        return got

    def server_side(self, mod):
        def handler(s):
            s.sendall(b"x")
            got = switch_steps(s, server_ctx(mod, "wrong"),
                               ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
            got.append(s.recv(20))
            return got
        port, peer = serve(server_ctx(mod), handler)
        with connect(client_ctx(ssl), port) as c:
            self.assertEqual(c.recv(10), b"x")
            c.sendall(b"still works")
        return peer.result()

    def test_after_handshake(self):
        for side in (self.client_side, self.server_side):
            with self.subTest(side=side.__name__):
                ours, theirs = side(kssl), side(ssl)
                self.assertEqual(ours, theirs)
                self.assertEqual(ours[0], ("ok", None))


class SniCallbackTest(unittest.TestCase):

    def run_sni(self, mod, callback):
        sctx = server_ctx(mod)
        sctx.sni_callback = callback
        port, peer = serve(sctx, lambda s: s.version())
        client = outcome(lambda: connect(client_ctx(ssl), port).close())
        peer.result(raise_error=False)
        e = peer.error
        server_result = (("ok", peer.value) if e is None
                         else ("raise",) + err(e) + (str(e),))
        # The stdlib's text ends with its source position; kssl's names
        # the operation (the error model's business): compare the rest.
        return client[:5], server_result[:5]

    def test_callback_failures(self):
        def raises(sock, name, ctx):
            raise RuntimeError("sni failed")

        def not_an_int(sock, name, ctx):
            return "not an alert"

        def alert(sock, name, ctx):
            return ssl.ALERT_DESCRIPTION_ACCESS_DENIED
        seen = []
        old_hook = __import__("sys").unraisablehook
        __import__("sys").unraisablehook = lambda u: seen.append(u.exc_type)
        try:
            for cb, client_reason in (
                    (raises, "SSLV3_ALERT_HANDSHAKE_FAILURE"),
                    (not_an_int, "TLSV1_ALERT_INTERNAL_ERROR"),
                    (alert, "TLSV1_ALERT_ACCESS_DENIED")):
                with self.subTest(callback=cb.__name__):
                    ours, theirs = self.run_sni(kssl, cb), self.run_sni(ssl, cb)
                    self.assertEqual(ours, theirs)
                    self.assertEqual(ours[0][3], client_reason)
                    self.assertEqual(ours[1][3], "CALLBACK_FAILED")
        finally:
            __import__("sys").unraisablehook = old_hook
        # Both report the callback's own exception as unraisable.
        self.assertEqual(seen.count(RuntimeError), 2)


if __name__ == "__main__":
    unittest.main()


def stdlib_chains(sock):
    """What Python 3.13's public methods return, from 3.11's _sslobj."""
    der = ssl._ssl.ENCODING_DER
    return tuple([c.public_bytes(der) for c in chain or ()]
                 for chain in (sock._sslobj.get_verified_chain(),
                               sock._sslobj.get_unverified_chain()))


class ChainTest(unittest.TestCase):
    """get_verified_chain()/get_unverified_chain() (public in 3.13: lists of
    DER bytes) equal the stdlib's, also after kssl freed the SSL (both
    directions in the kernel, in the VM)."""

    def chains(self, mod, server_side, version, private=None):
        def ours(s):
            if private:
                return (private(s._sslobj.get_verified_chain()),
                        private(s._sslobj.get_unverified_chain()))
            if mod is kssl:
                return s.get_verified_chain(), s.get_unverified_chain()
            return stdlib_chains(s)
        sctx = server_ctx(mod if server_side else ssl)
        sctx.maximum_version = version
        if server_side:
            sctx.verify_mode = ssl.CERT_REQUIRED
            sctx.load_verify_locations(cert("ca.pem"))

        def handler(s):
            s.sendall(b"x")
            got = ours(s) if server_side else None
            s.recv(1)
            return got
        port, peer = serve(sctx, handler)
        cctx = client_ctx(ssl if server_side else mod)
        if server_side:
            cctx.load_cert_chain(cert("client.pem"), cert("client.key"))
        with connect(cctx, port) as c:
            c.recv(1)
            got = None if server_side else ours(c)
            c.sendall(b"y")
        return peer.result() if server_side else got

    def test_private_chain_objects(self):
        """3.11's private _sslobj.get_(un)verified_chain(): _ssl.Certificate
        objects with the same repr, hash, equality, encodings, get_info()
        and errors as the stdlib's, on both sides and versions."""
        def describe(chain):
            if chain is None:
                return None
            out = []
            for c in chain:
                out.append((type(c).__module__, type(c).__qualname__, repr(c), hash(c),
                            c == chain[0], c != chain[-1], c == c.public_bytes(),
                            c.public_bytes(), c.public_bytes(ssl._ssl.ENCODING_DER),
                            c.public_bytes(format=0x101),  # PEM_AUX (no _ssl name)
                            c.get_info(), outcome(lambda: c < c),
                            outcome(lambda: c.public_bytes(7)),
                            outcome(lambda: type(c)())))
            return out

        def private(mod, server_side, version):
            return self.chains(mod, server_side, version, private=describe)

        for server_side in (False, True):
            for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
                with self.subTest(server_side=server_side, version=version):
                    ours = private(kssl, server_side, version)
                    theirs = private(ssl, server_side, version)
                    self.assertEqual(ours, theirs)
                    self.assertEqual(len(ours[0]), 2)  # leaf, CA
                    self.assertIn("_ssl.Certificate", ours[0][0][2])

    def test_chains(self):
        for server_side in (False, True):
            for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
                with self.subTest(server_side=server_side, version=version):
                    ours = self.chains(kssl, server_side, version)
                    theirs = self.chains(ssl, server_side, version)
                    self.assertEqual(ours, theirs)
                    self.assertEqual(len(ours[0]), 2)  # leaf, CA
                    self.assertGreaterEqual(len(ours[1]), 1)  # leaf first
                    self.assertEqual(ours[1][0], ours[0][0])
