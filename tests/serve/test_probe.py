#!/usr/bin/python3
"""`kssl probe --json`: schema, and facts about this kernel."""
import json
import os
import subprocess
import unittest

KSSL = os.environ.get("KSSL_BIN", "kssl")


def has_tls_ulp():
    try:
        with open("/proc/sys/net/ipv4/tcp_available_ulp") as f:
            return "tls" in f.read().split()
    except OSError:
        return False


class Probe(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        r = subprocess.run([KSSL, "probe", "--json"], capture_output=True,
                           text=True, timeout=240)
        assert r.returncode == 0, r.stderr
        cls.d = json.loads(r.stdout)

    def test_schema(self):
        for key in ("kernel", "tls_ulp", "tls_ulp_reason", "offload", "io_uring",
                    "io_uring_ops", "pipe_max_size"):
            self.assertIn(key, self.d)
        self.assertEqual(len(self.d["offload"]), 8)
        for c in self.d["offload"]:
            self.assertIn(c["version"], ("1.2", "1.3"))
            self.assertIn(c["tx"], ("kernel", "user"))
            self.assertEqual(c["error"], "", c)  # every handshake completed
            self.assertTrue(c["negotiated"])

    def test_tls_matches_kernel(self):
        self.assertEqual(self.d["tls_ulp"], has_tls_ulp())
        if not self.d["tls_ulp"]:
            self.assertIn("ULP", self.d["tls_ulp_reason"])
            for c in self.d["offload"]:
                self.assertEqual(c["tx"], "user")
                self.assertTrue(c["tx_reason"])
        else:
            for c in self.d["offload"]:
                self.assertEqual(c["tx"], "kernel", c)

    def test_io_uring(self):
        # The sysctl exists from Linux 6.6; older kernels cannot disable it.
        try:
            with open("/proc/sys/kernel/io_uring_disabled") as f:
                disabled = int(f.read())
        except FileNotFoundError:
            disabled = 0
        self.assertEqual(self.d["io_uring"], disabled == 0)
        if self.d["io_uring"]:
            self.assertTrue(self.d["io_uring_ops"]["SPLICE"])
            self.assertTrue(self.d["io_uring_ops"]["POLL_ADD"])
        self.assertGreater(self.d["pipe_max_size"], 4096)


if __name__ == "__main__":
    unittest.main(verbosity=2)
