"""Property tests (hypothesis) of the Python entry points that take data:
cadata, load_cert_chain with the certificate and key themselves, the
MicroPython wrap_socket(key=, cert=, cadata=) and set_ciphers.

Inputs are random bytes or text and mutations (flipped, cut, inserted
bytes) of real PEM/DER certificates and keys. Where the stdlib has the
same call, kssl must give the same outcome (success, or the same exception
class); everywhere, the only outcomes are success or a documented
exception — never a crash, a hang or an unexpected exception class — and
what kssl accepted must also work when libkssl builds its native context.

Deterministic by default (derandomize=True, no example database, so runs
repeat and nothing is written to the tree). For long runs:
KSSL_HYPOTHESIS_EXAMPLES=20000 KSSL_HYPOTHESIS_RANDOM=1.
"""
import os
import socket
import ssl
import subprocess
import tempfile
import unittest

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kssl
from support import cert

_SCALE = int(os.environ.get("KSSL_HYPOTHESIS_EXAMPLES", "0"))


def bounded(n):
    """settings for one test: n examples (or the env override)."""
    return settings(max_examples=_SCALE or n, deadline=None, database=None,
                    derandomize=os.environ.get("KSSL_HYPOTHESIS_RANDOM") != "1",
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


def _read(name):
    with open(cert(name), "rb") as f:
        return f.read()


# Loaded at import: the strategies below need the seeds.
try:
    CERT_PEM = _read("server.pem")
    KEY_PEM = _read("server.key")
    CA_PEM = _read("ca.pem")
    EC_PEM = _read("server-ec.pem")
    CA_DER = ssl.PEM_cert_to_DER_cert(CA_PEM.decode())
    CERT_DER = ssl.PEM_cert_to_DER_cert(CERT_PEM.decode())
except unittest.SkipTest:
    CERT_PEM = KEY_PEM = CA_PEM = EC_PEM = CA_DER = CERT_DER = b""


def _encrypted_key():
    """KEY_PEM as encrypted PKCS#8 (password "pw")."""
    if not KEY_PEM:
        return b""
    return subprocess.run(
        ["openssl", "pkcs8", "-topk8", "-v2", "aes-128-cbc",
         "-passout", "pass:pw"], input=KEY_PEM, capture_output=True,
        check=True).stdout


KEY_ENC = _encrypted_key()


@st.composite
def mutated(draw, seeds):
    """One of `seeds` (bytes) with a few random edits."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "drop"]))
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[i] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[i:]
        elif kind == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=16))
        else:
            del data[i:i + draw(st.integers(1, 64))]
    return bytes(data)


def outcome(fn, *args, **kwargs):
    """None on success, else the exception."""
    try:
        fn(*args, **kwargs)
    except Exception as e:  # compared by the caller
        return e
    return None


def same_class(a, b):
    return (a is None) == (b is None) and (a is None or type(a) is type(b))


def build_native(ctx, server_side):
    """Make kssl build its libkssl context (it does so at wrap time)."""
    a, b = socket.socketpair()
    try:
        kw = {} if server_side else {"server_hostname": "localhost"}
        s = ctx.wrap_socket(a, server_side=server_side,
                            do_handshake_on_connect=False, **kw)
        s.close()
    finally:
        a.close()
        b.close()


# No None: with an encrypted key and no password the stdlib's OpenSSL asks
# on the terminal ("Enter PEM pass phrase:"), which would stall a test run
# started from one.
PASSWORDS = st.sampled_from(["pw", b"pw", "wrong", b"", "x" * 2000,
                             "pw".encode("utf-16"), lambda: "pw"])


class Hypothesis(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cert("server.pem")  # skip the class without the test PKI

    # -- load_verify_locations(cadata=) ----------------------------------

    def check_cadata(self, cadata):
        std = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ks = kssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        e_std = outcome(std.load_verify_locations, cadata=cadata)
        e_ks = outcome(ks.load_verify_locations, cadata=cadata)
        kssl_extension = (isinstance(cadata, bytes) and
                          kssl._certdata.is_pem(cadata))
        if kssl_extension:  # PEM as bytes: kssl only (MicroPython)
            self.assertTrue(e_ks is None or isinstance(e_ks, ssl.SSLError),
                            repr(e_ks))
        else:
            self.assertTrue(same_class(e_std, e_ks), (e_std, e_ks))
            if e_ks is None:
                self.assertEqual(std.cert_store_stats(), ks.cert_store_stats())
        if e_ks is None:
            build_native(ks, server_side=False)

    @bounded(150)
    @given(st.one_of(st.binary(max_size=600),
                     mutated([CA_DER, CA_DER + CERT_DER])))
    def test_cadata_der(self, data):
        self.check_cadata(data)

    @bounded(150)
    @given(st.one_of(st.text(max_size=300),
                     mutated([CA_PEM, CA_PEM + EC_PEM]).map(
                         lambda b: b.decode("latin-1"))))
    def test_cadata_pem_text(self, text):
        self.check_cadata(text)

    @bounded(60)
    @given(mutated([CA_PEM, CA_PEM + CERT_PEM]))
    def test_cadata_pem_bytes(self, data):
        self.check_cadata(data)

    # -- load_cert_chain with the data itself -----------------------------

    @bounded(120)
    @given(st.one_of(st.tuples(mutated([CERT_PEM]), st.just(KEY_PEM)),
                     st.tuples(st.just(CERT_PEM), mutated([KEY_PEM, KEY_ENC])),
                     st.tuples(st.just(CERT_PEM), st.just(KEY_ENC))),
           PASSWORDS)
    def test_load_cert_chain_data(self, pair, password):
        cert_data, key_data = pair
        std = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ks = kssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.TemporaryDirectory() as d:
            cpath, kpath = os.path.join(d, "c.pem"), os.path.join(d, "k.pem")
            with open(cpath, "wb") as f:
                f.write(cert_data)
            with open(kpath, "wb") as f:
                f.write(key_data)
            e_std = outcome(std.load_cert_chain, cpath, kpath, password)
            # the same files by path: kssl hands them to the stdlib
            self.assertTrue(same_class(
                e_std, outcome(kssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                               .load_cert_chain, cpath, kpath, password)))
        e_ks = outcome(ks.load_cert_chain, bytearray(cert_data),
                       bytearray(key_data), password)
        # Data may be refused as MicroPython does (ValueError "invalid
        # cert"/"invalid key", docs/python.md) where the stdlib says
        # SSLError; a too-long password is ValueError in both.
        self.assertEqual(e_std is None, e_ks is None, (e_std, e_ks))
        if e_ks is not None:
            self.assertIsInstance(e_ks, (ssl.SSLError, ValueError))
            if isinstance(e_std, ValueError):
                self.assertIsInstance(e_ks, ValueError)
        else:
            build_native(ks, server_side=True)

    # -- MicroPython wrap_socket(key=, cert=, cadata=) -------------------

    @bounded(120)
    @given(st.one_of(st.tuples(mutated([CERT_PEM, CERT_DER]), st.just(KEY_PEM)),
                     st.tuples(st.just(CERT_PEM), mutated([KEY_PEM])),
                     st.tuples(st.binary(max_size=200), st.binary(max_size=200))),
           st.one_of(st.none(), st.binary(max_size=300), mutated([CA_DER])))
    def test_wrap_socket_data(self, pair, cadata):
        a, b = socket.socketpair()
        try:
            s = kssl.wrap_socket(a, server_side=True, cert=pair[0],
                                 key=pair[1], cadata=cadata,
                                 do_handshake=False)
            s.close()
        except (ValueError, ssl.SSLError):
            pass
        finally:
            a.close()
            b.close()

    # -- set_ciphers ------------------------------------------------------

    CIPHER_WORDS = ["ALL", "DEFAULT", "HIGH", "aNULL", "eNULL", "RC4", "AES",
                    "AESGCM", "CHACHA20", "ECDHE", "kRSA", "@STRENGTH",
                    "@SECLEVEL=0", "@SECLEVEL=5", "COMPLEMENTOFALL",
                    "ECDHE-RSA-AES128-GCM-SHA256", "AES128-SHA",
                    "TLS_AES_128_GCM_SHA256", "!", "+", "-", ":", ",", " "]

    @bounded(200)
    @given(st.one_of(
        st.text(max_size=80),
        st.lists(st.sampled_from(CIPHER_WORDS), max_size=8).map("".join)))
    def test_set_ciphers_string(self, spec):
        std = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ks = kssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        e_std = outcome(std.set_ciphers, spec)
        e_ks = outcome(ks.set_ciphers, spec)
        self.assertTrue(same_class(e_std, e_ks), (spec, e_std, e_ks))
        self.assertEqual(str(e_std), str(e_ks))
        self.assertEqual([c["name"] for c in std.get_ciphers()],
                         [c["name"] for c in ks.get_ciphers()])
        if e_ks is None:
            # A high @SECLEVEL refuses the test key: the same in both.
            e_std = outcome(std.load_cert_chain, cert("server.pem"),
                            cert("server.key"))
            e_ks = outcome(ks.load_cert_chain, cert("server.pem"),
                           cert("server.key"))
            self.assertTrue(same_class(e_std, e_ks), (spec, e_std, e_ks))
            if e_ks is None:
                build_native(ks, server_side=True)

    @bounded(150)
    @given(st.lists(st.one_of(
        st.sampled_from(sorted(kssl._ciphers.table()) +
                        ["TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
                         "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA"]),
        st.text(max_size=30)), max_size=6))
    def test_set_ciphers_iana_list(self, names):
        ks = kssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        e = outcome(ks.set_ciphers, names)
        known = kssl._ciphers.table()
        if e is not None:
            self.assertIsInstance(e, ssl.SSLError)
            self.assertEqual(e.reason, "NO_CIPHER_MATCH")
            self.assertTrue(not names or any(n not in known for n in names))
            return
        self.assertTrue(names and all(n in known for n in names))
        offered = {c["name"] for c in ks.get_ciphers()}
        wanted12 = {known[n].openssl for n in names if not known[n].tls13}
        if wanted12:  # the TLS 1.2 half is exactly the list
            self.assertEqual({n for n in offered
                              if not n.startswith("TLS_")}, wanted12)
        ks.load_cert_chain(cert("server.pem"), cert("server.key"))
        build_native(ks, server_side=True)


if __name__ == "__main__":
    unittest.main()
