"""CPython's own ssl test suite (Lib/test/test_ssl.py) as a differential
test: run once with the stdlib's ssl, once with kssl in its place
(kssl.install()), and require the same outcome for every test.

test_ssl exercises the module surface, contexts, certificates, errors and
~60 threaded client/server scenarios (echo servers, verification,
versions, ALPN, SNI, sessions, post-handshake authentication, sendfile,
unwrap, non-blocking and timeouts) with the stdlib's own expectations.
Tests that pass with ssl must pass with kssl, except those in KNOWN (none
today), each of which would be listed with its reason in docs/python.md's
differences and is required to still fail, so that a fix shows here.

In the kTLS VM the same two runs are made on the kernel's TLS: there the
kssl sockets of the threaded scenarios run offloaded.
"""
import json
import os
import subprocess
import sys
import unittest

import kssl
from support import KTLS

HERE = os.path.dirname(os.path.abspath(__file__))

# test id (without the "test.test_ssl." prefix) -> why kssl differs.
KNOWN = {}

PREFIX = "test.test_ssl."


def have_suite():
    try:
        import test.test_ssl  # noqa: F401
    except Exception as e:  # ImportError, or its own skip
        return str(e)
    return None


def start(mode, classes=()):
    """One run of test_ssl in a subprocess; finish() gives its outcomes."""
    return subprocess.Popen([sys.executable, os.path.join(HERE, "cpython_test_ssl.py"),
                             mode, *classes], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, encoding="utf-8", errors="replace")


def finish(p, mode):
    """Outcomes {id: ok|fail|error|skip|...} of a started run, and its log."""
    try:
        stdout, stderr = p.communicate(timeout=1500)
    except subprocess.TimeoutExpired:
        p.kill()
        stdout, stderr = p.communicate()
    lines = stdout.strip().splitlines()
    if not lines:
        raise AssertionError("test_ssl (%s) printed no outcomes, rc %d:\n%s"
                             % (mode, p.returncode, stderr[-4000:]))
    out = {k[len(PREFIX):] if k.startswith(PREFIX) else k: v
           for k, v in json.loads(lines[-1]).items()}
    return out, stderr


def failures_text(log, names):
    """The tracebacks of the named tests from a verbose unittest log."""
    parts = log.split("=" * 70)
    return "\n".join(part for part in parts if any(n in part for n in names))[-6000:]


@unittest.skipIf(have_suite(), "CPython's test package is not installed "
                 "(Debian: libpython3.11-testsuite): %s" % have_suite())
class CPythonTestSSL(unittest.TestCase):

    def compare(self, ours, theirs, log):
        self.assertGreater(len(ours), 100)
        differ = sorted(t for t in theirs if theirs[t] == "ok" and ours.get(t) != "ok"
                        and t not in KNOWN)
        self.assertEqual(differ, [], "pass with ssl, not with kssl:\n"
                         + failures_text(log, differ))
        for t in KNOWN:
            if t in ours:
                self.assertNotEqual(ours[t], "ok", "%s passes now: remove it from "
                                    "KNOWN and docs/python.md" % t)
        extra = sorted(t for t in ours if ours[t] == "ok" and theirs.get(t) not in ("ok", None))
        self.assertEqual(extra, [], "pass with kssl, not with ssl")

    def test_same_outcomes(self):
        before = kssl.tls_stat() if KTLS else None
        # both at once: most of the suite waits on sockets and threads
        mine, stdlib = start("kssl"), start("ssl")
        ours, log = finish(mine, "kssl")
        theirs, _ = finish(stdlib, "ssl")
        if KTLS:  # kssl's sockets went through kernel TLS, both ways
            after = kssl.tls_stat()
            self.assertGreater(after["TlsTxSw"] - before["TlsTxSw"], 20)
            self.assertGreater(after["TlsRxSw"] - before["TlsRxSw"], 20)
        self.assertEqual(sorted(t for t, v in theirs.items() if v not in ("ok", "skip")),
                         [], "the stdlib fails its own suite here")
        self.assertEqual(sorted(t for t, v in ours.items() if v == "skip"),
                         sorted(t for t, v in theirs.items() if v == "skip"))
        self.compare(ours, theirs, log)


if __name__ == "__main__":
    unittest.main()
