#!/usr/bin/python3
"""`kssl serve` for production (issue 12): certificate reload on SIGHUP,
systemd socket activation, IPv6 and several --bind, extra headers and HSTS,
access log formats. Checked with curl and openssl s_client.

Environment: KSSL_BIN (the kssl program), KSSL_TEST_CERTS (test PKI).
"""
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
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_serve import curl, sha  # noqa: E402

KSSL = os.environ.get("KSSL_BIN", "kssl")
CERTS = os.environ.get("KSSL_TEST_CERTS", "certs")
HANG = 30
# In the kTLS VM only the reload tests run (a download offloaded to kernel
# TLS survives a reload); the rest involves no kernel TLS: host only, which
# keeps the VM step small.
IN_VM = os.environ.get("KSSL_IN_VM") == "1"
host_only = unittest.skipIf(IN_VM, "no kernel TLS involved: host only")


class Proc:
    """A running `kssl serve` whose banner announced nurls URLs."""

    def __init__(self, argv, nurls=1, **popen):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True,
                                     **popen)
        self.urls, self.banner = [], []
        end = time.monotonic() + 20
        while len(self.urls) < nurls and time.monotonic() < end:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("kssl serve exited: " +
                                   self.proc.stderr.read())
            self.banner.append(line)
            m = re.search(r"serving .* on (https://\S+/)", line)
            if m:
                self.urls.append(m.group(1))
        if len(self.urls) < nurls:
            raise RuntimeError("no banner: %r" % self.banner)
        self.port = int(self.urls[0].rsplit(":", 1)[1].rstrip("/"))
        self.err = []
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read_stderr, daemon=True)
        self.reader.start()

    def _read_stderr(self):
        for line in self.proc.stderr:
            with self.cond:
                self.err.append(line)
                self.cond.notify_all()

    def wait_stderr(self, pattern, count=1):
        """Wait for count new stderr lines containing pattern."""
        end = time.monotonic() + HANG
        hits = []
        with self.cond:
            while len(hits) < count and time.monotonic() < end:
                while self.err and len(hits) < count:
                    line = self.err.pop(0)
                    if pattern in line:
                        hits.append(line)
                if len(hits) < count:
                    self.cond.wait(1)
        if len(hits) < count:
            raise AssertionError("%d x %r not on stderr" % (count, pattern))
        return hits

    def stop(self):
        if getattr(self, "result", None):
            return self.result
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        out = self.proc.stdout.read()
        self.proc.stdout.close()
        self.reader.join()
        self.proc.stderr.close()
        with self.cond:
            err = "".join(self.err)
        self.result = (self.proc.returncode, out, err)
        return self.result


def serve(root, *args, nurls=1):
    return Proc([KSSL, "serve", root, "--port", "0", *args], nurls=nurls)


def cert_fingerprint(pem_path):
    r = subprocess.run(["openssl", "x509", "-in", pem_path, "-noout",
                        "-fingerprint", "-sha256"], capture_output=True,
                       text=True, check=True)
    return r.stdout.strip()


def served_fingerprint(port, host="127.0.0.1"):
    """The fingerprint of the certificate `openssl s_client` is sent."""
    s = subprocess.run(["openssl", "s_client", "-connect",
                        "%s:%d" % (host, port), "-servername", "localhost"],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=HANG)
    r = subprocess.run(["openssl", "x509", "-noout", "-fingerprint",
                        "-sha256"], input=s.stdout, capture_output=True,
                       timeout=HANG)
    return r.stdout.decode().strip()


def client_ctx():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def has_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


class TempRoot(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="kssl-prod-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.www = os.path.join(self.dir, "www")
        os.mkdir(self.www)
        with open(os.path.join(self.www, "hello.txt"), "w") as f:
            f.write("hello\n")
        self.cert = os.path.join(self.dir, "cert.pem")
        self.key = os.path.join(self.dir, "key.pem")
        self.install("server.pem", "server.key")
        self.fp_rsa = cert_fingerprint(os.path.join(CERTS, "server.pem"))
        self.fp_ec = cert_fingerprint(os.path.join(CERTS, "server-ec.pem"))
        self.assertNotEqual(self.fp_rsa, self.fp_ec)

    def install(self, cert, key):
        """Replace cert.pem and key.pem (rename: atomic, as certbot does)."""
        for src, dst in ((cert, self.cert), (key, self.key)):
            shutil.copy(os.path.join(CERTS, src), dst + ".new")
            os.rename(dst + ".new", dst)

    def start(self, *args, nurls=1):
        srv = serve(self.www, "--cert", self.cert, "--key", self.key, *args,
                    nurls=nurls)
        self.addCleanup(srv.stop)
        return srv


class Reload(TempRoot):
    def test_new_connections_get_the_new_certificate(self):
        srv = self.start()
        self.assertEqual(served_fingerprint(srv.port), self.fp_rsa)
        self.install("server-ec.pem", "server-ec.key")
        srv.proc.send_signal(signal.SIGHUP)
        srv.wait_stderr("SIGHUP: reloaded")
        self.assertEqual(served_fingerprint(srv.port), self.fp_ec)
        self.assertEqual(curl("-k", "https://127.0.0.1:%d/hello.txt"
                              % srv.port).stdout, b"hello\n")
        rc, _, err = srv.stop()  # 0: no leak of either context (ASan)
        self.assertEqual(rc, 0, err)

    def test_download_in_flight_survives_the_reload(self):
        big = os.urandom(24 * 1024 * 1024 + 5)
        with open(os.path.join(self.www, "big.bin"), "wb") as f:
            f.write(big)
        srv = self.start()
        s = client_ctx().wrap_socket(
            socket.create_connection(("127.0.0.1", srv.port), timeout=HANG))
        old_der = s.getpeercert(binary_form=True)
        s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n"
                  b"Connection: close\r\n\r\n")
        data = bytearray(s.recv(65536))
        self.assertTrue(data.startswith(b"HTTP/1.1 200"))
        self.install("server-ec.pem", "server-ec.key")
        srv.proc.send_signal(signal.SIGHUP)
        srv.wait_stderr("SIGHUP: reloaded")
        self.assertEqual(served_fingerprint(srv.port), self.fp_ec)
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            data += chunk
        self.assertEqual(s.getpeercert(binary_form=True), old_der)
        s.close()
        head, body = bytes(data).split(b"\r\n\r\n", 1)
        self.assertEqual(sha(body), sha(big))
        rc, out, err = srv.stop()
        self.assertEqual(rc, 0, err)
        if IN_VM:  # the download really went through kernel TLS
            line, = [l for l in out.splitlines() if "/big.bin" in l]
            self.assertIn("tx=kernel", line)

    def test_bad_new_files_keep_the_old_certificate(self):
        srv = self.start()
        def write(path, text):
            with open(path, "w") as f:
                f.write(text)

        bad = {
            "garbage key": lambda: write(self.key, "garbage\n"),
            "garbage cert": lambda: write(self.cert, "junk\n"),
            "key of another cert": lambda: self.install("server.pem",
                                                        "server-ec.key"),
            "missing key": lambda: os.unlink(self.key),
        }
        for what, damage in bad.items():
            with self.subTest(what):
                damage()
                srv.proc.send_signal(signal.SIGHUP)
                line = srv.wait_stderr("SIGHUP: reload")[0]
                self.assertIn("failed, keeping the old certificate", line)
                self.assertEqual(served_fingerprint(srv.port), self.fp_rsa)
                self.install("server.pem", "server.key")
        self.install("server-ec.pem", "server-ec.key")
        srv.proc.send_signal(signal.SIGHUP)
        self.assertIn("reloaded", srv.wait_stderr("SIGHUP: reload")[0])
        self.assertEqual(served_fingerprint(srv.port), self.fp_ec)

    def test_every_worker_reloads(self):
        srv = self.start("--workers", "2")
        self.install("server-ec.pem", "server-ec.key")
        srv.proc.send_signal(signal.SIGHUP)
        pids = {re.search(r"worker (\d+)", l).group(1)
                for l in srv.wait_stderr("SIGHUP: reloaded", count=2)}
        self.assertEqual(len(pids), 2)
        for _ in range(6):
            self.assertEqual(served_fingerprint(srv.port), self.fp_ec)
        rc, _, _ = srv.stop()
        self.assertEqual(rc, 0)


@host_only
class SystemdActivation(TempRoot):
    def activated(self, *args, pid="$$", nurls=1):
        """kssl serve started as systemd would: the socket on fd 3."""
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(16)
        self.addCleanup(lsock.close)
        fd = os.dup(lsock.fileno())
        high = os.dup2(fd, 9)  # fd 3 is made by the shell from fd 9
        os.close(fd)
        self.addCleanup(os.close, high)
        script = ('LISTEN_PID=%s LISTEN_FDS=1 exec "$@" 3<&9 9<&-' % pid)
        srv = Proc(["sh", "-c", script, "sh", KSSL, "serve", self.www,
                    "--cert", self.cert, "--key", self.key, "--port", "0",
                    *args], nurls=nurls, pass_fds=(high,))
        self.addCleanup(srv.stop)
        return srv, lsock.getsockname()[1]

    def test_serves_on_the_passed_socket(self):
        srv, port = self.activated()
        self.assertEqual(srv.port, port)
        self.assertIn("socket from systemd", srv.banner[-1])
        r = curl("-k", "https://127.0.0.1:%d/hello.txt" % port)
        self.assertEqual(r.stdout, b"hello\n")

    def test_workers_share_the_socket(self):
        srv, port = self.activated("--workers", "2")
        for _ in range(4):
            r = curl("-k", "https://127.0.0.1:%d/hello.txt" % port)
            self.assertEqual(r.stdout, b"hello\n")
        rc, _, _ = srv.stop()
        self.assertEqual(rc, 0)

    def test_other_pid_is_ignored(self):
        srv, port = self.activated(pid="1")
        self.assertNotEqual(srv.port, port)
        self.assertNotIn("systemd", srv.banner[-1])
        r = curl("-k", "https://127.0.0.1:%d/hello.txt" % srv.port)
        self.assertEqual(r.stdout, b"hello\n")

    def test_not_a_listening_socket(self):
        r = subprocess.run(
            ["sh", "-c", 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$@" 3</dev/null',
             "sh", KSSL, "serve", self.www], capture_output=True, text=True,
            timeout=HANG)
        self.assertEqual(r.returncode, 1)
        self.assertIn("fd 3 is not a listening stream socket", r.stderr)


def head_lines(port, path="/hello.txt"):
    r = curl("-k", "-D", "-", "-o", "/dev/null",
             "https://127.0.0.1:%d%s" % (port, path))
    return r.stdout.decode("latin-1").split("\r\n")


def refused(*args):
    """kssl serve with bad options: (exit code, stderr)."""
    r = subprocess.run([KSSL, "serve", "--port", "0", *args],
                       capture_output=True, text=True, timeout=HANG)
    return r.returncode, r.stderr


@host_only
class Headers(TempRoot):
    def test_extra_headers_and_hsts(self):
        srv = self.start("--header", "X-Frame-Options: DENY",
                         "--header", "Link:</a.css>; rel=preload",
                         "--header", "Link: </b.js>; rel=preload", "--hsts")
        for path in ("/hello.txt", "/", "/missing"):
            lines = head_lines(srv.port, path)
            self.assertIn("X-Frame-Options: DENY", lines)
            self.assertIn("Link: </a.css>; rel=preload", lines)
            self.assertIn("Link: </b.js>; rel=preload", lines)
            self.assertIn("Strict-Transport-Security: max-age=31536000",
                          lines)

    def test_hsts_max_age_and_subdomains(self):
        srv = self.start("--hsts=300", "--hsts-include-subdomains")
        self.assertIn("Strict-Transport-Security: max-age=300; "
                      "includeSubDomains", head_lines(srv.port))

    def test_no_hsts_by_default(self):
        srv = self.start()
        lines = head_lines(srv.port)
        self.assertFalse([l for l in lines
                          if l.lower().startswith("strict-transport")])

    def test_invalid_headers_are_refused(self):
        for args, why in (
                (["--header", "X-A: b\r\nSet-Cookie: evil=1"],
                 "control characters"),
                (["--header", "X-A: b\nEvil: 1"], "control characters"),
                (["--header", "X-A: b\x01"], "control characters"),
                (["--header", "X A: b"], "must be a token"),
                (["--header", "X(A): b"], "must be a token"),
                (["--header", "NoColon"], "expected NAME:VALUE"),
                (["--header", ": v"], "expected NAME:VALUE"),
                (["--header", "content-length: 0"], "set by the server"),
                (["--header", "Connection: close"], "set by the server"),
                (["--header", "X-Big: " + "a" * 5000], "at most"),
                (["--hsts=", ], "number of seconds"),
                (["--hsts=-1"], "number of seconds"),
                (["--hsts=1y"], "number of seconds"),
                (["--hsts-include-subdomains"], "needs --hsts"),
                (["--hsts", "--header", "Strict-Transport-Security: x"],
                 "give one of them")):
            with self.subTest(args=args):
                rc, err = refused(*args)
                self.assertEqual(rc, 2)
                self.assertIn(why, err)


@host_only
class LogFormat(TempRoot):
    DATE = r"\[\d\d/\w\w\w/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]"

    def log_lines(self, fmt, *curl_args, paths=("/hello.txt",)):
        args = ("--log-format", fmt) if fmt else ()
        srv = self.start(*args)
        for p in paths:
            curl("-k", *curl_args, "https://127.0.0.1:%d%s" % (srv.port, p))
        rc, out, _ = srv.stop()
        self.assertEqual(rc, 0)
        return [l for l in out.splitlines() if '"' in l]

    def test_default_kssl(self):
        line, = self.log_lines(None)
        self.assertRegex(line, r'^127\.0\.0\.1 - - %s "GET /hello\.txt '
                         r'HTTP/1\.1" 200 6 tls=1\.[23] tx=(kernel|user) '
                         r'send=\S+$' % self.DATE)

    def test_small_bodies_go_with_the_head(self):
        # Userspace TX (host): a body that fits in one 16 KiB record with
        # the head is read into the head's buffer (one record, one send);
        # larger ones are streamed. Both arrive byte-exact.
        sizes = {"/s15k.bin": 15000, "/s16k.bin": 16384, "/empty.bin": 0}
        data = {}
        for path, size in sizes.items():
            data[path] = os.urandom(size)
            with open(os.path.join(self.www, path[1:]), "wb") as f:
                f.write(data[path])
        srv = self.start()
        for path in sizes:
            got = curl("-k", "https://127.0.0.1:%d%s" % (srv.port, path)).stdout
            self.assertEqual(hashlib.sha256(got).hexdigest(),
                             hashlib.sha256(data[path]).hexdigest())
        rc, out, _ = srv.stop()
        self.assertEqual(rc, 0)
        lines = [l for l in out.splitlines() if '"' in l]
        self.assertEqual(len(lines), 3)
        self.assertRegex(lines[0], r'"GET /s15k\.bin HTTP/1\.1" 200 15000 '
                         r'tls=1\.3 tx=user send=with-head$')
        self.assertRegex(lines[1], r'"GET /s16k\.bin HTTP/1\.1" 200 16384 '
                         r'tls=1\.3 tx=user send=tls-user$')
        self.assertRegex(lines[2], r'"GET /empty\.bin HTTP/1\.1" 200 0 '
                         r'tls=1\.3 tx=user$')

    def test_common(self):
        lines = self.log_lines("common", paths=("/hello.txt", "/nope"))
        self.assertRegex(lines[0], r'^127\.0\.0\.1 - - %s "GET /hello\.txt '
                         r'HTTP/1\.1" 200 6$' % self.DATE)
        # Generated bodies (errors, listings) are not counted: "-".
        self.assertRegex(lines[1], r' "GET /nope HTTP/1\.1" 404 -$')

    def test_combined_escapes_fields(self):
        line, = self.log_lines("combined", "-e", 'https://r/"x"',
                               "-A", "agent\\1 \x7f")
        self.assertRegex(line, r'^127\.0\.0\.1 - - %s "GET /hello\.txt '
                         r'HTTP/1\.1" 200 6 "https://r/\\x22x\\x22" '
                         r'"agent\\x5C1 \\x7F"$' % self.DATE)

    def test_combined_without_referer(self):
        line, = self.log_lines("combined", "-A", "")
        self.assertTrue(line.endswith(' 200 6 "-" "-"'), line)

    def test_head_logs_dash_bytes(self):
        line, = self.log_lines("common", "-I")
        self.assertTrue(line.endswith('"HEAD /hello.txt HTTP/1.1" 200 -'),
                        line)

    def test_unknown_format(self):
        rc, err = refused("--log-format", "json")
        self.assertEqual(rc, 2)
        self.assertIn("usage", err)


def s_client_status(port):
    r = subprocess.run(["openssl", "s_client", "-connect",
                        "127.0.0.1:%d" % port, "-status"],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=HANG)
    return r.stdout


@host_only
class OcspStapling(TempRoot):
    """A response made by an OCSP responder run on an index of the test CA."""

    def ocsp_response(self, cert, status="V"):
        pem = os.path.join(CERTS, cert)

        def field(opt):
            r = subprocess.run(["openssl", "x509", "-in", pem, "-noout", opt,
                                "-nameopt", "compat"], capture_output=True,
                               text=True, check=True)
            return r.stdout.strip().split("=", 1)[1]

        end = time.strftime("%y%m%d%H%M%SZ", time.strptime(
            field("-enddate"), "%b %d %H:%M:%S %Y GMT"))
        index = os.path.join(self.dir, "index.txt")
        revoked = "260101000000Z" if status == "R" else ""
        with open(index, "w") as f:
            f.write("%s\t%s\t%s\t%s\tunknown\t%s\n" % (
                status, end, revoked, field("-serial"), field("-subject")))
        out = os.path.join(self.dir, "resp-%s.der" % status)
        ca, cakey = (os.path.join(CERTS, n) for n in ("ca.pem", "ca.key"))
        subprocess.run(["openssl", "ocsp", "-index", index, "-rsigner", ca,
                        "-rkey", cakey, "-CA", ca, "-issuer", ca, "-cert",
                        pem, "-respout", out, "-ndays", "1"],
                       capture_output=True, check=True, timeout=HANG)
        return out

    def test_stapled_when_asked(self):
        resp = self.ocsp_response("server.pem")
        srv = self.start("--ocsp-response", resp)
        out = s_client_status(srv.port)
        self.assertIn("OCSP Response Status: successful", out)
        self.assertIn("Cert Status: good", out)
        # A client that does not ask gets no staple.
        r = subprocess.run(["openssl", "s_client", "-connect",
                            "127.0.0.1:%d" % srv.port],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=HANG)
        self.assertNotIn("OCSP", r.stdout)

    def test_no_stapling_without_the_option(self):
        srv = self.start()
        out = s_client_status(srv.port)
        self.assertIn("OCSP response: no response sent", out)

    def test_reloaded_on_sighup(self):
        resp = os.path.join(self.dir, "resp.der")
        shutil.copy(self.ocsp_response("server.pem"), resp)
        srv = self.start("--ocsp-response", resp)
        self.assertIn("Cert Status: good", s_client_status(srv.port))
        os.rename(self.ocsp_response("server.pem", "R"), resp)
        srv.proc.send_signal(signal.SIGHUP)
        srv.wait_stderr("SIGHUP: reloaded")
        self.assertIn("Cert Status: revoked", s_client_status(srv.port))
        # A bad response file keeps the old certificate and response.
        with open(resp, "wb") as f:
            f.write(b"not DER")
        srv.proc.send_signal(signal.SIGHUP)
        line = srv.wait_stderr("SIGHUP: ")[0]
        self.assertIn("not a DER OCSP response", line)
        self.assertIn("Cert Status: revoked", s_client_status(srv.port))
        rc, _, err = srv.stop()
        self.assertEqual(rc, 0, err)

    def test_bad_response_file_at_start(self):
        bad = os.path.join(self.dir, "bad.der")
        with open(bad, "wb") as f:
            f.write(b"\x30\x03\x0a\x01\x01")  # status malformedRequest
        for path, why in ((bad, "not successful"),
                          (self.cert, "not a DER OCSP response"),
                          (os.path.join(self.dir, "missing"),
                           "No such file")):
            with self.subTest(why):
                r = subprocess.run(
                    [KSSL, "serve", self.www, "--port", "0", "--cert",
                     self.cert, "--key", self.key, "--ocsp-response", path],
                    capture_output=True, text=True, timeout=HANG)
                self.assertEqual(r.returncode, 1)
                self.assertIn(why, r.stderr)
        rc, err = refused("--ocsp-response", bad)  # needs --cert
        self.assertEqual(rc, 2)


@host_only
@unittest.skipUnless(has_ipv6_loopback(), "no IPv6 loopback on this machine")
class IPv6(TempRoot):
    def get6(self, port, host="[::1]"):
        return curl("-6", "-k", "https://%s:%d/hello.txt" % (host, port))

    def test_ipv6_only(self):
        srv = self.start("--bind", "::1")
        self.assertEqual(srv.urls, ["https://[::1]:%d/" % srv.port])
        self.assertEqual(self.get6(srv.port).stdout, b"hello\n")
        r = curl("-k", "https://127.0.0.1:%d/" % srv.port, ok=False)
        self.assertEqual(r.returncode, 7)  # connection refused

    def test_dual_stack(self):
        srv = self.start("--bind", "::")
        self.assertEqual(srv.urls, ["https://[::]:%d/" % srv.port])
        self.assertEqual(self.get6(srv.port).stdout, b"hello\n")
        r = curl("-4", "-k", "https://127.0.0.1:%d/hello.txt" % srv.port)
        self.assertEqual(r.stdout, b"hello\n")

    def test_several_binds(self):
        srv = self.start("--bind", "127.0.0.1", "--bind", "::1", nurls=2)
        self.assertEqual(srv.urls, ["https://127.0.0.1:%d/" % srv.port,
                                    "https://[::1]:%d/" % srv.port])
        self.assertEqual(self.get6(srv.port).stdout, b"hello\n")
        r = curl("-4", "-k", "https://127.0.0.1:%d/hello.txt" % srv.port)
        self.assertEqual(r.stdout, b"hello\n")
        srv.proc.send_signal(signal.SIGTERM)
        rc, _, _ = srv.stop()
        self.assertEqual(rc, 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
