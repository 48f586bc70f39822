#!/usr/bin/python3
"""bench/run --quick: JSON schema, and every available case verified its
bytes. No timing assertions."""
import json
import os
import subprocess
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


class BenchQuick(unittest.TestCase):
    def test_quick(self):
        with tempfile.TemporaryDirectory() as out:
            r = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "run"), "--quick",
                                "--out", out], capture_output=True, text=True, timeout=500)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            with open(os.path.join(out, "bench.json")) as f:
                d = json.load(f)
            self.assertTrue(os.path.exists(os.path.join(out, "bench.md")))
        self.assertEqual(d["schema"], "kssl-bench/1")
        for key in ("machine", "kernel", "versions", "params", "cases", "emulated", "ktls"):
            self.assertIn(key, d)
        self.assertGreaterEqual(len(d["cases"]), 8)
        available = 0
        for name, c in d["cases"].items():
            if c["status"] != "ok":
                self.assertTrue(c["status"].startswith("unavailable: "), name)
                continue
            available += 1
            for res in c["results"]:
                self.assertTrue(res["verified"], (name, res))
                for k in ("min", "median", "max"):
                    self.assertGreater(res["mbps"][k], 0)
        self.assertGreaterEqual(available, 2)  # fallback + OpenSSL anywhere
        self.assertEqual(d["cases"]["kssl-fallback-userspace"]["status"], "ok")
        if not d["ktls"]:
            self.assertTrue(d["cases"]["kssl-offload-uring-splice"]["status"]
                            .startswith("unavailable: no kTLS"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
