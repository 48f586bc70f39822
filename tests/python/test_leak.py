"""2,000 handshakes: bounded RSS growth, no growth in live Python objects."""
import gc
import os
import socket
import ssl
import threading
import unittest

import kssl
from support import KTLS, TIMEOUT, client_ctx, server_ctx

ROUNDS = 300 if KTLS else 2000  # the VM's emulated CPU is slow


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class LeakTest(unittest.TestCase):

    def test_handshake_loop(self):
        sctx, cctx = server_ctx(kssl), client_ctx(kssl)
        ls = socket.create_server(("127.0.0.1", 0))
        ls.settimeout(TIMEOUT)
        port = ls.getsockname()[1]
        stop = threading.Event()

        def server():
            while not stop.is_set():
                try:
                    raw, _ = ls.accept()
                except OSError:
                    return
                raw.settimeout(TIMEOUT)
                try:
                    with sctx.wrap_socket(raw, server_side=True) as s:
                        s.sendall(s.recv(16))
                        s.getpeercert()
                        s.cipher()
                except (OSError, ssl.SSLError):
                    pass

        def one_round(i):
            raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
            with cctx.wrap_socket(raw, server_hostname="localhost") as c:
                c.sendall(b"ping")
                self.assertEqual(c.recv(16), b"ping")
                c.getpeercert()
                c.offload
                c.shared_ciphers()
            if i % 10:
                return
            try:  # error paths too: a failed verification
                raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
                kssl.create_default_context().wrap_socket(raw, server_hostname="localhost")
            except ssl.SSLCertVerificationError:
                pass
            finally:
                raw.close()

        t = threading.Thread(target=server, daemon=True)
        t.start()
        try:
            for i in range(50):  # warm-up: caches, lazily built contexts
                one_round(i)
            gc.collect()
            objects, rss = len(gc.get_objects()), rss_kib()
            for i in range(ROUNDS):
                one_round(i)
            gc.collect()
            grown_objects = len(gc.get_objects()) - objects
            grown_rss = rss_kib() - rss
        finally:
            stop.set()
            ls.close()
            t.join(TIMEOUT)
        self.assertLess(grown_objects, 200, "live Python objects grew")
        # A leaked conn (SSL + buffers) costs tens of KiB per round.
        self.assertLess(grown_rss, 8 * 1024, "RSS grew by %d KiB" % grown_rss)


if __name__ == "__main__":
    unittest.main()
