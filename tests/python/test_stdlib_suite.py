"""The stdlib's own TLS clients and servers, once with ssl and once with
kssl in its place (`python3 -m kssl run`), compared scenario by scenario.

stdlib_scenarios.py runs ftplib.FTP_TLS, poplib, imaplib, smtplib (TLS and
STARTTLS) against local servers (stdlib_peers.py), http.client, urllib
(verification failures included), http.server, socketserver, xmlrpc,
logging's SMTP/HTTP handlers and asyncio (streams, protocols, start_tls),
both sides using whichever ssl module is in place. Same certificates,
same calls; compared: results (SHA-256 of the bytes moved, replies),
exception class, errno, reason, library, verify code and message.
"""
import json
import os
import ssl
import subprocess
import sys
import unittest

from support import CERTS, IN_VM, KTLS, NO_ULP_REASON, cert

HERE = os.path.dirname(os.path.abspath(__file__))

# Messages are compared whole, the stdlib's "(_ssl.c:NNN)" included:
# kssl builds them from numbers with the running stdlib's text
# (pybind/kssl/_errors.py). MESSAGE_DIFFS: scenario -> why it may differ
# (none today; each would be listed in docs/python.md).
MESSAGE_DIFFS = {}
# Scenarios whose outcome still differs (not compared; printed). Each is
# listed in docs/python.md.
KNOWN_DIFFS = {}

# Where the stdlib paths run on kssl.SSLSocket (offload) and where on
# SSLObject/MemoryBIO (asyncio's stock ssl=: no offload, by design).
ASYNCIO = {"asyncio_streams", "asyncio_protocols", "asyncio_start_tls",
           "asyncio_streams_wrong_ca"}


# The scenarios that must fail certificate verification (both runs)...
VERIFY_FAILURES = {"ftp_tls_wrong_ca", "pop3_ssl_wrong_ca",
                   "smtp_starttls_wrong_ca", "https_client_default_context",
                   "urlopen_no_context", "urlopen_wrong_ca",
                   "urlopen_wrong_host", "urlopen_expired",
                   "asyncio_streams_wrong_ca"}
# ...and the other failing ones: misbehaving peers (stdlib run).
OTHER_FAILURES = {"https_to_plain_http": "ssl.SSLError",
                  "https_client_cert_required": "ssl.SSLError",
                  "https_peer_fin_in_handshake": "ssl.SSLZeroReturnError",
                  "https_peer_rst_in_handshake":
                      "builtins.ConnectionResetError",
                  "pop3_server_vanishes": "poplib.error_proto",
                  "pop3_server_silent_timeout": "builtins.TimeoutError",
                  "client_unwrap_with_unread_data": "ssl.SSLError"}
# Whether the default context ignores a peer's EOF without close_notify
# (OP_IGNORE_UNEXPECTED_EOF) depends on the CPython release: Debian's
# 3.11.2 sets it, 3.11.7 does not. Without it a FIN in the handshake is an
# SSLEOFError rather than SSLZeroReturnError, and the client's unwrap()
# after the server closed fails; under ssl as under kssl.
if not ssl.create_default_context().options & ssl.OP_IGNORE_UNEXPECTED_EOF:
    OTHER_FAILURES["https_peer_fin_in_handshake"] = "ssl.SSLEOFError"
    OTHER_FAILURES["server_read_client_unwraps"] = "ssl.SSLEOFError"


# In the kTLS VM (slow, emulated CPU) only one offloading scenario per
# stdlib module runs: handshake failures and asyncio's stock path do not
# depend on the kernel and are covered on the host.
VM_SCENARIOS = ["ftp_tls", "pop3_stls", "imap4_ssl", "smtp_starttls",
                "https_client", "urlopen_context", "socketserver_tls",
                "xmlrpc_https", "logging_http_handler",
                "server_read_client_closes_after_reading"]


def run_scenarios(kssl_in_place):
    env = dict(os.environ, KSSL_TEST_CERTS=os.path.abspath(CERTS))
    env["PYTHONPATH"] = os.pathsep.join(
        [HERE] + [os.path.abspath(p) for p in
                  env.get("PYTHONPATH", "").split(os.pathsep) if p])
    prefix = ["-m", "kssl", "run"] if kssl_in_place else []
    return subprocess.Popen(
        [sys.executable] + prefix + [os.path.join(HERE, "stdlib_scenarios.py")]
        + (VM_SCENARIOS if IN_VM else []),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=HERE)


class StdlibSuiteTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cert("ca.pem")  # skips without the test PKI
        procs = [run_scenarios(False), run_scenarios(True)]
        cls.reports = []
        for proc in procs:
            out, err = proc.communicate(timeout=300)
            if proc.returncode != 0:
                raise AssertionError("scenarios failed:\n" + err.decode())
            cls.reports.append(json.loads(out))
        cls.message_diffs = []

    def compare_error(self, name, a, b, where=""):
        if a is None or b is None:
            self.assertEqual(a, b, name)
            return
        for key in ("class", "errno", "library", "verify_code",
                    "verify_message"):
            self.assertEqual(a[key], b[key], "%s%s: %s" % (name, where, key))
        if isinstance(a["reason"], dict):
            self.compare_error(name, a["reason"], b["reason"], where + ".reason")
        else:
            self.assertEqual(a["reason"], b["reason"], name + where)
        if a["message"] != b["message"]:
            if name + where not in MESSAGE_DIFFS:
                self.assertEqual(a["message"], b["message"], name + where)
            self.message_diffs.append((name + where, a["message"],
                                       b["message"]))

    def test_modules(self):
        self.assertEqual([r["ssl"] for r in self.reports], ["ssl", "kssl"])

    def test_same_outcomes(self):
        ssl_run, kssl_run = (r["scenarios"] for r in self.reports)
        self.assertEqual(sorted(ssl_run), sorted(kssl_run))
        self.assertGreaterEqual(len(ssl_run), len(VM_SCENARIOS) if IN_VM
                                else 40)
        for name in sorted(ssl_run):
            a, b = ssl_run[name], kssl_run[name]
            if name in KNOWN_DIFFS:
                same = ({k: v for k, v in a.items() if k != "sockets"}
                        == {k: v for k, v in b.items() if k != "sockets"})
                print("known difference in %s (%s)%s:\n  ssl:  %s\n"
                      "  kssl: %s" % (name, KNOWN_DIFFS[name],
                                      " NOW EQUAL: drop it from KNOWN_DIFFS"
                                      if same else "",
                                      a.get("result", a.get("error")),
                                      b.get("result", b.get("error"))),
                      file=sys.stderr)
                continue
            with self.subTest(scenario=name):
                self.assertEqual(a.keys(), b.keys(), (a, b))
                if "result" in a:
                    self.assertEqual(a["result"], b["result"])
                else:
                    self.compare_error(name, a["error"], b["error"])
                # What the local servers saw (a refused handshake, ...)
                self.assertEqual(len(a["server_errors"]),
                                 len(b["server_errors"]))
                for x, y in zip(a["server_errors"], b["server_errors"]):
                    self.compare_error(name, x, y, " (server)")
        for where, x, y in self.message_diffs:
            print("expected message difference in %s:\n"
                  "  ssl:  %s\n  kssl: %s" % (where, x, y), file=sys.stderr)

    @unittest.skipIf(IN_VM, "the failing scenarios run on the host only")
    def test_failures_are_the_expected_ones(self):
        # Guard against a suite that compares two identical failures: only
        # the verification scenarios fail, and with a verification error.
        scen = self.reports[0]["scenarios"]
        failing = {n for n, o in scen.items() if "error" in o}
        self.assertEqual(failing, VERIFY_FAILURES | set(OTHER_FAILURES))
        for name in VERIFY_FAILURES:
            error = scen[name]["error"]
            if name.startswith("urlopen"):
                error = error["reason"]
            self.assertEqual(error["class"], "ssl.SSLCertVerificationError")
        for name, cls in OTHER_FAILURES.items():
            self.assertEqual(scen[name]["error"]["class"], cls, name)

    PHA_REASON = "post-handshake authentication"

    def test_sockets_and_offload(self):
        # stdlib run: stdlib sockets; kssl run: every TLS socket the
        # stdlib made is a kssl.SSLSocket, offloaded (VM) or in userspace
        # for the no-ULP reason (host). asyncio's stock path: SSLObject.
        ssl_run, kssl_run = (r["scenarios"] for r in self.reports)
        seen = 0
        for name, outcome in kssl_run.items():
            if name in ASYNCIO:
                self.assertEqual(outcome["sockets"], [])
                if "result" in outcome:
                    self.assertEqual(outcome["result"][-1], "SSLObject")
                continue
            for role, cls, off in ssl_run[name]["sockets"]:
                self.assertEqual(cls, "ssl.SSLSocket")
            for role, cls, off in outcome["sockets"]:
                self.assertEqual(cls, "kssl._socket.SSLSocket", (name, role))
                tx, rx, tx_reason, rx_reason = off
                if tx_reason and self.PHA_REASON in tx_reason:
                    # A client that offers TLS 1.3 post-handshake auth
                    # (http.client enables it on every default context)
                    # keeps its records in userspace: kernel TLS cannot
                    # carry a later CertificateRequest (docs/python.md).
                    self.assertEqual((tx, rx), ("user", "user"), (name, role))
                    self.assertEqual(role, "client", name)
                elif KTLS:
                    self.assertEqual(tx, "kernel", (name, role, tx_reason))
                    if rx == "pending":
                        # A TLS 1.3 client keeps sessions, as the stdlib's
                        # do: its RX moves once the server's tickets are
                        # read, with the first application record; this
                        # scenario's snapshot came before one.
                        self.assertEqual(role, "client", name)
                        self.assertIn("session tickets", rx_reason)
                    else:
                        self.assertEqual(rx, "kernel", (name, role, rx_reason))
                else:
                    self.assertEqual((tx, rx), ("user", "user"))
                    self.assertIn(NO_ULP_REASON, tx_reason)
                seen += 1
        self.assertGreaterEqual(seen, 15 if IN_VM else 25)


if __name__ == "__main__":
    unittest.main()
