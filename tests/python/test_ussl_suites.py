"""The 80 suites of QuecPython's ussl table, each negotiated for real.

Every suite of data/ussl_suites.txt either negotiates between a kssl
server and a kssl client (TLS 1.2, 16 KiB each way, bytes compared) or is
refused by set_ciphers() with the precise reason OpenSSL 3.0 cannot offer
it. For negotiated suites the offload state is asserted: on a kernel
without kTLS both directions fall back with a reason; in the kTLS VM the
AEAD suites the kernel implements (AES-GCM, AES-128-CCM with its 16-byte
tag, ChaCha20-Poly1305) run in the kernel and the others (CBC incl.
Camellia, CCM_8, AES-256-CCM) stay in OpenSSL with the reason.
docs/ciphers.md is this matrix's output (cipher_matrix.py).
"""
import os
import socket
import subprocess
import sys
import unittest

import kssl
from cipher_matrix import DATA, load_suites, run_suite
from support import KTLS, NO_ULP_REASON, TIMEOUT, client_ctx, listener

# QuecPython's ussl document (its cipher suite table), if the caller names
# a copy: the data file must be what the extractor makes of it.
SEED = os.environ.get("KSSL_USSL_SEED", "")
EXTRACT = os.path.join(os.path.dirname(DATA), "extract_ussl_suites.py")


def expected_refusal(name):
    """Why OpenSSL 3.0 cannot offer `name` (a phrase of the reason), or
    None if it can: the families of the ussl table OpenSSL lacks."""
    if name == "TLS_EMPTY_RENEGOTIATION_INFO_SCSV":
        return "a signalling cipher suite value (RFC 5746), not a cipher suite"
    if name.startswith(("TLS_ECDH_RSA_", "TLS_ECDH_ECDSA_")):
        return "static ECDH key exchange"
    if "_CAMELLIA_" in name and "_GCM_" in name:
        return "Camellia-GCM suites (RFC 6367) are not implemented in OpenSSL"
    return None


def expected_blocker(name):
    """Why the kernel cannot take a negotiated suite, or None if it can."""
    if "_CBC_" in name:
        return "CBC suites cannot be offloaded: kernel TLS takes AEAD suites only"
    if "AES_128_CCM_8" in name:
        return "AES-CCM-8 (8-byte tag) has no kernel TLS support"
    if "AES_256_CCM" in name:  # the kernel has AES-CCM with 128-bit keys only
        return "cipher has no kernel TLS support (the kernel takes"
    return None


class UsslSuitesTest(unittest.TestCase):

    def test_data_file(self):
        suites = load_suites()
        self.assertEqual(len(suites), 80)
        self.assertEqual(len({n for n, _ in suites}), 80)
        if SEED and os.path.exists(SEED):  # the document it came from
            out = subprocess.run([sys.executable, EXTRACT, SEED], check=True,
                                 capture_output=True, text=True).stdout
            with open(DATA, encoding="ascii") as f:
                self.assertEqual(out, f.read())

    def test_codes_are_openssls(self):
        table = kssl._ciphers.table()
        checked = 0
        for name, code in load_suites():
            if name in table:
                self.assertEqual(table[name].code, int(code, 16), name)
                checked += 1
        self.assertEqual(checked, 51)

    def test_matrix(self):
        negotiated = kernel = 0
        for name, code in load_suites():
            with self.subTest(name):
                row = run_suite(name, code)
                refusal = expected_refusal(name)
                if refusal is not None:
                    self.assertIsNotNone(row.refused, "negotiated")
                    self.assertTrue(row.refused.startswith(
                        "No cipher can be selected: %s: " % name), row.refused)
                    self.assertIn(refusal, row.refused)
                    continue
                self.assertIsNone(row.refused)
                self.assertEqual(row.version, "TLSv1.2")
                self.assertEqual(row.cipher[0],
                                 kssl._ciphers.table()[name].openssl)
                self.assertEqual(row.cipher, row.server_cipher)
                self.assertTrue(row.sent_ok and row.back_ok)
                negotiated += 1
                blocker = expected_blocker(name)
                for off in (row.offload, row.server_offload):
                    if blocker is None and KTLS:
                        self.assertEqual((off.tx, off.rx), ("kernel", "kernel"),
                                         off)
                        continue
                    self.assertEqual((off.tx, off.rx), ("user", "user"))
                    why = blocker or NO_ULP_REASON
                    self.assertIn(why, off.tx_reason)
                    self.assertIn(why, off.rx_reason)
                kernel += blocker is None and KTLS
        self.assertEqual(negotiated, 51)
        self.assertEqual(kernel, 14 if KTLS else 0)

    def test_scsv_is_in_every_client_hello(self):
        # The reason given for the SCSV row, checked: OpenSSL lists
        # 0x00ff among the suites of a TLS 1.2 ClientHello by itself.
        ls = listener()
        port = ls.getsockname()[1]
        raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        ctx = client_ctx(kssl)
        ctx.set_ciphers(["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"])
        with ls:
            conn, _ = ls.accept()
        tls = ctx.wrap_socket(raw, server_hostname="localhost",
                              do_handshake_on_connect=False)
        with conn, tls:
            conn.settimeout(TIMEOUT)
            tls.settimeout(0)
            with self.assertRaises(kssl.SSLWantReadError):
                tls.do_handshake()  # ClientHello out, nothing back
            hello = b""
            while len(hello) < 5 or len(hello) < 5 + int.from_bytes(hello[3:5], "big"):
                hello += conn.recv(4096)
        body = hello[5:]
        self.assertEqual(body[0], 1)  # ClientHello
        p = 4 + 2 + 32
        p += 1 + body[p]  # session id
        n = int.from_bytes(body[p:p + 2], "big")
        suites = [body[i:i + 2] for i in range(p + 2, p + 2 + n, 2)]
        self.assertEqual(suites, [b"\xc0\x2f", b"\x00\xff"])


if __name__ == "__main__":
    unittest.main()
