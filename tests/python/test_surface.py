"""The module surface: every name of dir(ssl) in kssl with the same
meaning; the context factories and CPython's module-level wrap_socket
compared call by call with the stdlib's; kssl.install() and
`python3 -m kssl run`."""
import inspect
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import textwrap
import types
import unittest
import warnings

import kssl
from support import IN_VM, TIMEOUT, OffloadAssertions, cert, serve, server_ctx

# Only WrapSocketTest depends on the kernel; the rest runs on the host only
# (the kTLS VM step stays short).
host_only = unittest.skipIf(IN_VM, "no kernel dependence: host only")

HERE = os.path.dirname(os.path.abspath(__file__))
DOCS = os.path.join(HERE, "..", "..", "docs", "python.md")

# Names whose kssl value is not the stdlib's very object: kssl's own
# classes and context-building functions (same kind, same signature)...
REPLACED = {"SSLContext", "SSLSocket", "create_default_context",
            "_create_unverified_context", "_create_stdlib_context",
            "_create_default_https_context", "get_server_certificate",
            "wrap_socket"}
# ...and the documented exceptions (docs/python.md, "Names of ssl").
EXCEPTIONS = {"_socket", "SSLSession"}


def outcome(fn):
    """('ok', value) or ('raise', class, str) plus the warnings raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = ("ok", fn())
        except Exception as e:  # compared by the caller
            result = ("raise", type(e), str(e))
    return result, [(w.category, str(w.message)) for w in caught
                    if not issubclass(w.category, ResourceWarning)]


def ctx_view(ctx):
    return dict(protocol=ctx.protocol, verify_mode=ctx.verify_mode,
                check_hostname=ctx.check_hostname, options=ctx.options,
                minimum_version=ctx.minimum_version,
                maximum_version=ctx.maximum_version,
                stats=ctx.cert_store_stats(),
                ciphers=[c["name"] for c in ctx.get_ciphers()])


@host_only
class NamesTest(unittest.TestCase):

    def test_every_ssl_name(self):
        differ = set()
        for name in dir(ssl):
            if name.startswith("__") and name.endswith("__"):
                continue  # module machinery (__file__, __spec__, ...)
            self.assertTrue(hasattr(kssl, name), name)
            a, b = getattr(ssl, name), getattr(kssl, name)
            if a is b:
                continue
            differ.add(name)
            if name in REPLACED:
                if isinstance(a, type):
                    self.assertTrue(issubclass(b, a), name)
                else:
                    self.assertIsInstance(b, types.FunctionType, name)
            elif name == "SSLSession":
                # Its own class: CPython cannot build or subclass ssl's.
                self.assertIsInstance(b, type, name)
                self.assertFalse(issubclass(b, a), name)
            elif name in EXCEPTIONS:
                self.assertIsInstance(b, types.ModuleType, name)
        self.assertEqual(differ, REPLACED | EXCEPTIONS)
        # The C module, as ssl._ssl (programs reach into it).
        self.assertIs(kssl._ssl, sys.modules["_ssl"])

    def test_exceptions_documented(self):
        with open(DOCS) as f:
            doc = f.read()
        section = doc.split("### Names of `ssl`", 1)[1].split("\n#", 1)[0]
        for name in REPLACED | EXCEPTIONS:
            self.assertIn("`%s`" % name, section, name)

    def test_signatures(self):
        for name in REPLACED - {"SSLContext", "SSLSocket", "wrap_socket"}:
            self.assertEqual(str(inspect.signature(getattr(ssl, name))),
                             str(inspect.signature(getattr(kssl, name))),
                             name)

    def test_aliases(self):
        self.assertIs(kssl._create_default_https_context,
                      kssl.create_default_context)
        self.assertIs(kssl._create_stdlib_context,
                      kssl._create_unverified_context)


@host_only
class FactoriesTest(unittest.TestCase):

    def test_factories_differential(self):
        asn1 = ssl._ASN1Object.fromname("codeSigning")
        calls = [
            ("_create_unverified_context", (), {}),
            ("_create_unverified_context", (ssl.PROTOCOL_TLS_SERVER,), {}),
            ("_create_unverified_context", (ssl.PROTOCOL_TLS,), {}),
            ("_create_unverified_context", (ssl.PROTOCOL_TLSv1_2,), {}),
            ("_create_unverified_context", (),
             {"purpose": ssl.Purpose.CLIENT_AUTH}),
            ("_create_unverified_context", (), {"purpose": "x"}),
            ("_create_unverified_context", (), {"purpose": asn1}),
            ("_create_unverified_context", (),
             {"cert_reqs": ssl.CERT_REQUIRED}),
            ("_create_unverified_context", (), {"cert_reqs": None}),
            ("_create_unverified_context", (), {"check_hostname": True}),
            ("_create_unverified_context", (),
             {"check_hostname": True, "cert_reqs": ssl.CERT_NONE}),
            ("_create_unverified_context", (ssl.PROTOCOL_TLS_SERVER,),
             {"check_hostname": True}),
            ("_create_unverified_context", (),
             {"certfile": cert("client.pem"), "keyfile": cert("client.key")}),
            ("_create_unverified_context", (), {"keyfile": cert("client.key")}),
            ("_create_unverified_context", (),
             {"certfile": "/nonexistent.pem"}),
            ("_create_unverified_context", (), {"cafile": cert("ca.pem")}),
            ("_create_unverified_context", (), {"capath": os.path.dirname(
                cert("ca.pem"))}),
            ("_create_unverified_context", (), {"cadata": "garbage"}),
            ("_create_stdlib_context", (), {"cert_reqs": ssl.CERT_OPTIONAL}),
            ("create_default_context", (), {}),
            ("create_default_context", (ssl.Purpose.CLIENT_AUTH,), {}),
            ("create_default_context", (asn1,), {}),
            ("create_default_context", (None,), {}),
            ("create_default_context", (), {"cafile": cert("ca.pem")}),
            ("create_default_context", (), {"cafile": "/nonexistent"}),
            ("_create_default_https_context", (), {}),
        ]
        for name, args, kw in calls:
            res = [outcome(lambda: getattr(m, name)(*args, **kw))
                   for m in (ssl, kssl)]
            (a, wa), (b, wb) = res
            where = "%s%r%r" % (name, args, kw)
            self.assertEqual(a[0], b[0], where)
            self.assertEqual(wa, wb, where)
            if a[0] == "ok":
                self.assertIsInstance(b[1], kssl.SSLContext, where)
                self.assertEqual(ctx_view(a[1]), ctx_view(b[1]), where)
            else:
                self.assertEqual(a[1:], b[1:], where)

    def test_get_server_certificate(self):
        results = []
        for m in (ssl, kssl):
            for ca in (None, cert("ca.pem"), cert("other-ca.pem")):
                port, peer = serve(server_ctx(ssl), lambda s: s.recv(1))
                r, _ = outcome(lambda: m.get_server_certificate(
                    ("localhost", port), ca_certs=ca, timeout=TIMEOUT))
                peer.result(raise_error=False)
                results.append(r if r[0] == "ok" else r[:2])
        self.assertEqual(results[:3], results[3:])
        with open(cert("server.pem")) as f:
            self.assertEqual(ssl.PEM_cert_to_DER_cert(results[0][1]),
                             ssl.PEM_cert_to_DER_cert(f.read()))
        self.assertEqual(results[2][1], ssl.SSLCertVerificationError)


@host_only
class HookAssignmentTest(unittest.TestCase):
    """`ssl._create_default_https_context = ssl._create_unverified_context`
    written against kssl reaches the stdlib's http.client too."""

    def test_default_https_hook(self):
        import http.client
        saved = ssl._create_default_https_context
        self.addCleanup(setattr, ssl, "_create_default_https_context", saved)
        self.addCleanup(setattr, kssl, "_create_default_https_context",
                        kssl.create_default_context)
        kssl._create_default_https_context = kssl._create_unverified_context
        self.assertIs(ssl._create_default_https_context,
                      kssl._create_unverified_context)
        port, peer = serve(server_ctx(ssl), lambda s: s.recv(100))
        conn = http.client.HTTPSConnection("localhost", port,
                                           timeout=TIMEOUT)
        conn.connect()  # our test CA is not in the system store
        self.assertIsInstance(conn.sock, kssl.SSLSocket)
        conn.sock.sendall(b"GET")
        conn.close()
        self.assertEqual(peer.result(), b"GET")

    def test_stdlib_hook(self):
        saved = ssl._create_stdlib_context
        self.addCleanup(setattr, ssl, "_create_stdlib_context", saved)
        self.addCleanup(setattr, kssl, "_create_stdlib_context",
                        kssl._create_unverified_context)

        def hook(*args, **kw):
            return "hooked"
        kssl._create_stdlib_context = hook
        self.assertIs(ssl._create_stdlib_context, hook)
        kssl.other_name = 1  # other names stay kssl's own
        self.addCleanup(delattr, kssl, "other_name")
        self.assertFalse(hasattr(ssl, "other_name"))


def echo_once(s):
    data = s.recv(1024)
    s.sendall(data.upper())
    return data


class WrapWith:
    """support.serve()'s context: wraps the accepted socket with fn(raw)."""

    def __init__(self, fn):
        self.fn = fn

    def wrap_socket(self, raw, server_side):
        return self.fn(raw)


class WrapSocketTest(OffloadAssertions, unittest.TestCase):
    """kssl.wrap_socket in CPython's form, against ssl.wrap_socket."""

    def test_argument_errors(self):
        calls = [
            ((), {"server_side": True}),
            ((), {"keyfile": cert("server.key")}),
            ((None, None, True), {}),
            ((), {"certfile": "/nonexistent.pem", "server_side": True}),
            ((), {"ciphers": "NOT-A-CIPHER"}),
            ((), {"ca_certs": "/nonexistent"}),
            ((), {"ssl_version": 99}),
            ((), {"cert_reqs": 7}),
            ((), {"no_such_keyword": 1}),
            ((None,) * 10, {}),
            ((None, cert("server.pem")), {"keyfile": cert("server.key")}),
        ]
        for args, kw in calls:
            res = []
            for m in (ssl, kssl):
                with socket.socket() as s:
                    res.append(outcome(lambda: m.wrap_socket(s, *args, **kw)))
            self.assertEqual(res[0], res[1], (args, kw))

    def roundtrip(self, server_wrap, client_wrap):
        port, peer = serve(WrapWith(server_wrap),
                           lambda s: (echo_once(s), s.version(), type(s)))
        raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        try:
            with client_wrap(raw) as c:
                c.sendall(b"hello")
                reply = c.recv(1024)
                client = (reply, c.version(), type(c))
                if isinstance(c, kssl.SSLSocket):
                    self.assert_offloaded(c)
        except Exception:
            raw.close()
            peer.result(raise_error=False)
            raise
        return client, peer.result()

    def test_server_form(self):
        # gunicorn's call: ssl.wrap_socket(sock, server_side=True, **opts)
        opts = dict(keyfile=cert("server.key"), certfile=cert("server.pem"),
                    server_side=True, cert_reqs=ssl.CERT_NONE,
                    ssl_version=ssl.PROTOCOL_TLS_SERVER, ca_certs=None,
                    suppress_ragged_eofs=True, do_handshake_on_connect=True,
                    ciphers="ECDHE+AESGCM")
        client_ctx = ssl.create_default_context(cafile=cert("ca.pem"))
        got = {}
        for m in (ssl, kssl):
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always")
                client, server = self.roundtrip(
                    lambda raw: m.wrap_socket(raw, **opts),
                    lambda raw: client_ctx.wrap_socket(
                        raw, server_hostname="localhost"))
            got[m] = (client, server[:2], [str(x.message) for x in w
                                           if x.category is DeprecationWarning])
            self.assertIs(server[2], m.SSLSocket)
        self.assertEqual(got[ssl], got[kssl])
        self.assertEqual(got[ssl][0][0], b"HELLO")

    def test_server_form_positional(self):
        # keyfile, certfile, server_side positionally; offload checked on
        # the kssl server by a kssl client.
        srv = kssl.SSLContext(kssl.PROTOCOL_TLS_CLIENT)
        srv.load_verify_locations(cert("ca.pem"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            client, server = self.roundtrip(
                lambda raw: kssl.wrap_socket(raw, cert("server.key"),
                                             cert("server.pem"), True),
                lambda raw: srv.wrap_socket(raw, server_hostname="localhost"))
        self.assertEqual(client[0], b"HELLO")
        self.assertIs(server[2], kssl.SSLSocket)

    def test_client_form(self):
        results = {}
        for ca in (cert("ca.pem"), cert("other-ca.pem")):
            for m in (ssl, kssl):
                port, peer = serve(server_ctx(ssl), echo_once)
                raw = socket.create_connection(("127.0.0.1", port),
                                               timeout=TIMEOUT)

                def run():
                    with m.wrap_socket(raw, ca_certs=ca,
                                       cert_reqs=ssl.CERT_REQUIRED) as c:
                        c.sendall(b"abc")
                        return c.recv(100), c.version(), type(c).__name__
                r, w = outcome(run)
                raw.close()
                peer.result(raise_error=False)
                if r[0] == "raise":
                    r = r[:2]
                results.setdefault(ca, []).append((r, w))
        ok, bad = results.values()
        self.assertEqual(ok[0], ok[1])
        self.assertEqual(ok[0][0][1][0], b"ABC")
        self.assertEqual(bad[0], bad[1])
        self.assertEqual(bad[0][0][1], ssl.SSLCertVerificationError)

    def test_micropython_forms_still_chosen(self):
        # A bool second argument and MicroPython keywords select its form
        # (no DeprecationWarning, no certfile demanded).
        with socket.socket() as s:
            r, w = outcome(lambda: kssl.wrap_socket(s, True, b"x", b"y"))
        self.assertEqual(r[:2], ("raise", ValueError))
        self.assertIn("invalid", r[2])
        self.assertEqual(w, [])
        with socket.socket() as s:
            r, w = outcome(lambda: kssl.wrap_socket(s, keyfile="k", cert="c"))
        self.assertEqual(r[1], TypeError)
        self.assertIn("cannot be mixed", r[2])


def run_python(args, **kw):
    path = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    env = dict(os.environ, PYTHONWARNINGS="ignore::DeprecationWarning",
               PYTHONPATH=os.pathsep.join(os.path.abspath(p) for p in path
                                          if p))
    return subprocess.run([sys.executable] + args, capture_output=True,
                          text=True, timeout=60, env=env, **kw)


@host_only
class InstallTest(unittest.TestCase):

    PROBE = textwrap.dedent("""\
        import json, sys
        import ssl, http.client, urllib.request, ftplib
        import kssl, kssl._context, kssl._install
        import kssl.asyncio, asyncio.sslproto
        print(json.dumps(dict(
            name=__name__, argv=sys.argv, path0=sys.path[0],
            ssl=ssl.__name__, http_client=http.client.ssl.__name__,
            urllib=urllib.request.ssl.__name__, ftplib=ftplib.ssl.__name__,
            sslproto=asyncio.sslproto.ssl.__name__,
            kssl_internal=kssl._context._ssl.__name__,
            kssl_asyncio=kssl.asyncio._connection._ssl.__name__,
            ctx=type(ssl.create_default_context()).__module__)))
        """)

    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)
        with open(os.path.join(self.dir.name, "probe_app.py"), "w") as f:
            f.write(self.PROBE)

    def check(self, proc, argv0, args):
        self.assertEqual(proc.returncode, 0, proc.stderr)
        got = json.loads(proc.stdout)
        self.assertEqual(got["name"], "__main__")
        self.assertEqual(got["argv"], [argv0] + args)
        for key in ("ssl", "http_client", "urllib", "ftplib", "sslproto"):
            self.assertEqual(got[key], "kssl", key)
        self.assertEqual(got["kssl_internal"], "ssl")
        self.assertEqual(got["kssl_asyncio"], "ssl")
        self.assertEqual(got["ctx"], "kssl._context")
        return got

    def test_run_script(self):
        script = os.path.join(self.dir.name, "probe_app.py")
        got = self.check(run_python(["-m", "kssl", "run", script, "a", "-m"]),
                         script, ["a", "-m"])
        self.assertEqual(got["path0"], self.dir.name)

    def test_run_module(self):
        got = self.check(run_python(["-m", "kssl", "run", "-m", "probe_app",
                                     "x", "--y"], cwd=self.dir.name),
                         os.path.join(self.dir.name, "probe_app.py"),
                         ["x", "--y"])
        self.assertEqual(os.path.realpath(got["path0"]),
                         os.path.realpath(self.dir.name))

    def test_install_in_process_and_earlier_imports(self):
        # Modules that imported ssl before install() keep the stdlib's.
        code = textwrap.dedent("""\
            import http.client, kssl, sys
            kssl.install(); kssl.install()
            import ssl, smtplib
            print(ssl is kssl, http.client.ssl.__name__,
                  smtplib.ssl is kssl, sys.modules["ssl"] is kssl,
                  sys.meta_path.count(sys.meta_path[0]))
            """)
        proc = run_python(["-c", code])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout.split(), ["True", "ssl", "True", "True",
                                               "1"])

    def test_hook_set_before_install_carries_over(self):
        code = textwrap.dedent("""\
            import ssl
            ssl._create_default_https_context = ssl._create_unverified_context
            std = ssl
            import kssl
            kssl.install()
            import ssl, http.client
            print(ssl._create_default_https_context
                  is kssl._create_unverified_context,
                  std._create_default_https_context
                  is std._create_unverified_context,
                  ssl._create_stdlib_context is kssl._create_unverified_context,
                  std._create_stdlib_context is std._create_unverified_context)
            """)
        proc = run_python(["-c", code])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout.split(), ["True"] * 4)

    def test_usage(self):
        for args in ([], ["run"], ["run", "-m"], ["nope"]):
            proc = run_python(["-m", "kssl"] + args)
            self.assertEqual(proc.returncode, 1)
            self.assertTrue(re.search(r"usage: python3 -m kssl run",
                                      proc.stderr), proc.stderr)


if __name__ == "__main__":
    unittest.main()
