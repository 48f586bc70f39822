#!/usr/bin/python3
"""External scanner against `kssl serve`: Debian's sslscan, plus raw
ClientHellos for what a scanner built on today's OpenSSL cannot offer
(NULL, EXPORT, RC4, DES/3DES and anonymous suites, SSLv3, compression).

Asserted: only TLS 1.2 and 1.3; no suite without authentication or with
NULL/EXPORT/RC4/DES/3DES; no renegotiation; no compression (a ClientHello offering DEFLATE gets
method 0); the certificate is the one given (subject, SHA-256 of the DER).
Expected to fail until `kssl serve` defaults to AEAD-only TLS 1.2 suites
(issue 11 finding 6, another branch): TLS 1.2 = Mozilla "intermediate"
(AEAD with ECDHE/DHE only) — test_tls12_suites_aead_only.

Environment: KSSL_BIN, KSSL_TEST_CERTS; needs sslscan (.ci/setup).
"""
import hashlib
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest
import xml.etree.ElementTree as ET

KSSL = os.environ.get("KSSL_BIN", "kssl")
CERTS = os.environ.get("KSSL_TEST_CERTS", "certs")

# Mozilla "intermediate" TLS 1.2 suites (AEAD + forward secrecy only),
# the default `kssl serve` is moving to (issue 11, finding 6).
AEAD_TLS12 = {
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    "DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384",
    "DHE-RSA-CHACHA20-POLY1305",
}

# Suites by IANA code point, grouped by why they must never be chosen.
WEAK = {
    "NULL": [0x0001, 0x0002, 0x003B, 0xC006, 0xC010, 0xC015],
    "EXPORT": [0x0003, 0x0006, 0x0008, 0x000B, 0x0011, 0x0014],
    "RC4": [0x0004, 0x0005, 0xC007, 0xC011, 0x0018],
    "DES/3DES": [0x0009, 0x000A, 0x0015, 0x0016, 0xC012, 0xC008],
    "anonymous": [0x0018, 0x001B, 0x0034, 0x003A, 0x00A6, 0xC018, 0xC019],
}
GOOD = [0xC02F, 0xC030, 0xC02B, 0xC02C, 0xCCA8, 0x009E]


def ext(kind, data):
    return kind.to_bytes(2, "big") + len(data).to_bytes(2, "big") + data


def client_hello(version, suites, compression=(0,), record_version=0x0301):
    """A TLS ClientHello record (no supported_versions: at most TLS 1.2)."""
    name = b"localhost"
    sni = b"\x00" + len(name).to_bytes(2, "big") + name
    sigalgs = bytes.fromhex("0804 0401 0403 0805 0501 0503 0806 0601 0201")
    exts = (ext(0, len(sni).to_bytes(2, "big") + sni) +
            ext(10, bytes.fromhex("0006 001d 0017 0018")) +
            ext(11, b"\x01\x00") +
            ext(13, len(sigalgs).to_bytes(2, "big") + sigalgs) +
            ext(0xFF01, b"\x00"))
    body = (version.to_bytes(2, "big") + os.urandom(32) + b"\x00" +
            (2 * len(suites)).to_bytes(2, "big") +
            b"".join(s.to_bytes(2, "big") for s in suites) +
            bytes([len(compression)]) + bytes(compression) +
            len(exts).to_bytes(2, "big") + exts)
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16" + record_version.to_bytes(2, "big") + len(hs).to_bytes(2, "big") + hs


def read_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def answer(port, hello):
    """What the server answers: ("hello", version, suite, compression),
    ("alert", level, description) or ("closed",)."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(hello)
        try:
            head = read_exact(s, 5)
            body = read_exact(s, int.from_bytes(head[3:5], "big"))
        except (EOFError, ConnectionResetError):
            return ("closed",)
    if head[0] == 21:
        return ("alert", body[0], body[1])
    if head[0] != 22 or body[0] != 2:
        return ("other", head[0])
    sh = body[4:]
    sid_len = sh[34]
    off = 35 + sid_len
    return ("hello", int.from_bytes(sh[:2], "big"),
            int.from_bytes(sh[off:off + 2], "big"), sh[off + 2])


class Scan(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not shutil.which("sslscan"):
            raise unittest.SkipTest("sslscan not installed (.ci/setup)")
        cls.root = tempfile.mkdtemp(prefix="kssl-scan-")
        with open(os.path.join(cls.root, "index.html"), "w") as f:
            f.write("<p>scan</p>\n")
        cls.log = tempfile.TemporaryFile(mode="w+")
        cls.proc = subprocess.Popen(
            [KSSL, "serve", cls.root, "--port", "0", "--quiet",
             "--cert", os.path.join(CERTS, "server.pem"),
             "--key", os.path.join(CERTS, "server.key")],
            stdout=cls.log, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 30
        cls.port = None
        while cls.port is None and time.monotonic() < deadline:
            cls.log.seek(0)
            m = re.search(r"https://127\.0\.0\.1:(\d+)/", cls.log.read())
            if m:
                cls.port = int(m.group(1))
            elif cls.proc.poll() is not None:
                raise RuntimeError("kssl serve exited")
            time.sleep(0.05)
        xml = os.path.join(cls.root, "scan.xml")
        r = subprocess.run(["sslscan", "--no-colour", "--show-certificate",
                            "--xml=" + xml, "127.0.0.1:%d" % cls.port],
                           capture_output=True, text=True, timeout=300)
        print(r.stdout)
        cls.scan = ET.parse(xml).getroot().find("ssltest")

    @classmethod
    def tearDownClass(cls):
        cls.proc.send_signal(signal.SIGTERM)
        cls.proc.wait(timeout=40)
        cls.log.close()
        shutil.rmtree(cls.root, ignore_errors=True)

    def ciphers(self):
        return [(c.get("sslversion"), c.get("cipher"))
                for c in self.scan.findall("cipher")]

    # -- sslscan ----------------------------------------------------------

    def test_protocols_tls12_and_13_only(self):
        enabled = {(p.get("type"), p.get("version"))
                   for p in self.scan.findall("protocol") if p.get("enabled") == "1"}
        self.assertEqual(enabled, {("tls", "1.2"), ("tls", "1.3")})

    def test_no_weak_suites(self):
        ciphers = self.ciphers()
        self.assertTrue(ciphers)
        for version, name in ciphers:
            self.assertIn(version, ("TLSv1.2", "TLSv1.3"))
            for bad in ("NULL", "EXP", "RC4", "DES", "ADH", "AECDH", "anon",
                        "MD5", "PSK", "SRP", "IDEA", "SEED"):
                self.assertNotIn(bad, name, name)

    def test_tls12_suites_aead_only(self):
        # Issue 11 finding 6: the default TLS 1.2 list is ECDHE with AEAD
        # only (Mozilla "intermediate"): no CBC, no SHA-1 MACs, no static
        # RSA key exchange.
        tls12 = {n for v, n in self.ciphers() if v == "TLSv1.2"}
        self.assertTrue(tls12)
        self.assertLessEqual(tls12, AEAD_TLS12)

    def test_no_renegotiation(self):
        reneg = self.scan.find("renegotiation")
        self.assertIsNotNone(reneg)
        self.assertEqual(reneg.get("supported"), "0")

    def test_expected_certificate(self):
        cert = self.scan.find("certificates/certificate")
        self.assertEqual(cert.findtext("subject").strip(), "/CN=localhost")
        self.assertEqual(cert.findtext("issuer").strip(), "/CN=kssl test CA")
        blob = cert.findtext("certificate-blob").strip()
        with open(os.path.join(CERTS, "server.pem")) as f:
            want = ssl.PEM_cert_to_DER_cert(f.read())
        self.assertEqual(hashlib.sha256(ssl.PEM_cert_to_DER_cert(blob)).hexdigest(),
                         hashlib.sha256(want).hexdigest())

    # -- raw ClientHellos -------------------------------------------------

    def test_raw_hello_baseline(self):
        # The builder itself works: a good TLS 1.2 offer gets a ServerHello.
        a = answer(self.port, client_hello(0x0303, GOOD))
        self.assertEqual(a[0], "hello", a)
        self.assertEqual(a[1], 0x0303)
        self.assertIn(a[2], GOOD)

    def test_weak_suites_refused(self):
        for why, suites in WEAK.items():
            with self.subTest(why):
                a = answer(self.port, client_hello(0x0303, suites))
                self.assertNotEqual(a[0], "hello", "%s suite chosen: %s" % (why, a))
                if a[0] == "alert":
                    self.assertEqual(a[1:], (2, 40))  # fatal handshake_failure

    def test_old_protocols_refused(self):
        for version in (0x0300, 0x0301, 0x0302):
            with self.subTest(hex(version)):
                a = answer(self.port, client_hello(version, GOOD + [0x002F, 0x0035],
                                                   record_version=min(version, 0x0301)))
                self.assertNotEqual(a[0], "hello", a)

    def test_no_compression(self):
        a = answer(self.port, client_hello(0x0303, GOOD, compression=(1, 0)))
        self.assertEqual(a[0], "hello", a)
        self.assertEqual(a[3], 0)  # null compression, DEFLATE declined


if __name__ == "__main__":
    unittest.main(verbosity=2)
