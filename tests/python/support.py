"""Shared helpers for the kssl Python tests: test PKI, threaded peers."""
import contextlib
import hashlib
import os
import socket
import ssl
import threading
import unittest

import kssl

CERTS = os.environ.get("KSSL_TEST_CERTS", "")
TIMEOUT = 20.0  # every socket gets it: no test can hang
IN_VM = os.environ.get("KSSL_IN_VM") == "1"
KTLS = kssl.probe()["tls_ulp"]
NO_ULP_REASON = "kernel has no tls ULP"


def cert(name):
    path = os.path.join(CERTS, name)
    if not os.path.exists(path):
        raise unittest.SkipTest("KSSL_TEST_CERTS not set or incomplete: %s" % path)
    return path


def server_ctx(mod, certname="server", **kw):
    ctx = mod.SSLContext(mod.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert(certname + ".pem"), cert(certname + ".key"))
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


def client_ctx(mod, **kw):
    ctx = mod.create_default_context(cafile=cert("ca.pem"))
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def payload(size, seed=b"kssl"):
    """Deterministic, incompressible-looking bytes."""
    out = bytearray()
    block = hashlib.sha256(seed).digest()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block * 64
    return bytes(out[:size])


def recv_all(sock):
    chunks = []
    while True:
        data = sock.recv(65536)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


class Peer:
    """One TLS connection served by a thread.

    handler(tls_sock) runs on the accepted, wrapped socket (server) or the
    connected, wrapped socket (client). Its return value or exception is
    kept and reported by result().
    """

    def __init__(self, target, *args):
        self.value = None
        self.error = None
        self.thread = threading.Thread(target=self._run, args=(target,) + args,
                                       daemon=True)

    def _run(self, target, *args):
        try:
            self.value = target(*args)
        except BaseException as e:  # handed to the test thread
            self.error = e

    def start(self):
        self.thread.start()
        return self

    def result(self, raise_error=True):
        self.thread.join(TIMEOUT * 2)
        if self.thread.is_alive():
            raise AssertionError("peer thread did not finish")
        if self.error is not None and raise_error:
            raise self.error
        return self.value


def listener():
    ls = socket.create_server(("127.0.0.1", 0))
    ls.settimeout(TIMEOUT)
    return ls


def serve(ctx, handler, ls=None, wrap_kw=None):
    """Accept one connection on ls (a new listener if None), wrap it with
    ctx server-side and run handler. Returns (port, Peer)."""
    ls = ls or listener()
    port = ls.getsockname()[1]

    def run():
        with ls:
            raw, _ = ls.accept()
        raw.settimeout(TIMEOUT)
        with ctx.wrap_socket(raw, server_side=True, **(wrap_kw or {})) as s:
            return handler(s)
    return port, Peer(run).start()


def connect(ctx, port, hostname="localhost", **kw):
    raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    try:
        return ctx.wrap_socket(raw, server_hostname=hostname, **kw)
    except BaseException:
        raw.close()
        raise


class OffloadAssertions:
    """Host: both directions fell back, for the no-ULP reason. VM: kernel."""

    def assert_offloaded(self, sock, tx=True, rx=True):
        off = sock.offload
        self.assertIsNotNone(off)
        if KTLS:
            if tx:
                self.assertEqual(off.tx, "kernel", off.tx_reason)
            if rx:
                self.assertEqual(off.rx, "kernel", off.rx_reason)
        else:
            self.assertEqual(off.tx, "user")
            self.assertIn(NO_ULP_REASON, off.tx_reason)
            self.assertEqual(off.rx, "user")
            self.assertIn(NO_ULP_REASON, off.rx_reason)


@contextlib.contextmanager
def forced_path(path):
    """kssl.asyncio: force the "kssl" or the "stock" transport on any
    kernel (on the host, "kssl" runs both directions in userspace)."""
    import kssl.asyncio as kaio
    old = kaio._path_override
    kaio._path_override = path
    try:
        yield
    finally:
        kaio._path_override = old
