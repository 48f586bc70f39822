#!/usr/bin/python3
"""bench/run --quick --memory --conns 20: JSON schema, every available case
verified its bytes (throughput) and kept its idle connections (memory), and
the --baseline gate's arithmetic. No timing assertions."""
import copy
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
CONNS = 20
sys.dont_write_bytecode = True  # the source tree is read-only in the VM
sys.path.insert(0, HERE)
import report  # noqa: E402


class BenchQuick(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with tempfile.TemporaryDirectory() as out:
            r = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "run"), "--quick",
                                "--memory", "--conns", str(CONNS), "--out", out],
                               capture_output=True, text=True, timeout=560)
            cls.output = r.stdout + r.stderr
            cls.returncode = r.returncode
            with open(os.path.join(out, "bench.json")) as f:
                cls.d = json.load(f)
            with open(os.path.join(out, "bench.md")) as f:
                cls.md = f.read()

    def test_exit_status(self):
        self.assertEqual(self.returncode, 0, self.output)

    def test_schema(self):
        d = self.d
        self.assertEqual(d["schema"], "kssl-bench/1")
        for key in ("machine", "kernel", "versions", "params", "cases", "emulated", "ktls",
                    "ratios", "cpu_ratios", "scale", "memory", "pinning", "clients"):
            self.assertIn(key, d)
        self.assertGreaterEqual(len(d["cases"]), 10)
        if d["cpus"] >= 2:  # sender and clients on disjoint CPUs
            p = d["pinning"]
            self.assertTrue(p["sender_cpus"] and p["client_cpus"], p)
            self.assertFalse(set(p["sender_cpus"]) & set(p["client_cpus"]), p)
        self.assertIn("## Memory", self.md)

    def test_throughput_cases_verified(self):
        available = 0
        for name, c in self.d["cases"].items():
            if c["status"] != "ok":
                self.assertTrue(c["status"].startswith("unavailable: "), name)
                continue
            available += 1
            self.assertTrue(c["probe_verified"], name)
            self.assertTrue(c["tls"]["version"].startswith("TLSv1."), (name, c["tls"]))
            self.assertGreaterEqual(c["connections"], 1 + len(c["results"]))
            for res in c["results"]:
                self.assertIn(res["client"], ("curl", "h2load", "kssl-get"), (name, res))
                self.assertTrue(res["verified"], (name, res))
                for k in ("min", "median", "max"):
                    self.assertGreater(res["mbps"][k], 0)
                for k in ("user_s_per_gib", "sys_s_per_gib"):
                    self.assertGreaterEqual(res[k], 0)
            if name != "kssl-kssl-kernel-rx":  # full and resumed, s_time
                self.assertEqual([h["mode"] for h in c["handshakes"]], ["full", "resumed"], name)
                for h in c["handshakes"]:
                    self.assertTrue(h["verified"], (name, h))
                    self.assertGreater(h["resumed_fraction"] if h["mode"] == "resumed"
                                       else 1, 0, (name, h))
        self.assertGreaterEqual(available, 2)  # fallback + OpenSSL anywhere
        self.assertEqual(self.d["cases"]["kssl-fallback-userspace"]["status"], "ok")
        if not self.d["ktls"]:
            self.assertTrue(self.d["cases"]["kssl-offload-uring-splice"]["status"]
                            .startswith("unavailable: no kTLS"))

    def test_kernel_rx_case(self):
        c = self.d["cases"]["kssl-kssl-kernel-rx"]
        if c["status"] != "ok":  # no kTLS here, or no kssl get yet
            self.assertRegex(c["status"], "unavailable: (no kTLS|no kssl download client)")
            return
        for res in c["results"]:
            if "skipped" not in res:
                self.assertEqual(res["client"], "kssl-get")
        if self.d["ktls"]:  # the client's RX really in the kernel
            self.assertGreater(c["tls_stat"]["TlsRxSw"], 0)

    def test_python_cases(self):
        for name in ("cpython-ssl-sendfile", "kssl-python-sendfile"):
            c = self.d["cases"][name]
            if name == "kssl-python-sendfile" and c["status"] != "ok":
                # Only acceptable reason: the build has no Python package.
                self.assertIn("kssl Python package not built", c["status"])
                continue
            self.assertEqual(c["status"], "ok", name)
            self.assertEqual(len(c["results"]), 4, name)  # 16K,1M x 1,4
            self.assertTrue(all(r["verified"] for r in c["results"]), name)
        c = self.d["cases"]["kssl-python-sendfile"]
        if self.d["ktls"] and c["status"] == "ok":  # zero-copy path really taken
            self.assertEqual(c["tls_stat"]["TlsTxSw"], c["connections"])

    def test_memory(self):
        m = self.d["memory"]
        self.assertEqual(m["conns"], CONNS)
        self.assertGreaterEqual(m["nofile"], CONNS)
        for name in ("kssl-offload-uring-splice", "kssl-fallback-userspace",
                     "nginx-ktls", "nginx-userspace"):
            self.assertIn(name, m["cases"])
        for name, c in m["cases"].items():
            if c["status"] != "ok":
                self.assertTrue(c["status"].startswith("unavailable: "), name)
                continue
            r = c["result"]
            self.assertTrue(r["verified"], (name, r))
            self.assertEqual((r["opened"], r["still_serving"]), (CONNS, CONNS), name)
            # all closed, but for the io_uring engine's bounded pipe pool
            self.assertLessEqual(r["fds_after_close"], r["fds_before"] + 16, name)
            self.assertGreaterEqual(r["fds_idle"], r["fds_before"] + CONNS, name)
            for k in ("rss_kib_per_conn", "anon_kib_per_conn", "slab_kib_per_conn_system",
                      "open_seconds", "rss_kib_before", "rss_kib_idle"):
                self.assertIsInstance(r[k], (int, float), (name, k))
            self.assertGreater(r["rss_kib_before"], 0, name)
        self.assertEqual(m["cases"]["kssl-fallback-userspace"]["status"], "ok")
        off = m["cases"]["kssl-offload-uring-splice"]
        if self.d["ktls"]:  # both directions in the kernel while idle
            self.assertEqual(off["status"], "ok")
            self.assertEqual(off["result"]["ktls_tx_sockets_idle"], CONNS)
            self.assertEqual(off["result"]["ktls_rx_sockets_idle"], CONNS)
        else:
            self.assertTrue(off["status"].startswith("unavailable: no kTLS"))


class BaselineGate(unittest.TestCase):
    """compare() on synthetic reports: the exit-1 decision, not timing."""

    def setUp(self):
        row = {"size": 16384, "conc": 1, "verified": True,
               "mbps": {"min": 9.0, "median": 10.0, "max": 11.0}}
        self.rep = {"emulated": False, "params": {"min_bytes": 1 << 22, "max_fetches": 0},
                       "cases": {"a": {"status": "ok", "results": [row]}},
                       "memory": {"conns": 20, "cases": {"m": {"status": "ok",
                                                  "result": {"rss_kib_per_conn": 20.0}}}}}

    def test_same_passes(self):
        bad, checked = report.compare(self.rep, copy.deepcopy(self.rep), 10)
        self.assertEqual((bad, checked), ([], 2))

    def test_slower_fails(self):
        base = copy.deepcopy(self.rep)
        base["cases"]["a"]["results"][0]["mbps"]["median"] = 12.0  # now 16.7 % slower
        bad, _ = report.compare(self.rep, base, 10)
        self.assertEqual(len(bad), 1)
        self.assertIn("a 16K x1", bad[0])
        self.assertEqual(report.compare(self.rep, base, 20)[0], [])

    def test_memory_growth_fails(self):
        base = copy.deepcopy(self.rep)
        base["memory"]["cases"]["m"]["result"]["rss_kib_per_conn"] = 10.0
        bad, _ = report.compare(self.rep, base, 10)
        self.assertEqual(len(bad), 1)
        self.assertIn("memory m", bad[0])

    def test_not_comparable(self):
        for change in (("emulated", True), ("params", {"min_bytes": 1 << 28, "max_fetches": 0})):
            base = copy.deepcopy(self.rep)
            base[change[0]] = change[1]
            base["cases"]["a"]["results"][0]["mbps"]["median"] = 100.0
            self.assertIsNotNone(report.comparable(self.rep, base))
            self.assertEqual(report.compare(self.rep, base, 10), ([], 0))
        base = copy.deepcopy(self.rep)
        base["memory"]["conns"] = 1000
        base["memory"]["cases"]["m"]["result"]["rss_kib_per_conn"] = 1.0
        self.assertEqual(report.compare(self.rep, base, 10), ([], 1))

    def test_unavailable_skipped(self):
        base = copy.deepcopy(self.rep)
        base["cases"]["a"] = {"status": "unavailable: x", "results": []}
        del base["memory"]
        self.assertEqual(report.compare(self.rep, base, 10), ([], 0))


class Scale(unittest.TestCase):
    """scale() on a synthetic report: which rows count as the best."""

    def test_failed_row_is_not_the_best(self):
        def row(conc, mbps, cpu, ok=True):
            return {"size": 1 << 20, "conc": conc, "verified": ok,
                    "mbps": {"min": mbps, "median": mbps, "max": mbps},
                    "user_s_per_gib": cpu / 2, "sys_s_per_gib": cpu / 2}
        rep = {"cases": {"a": {"status": "ok", "results": [
            row(16, 100.0, 1.0), row(256, 90.0, 1.25), row(1024, 500.0, 0.1, ok=False)]}}}
        s = report.scale(rep)["a"]["1M"]
        self.assertEqual(sorted(s), ["16", "256"])  # the failed row is left out
        self.assertAlmostEqual(s["256"]["of_best"], 0.9)
        self.assertAlmostEqual(s["256"]["cpu_of_best"], 0.8)
        self.assertAlmostEqual(s["16"]["cpu_of_best"], 1.0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
