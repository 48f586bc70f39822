"""TLS 1.3 post-handshake client authentication, kssl against the stdlib.

Each scenario runs with the stdlib and with kssl on the side under test
(server, then client), the peer being the stdlib: what verify_client_
post_handshake() raises, what the server's next read gets (the data, or
the error), what getpeercert() says afterwards, and on the client the
error it reads. Cases: a client with a good certificate, none, one from an
unknown CA, a client that did not opt in, TLS 1.2, the call on a client
socket. kssl connections set up for the exchange stay in userspace and say
so in `offload` (asserted on the host and in the kTLS VM).
"""
import ssl
import unittest

import kssl
from support import cert, client_ctx, connect, serve, server_ctx

PHA_REASON = "post-handshake authentication"


def err(e):
    if e is None:
        return None
    return (type(e).__name__, getattr(e, "reason", None),
            getattr(e, "library", None), getattr(e, "verify_message", None))


def run(smod, cmod, client_cert=None, client_pha=True, server_pha=True,
        maximum_version=None, call_on_client=False):
    sctx = server_ctx(smod)
    sctx.verify_mode = ssl.CERT_REQUIRED
    sctx.load_verify_locations(cert("ca.pem"))
    sctx.post_handshake_auth = server_pha
    if maximum_version:
        sctx.maximum_version = maximum_version
    cctx = client_ctx(cmod)
    cctx.post_handshake_auth = client_pha
    if client_cert:
        cctx.load_cert_chain(cert(client_cert + ".pem"), cert(client_cert + ".key"))

    def server(s):
        out = {"before": s.getpeercert(), "offload": getattr(s, "offload", None),
               "version": s.version()}
        try:
            s.verify_client_post_handshake()
            out["call"] = None
        except Exception as e:
            out["call"] = err(e)
        s.sendall(b"go")
        try:
            out["read"] = s.recv(10)
            out["peer"] = s.getpeercert()
            s.sendall(b"ok")
        except Exception as e:
            out["read"] = err(e)
        return out
    port, peer = serve(sctx, server)
    client = {}
    with connect(cctx, port) as c:
        client["offload"] = getattr(c, "offload", None)
        if call_on_client:
            try:
                c.verify_client_post_handshake()
            except Exception as e:
                client["call"] = err(e)
        try:
            client["go"] = c.recv(10)
            c.sendall(b"hello")
            client["ok"] = c.recv(10)
        except OSError as e:
            # The server failed the exchange and closed: whether this side
            # reads the alert, a FIN or an RST is a race (in both modules).
            client["error"] = isinstance(e, OSError)
    res = peer.result()
    return res, client


def comparable(res, client):
    res = {k: v for k, v in res.items() if k != "offload"}
    client = {k: v for k, v in client.items() if k != "offload"}
    if isinstance(res.get("peer"), dict):
        res["peer"] = res["peer"].get("subject")
    return res, client


CASES = {
    "good_cert": dict(client_cert="client"),
    "no_cert": dict(),
    "unknown_ca": dict(client_cert="wrong"),
    "expired": dict(client_cert="expired"),
    "client_not_opted_in": dict(client_cert="client", client_pha=False),
    "tls12": dict(client_cert="client", maximum_version=ssl.TLSVersion.TLSv1_2),
    "server_pha_off": dict(client_cert="client", server_pha=False),
    "call_on_client": dict(client_cert="client", call_on_client=True),
}


class PostHandshakeAuthTest(unittest.TestCase):

    def check(self, side):
        for name, kw in CASES.items():
            with self.subTest(case=name, kssl_side=side):
                want = comparable(*run(ssl, ssl, **kw))
                smod, cmod = (kssl, ssl) if side == "server" else (ssl, kssl)
                res, client = run(smod, cmod, **kw)
                self.assertEqual(comparable(res, client), want)
                off = res["offload"] if side == "server" else client["offload"]
                tls13 = res["version"] == "TLSv1.3"
                # Servers here verify clients: a request is possible
                # whenever the client offered it (OpenSSL's rule).
                held = tls13 and kw.get("client_pha", True)
                if held:
                    self.assertEqual((off.tx, off.rx), ("user", "user"))
                    self.assertIn(PHA_REASON, off.tx_reason)
                    self.assertIn(PHA_REASON, off.rx_reason)
                else:
                    self.assertNotIn(PHA_REASON, off.tx_reason or "")
                if name == "good_cert":
                    self.assertEqual(res["read"], b"hello")
                    self.assertEqual(res["before"], None)
                    self.assertTrue(res["peer"])
                if name == "no_cert":
                    self.assertIsInstance(res["read"], tuple)

    def test_kssl_server(self):
        self.check("server")

    def test_kssl_client(self):
        self.check("client")


if __name__ == "__main__":
    unittest.main()
