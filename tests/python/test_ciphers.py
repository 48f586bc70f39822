"""SSLContext.set_ciphers() with IANA suite names, get_ciphers()' 'iana'.

Each negotiation moves bytes both ways and compares them; names are
checked against `openssl ciphers -stdname`, a mapping we did not write.
"""
import shutil
import ssl
import subprocess
import unittest

import kssl
from support import cert, connect, serve, server_ctx

ECDHE_RSA_128 = "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
ECDHE_RSA_256 = "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"


def client(mod, ciphers=None, **kw):
    ctx = mod.SSLContext(mod.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cert("ca.pem"))
    if ciphers is not None:
        ctx.set_ciphers(ciphers)
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


def server(mod, ciphers=None, **kw):
    ctx = server_ctx(mod, **kw)
    if ciphers is not None:
        ctx.set_ciphers(ciphers)
    return ctx


class IanaCiphersTest(unittest.TestCase):

    def negotiate(self, sctx, cctx, data=b"cipher suites"):
        def handler(s):
            got = s.recv(100)
            s.sendall(got[::-1])
            return got, s.cipher()
        port, peer = serve(sctx, handler)
        with connect(cctx, port) as c:
            c.sendall(data)
            self.assertEqual(c.recv(100), data[::-1])
            got, server_cipher = peer.result()
            self.assertEqual(got, data)
            self.assertEqual(c.cipher(), server_cipher)
            return c.version(), c.cipher()[0]

    def test_tls12_names_both_ends(self):
        for name, openssl in ((ECDHE_RSA_128, "ECDHE-RSA-AES128-GCM-SHA256"),
                              ("TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA"),
                              ("TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
                               "DHE-RSA-AES256-GCM-SHA384")):
            with self.subTest(name):
                sctx, cctx = server(kssl, [name]), client(kssl, [name])
                if "_DHE_" in name:  # as a stdlib server, DHE needs them
                    sctx.load_dh_params(cert("dh3072.pem"))
                # No TLS 1.3 name in the list: TLS 1.3 is off.
                self.assertEqual(cctx.maximum_version, ssl.TLSVersion.TLSv1_2)
                self.assertEqual(self.negotiate(sctx, cctx),
                                 ("TLSv1.2", openssl))

    def test_server_order_with_stdlib_client(self):
        # kssl server lists two suites; the stdlib client offers both in
        # the opposite order; server preference decides.
        sctx = server(kssl, [ECDHE_RSA_256, ECDHE_RSA_128])
        cctx = client(ssl, "ECDHE-RSA-AES128-GCM-SHA256:"
                      "ECDHE-RSA-AES256-GCM-SHA384",
                      maximum_version=ssl.TLSVersion.TLSv1_2)
        self.assertEqual(self.negotiate(sctx, cctx),
                         ("TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384"))

    def test_tls13_names(self):
        # TLS 1.3 names go to the TLS 1.3 suite list (OpenSSL's default
        # would pick TLS_AES_256_GCM_SHA384 first); TLS_AES_128_CCM_SHA256
        # is not in OpenSSL's default list at all.
        for name in ("TLS_AES_128_GCM_SHA256", "TLS_AES_128_CCM_SHA256"):
            with self.subTest(name):
                sctx, cctx = server(kssl, [name]), client(kssl, [name])
                if "_DHE_" in name:  # as a stdlib server, DHE needs them
                    sctx.load_dh_params(cert("dh3072.pem"))
                self.assertEqual(cctx.minimum_version, ssl.TLSVersion.TLSv1_3)
                self.assertEqual(self.negotiate(sctx, cctx), ("TLSv1.3", name))
        # Against the stdlib server (default TLS 1.3 suites).
        self.assertEqual(
            self.negotiate(server(ssl), client(kssl, ["TLS_AES_128_GCM_SHA256"])),
            ("TLSv1.3", "TLS_AES_128_GCM_SHA256"))

    def test_mixed_list(self):
        names = ["TLS_CHACHA20_POLY1305_SHA256", ECDHE_RSA_128]
        cctx = client(kssl, names)
        # The stdlib's default floor (MINIMUM_SUPPORTED on Debian's 3.11.2,
        # TLSv1_2 on CPython 3.11.4+) is left alone.
        self.assertEqual(cctx.minimum_version,
                         ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).minimum_version)
        self.assertEqual(cctx.maximum_version, ssl.TLSVersion.MAXIMUM_SUPPORTED)
        self.assertEqual(self.negotiate(server(kssl), cctx),
                         ("TLSv1.3", "TLS_CHACHA20_POLY1305_SHA256"))
        self.assertEqual(
            self.negotiate(server(ssl, maximum_version=ssl.TLSVersion.TLSv1_2),
                           cctx),
            ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256"))

    def test_openssl_string_still_works_and_resets_tls13(self):
        cctx = client(kssl, ["TLS_AES_128_GCM_SHA256", ECDHE_RSA_128])
        cctx.set_ciphers("ECDHE-RSA-AES256-GCM-SHA384")
        self.assertEqual(self.negotiate(server(kssl), cctx),
                         ("TLSv1.3", "TLS_AES_256_GCM_SHA384"))
        cctx.maximum_version = ssl.TLSVersion.TLSv1_2
        self.assertEqual(self.negotiate(server(kssl), cctx),
                         ("TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384"))

    def test_one_version_lists_switch_versions(self):
        cctx = client(kssl, ["TLS_AES_128_GCM_SHA256"])
        self.assertEqual((cctx.minimum_version, cctx.maximum_version),
                         (ssl.TLSVersion.TLSv1_3,
                          ssl.TLSVersion.MAXIMUM_SUPPORTED))
        cctx.set_ciphers([ECDHE_RSA_128])
        self.assertEqual((cctx.minimum_version, cctx.maximum_version),
                         (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2))
        self.assertEqual(self.negotiate(server(kssl), cctx),
                         ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256"))
        cctx.set_ciphers(["TLS_CHACHA20_POLY1305_SHA256"])
        self.assertEqual((cctx.minimum_version, cctx.maximum_version),
                         (ssl.TLSVersion.TLSv1_3,
                          ssl.TLSVersion.MAXIMUM_SUPPORTED))
        self.assertEqual(self.negotiate(server(kssl), cctx),
                         ("TLSv1.3", "TLS_CHACHA20_POLY1305_SHA256"))

    def test_refusals(self):
        ctx = kssl.SSLContext(kssl.PROTOCOL_TLS_CLIENT)
        before = [c["name"] for c in ctx.get_ciphers()]
        cases = {
            "TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256": "static ECDH key exchange",
            "TLS_RSA_WITH_CAMELLIA_128_GCM_SHA256": "Camellia-GCM suites",
            "TLS_EMPTY_RENEGOTIATION_INFO_SCSV": "signalling cipher suite value",
            "TLS_NO_SUCH_SUITE": "not a cipher suite OpenSSL 3.",
        }
        for name, why in cases.items():
            with self.subTest(name):
                with self.assertRaises(ssl.SSLError) as cm:
                    ctx.set_ciphers([ECDHE_RSA_128, name])
                e = cm.exception
                self.assertTrue(str(e).startswith(
                    "No cipher can be selected: %s: " % name), str(e))
                self.assertIn(why, str(e))
                self.assertEqual(e.reason, "NO_CIPHER_MATCH")
        # A refused list changes nothing.
        self.assertEqual([c["name"] for c in ctx.get_ciphers()], before)
        with self.assertRaisesRegex(ssl.SSLError, "empty list"):
            ctx.set_ciphers([])
        with self.assertRaisesRegex(TypeError, "must be str"):
            ctx.set_ciphers([b"TLS_AES_128_GCM_SHA256"])

    def test_get_ciphers_keys_and_iana(self):
        spec = "ECDHE+AESGCM:DHE+AESGCM:ECDHE+CHACHA20:AES128-SHA"
        ours, theirs = kssl.SSLContext(kssl.PROTOCOL_TLS_CLIENT), \
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ours.set_ciphers(spec)
        theirs.set_ciphers(spec)
        got, want = ours.get_ciphers(), theirs.get_ciphers()
        self.assertEqual([{k: v for k, v in c.items() if k != "iana"}
                          for c in got], want)
        self.assertTrue(all(set(c) == set(want[0]) | {"iana"} for c in got))
        by_name = {c["name"]: c["iana"] for c in got}
        self.assertEqual(by_name["ECDHE-RSA-AES128-GCM-SHA256"], ECDHE_RSA_128)
        self.assertEqual(by_name["TLS_AES_256_GCM_SHA384"],
                         "TLS_AES_256_GCM_SHA384")
        if shutil.which("openssl"):
            out = subprocess.run(
                ["openssl", "ciphers", "-stdname", "-tls1_2", spec],
                check=True, capture_output=True, text=True).stdout
            stdnames = {}
            for line in out.splitlines():
                iana, _, openssl = line.split()[:3]
                stdnames[openssl] = iana
            common = set(by_name) & set(stdnames)
            self.assertGreaterEqual(len(common), 8)
            for name in common:
                self.assertEqual(by_name[name], stdnames[name], name)

    def test_get_ciphers_after_list(self):
        ctx = kssl.SSLContext(kssl.PROTOCOL_TLS_CLIENT)
        ctx.set_ciphers(["TLS_AES_128_GCM_SHA256", ECDHE_RSA_128])
        self.assertEqual([c["iana"] for c in ctx.get_ciphers()],
                         ["TLS_AES_128_GCM_SHA256", ECDHE_RSA_128])


if __name__ == "__main__":
    unittest.main()
