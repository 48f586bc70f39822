"""SSLContext._msg_callback (the stdlib's protocol message tracing) on
kssl sockets, compared with the stdlib's: the same messages in the same
order with the same enums and bytes, on the client and on the server, TLS
1.2 and 1.3, and the same outcome when the callback raises. The peer is a
stdlib endpoint; the trace covers the handshake (what OpenSSL handles on
every kernel: records that a direction carries in the kernel after
offload are not OpenSSL's to report, docs/python.md)."""
import ssl
import unittest

import kssl
from support import cert, client_ctx, connect, serve, server_ctx


def trace_of(mod, server_side, version, fail_at=None):
    seen = []

    def cb(conn, direction, ver, content_type, msg_type, data):
        seen.append((type(conn).__name__, direction, ver, content_type, msg_type,
                     bytes(data)))
        if fail_at is not None and len(seen) == fail_at:
            raise ValueError("callback failed at %d" % fail_at)

    traced = server_ctx(mod) if server_side else client_ctx(mod)
    traced.maximum_version = version
    traced._msg_callback = cb
    handshake_end = []

    def handler(s):
        if server_side:
            handshake_end.append(len(seen))
        s.sendall(b"x")
        s.recv(1)

    sctx = traced if server_side else server_ctx(ssl)
    port, peer = serve(sctx, handler)
    client, server = "ok", "ok"
    try:
        with connect(client_ctx(ssl) if server_side else traced, port) as c:
            if not server_side:
                handshake_end.append(len(seen))
            c.recv(1)
            c.sendall(b"y")
    except Exception as e:  # compared
        client = (type(e).__name__, str(e))
    try:
        peer.result()
    except Exception as e:  # compared
        server = (type(e).__name__, str(e))
    # The traced side's outcome. The untraced peer's, after the traced
    # side failed, depends on timing (whether the close meets unread
    # tickets: an RST) with ssl as with kssl.
    outcome = server if server_side else client
    n = handshake_end[0] if handshake_end else len(seen)
    # Session tickets and their timing after Finished differ run to run
    # (new random bytes each time): compare types and lengths of those.
    return outcome, [t[:5] + (len(t[5]),) if t[3] != 22 or t[4] != 4 else t[:5]
                     for t in seen[:n]]


class MsgCallbackTest(unittest.TestCase):

    def test_same_trace(self):
        for server_side in (False, True):
            for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
                with self.subTest(server_side=server_side, version=version):
                    ours = trace_of(kssl, server_side, version)
                    theirs = trace_of(ssl, server_side, version)
                    self.assertEqual(ours[0], "ok")
                    self.assertGreater(len(ours[1]), 8)
                    self.assertEqual(ours, theirs)

    def test_raising_callback(self):
        # Raised when the call that ran it returns: the handshake of a
        # client (connect), the server's wrap_socket.
        for server_side in (False, True):
            with self.subTest(server_side=server_side):
                ours = trace_of(kssl, server_side, ssl.TLSVersion.TLSv1_3, fail_at=3)
                theirs = trace_of(ssl, server_side, ssl.TLSVersion.TLSv1_3, fail_at=3)
                self.assertEqual(ours[0], theirs[0])
                self.assertIn("ValueError", repr(ours[0]))

    def test_none_turns_it_off(self):
        ctx = kssl.create_default_context()
        ctx._msg_callback = lambda *a: None
        self.assertIsNotNone(ctx._msg_callback)
        ctx._msg_callback = None
        self.assertIsNone(ctx._msg_callback)
        with self.assertRaises(TypeError):
            ctx._msg_callback = object()


if __name__ == "__main__":
    unittest.main()
