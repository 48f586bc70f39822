#!/usr/bin/python3
"""Regression tests for the attacks of the `kssl serve` audit (issue 11).

Each test reproduces one attack against a real `kssl serve` and asserts a
clean refusal or a correct answer (bytes compared by SHA-256). No timing is
asserted: client timeouts are generous "did not hang" bounds only.
Environment: KSSL_BIN (the kssl program).
"""
import hashlib
import os
import shutil
import socket
import ssl
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_serve import Server, curl, sha  # noqa: E402

HANG = 30  # seconds: a client that waits this long has met a hung server


def tls_client(port, addr="127.0.0.1", timeout=HANG):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    s = socket.create_connection((addr, port), timeout=timeout)
    return ctx.wrap_socket(s, server_hostname="localhost")


def raw_request(port, data, addr="127.0.0.1"):
    """Send data over TLS, return everything until the server closes."""
    s = tls_client(port, addr)
    s.sendall(data)
    out = b""
    while True:
        try:
            chunk = s.recv(65536)
        except (ssl.SSLError, ConnectionError):
            break
        if not chunk:
            break
        out += chunk
    s.close()
    return out


def get(port, path, addr="127.0.0.1"):
    """One GET with Connection: close; returns (status, body)."""
    resp = raw_request(port, b"GET %s HTTP/1.1\r\nHost: x\r\n"
                       b"Connection: close\r\n\r\n" % path.encode(), addr)
    head, _, body = resp.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1]) if head.startswith(b"HTTP/") else 0
    return status, body


class RootDir(unittest.TestCase):
    """A temp root with a few files; subclasses start their own servers."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="kssl-attack-")
        os.chmod(self.dir, 0o755)
        self.data = os.urandom(256 * 1024 + 3)
        self.put("f.bin", self.data)
        self.put("hello.txt", b"hello, kssl\n")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def put(self, name, data):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, 0o644)
        return path


class Fifo(RootDir):
    def test_fifo_does_not_freeze_the_worker(self):
        os.mkfifo(os.path.join(self.dir, "p"))
        srv = Server(self.dir)
        try:
            result = {}

            def fifo():
                result["fifo"] = get(srv.port, "/p")
            t = threading.Thread(target=fifo)
            t.start()
            status, body = get(srv.port, "/f.bin")
            t.join(HANG)
            self.assertFalse(t.is_alive(), "request for a FIFO hung")
            self.assertEqual(status, 200)
            self.assertEqual(sha(body), sha(self.data))
            self.assertEqual(result["fifo"][0], 403)
        finally:
            srv.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
