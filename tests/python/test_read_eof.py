"""Reads after a transport EOF that OP_IGNORE_UNEXPECTED_EOF turned into
end of data: every later read is b"" (regression: the _sslobj returned an
uninitialised buffer of the requested size), as with the stdlib.
"""
import socket
import ssl
import unittest

import kssl
from support import Peer, cert, client_ctx, connect, listener


class ReadAfterEofTest(unittest.TestCase):

    def check(self, mod):
        sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        sctx.load_cert_chain(cert("server.pem"), cert("server.key"))
        ls = listener()
        port = ls.getsockname()[1]

        def server():
            with ls:
                raw, _ = ls.accept()
            tls = sctx.wrap_socket(raw, server_side=True)
            tls.sendall(b"last")
            # Close the TCP connection without close_notify.
            socket.socket(fileno=tls.detach()).close()
        peer = Peer(server).start()
        ctx = client_ctx(mod)
        ctx.options |= ssl.OP_IGNORE_UNEXPECTED_EOF
        with connect(ctx, port) as c:
            self.assertEqual(c.recv(10), b"last")
            peer.result()
            got = [c.recv(1024), c.recv(1024), c.read(1024)]
            buf = bytearray(b"untouched")
            got.append(c.recv_into(buf))
        self.assertEqual(got, [b"", b"", b"", 0])
        self.assertEqual(buf, b"untouched")

    def test_kssl(self):
        self.check(kssl)

    def test_stdlib(self):
        self.check(ssl)


if __name__ == "__main__":
    unittest.main()
