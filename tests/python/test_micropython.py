"""The MicroPython / QuecPython API: kssl.wrap_socket() with key/cert data,
SSLContext.load_cert_chain() with data, cadata as DER or PEM.

Every connection moves bytes both ways and compares them; error cases
assert the exception class and message MicroPython uses.
"""
import base64
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import unittest

import kssl
from support import (TIMEOUT, OffloadAssertions, Peer, cert, connect,
                     listener, payload, serve)


def text(name):
    with open(cert(name), encoding="ascii") as f:
        return f.read()


def der_cert(name):
    return ssl.PEM_cert_to_DER_cert(text(name))


def der_key(name):
    """The PKCS#8 DER inside a "-----BEGIN PRIVATE KEY-----" PEM file."""
    lines = text(name).strip().splitlines()
    assert lines[0] == "-----BEGIN PRIVATE KEY-----", lines[0]
    return base64.b64decode("".join(lines[1:-1]))


def echo_server(wrap):
    """A thread accepting one TCP connection, wrapping it with wrap(raw),
    echoing what it reads (reversed) until EOF. Returns (port, Peer); the
    Peer's value is (bytes received, peer certificate dict or None)."""
    ls = listener()
    port = ls.getsockname()[1]

    def run():
        with ls:
            raw, _ = ls.accept()
        raw.settimeout(TIMEOUT)
        with wrap(raw) as s:
            data = s.recv(65536)
            s.sendall(data[::-1])
            return data, s.getpeercert()
    return port, Peer(run).start()


def tcp(port):
    return socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)


class WrapSocketTest(OffloadAssertions, unittest.TestCase):

    def roundtrip(self, server_wrap, client_wrap, data=b"micropython"):
        port, peer = echo_server(server_wrap)
        with client_wrap(tcp(port)) as c:
            self.assertIsInstance(c, kssl.SSLSocket)
            c.sendall(data)
            self.assertEqual(c.recv(65536), data[::-1])
            self.assert_offloaded(c)  # RX: once the tickets were read
            got, client_cert = peer.result()
            server_der = c.getpeercert(True)
        self.assertEqual(got, data)
        return server_der, client_cert

    def test_quecpython_form_pem_str(self):
        # ussl.wrap_socket(sock, server_hostname=..., cert=..., key=...)
        # with PEM strings; QuecPython passes the server's IP address.
        cert_s, key_s = text("server.pem"), text("server.key")
        self.roundtrip(
            lambda raw: kssl.wrap_socket(raw, server_side=True, cert=cert_s,
                                         key=key_s),
            lambda sock: kssl.wrap_socket(sock, server_hostname="127.0.0.1"),
            payload(5000))

    def test_quecpython_positional(self):
        # wrap_socket(sock, server_hostname, cert, key): a str second
        # argument selects QuecPython's order (a client certificate here).
        cert_s, key_s = text("client.pem"), text("client.key")

        def server(raw):
            return kssl.wrap_socket(raw, True, text("server.key"),
                                    text("server.pem"), kssl.CERT_REQUIRED,
                                    der_cert("ca.pem"))
        _, client_cert = self.roundtrip(
            server, lambda sock: kssl.wrap_socket(sock, "127.0.0.1", cert_s,
                                                  key_s))
        subject = dict(x[0] for x in client_cert["subject"])
        self.assertEqual(subject["commonName"], "kssl test client")

    def test_micropython_der_data_verified(self):
        # key/cert as DER bytes; the client verifies with DER cadata and
        # checks the name (CERT_REQUIRED).
        server_der, _ = self.roundtrip(
            lambda raw: kssl.wrap_socket(raw, server_side=True,
                                         key=der_key("server.key"),
                                         cert=der_cert("server.pem")),
            lambda sock: kssl.wrap_socket(sock, cert_reqs=kssl.CERT_REQUIRED,
                                          cadata=der_cert("ca.pem"),
                                          server_hostname="localhost"))
        self.assertEqual(server_der, der_cert("server.pem"))

    def test_cadata_concatenated_der_and_pem_bytes(self):
        bundles = {
            "DER, two certificates": der_cert("other-ca.pem") + der_cert("ca.pem"),
            "PEM bytes": (text("other-ca.pem") + text("ca.pem")).encode(),
            "PEM str": text("ca.pem"),
        }
        for what, cadata in bundles.items():
            with self.subTest(what):
                self.roundtrip(
                    lambda raw: kssl.wrap_socket(raw, server_side=True,
                                                 key=text("server.key"),
                                                 cert=text("server.pem")),
                    lambda sock: kssl.wrap_socket(
                        sock, cert_reqs=kssl.CERT_REQUIRED, cadata=cadata,
                        server_hostname="localhost"))

    def failing_client(self, **kw):
        port, peer = echo_server(
            lambda raw: kssl.wrap_socket(raw, server_side=True,
                                         key=text("server.key"),
                                         cert=text("server.pem")))
        sock = tcp(port)
        try:
            with self.assertRaises(ssl.SSLCertVerificationError) as cm:
                kssl.wrap_socket(sock, cert_reqs=kssl.CERT_REQUIRED, **kw)
        finally:
            sock.close()
        with self.assertRaises(ssl.SSLError):
            peer.result()
        return cm.exception

    def test_untrusted_server(self):
        e = self.failing_client(cadata=der_cert("other-ca.pem"),
                                server_hostname="localhost")
        self.assertEqual(e.verify_code, 20)
        self.assertEqual(e.verify_message,
                         "unable to get local issuer certificate")

    def test_wrong_server_name(self):
        e = self.failing_client(cadata=der_cert("ca.pem"),
                                server_hostname="example.org")
        self.assertEqual(e.verify_code, 62)
        self.assertIn("Hostname mismatch", e.verify_message)

    def test_cert_required_needs_server_hostname(self):
        with socket.socket() as s, self.assertRaisesRegex(
                ValueError, "check_hostname requires server_hostname"):
            kssl.wrap_socket(s, cert_reqs=kssl.CERT_REQUIRED,
                             cadata=der_cert("ca.pem"))

    def test_invalid_key_and_cert(self):
        good_cert, good_key = text("server.pem"), text("server.key")
        cases = [
            ("PEM garbage key", good_cert,
             "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
             "invalid key"),
            ("DER garbage key", good_cert, b"\x30\x03\x02\x01\x00",
             "invalid key"),
            ("text key", good_cert, "not a key", "invalid key"),
            ("PEM garbage cert",
             "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
             good_key, "invalid cert"),
            ("DER garbage cert", b"\x30\x03\x02\x01\x00", good_key,
             "invalid cert"),
        ]
        for what, c, k, message in cases:
            with self.subTest(what), socket.socket() as s:
                with self.assertRaises(ValueError) as cm:
                    kssl.wrap_socket(s, server_side=True, key=k, cert=c)
                self.assertEqual(cm.exception.args, (message,))

    def test_mismatched_key(self):
        with socket.socket() as s, self.assertRaises(ssl.SSLError) as cm:
            kssl.wrap_socket(s, server_side=True, key=text("client.key"),
                             cert=text("server.pem"))
        # OpenSSL's text, as the stdlib's load_cert_chain gives it
        self.assertEqual(str(cm.exception),
                         "[X509: KEY_VALUES_MISMATCH] key values mismatch")
        self.assertEqual(cm.exception.reason, "KEY_VALUES_MISMATCH")
        self.assertEqual(cm.exception.library, "X509")

    def test_key_and_cert_go_together(self):
        for kw in ({"key": text("server.key")}, {"cert": text("server.pem")}):
            with self.subTest(sorted(kw)), socket.socket() as s:
                with self.assertRaisesRegex(TypeError, "key and cert must be "
                                            "given together"):
                    kssl.wrap_socket(s, server_side=True, **kw)
        with socket.socket() as s, self.assertRaisesRegex(
                TypeError, "must be PEM text"):
            kssl.wrap_socket(s, key=1, cert=2)

    def test_argument_errors(self):
        with socket.socket() as s:
            with self.assertRaisesRegex(TypeError, "multiple values for "
                                        "argument 'server_hostname'"):
                kssl.wrap_socket(s, "a", server_hostname="b")
            # keyfile= is CPython's form (tests/python/test_surface.py);
            # it cannot be mixed with MicroPython's keywords.
            with self.assertRaisesRegex(TypeError, "cannot be mixed"):
                kssl.wrap_socket(s, keyfile="k.pem", cert="c")
            with self.assertRaisesRegex(TypeError, "at most 4 positional"):
                # (a str then certificate data: QuecPython's order)
                kssl.wrap_socket(s, "host", "-----BEGIN CERTIFICATE-----",
                                 "k", "extra")

    def test_do_handshake_false(self):
        port, peer = echo_server(
            lambda raw: kssl.wrap_socket(raw, server_side=True,
                                         key=text("server.key"),
                                         cert=text("server.pem")))
        with kssl.wrap_socket(tcp(port), do_handshake=False) as c:
            self.assertIsNone(c.version())
            c.do_handshake()
            self.assertEqual(c.version(), "TLSv1.3")
            c.sendall(b"later")
            self.assertEqual(c.recv(100), b"retal")
        peer.result()


class LoadCertChainDataTest(unittest.TestCase):
    """SSLContext.load_cert_chain(certfile, keyfile) with data."""

    def serve_with(self, load):
        ctx = kssl.SSLContext(kssl.PROTOCOL_TLS_SERVER)
        load(ctx)

        def handler(s):
            data = s.recv(100)
            s.sendall(data[::-1])
            return data
        port, peer = serve(ctx, handler)
        cctx = kssl.create_default_context(cafile=cert("ca.pem"))
        with connect(cctx, port) as c:
            c.sendall(b"chain data")
            self.assertEqual(c.recv(100), b"atad niahc")
            self.assertEqual(c.getpeercert(True), der_cert("server.pem"))
        self.assertEqual(peer.result(), b"chain data")

    def test_forms(self):
        pem_c, pem_k = text("server.pem").encode(), text("server.key").encode()
        forms = {
            "PEM bytes": (pem_c, pem_k),
            "DER bytes": (der_cert("server.pem"), der_key("server.key")),
            "bytearray": (bytearray(pem_c), bytearray(pem_k)),
            "memoryview": (memoryview(pem_c), memoryview(der_key("server.key"))),
            "PEM cert, DER key": (pem_c, der_key("server.key")),
            "one PEM with cert and key": (pem_c + pem_k, None),
            "data cert, key path": (pem_c, cert("server.key")),
            "str paths": (cert("server.pem"), cert("server.key")),
            "bytes paths": (os.fsencode(cert("server.pem")),
                            os.fsencode(cert("server.key"))),
        }
        for what, (c, k) in forms.items():
            with self.subTest(what):
                self.serve_with(lambda ctx: ctx.load_cert_chain(c, k))

    def test_stdlib_half_has_the_data_certificate(self):
        # wrap_bio() runs on the stdlib half: a handshake through memory
        # BIOs proves the data reached it as well.
        sctx = kssl.SSLContext(kssl.PROTOCOL_TLS_SERVER)
        sctx.load_cert_chain(der_cert("server.pem"), der_key("server.key"))
        cctx = ssl.create_default_context(cafile=cert("ca.pem"))
        bios = [ssl.MemoryBIO() for _ in range(4)]
        server = sctx.wrap_bio(bios[0], bios[1], server_side=True)
        client = cctx.wrap_bio(bios[2], bios[3], server_hostname="localhost")
        for _ in range(10):
            for end in (client, server):
                try:
                    end.do_handshake()
                except ssl.SSLWantReadError:
                    pass
            bios[0].write(bios[3].read())
            bios[2].write(bios[1].read())
        self.assertEqual(client.getpeercert(True), der_cert("server.pem"))

    def test_encrypted_pem_key_data(self):
        if not shutil.which("openssl"):
            self.skipTest("no openssl command")
        enc = subprocess.run(
            ["openssl", "pkey", "-in", cert("server.key"), "-aes128",
             "-passout", "pass:s3cret"], check=True,
            capture_output=True).stdout
        self.assertIn(b"ENCRYPTED PRIVATE KEY", enc)
        pem_c = text("server.pem").encode()
        for password in ("s3cret", b"s3cret", lambda: "s3cret"):
            with self.subTest(password=password):
                self.serve_with(lambda ctx: ctx.load_cert_chain(pem_c, enc,
                                                                password))
        ctx = kssl.SSLContext(kssl.PROTOCOL_TLS_SERVER)
        with self.assertRaisesRegex(ValueError, "^invalid key$"):
            ctx.load_cert_chain(pem_c, enc, "wrong")

    def test_data_errors(self):
        ctx = kssl.SSLContext(kssl.PROTOCOL_TLS_SERVER)
        with self.assertRaisesRegex(ValueError, "^invalid cert$"):
            ctx.load_cert_chain(bytearray(b"garbage"), text("server.key").encode())
        with self.assertRaisesRegex(ValueError, "^invalid key$"):
            ctx.load_cert_chain(text("server.pem").encode(), bytearray(b"garbage"))
        # bytes that are neither PEM nor one DER structure stay a path.
        with self.assertRaises(FileNotFoundError):
            ctx.load_cert_chain(b"/nonexistent/kssl-cert.pem")
        with tempfile.TemporaryDirectory() as d:
            # A str is always a path, even with PEM text in it.
            with self.assertRaises(OSError):
                ctx.load_cert_chain(os.path.join(d, "-----BEGIN x"))

    def test_verify_locations_pem_bytes(self):
        ctx = kssl.SSLContext(kssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(cadata=text("ca.pem").encode())
        ctx.load_verify_locations(cadata=der_cert("other-ca.pem"))
        names = sorted(dict(x[0] for x in c["subject"])["commonName"]
                       for c in ctx.get_ca_certs())
        self.assertEqual(names, ["kssl other CA", "kssl test CA"])
        # The stdlib's own forms keep their behaviour.
        std = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        with self.assertRaises(ssl.SSLError):
            std.load_verify_locations(cadata=b"not DER")
        with self.assertRaises(ssl.SSLError):
            ctx.load_verify_locations(cadata=b"not DER")


if __name__ == "__main__":
    unittest.main()
