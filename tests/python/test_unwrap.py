"""unwrap() (close_notify both ways) as the stdlib's, with the peer's data
still unread or arriving while unwrap() waits.

The stdlib's unwrap() is OpenSSL's SSL_shutdown: application data after
our close_notify is an error there (APPLICATION_DATA_AFTER_CLOSE_NOTIFY),
whether it was already buffered, half read or arrives during the wait,
and the connection is left in OpenSSL's error state (version() None,
getpeercert() "handshake not done yet", writes PROTOCOL_IS_SHUTDOWN, reads
SSLEOFError, unwrap() again SHUTDOWN_WHILE_IN_INIT). The side under test
runs once with ssl and once with kssl against the same stdlib peer; every
result and exception (class, errno, reason, library, whole message) is
compared, and so is what the peer saw. In the
kTLS VM kssl's side reads through kernel TLS.
"""
import select
import socket
import ssl
import unittest

import kssl
from support import (IN_VM, TIMEOUT, Peer, client_ctx, listener,
                     server_ctx)

V12, V13 = ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3
# none: the peer sends nothing; buffered: its reply arrived before
# unwrap(); partial: the reply half read; late: the peer answers our
# close_notify with data first.
CASES = ("none", "buffered", "partial", "late")
MODES = ("blocking", "timeout", "nonblocking")
VERSIONS = (V12, V13)
ROLES = ("client", "server")
if IN_VM:  # the emulated CPU is slow: kernel RX, the two extreme modes
    MODES = ("blocking", "nonblocking")
    VERSIONS = (V13,)


def describe(e):
    text = str(e) if isinstance(e, ssl.SSLError) else None
    return (type(e), getattr(e, "errno", None), getattr(e, "reason", None),
            getattr(e, "library", None), text)


def outcome(fn):
    try:
        return ("ok", fn())
    except Exception as e:  # compared by the caller
        return describe(e)


def retry(s, fn):
    """fn() on a non-blocking socket: wait on SSLWantRead/Write."""
    while True:
        try:
            return fn()
        except ssl.SSLWantReadError:
            select.select([s], [], [], TIMEOUT)
        except ssl.SSLWantWriteError:
            select.select([], [s], [], TIMEOUT)


def stdlib_peer(tls, case):
    got = [tls.recv(100)]
    if case in ("buffered", "partial"):
        tls.sendall(b"reply")
    got.append(outcome(lambda: tls.recv(100)))  # our close_notify: b""
    if case == "late":
        got.append(outcome(lambda: tls.sendall(b"late")))
    got.append(outcome(lambda: tls.unwrap() is not None))
    tls.close()
    return got


class UnwrapTest(unittest.TestCase):

    def open_pair(self, mod, role, case, version, suppress):
        ls = listener()
        port = ls.getsockname()[1]
        if role == "client":
            def peer_main():
                ctx = server_ctx(ssl)
                ctx.maximum_version = version
                with ls:
                    raw, _ = ls.accept()
                raw.settimeout(TIMEOUT)
                return stdlib_peer(ctx.wrap_socket(raw, server_side=True),
                                   case)
            peer = Peer(peer_main).start()
            ctx = client_ctx(mod)
            raw = socket.create_connection(("127.0.0.1", port),
                                           timeout=TIMEOUT)
            wrap = dict(server_hostname="localhost")
        else:
            def peer_main():
                ctx = client_ctx(ssl)
                ctx.maximum_version = version
                raw = socket.create_connection(("127.0.0.1", port),
                                               timeout=TIMEOUT)
                return stdlib_peer(ctx.wrap_socket(
                    raw, server_hostname="localhost"), case)
            peer = Peer(peer_main).start()
            ctx = server_ctx(mod)
            with ls:
                raw, _ = ls.accept()
            raw.settimeout(TIMEOUT)
            wrap = dict(server_side=True)
        ctx.maximum_version = version
        s = ctx.wrap_socket(raw, suppress_ragged_eofs=suppress, **wrap)
        return s, peer

    def sequence(self, mod, role, case, version, mode, suppress):
        s, peer = self.open_pair(mod, role, case, version, suppress)
        with s:
            s.sendall(b"hello")
            if case in ("buffered", "partial"):
                select.select([s], [], [], TIMEOUT)  # the reply is here
            got = [s.recv(2) if case == "partial" else None]
            if mode == "blocking":
                s.settimeout(None)
            elif mode == "nonblocking":
                s.setblocking(False)
            first = outcome(lambda: retry(s, s.unwrap))
            got.append(first if first[0] != "ok"
                       else ("ok", type(first[1]) is socket.socket))
            if first[0] == "ok":
                return got, peer.result()
            s.setblocking(True)
            got += [outcome(s.pending), outcome(s.version),
                    outcome(lambda: s.getpeercert(True) is not None),
                    outcome(lambda: s.cipher() is not None),
                    outcome(lambda: s.recv(10)), outcome(lambda: s.read(10)),
                    outcome(lambda: s.send(b"x")),
                    outcome(lambda: s.sendall(b"x" * 1000)),
                    outcome(s.unwrap), outcome(lambda: s.recv(10))]
        return got, peer.result()

    def test_unwrap_sequences(self):
        for role in ROLES:
            for version in VERSIONS:
                for case in CASES:
                    for mode in MODES:
                        for suppress in (True, False):
                            args = (role, case, version, mode, suppress)
                            with self.subTest(args=args):
                                ours = self.sequence(kssl, *args)
                                theirs = self.sequence(ssl, *args)
                                self.assertEqual(ours, theirs)
                                if case != "none":  # not vacuous
                                    self.assertEqual(
                                        theirs[0][1][2],
                                        "APPLICATION_DATA_AFTER_CLOSE_NOTIFY")


if __name__ == "__main__":
    unittest.main()
