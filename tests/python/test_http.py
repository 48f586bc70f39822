"""http.client / urllib with kssl, against stdlib HTTPS servers and back."""
import functools
import http.client
import http.server
import os
import ssl
import sys
import tempfile
import threading
import unittest
import urllib.request

import kssl
from support import KTLS, TIMEOUT, cert, client_ctx, payload, sha256

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "examples"))
import https_sendfile_server  # noqa: E402

SIZE = (1 << 20) + 777 if KTLS else (3 << 20) + 777


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class HttpTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory()
        cls.data = payload(SIZE, seed=b"http")
        with open(os.path.join(cls.dir.name, "blob.bin"), "wb") as f:
            f.write(cls.data)

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()

    def run_server(self, srv):
        t = threading.Thread(target=srv.serve_forever, daemon=True)
        t.start()
        self.addCleanup(t.join, TIMEOUT)
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        return srv.server_address[1]

    def stdlib_https_server(self):
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert("server.pem"), cert("server.key"))
        srv = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Quiet, directory=self.dir.name))
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        return self.run_server(srv)

    def test_http_client_with_kssl_context(self):
        port = self.stdlib_https_server()
        conn = http.client.HTTPSConnection("localhost", port,
                                           context=client_ctx(kssl),
                                           timeout=TIMEOUT)
        try:
            conn.connect()
            self.assertIsInstance(conn.sock, kssl.SSLSocket)
            for _ in range(2):
                conn.request("GET", "/blob.bin")
                resp = conn.getresponse()
                self.assertEqual(resp.status, 200)
                self.assertEqual(sha256(resp.read()), sha256(self.data))
        finally:
            conn.close()

    def test_urllib_with_kssl_context(self):
        port = self.stdlib_https_server()
        url = "https://localhost:%d/blob.bin" % port
        with urllib.request.urlopen(url, context=client_ctx(kssl),
                                    timeout=TIMEOUT) as r:
            self.assertEqual(sha256(r.read()), sha256(self.data))

    def test_urllib_verify_failure_is_urlerror(self):
        port = self.stdlib_https_server()
        ctx = kssl.create_default_context()  # system CAs: test CA unknown
        with self.assertRaises(urllib.error.URLError) as cm:
            urllib.request.urlopen("https://localhost:%d/blob.bin" % port,
                                   context=ctx, timeout=TIMEOUT)
        self.assertIsInstance(cm.exception.reason, ssl.SSLCertVerificationError)

    def test_kssl_sendfile_server_fetched_by_stdlib(self):
        srv = https_sendfile_server.make_server(
            self.dir.name, cert("server.pem"), cert("server.key"), port=0)
        srv.RequestHandlerClass = functools.partial(
            type("QuietSF", (https_sendfile_server.Handler,),
                 {"log_message": lambda *a: None}), directory=self.dir.name)
        before = kssl.tls_stat()
        port = self.run_server(srv)
        url = "https://localhost:%d/blob.bin" % port
        for _ in range(2):
            with urllib.request.urlopen(url, context=client_ctx(ssl),
                                        timeout=TIMEOUT) as r:
                self.assertEqual(r.headers["Content-Length"], str(SIZE))
                self.assertEqual(sha256(r.read()), sha256(self.data))
        if KTLS:
            self.assertGreaterEqual(kssl.tls_stat()["TlsTxSw"] - before["TlsTxSw"], 2)


if __name__ == "__main__":
    unittest.main()
