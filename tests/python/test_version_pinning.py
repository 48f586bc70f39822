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
            getattr(e, "library", None))


def make(mod, server, protocol, options, lo, hi):
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

    def run_pair(self, mod, config, server, peer_version):
        _, protocol, options, lo, hi = config
        ctx, state = make(mod, server, protocol, options, lo, hi)
        ls = listener()
        port = ls.getsockname()[1]

        def stdlib_peer():
            if server:
                pctx = ssl.create_default_context(cafile=cert("ca.pem"))
            else:
                pctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                pctx.load_cert_chain(cert("server.pem"), cert("server.key"))
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
        try:
            mine = outcome(ours)
        finally:
            ls.close()
        return state, mine, peer.result()

    # Where the stdlib's OpenSSL tries TLS 1.0/1.1 (and fails under
    # Debian's security level 2) kssl fails before offering anything: both
    # fail, with other reasons (docs/python.md, "Differences"). The same
    # for a legacy PROTOCOL_TLSv1_2 server meeting a TLS 1.3-only client.
    OTHER_FAILURE = {"PROTOCOL_TLSv1_1", "PROTOCOL_TLSv1", "no12", "no12_13",
                     "min13_max12", "max11", "min10_max11", "no13_min13",
                     "PROTOCOL_TLSv1_2", "legacy12_no12"}

    @unittest.skipIf(IN_VM, "negotiation does not depend on offload; the "
                     "host runs the matrix (test_pinned_12 runs here)")
    def test_matrix(self):
        for config in CONFIGS:
            for server in (False, True):
                for peer_version in (None, V.TLSv1_2, V.TLSv1_3):
                    args = (config[0], server, peer_version)
                    with self.subTest(args=args):
                        theirs = self.run_pair(ssl, config, server, peer_version)
                        ours = self.run_pair(kssl, config, server, peer_version)
                        self.assertEqual(ours[0], theirs[0])  # getters, warnings
                        if (theirs[1][0] == "ok"
                                or config[0] not in self.OTHER_FAILURE):
                            self.assertEqual(ours, theirs)
                        else:  # never negotiated, on either side
                            self.assertEqual((ours[1][0], ours[2][0]),
                                             ("raise", "raise"))
                            self.assertTrue(issubclass(ours[1][1], ssl.SSLError))

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
