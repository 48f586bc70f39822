"""settimeout(t) bounds each wait for progress, not the whole call: a slow
but steadily reading peer receives a whole sendfile()/sendall() that takes
longer than t; a peer that stops reading gets the stdlib's TimeoutError.
Same calls on ssl and kssl. No timed assertions: outcomes only."""
import hashlib
import re
import socket
import ssl
import tempfile
import threading
import time
import unittest

import kssl
from support import (TIMEOUT, Peer, cert, client_ctx, connect, listener,
                     payload, serve, server_ctx, sha256)

SIZE = 1 << 20
# The sender's timeout. The paced transfer takes at least twice as long
# (so one deadline for the whole call would fail), and a reader starved
# for less than T under load still passes.
T = 1.0


def slow_reader(port, stop_after=None, resume=None):
    """A stdlib client with a small receive buffer (so each recv gets a few
    KiB), reading every 20 ms (about 0.4 MB/s here: 1 MiB takes over twice
    T): returns the SHA-256 of what came. With
    stop_after, it stops reading after that many bytes until `resume` is
    set (the sender has given up)."""
    ctx = client_ctx(ssl)
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.settimeout(TIMEOUT)
    raw.connect(("127.0.0.1", port))
    h, got = hashlib.sha256(), 0
    with ctx.wrap_socket(raw, server_hostname="localhost") as s:
        while True:
            if stop_after is not None and got >= stop_after:
                resume.wait(TIMEOUT)  # stop reading: the sender times out
                return None
            data = s.recv(32768)
            if not data:
                # Answer the sender's close_notify, so that its unwrap()
                # ends cleanly whatever the EOF option of this CPython. A
                # sender that gave up (sendall's deadline) sent none: then
                # there is nothing to answer, and the digest tells.
                try:
                    s.unwrap()
                except (ssl.SSLError, OSError):
                    pass
                return h.hexdigest()
            h.update(data)
            got += len(data)
            time.sleep(0.02)


def outcome(fn):
    try:
        return ("ok", fn())
    except Exception as e:  # compared
        return ("raise", type(e), str(e))


class TimeoutTest(unittest.TestCase):

    def send(self, mod, how, stop_after=None):
        ctx = mod.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert("server.pem"), cert("server.key"))
        data = payload(SIZE, seed=b"timeouts")
        ls = listener()
        resume = threading.Event()
        peer = Peer(slow_reader, ls.getsockname()[1], stop_after,
                    resume).start()
        with ls:
            raw, _ = ls.accept()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        raw.settimeout(TIMEOUT)
        with ctx.wrap_socket(raw, server_side=True) as s, \
                tempfile.TemporaryFile() as f:
            f.write(data)
            f.seek(0)
            s.settimeout(T)
            try:
                if how == "sendfile":
                    got = outcome(lambda: s.sendfile(f))
                else:
                    got = outcome(lambda: s.sendall(data))
                if got[0] == "ok":
                    s.unwrap()
            finally:
                resume.set()
        return got, peer.result(), sha256(data)

    def test_slow_reader_gets_sendfile(self):
        for mod in (ssl, kssl):
            with self.subTest(mod=mod.__name__):
                got, digest, want = self.send(mod, "sendfile")
                self.assertEqual(got[0], "ok", got)
                self.assertEqual(digest, want)

    def test_sendall_one_deadline(self):
        # The stdlib's sendall() hands the whole rest of the buffer to one
        # SSL_write, whose waits share one deadline: a transfer longer than
        # the timeout fails, even to a steadily reading peer. kssl the same.
        ours = self.send(kssl, "sendall")[0]
        theirs = self.send(ssl, "sendall")[0]
        self.assertEqual(ours, theirs)
        self.assertEqual(ours, ("raise", TimeoutError,
                                "The write operation timed out"))

    def test_stalled_reader_times_out(self):
        for how in ("sendfile", "sendall"):
            with self.subTest(how=how):
                ours = self.send(kssl, how, stop_after=64 << 10)[0]
                theirs = self.send(ssl, how, stop_after=64 << 10)[0]
                self.assertEqual(ours, theirs)
                self.assertIs(ours[1], TimeoutError)


class StalledPeerTest(unittest.TestCase):
    """One wait each: recv/read/unwrap on a peer that sends nothing, a
    handshake with a peer that never answers."""

    T = 0.3  # nothing can arrive: load only makes the waits longer

    def steps(self, mod):
        def out(fn):
            try:
                return ("ok", fn())
            except Exception as e:  # compared
                # The stdlib prefixes its handshake timeout with its source
                # position ("_ssl.c:975: "); compare the rest.
                return ("raise", type(e), re.sub(r"^_ssl\.c:\d+: ", "", str(e)))
        done = threading.Event()
        port, peer = serve(server_ctx(ssl), lambda s: done.wait(TIMEOUT))
        try:
            with connect(client_ctx(mod), port) as c:
                c.settimeout(self.T)
                got = [out(lambda: c.recv(10)), out(lambda: c.read(10)),
                       out(lambda: c.unwrap())]
        finally:
            done.set()
            peer.result(raise_error=False)
        with listener() as ls, socket.create_connection(
                ("127.0.0.1", ls.getsockname()[1])) as raw:
            raw.settimeout(self.T)
            got.append(out(lambda: client_ctx(mod).wrap_socket(
                raw, server_hostname="localhost")))
        return got

    def test_same_timeouts(self):
        ours, theirs = self.steps(kssl), self.steps(ssl)
        self.assertEqual(ours, theirs)
        self.assertEqual(ours[0], ("raise", TimeoutError,
                                   "The read operation timed out"))
        self.assertEqual(ours[3], ("raise", TimeoutError,
                                   "The handshake operation timed out"))


if __name__ == "__main__":
    unittest.main()
