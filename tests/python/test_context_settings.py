"""Context settings that act inside the TLS library, differential: the
same calls on ssl and kssl contexts, the same stdlib peer, the same
observable effect.

Key log (SSLKEYLOGFILE, keylog_filename): the stdlib logs secrets only for
contexts whose keylog_filename is set, which create_default_context() and
_create_stdlib_context() do from $SSLKEYLOGFILE; a plain SSLContext()
logs nothing. Compared: keylog_filename, and the labels written to the
file (its header line and one line per secret, in order).

DH parameters (load_dh_params): a stdlib server offers TLS 1.2 DHE suites
only with parameters loaded; kssl's native half loads the same file (the
C unit test checks that the file's group is used). Compared: what a DHE
client negotiates with and without them, and the exceptions for bad files.
"""
import contextlib
import os
import socket
import ssl
import tempfile
import unittest

import kssl
from support import TIMEOUT, cert, client_ctx, serve, server_ctx

V12, V13 = ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3


@contextlib.contextmanager
def env(name, value):
    old = os.environ.get(name)
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def labels(path):
    """The file's line structure, secrets left out."""
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return [line.split(" ")[0] if not line.startswith("#") else line
                for line in f.read().splitlines()]


def handshake(cctx, sctx, version=V13):
    sctx.maximum_version = version
    port, peer = serve(sctx, lambda s: s.recv(1))
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
        with cctx.wrap_socket(raw, server_hostname="localhost") as c:
            c.sendall(b"x")
            c.recv(1) if False else None
    peer.result()


class KeylogTest(unittest.TestCase):

    def run_both(self, scenario):
        out = []
        for mod in (ssl, kssl):
            with tempfile.TemporaryDirectory() as d:
                path = os.path.join(d, "keys.log")
                out.append(scenario(mod, path))
        return out

    CLIENT_MAKERS = {
        "SSLContext": lambda m: m.SSLContext(m.PROTOCOL_TLS_CLIENT),
        "create_default_context": lambda m: m.create_default_context(),
        "_create_stdlib_context": lambda m: m._create_stdlib_context(),
        "_create_unverified_context":
            lambda m: m._create_unverified_context(),
        "create_default_context(CLIENT_AUTH)":
            lambda m: m.create_default_context(m.Purpose.CLIENT_AUTH),
    }

    def test_environment(self):
        # $SSLKEYLOGFILE set: which contexts log, client side (the stdlib
        # server peer never logs) and server side (stdlib client peer).
        for name, make in self.CLIENT_MAKERS.items():
            for version in (V12, V13):
                def scenario(mod, path):
                    with env("SSLKEYLOGFILE", path):
                        ctx = make(mod)
                    attr = ctx.keylog_filename == path
                    if ctx.protocol == ssl.PROTOCOL_TLS_SERVER or (
                            ctx.protocol == ssl.PROTOCOL_TLS and
                            name.endswith("(CLIENT_AUTH)")):
                        ctx.load_cert_chain(cert("server.pem"),
                                            cert("server.key"))
                        ctx.maximum_version = version
                        port, peer = serve(ctx, lambda s: s.recv(1))
                        cctx = client_ctx(ssl)
                        with socket.create_connection(
                                ("127.0.0.1", port), timeout=TIMEOUT) as raw:
                            with cctx.wrap_socket(
                                    raw, server_hostname="localhost") as c:
                                c.sendall(b"x")
                        peer.result()
                    else:
                        ctx.check_hostname = False
                        ctx.verify_mode = ssl.CERT_NONE
                        handshake(ctx, server_ctx(ssl), version)
                    return attr, labels(path)
                with self.subTest(context=name, version=version):
                    a, b = self.run_both(scenario)
                    self.assertEqual(a, b)
                    if name != "SSLContext":  # not vacuous
                        self.assertTrue(a[0])
                        self.assertGreater(len(a[1]), 1)

    def test_attribute(self):
        # keylog_filename set and cleared on a plain context, env unset
        # (and set: an explicit None must silence it on kssl too).
        for envval in (None, "other"):
            def scenario(mod, path):
                other = path + ".env"
                with env("SSLKEYLOGFILE",
                         other if envval else None):
                    ctx = mod.SSLContext(mod.PROTOCOL_TLS_CLIENT)
                    ctx.load_verify_locations(cert("ca.pem"))
                    ctx.keylog_filename = path
                    handshake(ctx, server_ctx(ssl))
                    first = labels(path)
                    ctx.keylog_filename = None
                    handshake(ctx, server_ctx(ssl))
                    return (first, labels(path), labels(other),
                            ctx.keylog_filename)
            with self.subTest(env=envval):
                a, b = self.run_both(scenario)
                self.assertEqual(a, b)
                self.assertIn("CLIENT_TRAFFIC_SECRET_0", a[0])



def err(e):
    return (type(e), e.errno, getattr(e, "reason", None),
            getattr(e, "library", None), str(e), e.args)


class DhParamsTest(unittest.TestCase):

    DHE = "DHE-RSA-AES128-GCM-SHA256"

    def scenario(self, mod, dhfile, ciphers):
        sctx = server_ctx(mod)
        sctx.set_ciphers(ciphers)
        loaded = None
        if dhfile is not None:
            try:
                sctx.load_dh_params(dhfile)
                loaded = "ok"
            except Exception as e:  # compared
                loaded = err(e)
        sctx.maximum_version = V12
        port, peer = serve(sctx, lambda s: (s.cipher(), s.recv(1)))
        cctx = client_ctx(ssl)
        cctx.set_ciphers(ciphers)
        try:
            with socket.create_connection(("127.0.0.1", port),
                                          timeout=TIMEOUT) as raw:
                with cctx.wrap_socket(raw, server_hostname="localhost") as c:
                    c.sendall(b"x")
                    mine = ("ok", c.cipher(), c.version())
        except ssl.SSLError as e:
            mine = err(e)[:5]
        try:
            theirs = ("ok", peer.result())
        except ssl.SSLError as e:
            theirs = err(e)[:5]
        return loaded, mine, theirs

    def test_dhe(self):
        for name in (None, "dh3072.pem"):
            for ciphers in (self.DHE, "ECDHE+AESGCM:" + self.DHE):
                with self.subTest(dh=name, ciphers=ciphers):
                    path = cert(name) if name else None
                    a, b = (self.scenario(m, path, ciphers)
                            for m in (ssl, kssl))
                    self.assertEqual(b, a)
                    if name and ciphers == self.DHE:  # not vacuous
                        self.assertEqual(a[1][1][0], self.DHE)
                    if not name and ciphers == self.DHE:
                        self.assertEqual(a[2][2], "NO_SHARED_CIPHER")

    def test_bad_files(self):
        # Missing, not DH parameters, a group below the security level:
        # the stdlib's exceptions, and the context still works without.
        with tempfile.TemporaryDirectory() as d:
            for path in (os.path.join(d, "missing.pem"), cert("server.pem"),
                         cert("dh512.pem"), d):
                with self.subTest(path=os.path.basename(path)):
                    a, b = (self.scenario(m, path, self.DHE)
                            for m in (ssl, kssl))
                    self.assertEqual(b, a)
                    self.assertNotEqual(a[0], "ok")



def capath_dir(tmp):
    """A hashed CA directory (as `openssl rehash` makes) holding ca.pem."""
    import subprocess
    h = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", cert("ca.pem")],
                       capture_output=True, text=True, check=True).stdout.strip()
    with open(cert("ca.pem")) as f, open(os.path.join(tmp, h + ".0"), "w") as out:
        out.write(f.read())
    return tmp


class CAStoreTest(unittest.TestCase):
    """get_ca_certs() and cert_store_stats() of a client that verifies
    through a capath directory: OpenSSL loads the CA from it only when a
    connection looks it up, and both methods then list it (the stdlib's
    own test_ssl checks this); the same before and after, both modules,
    also with a cafile (loaded at once) and with the default paths."""

    def store_of(self, mod, how):
        with tempfile.TemporaryDirectory() as tmp:
            if how == "default":
                ctx = mod.create_default_context()
                ctx.load_verify_locations(capath=capath_dir(tmp))
            else:
                ctx = mod.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                if how == "capath":
                    ctx.load_verify_locations(capath=capath_dir(tmp))
                else:
                    ctx.load_verify_locations(cafile=cert("ca.pem"))
            seen = [(ctx.get_ca_certs(), ctx.get_ca_certs(True), ctx.cert_store_stats())]
            port, peer = serve(server_ctx(ssl), lambda s: s.sendall(b"x"))
            raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
            with ctx.wrap_socket(raw, server_hostname="localhost") as c:
                c.recv(1)
            peer.result()
            seen.append((ctx.get_ca_certs(), ctx.get_ca_certs(True), ctx.cert_store_stats()))
            return seen

    def test_same_store(self):
        for how in ("capath", "cafile", "default"):
            with self.subTest(how=how):
                ours, theirs = self.store_of(kssl, how), self.store_of(ssl, how)
                self.assertEqual(ours, theirs)
                if how == "capath":
                    self.assertEqual(len(ours[0][0]), 0)  # loaded on request
                    self.assertEqual(len(ours[1][0]), 1)


if __name__ == "__main__":
    unittest.main()
