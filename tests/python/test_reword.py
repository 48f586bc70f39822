"""No caller decides from libkssl's message text.

KSSL_TEST_REWORD=1 makes libkssl prefix every message it writes
(src/error.c). The same failure scenarios run in two child processes, one
with and one without it: the Python exceptions must be the same in class,
args (except where the libkssl text is the message), errno, library,
reason and verify fields, and the reworded run must show the prefix where a
libkssl text does reach the user (so the switch is proven to work).
"""
import json
import os
import subprocess
import sys
import unittest

CHILD = r'''
import json, socket, ssl, sys
import kssl
from support import cert, client_ctx, connect, serve, server_ctx

def text_of(name):
    with open(cert(name), encoding="ascii") as f:
        return f.read()

def fields(e):
    return {"type": type(e).__name__, "args": [str(a) for a in e.args],
            "errno": getattr(e, "errno", None),
            "library": getattr(e, "library", None),
            "reason": getattr(e, "reason", None),
            "verify_code": getattr(e, "verify_code", None),
            "verify_message": getattr(e, "verify_message", None),
            "kssl_reason": getattr(e, "_kssl_reason", None)}

def run(fn):
    try:
        fn()
    except Exception as e:
        return fields(e)
    return None

def verify_failure():
    port, peer = serve(server_ctx(ssl, "wrong"), lambda s: s.recv(5))
    try:
        connect(client_ctx(kssl), port).close()
    finally:
        peer.result(raise_error=False)

def alert():
    port, peer = serve(server_ctx(kssl), lambda s: s.recv(5))
    try:
        connect(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), port).close()
    except ssl.SSLError:
        pass
    peer.result()

def wrong_version():
    sctx = server_ctx(ssl)
    sctx.minimum_version = ssl.TLSVersion.TLSv1_3
    cctx = client_ctx(kssl)
    cctx.maximum_version = ssl.TLSVersion.TLSv1_2
    port, peer = serve(sctx, lambda s: s.recv(5))
    try:
        connect(cctx, port).close()
    finally:
        peer.result(raise_error=False)

def kssl_text():
    # a failure with no stdlib counterpart: its text is libkssl's message
    kssl._kssl.Context(True).use_cert_mem(b"", b"", False, None)

def bad_data(key, certdata):
    return lambda: kssl.wrap_socket(socket.socket(), server_side=True,
                                    key=key, cert=certdata)

out = {
    "verify": run(verify_failure),
    "alert": run(alert),
    "version": run(wrong_version),
    "kssl_text": run(kssl_text),
    "bad_cert": run(bad_data(text_of("server.key"), b"\x30\x03\x02\x01\x00")),
    "bad_key": run(bad_data(b"\x30\x03\x02\x01\x00", text_of("server.pem"))),
    "mismatch": run(bad_data(text_of("client.key"), text_of("server.pem"))),
}
json.dump(out, sys.stdout)
'''


def child(reword):
    env = dict(os.environ)
    env.pop("KSSL_TEST_REWORD", None)
    if reword:
        env["KSSL_TEST_REWORD"] = "1"
    here = os.path.dirname(os.path.abspath(__file__))
    env["PYTHONPATH"] = here + os.pathsep + env.get("PYTHONPATH", "")
    r = subprocess.run([sys.executable, "-c", CHILD], env=env, cwd=here,
                       capture_output=True, text=True, timeout=120)
    if r.returncode:
        raise AssertionError(r.stderr)
    return json.loads(r.stdout)


class RewordTest(unittest.TestCase):

    def test_exceptions_do_not_depend_on_message_text(self):
        plain, reworded = child(False), child(True)
        self.assertEqual(set(plain), set(reworded))
        for name in plain:
            with self.subTest(name):
                a, b = plain[name], reworded[name]
                self.assertIsNotNone(a)
                if name == "kssl_text":
                    # libkssl's own text is the message: it did change
                    self.assertFalse(a["args"][-1].startswith("[reworded]"))
                    self.assertTrue(b["args"][-1].startswith("[reworded]"), b)
                    a = dict(a, args=None)
                    b = dict(b, args=None)
                self.assertEqual(a, b)
        self.assertEqual(plain["bad_cert"]["args"], ["invalid cert"])
        self.assertEqual(plain["bad_key"]["args"], ["invalid key"])
        self.assertEqual(plain["mismatch"]["reason"], "KEY_VALUES_MISMATCH")
        self.assertEqual(plain["alert"]["reason"], "TLSV1_ALERT_UNKNOWN_CA")
        self.assertEqual(plain["verify"]["type"], "SSLCertVerificationError")


if __name__ == "__main__":
    unittest.main()
