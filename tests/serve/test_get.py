#!/usr/bin/python3
"""Tests of `kssl get` against servers we did and did not write.

Servers: `kssl serve` (self-signed + --pin-sha256, and a CA-signed
certificate + --cacert), nginx (config generated in a temp dir),
`openssl s_server -WWW`, and a tiny Python server for the failures that
well-behaved servers do not produce (short body, redirects, a 200 answer
to a Range request, chunked bodies).

Every download is compared by SHA-256. In the kTLS VM (KSSL_IN_VM=1) the
tests also assert that RX was in the kernel (`--verbose` says
"rx: kernel", /proc/net/tls_stat TlsRxSw grew) and that the body went
socket -> pipe -> file by splice, not through the process.

Environment: KSSL_BIN (the kssl program), KSSL_TEST_CERTS (test PKI).
"""
import hashlib
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

KSSL = os.environ.get("KSSL_BIN", "kssl")
if os.sep in KSSL:
    KSSL = os.path.abspath(KSSL)  # some runs change the directory
CERTS = os.path.abspath(os.environ.get("KSSL_TEST_CERTS", "certs"))
IN_VM = os.environ.get("KSSL_IN_VM") == "1"
# Not a multiple of any record or pipe size; smaller in the (emulated) VM.
SIZE = (512 if IN_VM else 2048) * 1024 + 4097
# Tests that exercise no kernel path (option and response parsing) run on
# the host only, to keep the VM step short.
host_only = unittest.skipIf(IN_VM, "parsing only: the host run covers it")
# Body bytes that may arrive with the response head (kssl get reads the
# head in 4 KiB steps; a kTLS read may return up to that much body).
HEAD_SLACK = 4096

EXIT = {"ok": 0, "usage": 2, "connect": 3, "tls": 4, "verify": 5,
        "http": 6, "short": 7, "redirect": 8}


def sha(data):
    return hashlib.sha256(data).hexdigest()


def sha_file(path):
    with open(path, "rb") as f:
        return sha(f.read())


def cert(name):
    return os.path.join(CERTS, name)


def tls_rx_sw():
    try:
        with open("/proc/net/tls_stat") as f:
            for line in f:
                k, v = line.split()
                if k == "TlsRxSw":
                    return int(v)
    except OSError:
        pass
    return None


def free_port(host="127.0.0.1"):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def get(*args, cwd=None):
    """Runs `kssl get -v ARGS`; returns (exit status, stderr text)."""
    r = subprocess.run([KSSL, "get", "-v", *args], cwd=cwd,
                       capture_output=True, text=True, timeout=120)
    return r.returncode, r.stderr


class KsslServe:
    def __init__(self, root, *args):
        self.proc = subprocess.Popen(
            [KSSL, "serve", root, "--port", "0", "--quiet", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.fingerprint = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("kssl serve exited: " + self.proc.stderr.read())
            m = re.search(r"SHA-256 fingerprint (\S+)", line)
            if m:
                self.fingerprint = m.group(1)  # passed on verbatim
            m = re.search(r"https://([^/]+):(\d+)/", line)
            if m:
                self.url = "https://%s:%s" % (m.group(1), m.group(2))
                return
        raise RuntimeError("kssl serve: no banner")

    def stop(self):
        self.proc.terminate()
        self.proc.communicate(timeout=30)


class Nginx:
    CONF = """daemon off; master_process off; worker_processes 1;
pid {d}/nginx.pid; error_log {d}/error.log;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {d}/t1; proxy_temp_path {d}/t2;
  fastcgi_temp_path {d}/t3; uwsgi_temp_path {d}/t4; scgi_temp_path {d}/t5;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {cert}; ssl_certificate_key {key};
    root {root};
  }}
}}
"""

    def __init__(self, root):
        self.dir = tempfile.mkdtemp(prefix="kssl-get-nginx-")
        for attempt in range(5):  # the free port may be taken meanwhile
            self.port = free_port()
            conf = os.path.join(self.dir, "nginx.conf")
            with open(conf, "w") as f:
                f.write(self.CONF.format(d=self.dir, port=self.port,
                                         cert=cert("server.pem"),
                                         key=cert("server.key"),
                                         root=root))
            self.proc = subprocess.Popen(
                ["nginx", "-p", self.dir, "-c", conf, "-e", self.dir + "/error.log"],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if wait_port(self.port, self.proc):
                self.url = "https://localhost:%d" % self.port
                return
        raise RuntimeError("nginx did not start: " + self.proc.stderr.read().decode())

    def stop(self):
        self.proc.terminate()
        self.proc.communicate(timeout=30)
        shutil.rmtree(self.dir)


class SServer:
    """openssl s_server -WWW: HTTP/1.0, no Content-Length, body until close."""

    def __init__(self, root):
        self.proc = subprocess.Popen(
            ["openssl", "s_server", "-accept", "127.0.0.1:0", "-WWW",
             "-cert", cert("server.pem"), "-key", cert("server.key")],
            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL, text=True)
        for line in self.proc.stdout:
            m = re.match(r"ACCEPT 127\.0\.0\.1:(\d+)", line)
            if m:
                self.url = "https://127.0.0.1:%s" % m.group(1)
                return
        raise RuntimeError("s_server did not start")

    def stop(self):
        self.proc.kill()
        self.proc.communicate(timeout=30)


def wait_port(port, proc):
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


class Misbehaving:
    """A TLS server (stdlib ssl) with answers real servers rarely give."""

    RAW = {
        "/badstatus": b"HTTP/1.1 2OO OK\r\nContent-Length: 1\r\n\r\nx",
        "/twolengths": b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
                       b"Content-Length: 2\r\n\r\nxy",
        "/badchunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"zz\r\nxy\r\n0\r\n\r\n",
        "/gzip": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxy",
        "/nohead": b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n",
    }

    def __init__(self, body):
        self.body = body
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert("server.pem"), cert("server.key"))
        self.ctx = ctx
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = "https://127.0.0.1:%d" % self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                raw, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.one, args=(raw,), daemon=True).start()

    def one(self, raw):
        conn = None
        try:
            conn = self.ctx.wrap_socket(raw, server_side=True)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            path = head.split(b" ")[1].decode()
            self.answer(conn, path, head)
        except (OSError, ssl.SSLError):
            pass
        finally:
            (conn or raw).close()

    def answer(self, conn, path, head):
        b = self.body
        if path == "/short":  # claims all, sends half, closes (no close_notify)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(b))
            conn.sendall(b[:len(b) // 2])
        elif path == "/norange":  # ignores Range: the whole file, 200
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(b) + b)
            conn.unwrap()
        elif path == "/chunked":
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for i in range(0, len(b), 100000):
                part = b[i:i + 100000]
                conn.sendall(b"%x;ext=1\r\n" % len(part) + part + b"\r\n")
            conn.sendall(b"0\r\nX-Trailer: y\r\n\r\n")
            conn.unwrap()
        elif path.startswith("/redirect/"):  # /redirect/N -> N-1 -> ... -> /norange
            n = int(path.rsplit("/", 1)[1])
            to = "/redirect/%d" % (n - 1) if n > 1 else "/norange"
            conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: %s\r\nContent-Length: 0\r\n\r\n"
                         % to.encode())
            conn.unwrap()
        elif path in self.RAW:  # a malformed head or body
            conn.sendall(self.RAW[path])
            conn.unwrap()
        elif path == "/downgrade":
            conn.sendall(b"HTTP/1.1 301 Moved\r\nLocation: http://127.0.0.1/x\r\n"
                         b"Content-Length: 0\r\n\r\n")
            conn.unwrap()

    def stop(self):
        self.sock.close()


class GetBase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="kssl-get-root-")
        os.chmod(cls.root, 0o755)  # nginx workers may run as another user
        cls.body = os.urandom(SIZE)
        cls.digest = sha(cls.body)
        with open(os.path.join(cls.root, "big.bin"), "wb") as f:
            f.write(cls.body)
        os.chmod(os.path.join(cls.root, "big.bin"), 0o644)
        cls.out = tempfile.mkdtemp(prefix="kssl-get-out-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.root)
        shutil.rmtree(cls.out)

    def path(self, name):
        return os.path.join(self.out, name)

    def fetch(self, url, *args, name="o.bin", splice=True, user_server=False):
        """Downloads url to a file; checks bytes and, in the VM, the path.

        user_server: the server keeps its records in userspace (nginx,
        s_server), so the one new TlsRxSw count is this client's own.
        """
        dest = self.path(name)
        if os.path.exists(dest):
            os.unlink(dest)
        before = tls_rx_sw()
        rc, err = get("-o", dest, *args, url)
        self.assertEqual(rc, 0, err)
        self.assertEqual(sha_file(dest), self.digest)
        self.assertIn("HTTP 200, %d bytes" % SIZE, err)
        if IN_VM:
            print("\n%s [TlsRxSw %d -> %d]" % (err.strip(), before, tls_rx_sw()),
                  file=sys.stderr)  # the proof, in the log
            self.assertIn("rx: kernel, %s" % ("splice" if splice else "read"), err)
            if user_server:
                self.assertEqual(tls_rx_sw(), before + 1)
            else:  # kssl serve moves its own RX into the kernel as well
                self.assertGreater(tls_rx_sw(), before)
            if splice:
                m = re.search(r"\((\d+) bytes spliced, (\d+) copied\)", err)
                spliced, copied = int(m.group(1)), int(m.group(2))
                self.assertEqual(spliced + copied, SIZE)
                self.assertLessEqual(copied, HEAD_SLACK, err)
        else:
            self.assertRegex(err, r"rx: (user|kernel)")
        return err


class KsslServePinned(GetBase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.srv = KsslServe(cls.root)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        super().tearDownClass()

    def test_pin_as_printed(self):
        self.fetch(self.srv.url + "/big.bin", "--pin-sha256", self.srv.fingerprint)

    def test_pin_lowercase_no_colons(self):
        pin = self.srv.fingerprint.replace(":", "").lower()
        self.fetch(self.srv.url + "/big.bin", "--pin-sha256", pin)

    def test_verified_by_default(self):
        # Self-signed, no pin: the system CAs do not know it.
        rc, err = get("-o", self.path("x"), self.srv.url + "/big.bin")
        self.assertEqual(rc, EXIT["verify"], err)
        self.assertIn("certificate verify failed: self-signed certificate", err)
        self.assertFalse(os.path.exists(self.path("x")))

    def test_wrong_pin(self):
        rc, err = get("--pin-sha256", "00" * 32, "-o", self.path("x"),
                      self.srv.url + "/big.bin")
        self.assertEqual(rc, EXIT["verify"], err)
        self.assertIn("certificate pin mismatch", err)
        self.assertIn(self.srv.fingerprint, err)  # names what the server has

    @host_only
    def test_bad_pin_syntax(self):
        rc, err = get("--pin-sha256", "abc", self.srv.url + "/big.bin")
        self.assertEqual(rc, EXIT["usage"], err)

    def test_insecure_warns(self):
        dest = self.path("k.bin")
        rc, err = get("-k", "-o", dest, self.srv.url + "/big.bin")
        self.assertEqual(rc, 0, err)
        self.assertIn("WARNING: --insecure", err)
        self.assertEqual(sha_file(dest), self.digest)

    def test_404(self):
        rc, err = get("--pin-sha256", self.srv.fingerprint, "-o",
                      self.path("nf"), self.srv.url + "/missing")
        self.assertEqual(rc, EXIT["http"], err)
        self.assertIn("HTTP 404 Not Found", err)
        self.assertFalse(os.path.exists(self.path("nf")))

    def test_remote_name(self):
        dest = os.path.join(self.out, "big.bin")
        rc, err = get("-O", "--pin-sha256", self.srv.fingerprint,
                      self.srv.url + "/big.bin", cwd=self.out)
        self.assertEqual(rc, 0, err)
        self.assertEqual(sha_file(dest), self.digest)
        os.unlink(dest)

    def test_stdout(self):
        r = subprocess.run([KSSL, "get", "--pin-sha256", self.srv.fingerprint,
                            self.srv.url + "/big.bin"], capture_output=True,
                           timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sha(r.stdout), self.digest)
        self.assertEqual(r.stderr, b"")  # quiet when stderr is no terminal

    def test_resume(self):
        dest = self.path("part.bin")
        for cut in (1, SIZE // 3, SIZE - 1):
            with open(dest, "wb") as f:
                f.write(self.body[:cut])
            rc, err = get("-C", "--pin-sha256", self.srv.fingerprint, "-o",
                          dest, self.srv.url + "/big.bin")
            self.assertEqual(rc, 0, err)
            self.assertIn("HTTP 206, %d bytes" % (SIZE - cut), err)
            self.assertEqual(sha_file(dest), self.digest)
        # Complete already: 416 with "bytes */SIZE" is success, file kept.
        rc, err = get("-C", "--pin-sha256", self.srv.fingerprint, "-o", dest,
                      self.srv.url + "/big.bin")
        self.assertEqual(rc, 0, err)
        self.assertIn("complete already", err)
        self.assertEqual(sha_file(dest), self.digest)

    @host_only
    def test_resume_longer_file_fails(self):
        dest = self.path("long.bin")
        with open(dest, "wb") as f:
            f.write(self.body + b"extra")
        rc, err = get("-C", "--pin-sha256", self.srv.fingerprint, "-o", dest,
                      self.srv.url + "/big.bin")
        self.assertEqual(rc, EXIT["http"], err)
        self.assertIn("HTTP 416", err)

    def test_no_offload_read_path(self):
        for opt, path in (("--no-offload", "rx: user"),
                          ("--no-splice", "rx: kernel, read" if IN_VM else "read")):
            dest = self.path("n.bin")
            rc, err = get(opt, "--pin-sha256", self.srv.fingerprint, "-o",
                          dest, self.srv.url + "/big.bin")
            self.assertEqual(rc, 0, err)
            self.assertIn(path, err)
            self.assertIn("(0 bytes spliced, %d copied)" % SIZE, err)
            self.assertEqual(sha_file(dest), self.digest)

    @host_only
    def test_connection_refused(self):
        rc, err = get("-k", "https://127.0.0.1:%d/" % free_port())
        self.assertEqual(rc, EXIT["connect"], err)
        self.assertIn("Connection refused", err)

    @host_only
    def test_usage(self):
        for args in (["http://127.0.0.1/x"], ["-C", "https://127.0.0.1/x"],
                     ["https://a/x", "https://b/y"], []):
            rc, err = get(*args)
            self.assertEqual(rc, EXIT["usage"], (args, err))
        r = subprocess.run([KSSL, "get", "--help"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        self.assertIn("--pin-sha256", r.stdout)


class KsslServeWithCA(GetBase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.srv = KsslServe(cls.root, "--cert", cert("server.pem"),
                            "--key", cert("server.key"))
        cls.srv2 = KsslServe(cls.root, "--bind", "127.0.0.2", "--cert",
                             cert("server.pem"), "--key", cert("server.key"))

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv2.stop()
        super().tearDownClass()

    def test_cacert(self):
        self.fetch(self.srv.url + "/big.bin", "--cacert", cert("ca.pem"))

    def test_cacert_hostname_localhost(self):
        url = self.srv.url.replace("127.0.0.1", "localhost") + "/big.bin"
        self.fetch(url, "--cacert", cert("ca.pem"))

    def test_wrong_ca(self):
        rc, err = get("--cacert", cert("other-ca.pem"), "-o", self.path("x"),
                      self.srv.url + "/big.bin")
        self.assertEqual(rc, EXIT["verify"], err)
        self.assertIn("certificate verify failed: unable to get local issuer certificate", err)

    def test_wrong_hostname(self):
        # The certificate names localhost, 127.0.0.1 and ::1, not 127.0.0.2.
        rc, err = get("--cacert", cert("ca.pem"), "-o", self.path("x"),
                      self.srv2.url + "/big.bin")
        self.assertEqual(rc, EXIT["verify"], err)
        self.assertIn("IP address mismatch", err)


class OtherServers(GetBase):
    """nginx and openssl s_server -WWW, each alone and all in parallel."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.nginx = Nginx(cls.root)
        cls.sserver = SServer(cls.root)
        cls.kserve = KsslServe(cls.root, "--cert", cert("server.pem"),
                               "--key", cert("server.key"))

    @classmethod
    def tearDownClass(cls):
        cls.nginx.stop()
        cls.sserver.stop()
        cls.kserve.stop()
        super().tearDownClass()

    def test_nginx(self):
        self.fetch(self.nginx.url + "/big.bin", "--cacert", cert("ca.pem"),
                   user_server=True)

    @host_only
    def test_nginx_404(self):
        rc, err = get("--cacert", cert("ca.pem"), "-o", self.path("x"),
                      self.nginx.url + "/nothing")
        self.assertEqual(rc, EXIT["http"], err)
        self.assertIn("HTTP 404 Not Found", err)

    def test_s_server(self):
        # No Content-Length: the body ends with close_notify, which splice
        # meets as a control record; kssl_read then sees the clean end.
        self.fetch(self.sserver.url + "/big.bin", "--cacert", cert("ca.pem"),
                   user_server=True)

    def test_parallel(self):
        urls = [self.nginx.url + "/big.bin", self.sserver.url + "/big.bin",
                self.kserve.url + "/big.bin"]
        args = ["--cacert", cert("ca.pem")]
        for i, u in enumerate(urls):
            args += ["-o", self.path("p%d.bin" % i)]
        rc, err = get(*args, *urls)
        self.assertEqual(rc, 0, err)
        for i in range(len(urls)):
            self.assertEqual(sha_file(self.path("p%d.bin" % i)), self.digest)
        self.assertEqual(err.count("HTTP 200, %d bytes" % SIZE), 3, err)


class Failures(GetBase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bad = Misbehaving(cls.body)
        cls.kserve = KsslServe(cls.root, "--cert", cert("server.pem"),
                               "--key", cert("server.key"))

    @classmethod
    def tearDownClass(cls):
        cls.bad.stop()
        cls.kserve.stop()
        super().tearDownClass()

    def ca_get(self, *args):
        return get("--cacert", cert("ca.pem"), *args)

    def test_short_body_then_resume(self):
        dest = self.path("short.bin")
        rc, err = self.ca_get("-o", dest, self.bad.url + "/short")
        self.assertEqual(rc, EXIT["short"], err)
        self.assertIn("short body", err)
        self.assertIn("%d bytes still expected" % (SIZE - SIZE // 2), err)
        with open(dest, "rb") as f:
            self.assertEqual(f.read(), self.body[:SIZE // 2])  # kept as is
        rc, err = self.ca_get("-C", "-o", dest, self.kserve.url + "/big.bin")
        self.assertEqual(rc, 0, err)
        self.assertIn("HTTP 206", err)
        self.assertEqual(sha_file(dest), self.digest)

    def test_resume_answered_with_200(self):
        dest = self.path("restart.bin")
        with open(dest, "wb") as f:
            f.write(b"x" * 1000)  # wrong bytes: the 200 must replace them
        rc, err = self.ca_get("-C", "-o", dest, self.bad.url + "/norange")
        self.assertEqual(rc, 0, err)
        self.assertEqual(sha_file(dest), self.digest)

    def test_chunked(self):
        dest = self.path("chunked.bin")
        rc, err = self.ca_get("-o", dest, self.bad.url + "/chunked")
        self.assertEqual(rc, 0, err)
        self.assertEqual(sha_file(dest), self.digest)
        if IN_VM:
            self.assertIn("rx: kernel, read", err)

    @host_only
    def test_redirect_needs_L(self):
        rc, err = self.ca_get("-o", self.path("r"), self.bad.url + "/redirect/1")
        self.assertEqual(rc, EXIT["redirect"], err)
        self.assertIn("HTTP 302 redirect to /norange (use -L to follow)", err)

    def test_redirect_followed(self):
        dest = self.path("r.bin")
        rc, err = self.ca_get("-L", "-o", dest, self.bad.url + "/redirect/3")
        self.assertEqual(rc, 0, err)
        self.assertEqual(sha_file(dest), self.digest)

    @host_only
    def test_too_many_redirects(self):
        rc, err = self.ca_get("-L", "--max-redirs", "2", "-o", self.path("r"),
                              self.bad.url + "/redirect/3")
        self.assertEqual(rc, EXIT["redirect"], err)
        self.assertIn("too many redirects", err)

    @host_only
    def test_no_downgrade(self):
        rc, err = self.ca_get("-L", "-o", self.path("r"), self.bad.url + "/downgrade")
        self.assertEqual(rc, EXIT["redirect"], err)
        self.assertIn("only https:// is followed", err)

    @host_only
    def test_malformed(self):
        for path, why in (("/badstatus", "bad status line"),
                          ("/twolengths", "conflicting Content-Length"),
                          ("/badchunk", "bad chunked encoding"),
                          ("/gzip", "Transfer-Encoding other than chunked"),
                          ("/nohead", "before a complete response head")):
            rc, err = self.ca_get("-o", self.path("m"), self.bad.url + path)
            self.assertEqual(rc, EXIT["http"], (path, err))
            self.assertIn(why, err)

    def test_first_failure_sets_status(self):
        rc, err = self.ca_get("-o", self.path("a"), "-o", self.path("b"),
                              self.kserve.url + "/big.bin", self.bad.url + "/short")
        self.assertEqual(rc, EXIT["short"], err)
        self.assertEqual(sha_file(self.path("a")), self.digest)


if __name__ == "__main__":
    unittest.main(verbosity=2)
