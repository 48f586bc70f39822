#!/usr/bin/env python3
"""The QuecPython ussl cipher suite table, run for real.

For each suite of data/ussl_suites.txt (extracted from the ussl document by
data/extract_ussl_suites.py), a kssl server and a kssl client are given
exactly that suite by its IANA name (SSLContext.set_ciphers([name])), do a
TLS 1.2 handshake on loopback and move data both ways; or set_ciphers
refuses the name and says why OpenSSL cannot offer it. The server uses the
ECDSA P-256 certificate for *_ECDSA_* suites and the RSA one otherwise;
DHE suites use OpenSSL's built-in groups (kssl servers run with
SSL_CTX_set_dh_auto).

test_ussl_suites.py asserts every row; run as a script it writes the table
(docs/ciphers.md comes from a run inside the kTLS VM, so that the offload
column is the kernel's real answer):

    cd build && ../tests/vm/ktls-vm --env PYTHONPATH=$PWD/python \\
        --env KSSL_TEST_CERTS=$PWD/certs -- \\
        /usr/bin/python3 ../tests/python/cipher_matrix.py --markdown ../docs/ciphers.md
"""
import argparse
import os
import ssl
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import kssl  # noqa: E402
from support import (KTLS, cert, connect, payload, serve,  # noqa: E402
                     sha256)

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                    "ussl_suites.txt")
SIZE = 16 * 1024  # per direction: small, the VM runs under TCG


def load_suites(path=DATA):
    """[(IANA name, "0xcode")] in the document's order."""
    with open(path, encoding="ascii") as f:
        return [tuple(line.split()) for line in f
                if line.strip() and not line.startswith("#")]


class Row:
    """One suite's outcome."""

    def __init__(self, name, code):
        self.name, self.code = name, code
        self.refused = None        # set_ciphers' reason, if it refused
        self.cipher = None         # client's cipher() tuple
        self.server_cipher = None
        self.version = None
        self.sent_ok = False       # client -> server bytes arrived intact
        self.back_ok = False       # server -> client bytes arrived intact
        self.offload = None        # client's kssl.Offload
        self.server_offload = None

    @property
    def negotiated(self):
        return self.refused is None and self.sent_ok and self.back_ok


def _contexts(name):
    sctx = kssl.SSLContext(kssl.PROTOCOL_TLS_SERVER)
    certname = "server-ec" if "_ECDSA_" in name else "server"
    sctx.load_cert_chain(cert(certname + ".pem"), cert(certname + ".key"))
    if "_DHE_" in name:  # as a stdlib server, DHE needs DH parameters
        sctx.load_dh_params(cert("dh3072.pem"))
    cctx = kssl.SSLContext(kssl.PROTOCOL_TLS_CLIENT)
    cctx.load_verify_locations(cert("ca.pem"))
    sctx.set_ciphers([name])
    cctx.set_ciphers([name])
    return sctx, cctx


def run_suite(name, code):
    row = Row(name, code)
    try:
        sctx, cctx = _contexts(name)
    except ssl.SSLError as e:
        row.refused = str(e)
        return row
    data = payload(SIZE, seed=name.encode())

    def server(s):
        got = recv_exactly(s, SIZE)
        s.sendall(got[::-1])
        return sha256(got), s.cipher(), s.offload

    port, peer = serve(sctx, server)
    with connect(cctx, port) as c:
        c.sendall(data)
        back = recv_exactly(c, SIZE)
        got_hash, row.server_cipher, row.server_offload = peer.result()
        row.cipher, row.version, row.offload = c.cipher(), c.version(), c.offload
    row.sent_ok = got_hash == sha256(data)
    row.back_ok = back == data[::-1]
    return row


def recv_exactly(sock, n):
    """n bytes, or fewer if the peer closed first."""
    got = bytearray()
    while len(got) < n:
        chunk = sock.recv(n - len(got))
        if not chunk:
            break
        got += chunk
    return bytes(got)


def run_all():
    return [run_suite(name, code) for name, code in load_suites()]


# -- the markdown table ------------------------------------------------------

def _short_refusal(text):
    # "No cipher can be selected: NAME: reason" -> "reason"
    return text.split(": ", 2)[-1]


def _offload_cell(row):
    if not row.negotiated:
        return "—"
    off = row.offload
    if off.tx == "kernel" and off.rx == "kernel":
        return "yes"
    reason = off.tx_reason if off.tx != "kernel" else off.rx_reason
    prefix = row.name + ": "  # libkssl names the suite; the row already does
    return "no: %s" % (reason[len(prefix):] if reason.startswith(prefix)
                       else reason)


def markdown(rows):
    where = ("Linux %s with kernel TLS (the kTLS VM, tests/vm/ktls-vm)"
             % os.uname().release if KTLS else
             "Linux %s without kernel TLS" % os.uname().release)
    n_ok = sum(r.negotiated for r in rows)
    n_kernel = sum(r.negotiated and r.offload.tx == "kernel"
                   and r.offload.rx == "kernel" for r in rows)
    out = [
        "# Cipher suites: the QuecPython ussl table on kssl",
        "",
        "<!-- Generated by tests/python/cipher_matrix.py; do not edit. -->",
        "",
        "The %d suites QuecPython's `ussl` module lists (mbedTLS), each given "
        "by its IANA name to `SSLContext.set_ciphers([name])` on a kssl "
        "server and a kssl client, which then do a TLS 1.2 handshake and "
        "move %d KiB each way (bytes compared). Run on %s with %s. "
        "`tests/python/test_ussl_suites.py` asserts every row on each run "
        "(`ctest -L python`, and in the VM)." % (
            len(rows), SIZE // 1024, where, ssl.OPENSSL_VERSION),
        "",
        "Result: %d negotiated, %d refused by `set_ciphers` with the reason; "
        "%d of the negotiated ones run in kernel TLS both ways." % (
            n_ok, len(rows) - n_ok, n_kernel),
        "",
        "On a kernel without kernel TLS (CONFIG_TLS off, e.g. the "
        "development host) every negotiated suite falls back to OpenSSL "
        "with the reason `kernel has no tls ULP (CONFIG_TLS): setsockopt "
        "TCP_ULP: No such file or directory`.",
        "",
        "Server certificate: ECDSA P-256 for `*_ECDSA_*` suites, RSA 2048 "
        "otherwise. DHE suites use RFC 7919's ffdhe3072 group, given to "
        "the server with `load_dh_params()` (as for a stdlib server, "
        "there is no built-in group).",
        "",
        "| # | suite (IANA) | code | OpenSSL name | negotiated | kernel offload |",
        "|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(rows, 1):
        if r.refused is not None:
            neg, osname = "no: %s" % _short_refusal(r.refused), "—"
        elif r.negotiated:
            neg, osname = "yes (%s)" % r.version, r.cipher[0]
        else:
            neg, osname = "no: data did not arrive intact", r.cipher[0]
        out.append("| %d | `%s` | %s | %s | %s | %s |" % (
            i, r.name, r.code, osname, neg, _offload_cell(r)))
    out += [
        "",
        "Why suites stay in OpenSSL:",
        "",
        "- CBC suites (AES-CBC, Camellia-CBC): Linux kernel TLS implements "
        "AEAD ciphers only.",
        "- AES-128-CCM-8: its tag is 8 bytes; the kernel's "
        "`TLS_CIPHER_AES_CCM_128` uses 16.",
        "- AES-256-CCM and AES-256-CCM-8: the kernel has AES-CCM with "
        "128-bit keys only; libkssl reports these as \"cipher has no kernel "
        "TLS support in kssl\".",
        "- Refused suites: OpenSSL removed static ECDH (`ECDH_RSA`, "
        "`ECDH_ECDSA`) in 1.1.0 and never implemented Camellia-GCM; "
        "`TLS_EMPTY_RENEGOTIATION_INFO_SCSV` is a signalling value that "
        "OpenSSL puts in every initial ClientHello by itself "
        "(test_ussl_suites.py checks it is there).",
        "",
        "Regenerate (about 70 s in the VM):",
        "",
        "    cd build && ../tests/vm/ktls-vm --env PYTHONPATH=$PWD/python \\",
        "        --env KSSL_TEST_CERTS=$PWD/certs -- /usr/bin/python3 \\",
        "        ../tests/python/cipher_matrix.py --markdown ../docs/ciphers.md",
        "",
    ]
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--markdown", metavar="FILE",
                    help="write the table there (default: print it)")
    args = ap.parse_args(argv)
    rows = run_all()
    text = markdown(rows)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0 if all(r.negotiated or r.refused for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
