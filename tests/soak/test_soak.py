#!/usr/bin/python3
"""Soak: 10,000 connections churned through `kssl serve` (full handshakes,
keep-alive, ranges, errors, aborts at every phase, slow readers; every
body compared), then the server's fds and RSS must be back near where
they were after a warm-up.

Scale: KSSL_SOAK_CONNS (default 10,000 on the host, 600 in the kTLS VM,
where offload is asserted through /proc/net/tls_stat). Margins, chosen
generous because glibc keeps freed memory and the kernel closes sockets
asynchronously: fds back to the warm-up count (+2) within 20 s; RSS at
most 24 MiB (host) above the warm-up figure.
"""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from soak import (CHURN, IN_VM, Server, fd_count, get, make_root, pipe_fd_count,  # noqa: E402
                  require_tools, rss_kb, sha, tls_stat, wait_until)

CONNS = int(os.environ.get("KSSL_SOAK_CONNS", "600" if IN_VM else "10000"))
RSS_MARGIN_KB = 24 * 1024
FD_MARGIN = 2


def churn(port, root, conns, threads=8, slow=4):
    r = subprocess.run([CHURN, "-p", str(port), "-r", root, "-n", str(conns),
                        "-t", str(threads), "-s", str(slow)],
                       capture_output=True, text=True, timeout=600)
    return r


class Soak(unittest.TestCase):
    def setUp(self):
        require_tools(self)
        self.root, self.files = make_root((1 if IN_VM else 4) * 1024 * 1024)
        self.srv = Server(self.root, "--header-timeout", "5")

    def tearDown(self):
        self.srv.stop()
        subprocess.run(["rm", "-rf", self.root])

    def test_churn_back_to_baseline(self):
        pid = self.srv.pid
        stat0 = tls_stat()
        start_fds = fd_count(pid)
        warm = churn(self.srv.port, self.root, 200)
        self.assertEqual(warm.returncode, 0, warm.stdout + warm.stderr)
        wait_until(lambda: fd_count(pid) <= start_fds)
        fds0, rss0 = fd_count(pid), rss_kb(pid)

        r = churn(self.srv.port, self.root, CONNS)
        print(r.stdout, end="")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        peak_rss = rss_kb(pid)

        settled = wait_until(lambda: fd_count(pid) <= fds0 + FD_MARGIN)
        fds1, rss1 = fd_count(pid), rss_kb(pid)
        print("SOAK %d connections: fds %d -> %d, RSS %d kB -> %d kB "
              "(right after the churn %d kB)"
              % (CONNS + 4, fds0, fds1, rss0, rss1, peak_rss), flush=True)
        self.assertTrue(settled, "fds did not come back: %d -> %d" % (fds0, fds1))
        # The splice pipe pool is bounded whatever the churn.
        self.assertLessEqual(pipe_fd_count(pid), 16)
        self.assertLessEqual(rss1, rss0 + RSS_MARGIN_KB)

        # Still right afterwards.
        status, body = get(self.srv.port, "/big.bin")
        self.assertEqual(status, 200)
        self.assertEqual(sha(body), sha(self.files["big.bin"]))
        self.assertTrue(self.srv.alive())

        if IN_VM:  # the transfers went through kernel TLS
            stat1 = tls_stat()
            for key in ("TlsTxSw", "TlsRxSw"):
                self.assertGreater(stat1.get(key, 0) - stat0.get(key, 0),
                                   CONNS // 4, key)
            print("SOAK tls_stat: TlsTxSw +%d, TlsRxSw +%d"
                  % (stat1["TlsTxSw"] - stat0.get("TlsTxSw", 0),
                     stat1["TlsRxSw"] - stat0.get("TlsRxSw", 0)))


if __name__ == "__main__":
    unittest.main(verbosity=2)
