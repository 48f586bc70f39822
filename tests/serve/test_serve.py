#!/usr/bin/python3
"""Tests of `kssl serve` against clients we did not write (curl, urllib, wrk).

Environment: KSSL_BIN (the kssl program), KSSL_TEST_CERTS (test PKI).
Each test class starts its own server on a free port in a temp dir.
"""
import email.utils
import hashlib
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

KSSL = os.environ.get("KSSL_BIN", "kssl")
CERTS = os.environ.get("KSSL_TEST_CERTS", "certs")
TIMEOUT = 60


def sha(data):
    return hashlib.sha256(data).hexdigest()


class Server:
    def __init__(self, root, *args, **popen):
        self.proc = subprocess.Popen(
            [KSSL, "serve", root, "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)
        self.banner = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("kssl serve exited: " + self.proc.stderr.read())
            self.banner.append(line)
            m = re.search(r"https://127\.0\.0\.1:(\d+)/", line)
            if m:
                self.port = int(m.group(1))
                self.url = "https://127.0.0.1:%d" % self.port
                return
        raise RuntimeError("no banner")

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            out, err = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        return self.proc.returncode, out, err


def curl(*args, ok=True):
    r = subprocess.run(["curl", "-sS", "--max-time", "30", *args],
                       capture_output=True, timeout=TIMEOUT)
    if ok and r.returncode != 0:
        raise AssertionError("curl %s: %s" % (args, r.stderr.decode()))
    return r


def code(*args):
    return int(curl("-o", "/dev/null", "-w", "%{http_code}", *args).stdout)


class ServeSelfSigned(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="kssl-serve-")
        cls.outside = tempfile.mkdtemp(prefix="kssl-outside-")
        cls.big = os.urandom(3 * 1024 * 1024 + 17)
        with open(os.path.join(cls.dir, "big.bin"), "wb") as f:
            f.write(cls.big)
        with open(os.path.join(cls.dir, "hello.txt"), "w") as f:
            f.write("hello, kssl\n")
        with open(os.path.join(cls.dir, "<script>.txt"), "w") as f:
            f.write("x")
        with open(os.path.join(cls.outside, "secret"), "w") as f:
            f.write("SECRET")
        os.mkdir(os.path.join(cls.dir, "sub"))
        os.symlink(os.path.join(cls.outside, "secret"),
                   os.path.join(cls.dir, "sub", "escape"))
        os.symlink("../hello.txt", os.path.join(cls.dir, "sub", "inside"))
        cls.srv = Server(cls.dir, "--header-timeout", "2", "--idle-timeout", "3")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        shutil.rmtree(cls.dir)
        shutil.rmtree(cls.outside)

    def test_banner_fingerprint(self):
        text = "".join(self.srv.banner)
        self.assertRegex(text, r"SHA-256 fingerprint ([0-9A-F]{2}:){31}[0-9A-F]{2}")

    def test_get_sha256(self):
        r = curl("-k", self.srv.url + "/big.bin")
        self.assertEqual(sha(r.stdout), sha(self.big))

    def test_head(self):
        r = curl("-k", "-I", self.srv.url + "/big.bin")
        head = r.stdout.decode()
        self.assertIn("HTTP/1.1 200", head)
        self.assertIn("Content-Length: %d" % len(self.big), head)
        self.assertIn("Content-Type: application/octet-stream", head)
        self.assertIn("Last-Modified:", head)

    def test_content_type(self):
        r = curl("-k", "-I", self.srv.url + "/hello.txt")
        self.assertIn("Content-Type: text/plain", r.stdout.decode())

    def test_range_206(self):
        r = curl("-k", "-i", "-r", "1000-2999", self.srv.url + "/big.bin")
        head, _, body = r.stdout.partition(b"\r\n\r\n")
        self.assertIn(b"206 Partial Content", head)
        self.assertIn(b"Content-Range: bytes 1000-2999/%d" % len(self.big), head)
        self.assertEqual(body, self.big[1000:3000])

    def test_range_suffix(self):
        r = curl("-k", "-r", "-100", self.srv.url + "/big.bin")
        self.assertEqual(r.stdout, self.big[-100:])

    def test_range_416(self):
        r = curl("-k", "-i", "-r", "%d-" % (len(self.big) + 5), self.srv.url + "/big.bin")
        self.assertIn(b"416", r.stdout.split(b"\r\n")[0])
        self.assertIn(b"Content-Range: bytes */%d" % len(self.big), r.stdout)

    def test_if_modified_since_304(self):
        head = curl("-k", "-I", self.srv.url + "/hello.txt").stdout.decode()
        lm = re.search(r"Last-Modified: (.*)\r", head).group(1)
        self.assertEqual(code("-k", "-H", "If-Modified-Since: " + lm,
                              self.srv.url + "/hello.txt"), 304)
        self.assertEqual(code("-k", "-H", "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT",
                              self.srv.url + "/hello.txt"), 200)

    def test_if_modified_since_obsolete_date_forms(self):
        # RFC 9110 5.6.7: a recipient must accept the RFC 850 and asctime
        # forms too; an impossible or unprintable date is ignored (200).
        head = curl("-k", "-I", self.srv.url + "/hello.txt").stdout.decode()
        lm = re.search(r"Last-Modified: (.*)\r", head).group(1)
        when = email.utils.parsedate_to_datetime(lm)
        rfc850 = when.strftime("%A, %d-%b-%y %H:%M:%S GMT")
        asc = when.strftime("%a %b ") + ("%2d" % when.day) + when.strftime(" %H:%M:%S %Y")
        for form in (rfc850, asc):
            self.assertEqual(code("-k", "-H", "If-Modified-Since: " + form,
                                  self.srv.url + "/hello.txt"), 304, form)
        for bad in (lm.replace("GMT", "UTC"), lm + " x",
                    "Mon, 30 Feb 2099 00:00:00 GMT", "Fri, 31 Dec 9999 23:59:60 GMT"):
            self.assertEqual(code("-k", "-H", "If-Modified-Since: " + bad,
                                  self.srv.url + "/hello.txt"), 200, bad)

    def test_keepalive(self):
        r = curl("-k", "-v", self.srv.url + "/hello.txt", self.srv.url + "/big.bin")
        self.assertIn("Re-using existing connection", r.stderr.decode())
        self.assertEqual(r.stdout, b"hello, kssl\n" + self.big)

    def test_404(self):
        self.assertEqual(code("-k", self.srv.url + "/missing"), 404)

    def test_traversal(self):
        for path in ("/../etc/passwd", "/sub/../../etc/passwd", "/%2e%2e/etc/passwd",
                     "/..%2fetc/passwd"):
            r = curl("-k", "--path-as-is", "-w", "\n%{http_code}", self.srv.url + path)
            body, _, status = r.stdout.rpartition(b"\n")
            self.assertIn(int(status), (400, 403, 404), path)
            self.assertNotIn(b"root:", body, path)

    def test_symlink_out_of_root_refused(self):
        r = curl("-k", "-w", "\n%{http_code}", self.srv.url + "/sub/escape")
        body, _, status = r.stdout.rpartition(b"\n")
        self.assertIn(int(status), (403, 404))
        self.assertNotIn(b"SECRET", body)

    def test_symlink_inside_root_served(self):
        self.assertEqual(curl("-k", self.srv.url + "/sub/inside").stdout,
                         b"hello, kssl\n")

    def test_listing_escapes_names(self):
        body = curl("-k", self.srv.url + "/").stdout.decode()
        self.assertIn("&lt;script&gt;.txt", body)
        self.assertNotIn("<script>", body)
        self.assertIn('href="./%3Cscript%3E.txt"', body)

    def test_directory_redirect(self):
        r = curl("-k", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
                 self.srv.url + "/sub")
        self.assertEqual(r.stdout.decode(), "301 %s/sub/" % self.srv.url)

    def test_method_not_allowed(self):
        self.assertEqual(code("-k", "-X", "DELETE", self.srv.url + "/hello.txt"), 405)

    def test_header_too_large_431(self):
        self.assertEqual(code("-k", "-H", "X-Big: " + "a" * 17000,
                              self.srv.url + "/hello.txt"), 431)

    def test_too_many_headers(self):
        args = []
        for i in range(120):
            args += ["-H", "X-H%d: v" % i]
        self.assertIn(code("-k", *args, self.srv.url + "/hello.txt"), (400, 431))

    def _tls(self):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=20)
        return ctx.wrap_socket(s, server_hostname="localhost")

    def test_slowloris_header_timeout(self):
        s = self._tls()
        s.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n")
        t0 = time.monotonic()
        try:
            data = s.recv(100)  # server closes after --header-timeout 2
        except (ConnectionError, ssl.SSLError):
            data = b""
        self.assertEqual(data, b"")
        self.assertLess(time.monotonic() - t0, 15)
        s.close()

    def test_pipelined_requests(self):
        s = self._tls()
        s.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ssl.SSLError:
                break
            if not chunk:
                break
            data += chunk
        self.assertEqual(data.count(b"HTTP/1.1 200 OK"), 2)
        self.assertEqual(data.count(b"hello, kssl\n"), 2)
        s.close()

    def test_wrk_short_load(self):
        if not shutil.which("wrk"):
            self.skipTest("wrk not installed")
        r = subprocess.run(["wrk", "-t1", "-c8", "-d2s", "--timeout", "5s",
                            self.srv.url + "/hello.txt"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"\d+ requests in")
        self.assertNotIn("Non-2xx", r.stdout)
        m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                      r.stdout)
        if m:
            self.assertEqual(m.group(1), "0")


class ServeWithCert(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="kssl-serve-")
        cls.data = os.urandom(1024 * 1024)
        with open(os.path.join(cls.dir, "f.bin"), "wb") as f:
            f.write(cls.data)
        cls.srv = Server(cls.dir, "--cert", os.path.join(CERTS, "server.pem"),
                         "--key", os.path.join(CERTS, "server.key"))

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        shutil.rmtree(cls.dir)

    def test_curl_cacert(self):
        url = "https://localhost:%d/f.bin" % self.srv.port
        r = curl("--cacert", os.path.join(CERTS, "ca.pem"), url)
        self.assertEqual(sha(r.stdout), sha(self.data))

    def test_urllib_verified(self):
        ctx = ssl.create_default_context(cafile=os.path.join(CERTS, "ca.pem"))
        url = "https://localhost:%d/f.bin" % self.srv.port
        with urllib.request.urlopen(url, context=ctx, timeout=30) as resp:
            self.assertEqual(resp.status, 200)
            self.assertEqual(sha(resp.read()), sha(self.data))


class ServeLifecycle(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="kssl-serve-")
        self.data = os.urandom(8 * 1024 * 1024)
        with open(os.path.join(self.dir, "f.bin"), "wb") as f:
            f.write(self.data)

    def tearDown(self):
        shutil.rmtree(self.dir)

    def test_sigterm_finishes_transfer(self):
        srv = Server(self.dir, "--no-splice")
        p = subprocess.Popen(["curl", "-sk", "--limit-rate", "4M", "--max-time", "30",
                              srv.url + "/f.bin"], stdout=subprocess.PIPE)
        # Signal only once the transfer is really under way: the first
        # bytes have arrived (no sleep: the kTLS VM is many times slower).
        first = p.stdout.read(65536)
        srv.proc.send_signal(signal.SIGTERM)
        rest, _ = p.communicate(timeout=60)
        out = first + rest
        rc, _, _ = srv.stop()
        self.assertEqual(p.returncode, 0)
        self.assertEqual(sha(out), sha(self.data))
        self.assertEqual(rc, 0)

    def test_workers_and_epoll(self):
        srv = Server(self.dir, "--workers", "2", "--no-uring")
        try:
            for _ in range(4):
                r = curl("-k", srv.url + "/f.bin")
                self.assertEqual(sha(r.stdout), sha(self.data))
        finally:
            rc, out, err = srv.stop(signal.SIGINT)
        self.assertEqual(rc, 0, err)
        self.assertIn("epoll", err)

    def test_connection_cap(self):
        srv = Server(self.dir, "--max-conns", "1")
        try:
            # A connection past its handshake holds the slot (one still in
            # its handshake would be evicted for a newcomer).
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            held = ctx.wrap_socket(socket.create_connection(
                ("127.0.0.1", srv.port), timeout=10), server_hostname="localhost")
            held.sendall(b"HEAD /f.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertIn(b"200 OK", held.recv(4096))
            r = curl("-k", srv.url + "/f.bin", ok=False)
            self.assertNotEqual(r.returncode, 0)  # refused while one is open
            held.close()
            time.sleep(0.5)
            self.assertEqual(sha(curl("-k", srv.url + "/f.bin").stdout), sha(self.data))
        finally:
            srv.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
