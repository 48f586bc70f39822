"""Python servers on kssl: gunicorn (kssl.gunicorn workers), aiohttp
(kssl.aiohttp) and uvicorn (kssl.uvicorn), each Debian's package, run as a
real server process and fetched with curl over TLS.

Every body is compared by SHA-256. The servers report, per response, where
TLS TX ran (gunicorn's debug log line, a response header for aiohttp and
uvicorn); on the host that is the userspace fallback, in the kTLS VM it
must be the kernel, with /proc/net/tls_stat's TlsTxSw moving.
"""
import os
import re
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

import kssl

from support import CERTS, KTLS, cert, payload, sha256

PY = sys.executable
SIZE = 3 * 1024 * 1024 + 17


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def have(module):
    try:
        __import__(module)
        return True
    except ImportError:
        return False


class ServerCase(unittest.TestCase):
    def setUp(self):
        cert("ca.pem")
        self.dir = tempfile.mkdtemp(prefix="kssl-servers-")
        self.file = os.path.join(self.dir, "body.bin")
        self.body = payload(SIZE, b"servers")
        with open(self.file, "wb") as f:
            f.write(self.body)
        self.proc = None

    def tearDown(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.logf.close()
        subprocess.run(["rm", "-rf", self.dir], check=False)

    def start(self, argv, port):
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        self.log = os.path.join(self.dir, "server.log")
        self.logf = open(self.log, "w")
        self.proc = subprocess.Popen(argv, cwd=self.dir, env=env,
                                     stdout=self.logf, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.fail("server exited: " + self.read_log())
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                return
            except OSError:
                time.sleep(0.1)
        self.fail("server did not listen: " + self.read_log())

    def read_log(self):
        with open(self.log) as f:
            return f.read()

    def fetch(self, port, path="/"):
        """curl the URL (verifying the test CA and the name); returns
        (headers text, body bytes)."""
        out = os.path.join(self.dir, "got.bin")
        r = subprocess.run(
            ["curl", "-sS", "--max-time", "60", "--cacert", cert("ca.pem"),
             "--resolve", "localhost:%d:127.0.0.1" % port, "-D", "-", "-o", out,
             "https://localhost:%d%s" % (port, path)],
            capture_output=True, text=True, timeout=90)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out, "rb") as f:
            return r.stdout, f.read()

    def assert_body(self, body):
        self.assertEqual(len(body), SIZE)
        self.assertEqual(sha256(body), sha256(self.body))

    def assert_tx(self, where, stat_before):
        stat = kssl.tls_stat()
        if KTLS:
            self.assertEqual(where, "kernel")
            self.assertGreater(stat["TlsTxSw"], stat_before["TlsTxSw"])
        else:
            self.assertEqual(where, "user")


@unittest.skipUnless(have("gunicorn"), "gunicorn not installed (Debian: gunicorn)")
class Gunicorn(ServerCase):
    APP = textwrap.dedent("""
        def application(environ, start_response):
            f = open("body.bin", "rb")
            start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                      ("X-Scheme", environ["wsgi.url_scheme"])])
            return environ["wsgi.file_wrapper"](f)
        """)

    def run_worker(self, worker, *extra):
        with open(os.path.join(self.dir, "wsgiapp.py"), "w") as f:
            f.write(self.APP)
        port = free_port()
        self.start([PY, "-m", "gunicorn", "--chdir", self.dir,
                    "-b", "127.0.0.1:%d" % port, "--certfile", cert("server.pem"),
                    "--keyfile", cert("server.key"), "-k", worker,
                    "--log-level", "debug", *extra, "wsgiapp:application"], port)
        before = kssl.tls_stat()
        for _ in range(2):
            head, body = self.fetch(port)
            self.assertRegex(head, r"^HTTP/1\.1 200")
            self.assertIn("X-Scheme: https", head)
            self.assert_body(body)
        self.proc.terminate()
        self.proc.wait(20)
        lines = re.findall(r"kssl: file response by sendfile, tx=(\w+)", self.read_log())
        self.assertEqual(len(lines), 2, self.read_log())
        for where in lines:
            self.assert_tx(where, before)

    def test_sync_worker_sendfile(self):
        self.run_worker("kssl.gunicorn.SyncWorker")

    def test_thread_worker_sendfile(self):
        self.run_worker("kssl.gunicorn.ThreadWorker", "--threads", "2")

    def test_context_from_gunicorn_settings(self):
        # The TLS settings keep their ssl.wrap_socket meaning.
        from gunicorn.config import Config
        import kssl.gunicorn
        cfg = Config()
        cfg.set("certfile", cert("server.pem"))
        cfg.set("keyfile", cert("server.key"))
        cfg.set("ca_certs", cert("ca.pem"))
        cfg.set("cert_reqs", kssl.CERT_REQUIRED)
        ctx = kssl.gunicorn.context_from_config(cfg)
        self.assertIsInstance(ctx, kssl.SSLContext)
        self.assertEqual(ctx.verify_mode, kssl.CERT_REQUIRED)
        self.assertEqual(ctx.protocol, kssl.PROTOCOL_TLS_SERVER)


@unittest.skipUnless(have("aiohttp"), "aiohttp not installed (Debian: python3-aiohttp)")
class Aiohttp(ServerCase):
    def test_file_response(self):
        port = free_port()
        with open(os.path.join(self.dir, "aioapp.py"), "w") as f:
            f.write(textwrap.dedent("""
                import sys
                from aiohttp import web
                import kssl, kssl.aiohttp

                async def body(request):
                    off = request.transport.get_extra_info("kssl_offload")
                    resp = web.FileResponse("body.bin")
                    resp.headers["X-Kssl-Tx"] = off.tx
                    return resp

                app = web.Application()
                app.router.add_get("/body", body)
                ctx = kssl.create_default_context(kssl.Purpose.CLIENT_AUTH)
                ctx.load_cert_chain(sys.argv[1], sys.argv[2])
                kssl.aiohttp.run_app(app, host="127.0.0.1", port=int(sys.argv[3]),
                                     ssl_context=ctx, print=None)
                """))
        self.start([PY, "aioapp.py", cert("server.pem"), cert("server.key"),
                    str(port)], port)
        before = kssl.tls_stat()
        head, body = self.fetch(port, "/body")
        self.assertRegex(head, r"^HTTP/1\.1 200")
        self.assert_body(body)
        self.assert_tx(re.search(r"X-Kssl-Tx: (\w+)", head).group(1), before)
        # SIGTERM: a graceful stop, exit status 0.
        self.proc.terminate()
        self.assertEqual(self.proc.wait(30), 0, self.read_log())


@unittest.skipUnless(have("uvicorn"), "uvicorn not installed (Debian: uvicorn)")
class Uvicorn(ServerCase):
    def test_asgi_over_kssl(self):
        port = free_port()
        with open(os.path.join(self.dir, "asgiapp.py"), "w") as f:
            f.write(textwrap.dedent("""
                async def app(scope, receive, send):
                    if scope["type"] == "lifespan":
                        while True:
                            m = await receive()
                            kind = m["type"].rsplit(".", 1)[1]
                            await send({"type": "lifespan.%s.complete" % kind})
                            if kind == "shutdown":
                                return
                    with open("body.bin", "rb") as f:
                        data = f.read()
                    await send({"type": "http.response.start", "status": 200,
                                "headers": [(b"content-length", b"%d" % len(data)),
                                            (b"x-scheme", scope["scheme"].encode())]})
                    await send({"type": "http.response.body", "body": data})
                """))
        with open(os.path.join(self.dir, "runuv.py"), "w") as f:
            f.write(textwrap.dedent("""
                import sys
                import kssl.uvicorn
                kssl.uvicorn.run("asgiapp:app", host="127.0.0.1", port=int(sys.argv[3]),
                                 ssl_certfile=sys.argv[1], ssl_keyfile=sys.argv[2],
                                 log_level="warning")
                """))
        self.start([PY, "runuv.py", cert("server.pem"), cert("server.key"),
                    str(port)], port)
        before = kssl.tls_stat()
        head, body = self.fetch(port)
        self.assertRegex(head, r"^HTTP/1\.1 200")
        self.assertIn("x-scheme: https", head)
        self.assert_body(body)
        if KTLS:
            self.assertGreater(kssl.tls_stat()["TlsTxSw"], before["TlsTxSw"])

    def test_refuses_multiprocess(self):
        import kssl.uvicorn
        with self.assertRaises(ValueError):
            kssl.uvicorn.run("asgiapp:app", workers=2)


if __name__ == "__main__":
    unittest.main()
