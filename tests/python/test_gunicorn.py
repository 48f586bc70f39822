"""Debian's gunicorn (20.1, which wraps each accepted connection with the
deprecated ssl.wrap_socket(sock, server_side=True, keyfile=, certfile=,
...)) serving a tiny WSGI app over TLS, once with ssl and once under
`python3 -m kssl run`, fetched with curl: the body must arrive over TLS,
the same bytes (SHA-256), and under kssl from a kssl.SSLSocket."""
import hashlib
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

from support import IN_VM, KTLS, TIMEOUT, cert

APP = textwrap.dedent("""\
    import hashlib
    import ssl

    BODY = b"".join(hashlib.sha256(b"%d" % i).digest() for i in range(10000))


    def application(environ, start_response):
        sock = environ.get("gunicorn.socket")
        off = getattr(sock, "offload", None)
        start_response("200 OK", [
            ("Content-Type", "application/octet-stream"),
            ("Content-Length", str(len(BODY))),
            ("X-SSL-Module", ssl.__name__),
            ("X-Socket", type(sock).__module__ + "." + type(sock).__name__),
            ("X-Offload", "%s/%s" % (off.tx, off.rx) if off else "none")])
        return [BODY]
    """)
BODY = b"".join(hashlib.sha256(b"%d" % i).digest() for i in range(10000))


def have_gunicorn():
    try:
        import gunicorn  # noqa: F401
    except ImportError:
        return False
    return shutil.which("curl") is not None


@unittest.skipUnless(have_gunicorn(), "needs gunicorn (python3) and curl")
class GunicornTest(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)
        with open(os.path.join(self.dir.name, "tinyapp.py"), "w") as f:
            f.write(APP)

    def start(self, kssl_in_place):
        path = [os.path.abspath(p) for p in
                os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(path))
        prefix = ["-m", "kssl", "run"] if kssl_in_place else []
        proc = subprocess.Popen(
            [sys.executable] + prefix + [
                "-m", "gunicorn", "--bind", "127.0.0.1:0", "--workers", "1",
                "--certfile", cert("server.pem"), "--keyfile",
                cert("server.key"), "--chdir", self.dir.name,
                "tinyapp:application"],
            stderr=subprocess.PIPE, env=env, cwd=self.dir.name)
        self.addCleanup(self.stop, proc)
        # gunicorn logs "Listening at: https://127.0.0.1:PORT", then the
        # worker's "Booting worker"; the port is known from the first.
        deadline = time.monotonic() + TIMEOUT * 2
        log = b""
        port = None
        while time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stderr], [], [], 1.0)
            if ready:
                chunk = os.read(proc.stderr.fileno(), 4096)
                if not chunk:
                    break
                log += chunk
            m = re.search(rb"Listening at: https://127\.0\.0\.1:(\d+)", log)
            if m and b"Booting worker" in log:
                port = int(m.group(1))
                break
        if port is None:
            self.fail("gunicorn did not start:\n" + log.decode())
        return port

    def stop(self, proc):
        proc.terminate()
        try:
            proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stderr.close()

    def fetch(self, port):
        out = os.path.join(self.dir.name, "body")
        headers = os.path.join(self.dir.name, "headers")
        proc = subprocess.run(
            ["curl", "-sS", "--max-time", str(int(TIMEOUT)),
             "--cacert", cert("ca.pem"),
             "--resolve", "localhost:%d:127.0.0.1" % port,
             "-o", out, "-D", headers, "-w", "%{http_code}",
             "https://localhost:%d/" % port],
            capture_output=True, text=True, timeout=TIMEOUT * 2)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with open(out, "rb") as f:
            body = f.read()
        with open(headers) as f:
            head = dict(line.split(": ", 1) for line in f.read().splitlines()
                        if ": " in line)
        return proc.stdout, hashlib.sha256(body).hexdigest(), head

    def test_gunicorn_ssl_and_kssl(self):
        results = {}
        # In the kTLS VM (slow) only the kssl run: the comparison with ssl
        # does not depend on the kernel and runs on the host.
        for kssl_in_place in ((True,) if IN_VM else (False, True)):
            status, digest, head = self.fetch(self.start(kssl_in_place))
            self.assertEqual(status, "200")
            self.assertEqual(digest, hashlib.sha256(BODY).hexdigest())
            results[kssl_in_place] = head
        if not IN_VM:
            self.assertEqual(results[False]["X-SSL-Module"], "ssl")
            self.assertEqual(results[False]["X-Socket"], "ssl.SSLSocket")
        self.assertEqual(results[True]["X-SSL-Module"], "kssl")
        self.assertEqual(results[True]["X-Socket"], "kssl._socket.SSLSocket")
        self.assertEqual(results[True]["X-Offload"],
                         "kernel/kernel" if KTLS else "user/user")


if __name__ == "__main__":
    unittest.main()
