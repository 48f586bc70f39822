"""Protocol pinning: the legacy PROTOCOL_TLSv1* constants, OP_NO_TLSv1*
options and minimum_version/maximum_version give the same context state
(getters, DeprecationWarnings) and negotiate exactly the same version, or
fail the same way, with ssl and with kssl. The peer is a stdlib endpoint.
"""
import socket
import ssl
import unittest
import warnings

import kssl
from support import IN_VM, KTLS, TIMEOUT, Peer, cert, listener

V = ssl.TLSVersion
LEGACY = ("PROTOCOL_TLSv1_2", "PROTOCOL_TLSv1_1", "PROTOCOL_TLSv1",
          "PROTOCOL_TLS")
NO_12_13 = ssl.OP_NO_TLSv1_2 | ssl.OP_NO_TLSv1_3

# (name, protocol constant name or None, options to add, min, max)
CONFIGS = [
    ("default", None, 0, None, None),
    *[(p, p, 0, None, None) for p in LEGACY],
    ("no13", None, ssl.OP_NO_TLSv1_3, None, None),
    ("no12", None, ssl.OP_NO_TLSv1_2, None, None),
    ("no12_13", None, NO_12_13, None, None),
    ("min13", None, 0, V.TLSv1_3, None),
    ("max12", None, 0, None, V.TLSv1_2),
    ("only12", None, 0, V.TLSv1_2, V.TLSv1_2),
    ("min13_max12", None, 0, V.TLSv1_3, V.TLSv1_2),
    ("max11", None, 0, None, V.TLSv1_1),
    ("min10_max11", None, 0, V.TLSv1, V.TLSv1_1),
    ("min10", None, 0, V.TLSv1, None),
    ("minSSL3", None, 0, V.SSLv3, None),
    ("no13_min13", None, ssl.OP_NO_TLSv1_3, V.TLSv1_3, None),
    ("legacy12_no12", "PROTOCOL_TLSv1_2", ssl.OP_NO_TLSv1_2, None, None),
]


def err(e):
    return (type(e), getattr(e, "errno", None), getattr(e, "reason", None),
            getattr(e, "library", None), str(e))


# Security level 0 (both sides): OpenSSL 3 then lets TLS 1.0/1.1 sign with
# SHA-1, so pins below TLS 1.2 can connect.
LOW = "DEFAULT:@SECLEVEL=0"


def make(mod, server, protocol, options, lo, hi, ciphers=None):
    """(context or exception description, state seen by a program)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        steps = []
        if protocol is None:
            proto = ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT
        else:
            proto = getattr(ssl, protocol)
        ctx = mod.SSLContext(proto)
        if server:
            ctx.load_cert_chain(cert("server.pem"), cert("server.key"))
        else:
            ctx.check_hostname = False
            ctx.load_verify_locations(cert("ca.pem"))
            ctx.verify_mode = ssl.CERT_REQUIRED
        if ciphers:
            ctx.set_ciphers(ciphers)
        for name, value in (("options", ctx.options | options),
                            ("minimum_version", lo), ("maximum_version", hi)):
            if value is None:
                continue
            try:
                setattr(ctx, name, value)
                steps.append((name, "ok"))
            except Exception as e:  # compared
                steps.append((name, err(e), str(e)))
            steps.append((ctx.options, ctx.minimum_version,
                          ctx.maximum_version, ctx.protocol))
    warned = [(w.category, str(w.message)) for w in caught]
    return ctx, (steps, warned)


# A stdlib context without a minimum (MINIMUM_SUPPORTED: Debian's 3.11.2
# starts so, CPython 3.11.4+ starts at TLS 1.2) that still has TLS 1.2 also
# offers and accepts TLS 1.0/1.1; kssl keeps its TLS 1.2 floor there
# (docs/python.md, "Differences"). What either end then reports:
FLOOR_REASONS = ("UNSUPPORTED_PROTOCOL", "TLSV1_ALERT_PROTOCOL_VERSION")


def kssl_floor(config, server):
    _, protocol, options, lo, hi = config
    if protocol in LEGACY[:3]:
        return False
    ctx, _ = make(ssl, server, protocol, options, lo, hi)
    no12 = (ctx.options & ssl.OP_NO_TLSv1_2
            or 0 < ctx.maximum_version < V.TLSv1_2)
    return ctx.minimum_version == V.MINIMUM_SUPPORTED and not no12


def version_of(sock):
    """version(); for kssl in the kTLS VM, and asserted there: " kernel"
    when the pinned connection went to kernel TLS both ways."""
    v = sock.version()
    off = getattr(sock, "offload", None)
    if IN_VM and KTLS and off is not None and v == "TLSv1.2":
        if (off.tx, off.rx) == ("kernel", "kernel"):
            v += " kernel"
        else:
            v += " %s" % (off,)
    return v


def until_closed(sock):
    """The peer's version(), once the side under test has closed (it looks
    at its offload first: an early close would stop kernel TLS there)."""
    v = sock.version()
    try:
        sock.recv(1)
    except OSError:
        pass
    return v


def outcome(fn):
    try:
        return ("ok", fn())
    except Exception as e:  # compared
        return ("raise",) + err(e)


class VersionPinningTest(unittest.TestCase):

    def run_pair(self, mod, config, server, peer_version, ciphers=None):
        _, protocol, options, lo, hi = config
        ctx, state = make(mod, server, protocol, options, lo, hi, ciphers)
        ls = listener()
        port = ls.getsockname()[1]

        def stdlib_peer():
            if server:
                pctx = ssl.create_default_context(cafile=cert("ca.pem"))
            else:
                pctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                pctx.load_cert_chain(cert("server.pem"), cert("server.key"))
            if ciphers:
                pctx.set_ciphers(ciphers)
            if peer_version is not None:
                pctx.minimum_version = pctx.maximum_version = peer_version
            if server:
                raw = socket.create_connection(("127.0.0.1", port),
                                               timeout=TIMEOUT)
                with pctx.wrap_socket(raw, server_hostname="localhost") as s:
                    return until_closed(s)
            with ls:
                raw, _ = ls.accept()
            raw.settimeout(TIMEOUT)
            with pctx.wrap_socket(raw, server_side=True) as s:
                return until_closed(s)

        peer = Peer(outcome, stdlib_peer).start()

        def ours():
            if server:
                with ls:
                    raw, _ = ls.accept()
                raw.settimeout(TIMEOUT)
                with ctx.wrap_socket(raw, server_side=True) as s:
                    return version_of(s)
            raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
            with ctx.wrap_socket(raw) as s:
                return version_of(s)
        # The listener stays open until the peer is done: its outcome must
        # not depend on whether our side failed before it accepted.
        try:
            mine = outcome(ours)
            theirs = peer.result()
        finally:
            ls.close()
        return state, mine, theirs

    @unittest.skipIf(IN_VM, "negotiation does not depend on offload; the "
                     "host runs the matrix (test_pinned_12 runs here)")
    def test_matrix(self):
        # Every pin against stdlib peers of each version: the same context
        # state, the same version or the same exception (class, errno,
        # reason, library, message) on both ends. Where the stdlib's
        # OpenSSL tries TLS 1.0/1.1, kssl's does too: refused at the
        # default security level, connected at level 0.
        peers = (None, V.TLSv1, V.TLSv1_1, V.TLSv1_2, V.TLSv1_3)
        for config in CONFIGS:
            for server in (False, True):
                for peer_version in peers:
                    for ciphers in (None, LOW):
                        args = (config[0], server, peer_version, ciphers)
                        with self.subTest(args=args):
                            theirs = self.run_pair(ssl, config, server,
                                                   peer_version, ciphers)
                            ours = self.run_pair(kssl, config, server,
                                                 peer_version, ciphers)
                            if (ours != theirs
                                    and peer_version in (V.TLSv1, V.TLSv1_1)
                                    and kssl_floor(config, server)):
                                # Both ends fail at kssl's floor, however
                                # the stdlib's attempt ended.
                                self.assertEqual(ours[0], theirs[0])
                                self.assertEqual(
                                    (ours[1][0], ours[2][0]),
                                    ("raise", "raise"))
                                self.assertIn(ours[1][3], FLOOR_REASONS)
                            else:
                                self.assertEqual(ours, theirs)

    def test_tls10_11_in_userspace(self):
        # A pin below TLS 1.2 that connects (security level 0 on both
        # ends) runs in OpenSSL both ways: the kernel carries TLS 1.2/1.3.
        for name in ("PROTOCOL_TLSv1", "PROTOCOL_TLSv1_1"):
            for server in (False, True):
                with self.subTest(protocol=name, server=server):
                    ctx, _ = make(kssl, server, name, 0, None, None, LOW)
                    ls = listener()
                    port = ls.getsockname()[1]
                    want = "TLSv1" if name == "PROTOCOL_TLSv1" else "TLSv1.1"

                    def peer():
                        if server:
                            pctx = ssl.create_default_context(
                                cafile=cert("ca.pem"))
                        else:
                            pctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                            pctx.load_cert_chain(cert("server.pem"),
                                                 cert("server.key"))
                        pctx.set_ciphers(LOW)
                        pctx.minimum_version = V.TLSv1
                        if server:
                            raw = socket.create_connection(
                                ("127.0.0.1", port), timeout=TIMEOUT)
                            with pctx.wrap_socket(
                                    raw, server_hostname="localhost") as s:
                                s.sendall(b"ping")
                                return s.recv(4)
                        with ls:
                            raw, _ = ls.accept()
                        raw.settimeout(TIMEOUT)
                        with pctx.wrap_socket(raw, server_side=True) as s:
                            s.sendall(s.recv(4))
                            return s.version()
                    p = Peer(peer).start()
                    if server:
                        with ls:
                            raw, _ = ls.accept()
                        raw.settimeout(TIMEOUT)
                        s = ctx.wrap_socket(raw, server_side=True)
                        s.sendall(s.recv(4))
                    else:
                        raw = socket.create_connection(("127.0.0.1", port),
                                                       timeout=TIMEOUT)
                        s = ctx.wrap_socket(raw)
                        s.sendall(b"ping")
                        self.assertEqual(s.recv(4), b"ping")
                    with s:
                        self.assertEqual(s.version(), want)
                        off = s.offload
                        self.assertEqual((off.tx, off.rx), ("user", "user"))
                        why = "%s negotiated: kernel TLS carries TLS 1.2 " \
                              "and 1.3 only" % want
                        self.assertIn(why, str(off))
                    self.assertEqual(p.result(), b"ping" if server else want)

    def test_pinned_12_is_exactly_12(self):
        # Never silently upgraded: a PROTOCOL_TLSv1_2 kssl socket speaks 1.2
        # to a peer that prefers 1.3.
        config = CONFIGS[1]
        self.assertEqual(config[1], "PROTOCOL_TLSv1_2")
        for server in (False, True):
            _, mine, peer = self.run_pair(kssl, config, server, None)
            self.assertEqual((mine, peer), (("ok", "TLSv1.2 kernel"
                                             if IN_VM and KTLS else "TLSv1.2"),
                                            ("ok", "TLSv1.2")))


if __name__ == "__main__":
    unittest.main()
