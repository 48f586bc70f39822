"""CPython's own test suite as a differential test: the stdlib's tests of
ssl and of the stdlib modules that use it, run once with the stdlib's ssl
and once with kssl in its place (kssl.install()), the same outcome
required for every test.

Lib/test/test_ssl.py (~180 tests) exercises the module surface,
contexts, certificates, errors and ~60 threaded client/server scenarios
(verification, versions, ALPN, SNI, sessions, post-handshake
authentication, sendfile, unwrap, non-blocking and timeouts) with the
stdlib's own expectations. The TLS users' suites (ftplib, poplib,
imaplib, smtplib, http.client, urllib, xmlrpc, asyncio's ssl and
sslproto) run their TLS servers and clients on whichever ssl is in place.

The two runs of a module go at once. A test whose outcome differs is run
again, alone, both ways, and counts only if it differs again: some of
these suites have timing-dependent tests (timeouts under load) that may
fail in either run. Tests in KNOWN are listed with their reason in
docs/python.md's differences and must still differ, so that a fix shows
(none on the host; in the VM, KNOWN_KTLS). In the kTLS VM kssl's sockets
run offloaded, and the test asserts that kernel TLS carried records both
ways.
"""
import json
import os
import subprocess
import sys
import unittest

import kssl
from support import KTLS

HERE = os.path.dirname(os.path.abspath(__file__))

# test id -> why kssl differs (each also in docs/python.md).
KNOWN = {}
# With kernel TLS (the VM) only. These tests corrupt the stream by
# writing plain bytes to a dup() of the server's socket fd; with TX in
# the kernel that write is encrypted into a valid record, as every plain
# write on an offloaded socket is (kssl's point), so the client reads
# data where the stdlib's reads garbage and raises SSLError.
KNOWN_KTLS = {
    "test.test_asyncio.test_ssl.TestSSL.test_start_tls_client_corrupted_ssl":
        "plain write on a dup() of an offloaded socket is encrypted",
    "test.test_asyncio.test_sslproto.SelectorStartTLSTests."
    "test_start_tls_client_corrupted_ssl":
        "plain write on a dup() of an offloaded socket is encrypted",
}
if KTLS:
    KNOWN.update(KNOWN_KTLS)

# The stdlib modules that use ssl, by their own tests.
TLS_USERS = ["test.test_ftplib", "test.test_poplib", "test.test_imaplib",
             "test.test_smtplib", "test.test_httplib", "test.test_urllib2_localnet",
             "test.test_xmlrpc", "test.test_asyncio.test_ssl",
             "test.test_asyncio.test_sslproto"]


def have_suite():
    try:
        import test.test_ssl  # noqa: F401
    except Exception as e:  # ImportError, or its own skip
        return str(e)
    return None


def start(mode, names):
    """One run in a subprocess; finish() gives its outcomes."""
    return subprocess.Popen([sys.executable, os.path.join(HERE, "cpython_suite.py"),
                             mode, *names], stdout=subprocess.PIPE,
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
        raise AssertionError("%s run printed no outcomes, rc %d:\n%s"
                             % (mode, p.returncode, stderr[-4000:]))
    return json.loads(lines[-1]), stderr


def both(names):
    """(kssl outcomes, ssl outcomes, kssl log) of the named tests."""
    mine, stdlib = start("kssl", names), start("ssl", names)
    ours, log = finish(mine, "kssl")
    theirs, _ = finish(stdlib, "ssl")
    return ours, theirs, log


def differing(ours, theirs):
    return sorted(t for t in set(ours) | set(theirs)
                  if ours.get(t) != theirs.get(t) and t not in KNOWN)


def failures_text(log, names):
    """The tracebacks of the named tests from a verbose unittest log."""
    parts = log.split("=" * 70)
    return "\n".join(part for part in parts
                     if any(n.rsplit(".", 1)[-1] in part for n in names))[-6000:]


@unittest.skipIf(have_suite(), "CPython's test package is not installed "
                 "(Debian: libpython3.11-testsuite): %s" % have_suite())
class CPythonSuite(unittest.TestCase):

    def same_outcomes(self, names, at_least):
        before = kssl.tls_stat() if KTLS else None
        ours, theirs, log = both(names)
        self.assertGreater(len(ours), at_least)
        self.assertEqual(sorted(t for t, v in theirs.items() if v not in ("ok", "skip")),
                         [], "the stdlib fails its own suite here")
        differ = differing(ours, theirs)
        if differ:  # again, alone: only a repeated difference counts
            print("differ once, run again:", differ, file=sys.stderr)
            again_ours, again_theirs, log = both(differ)
            differ = differing(again_ours, again_theirs)
        self.assertEqual(differ, [], "different outcome with kssl:\n"
                         + failures_text(log, differ))
        for t in KNOWN:
            if t in ours:
                self.assertNotEqual(ours[t], theirs.get(t), "%s is the same now: "
                                    "remove it from KNOWN and docs/python.md" % t)
        if KTLS:  # kssl's sockets went through kernel TLS, both ways
            after = kssl.tls_stat()
            self.assertGreater(after["TlsTxSw"] - before["TlsTxSw"], 10)
            self.assertGreater(after["TlsRxSw"] - before["TlsRxSw"], 10)

    def test_test_ssl(self):
        self.same_outcomes(["test.test_ssl"], 150)

    def test_tls_users(self):
        self.same_outcomes(TLS_USERS, 500)


if __name__ == "__main__":
    unittest.main()
