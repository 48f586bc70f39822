"""kssl sockets against stdlib ssl peers, both ways, bytes compared by SHA-256."""
import os
import socket
import ssl
import tempfile
import threading
import unittest

import kssl
from support import (KTLS, TIMEOUT, OffloadAssertions, Peer, cert, client_ctx,
                     connect, listener, payload, recv_all, serve, server_ctx,
                     sha256)

SIZE = (1 << 20) + 12345 if KTLS else (4 << 20) + 12345  # VM: TCG is slow


def echo_hash(s):
    """Read until EOF, answer with the SHA-256 of what came."""
    data = recv_all(s)
    s.sendall(sha256(data).encode())
    return len(data)


class InteropTest(OffloadAssertions, unittest.TestCase):


    def check_pair(self, cmod, smod, version=None):
        data = payload(SIZE, seed=repr((cmod.__name__, smod.__name__, version)).encode())
        sctx = server_ctx(smod)
        cctx = client_ctx(cmod)
        if version:
            cctx.maximum_version = version

        def server(s):
            n = int.from_bytes(s.recv(8) or b"\0" * 8, "big")
            got = bytearray()
            while len(got) < n:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
            s.sendall(bytes(got[::-1]))
            return sha256(bytes(got)), s.version()
        port, peer = serve(sctx, server)
        with connect(cctx, port) as c:
            c.sendall(len(data).to_bytes(8, "big"))
            c.sendall(data)
            back = bytearray()
            while len(back) < len(data):
                chunk = c.recv(65536)
                self.assertTrue(chunk, "connection closed early")
                back += chunk
            # (A client's RX moves once the server's tickets were read.)
            if cmod is kssl:
                self.assert_offloaded(c)
            got_hash, server_version = peer.result()
            self.assertEqual(got_hash, sha256(data))
            self.assertEqual(sha256(bytes(back)), sha256(data[::-1]))
            self.assertEqual(c.version(), server_version)
            if version:
                self.assertEqual(c.version(), "TLSv1.2")

    def test_kssl_client_stdlib_server(self):
        self.check_pair(kssl, ssl)

    def test_stdlib_client_kssl_server(self):
        self.check_pair(ssl, kssl)

    def test_kssl_both_ends(self):
        self.check_pair(kssl, kssl)

    def test_tls12_both_ways(self):
        self.check_pair(kssl, ssl, ssl.TLSVersion.TLSv1_2)
        self.check_pair(ssl, kssl, ssl.TLSVersion.TLSv1_2)

    def test_server_offload_state(self):
        def server(s):
            s.recv(1)
            return s.offload
        port, peer = serve(server_ctx(kssl), server)
        with connect(client_ctx(ssl), port) as c:
            c.sendall(b"x")
            off = peer.result()
        self.assertIsInstance(off, kssl.Offload)
        if KTLS:
            self.assertEqual((off.tx, off.rx), ("kernel", "kernel"))
        else:
            self.assertEqual((off.tx, off.rx), ("user", "user"))

    def test_offload_none_setting(self):
        ctx = client_ctx(kssl)
        ctx.kssl_offload = "none"
        with self.assertRaises(ValueError):
            ctx.kssl_offload = "sideways"
        port, peer = serve(server_ctx(ssl), lambda s: s.sendall(b"hi"))
        with connect(ctx, port) as c:
            self.assertEqual(c.recv(2), b"hi")
            self.assertEqual((c.offload.tx, c.offload.rx), ("user", "user"))
            self.assertIsNotNone(c.offload.tx_reason)
        peer.result()

    def test_isinstance_and_exports(self):
        ctx = kssl.create_default_context()
        self.assertIsInstance(ctx, ssl.SSLContext)
        self.assertIs(kssl.SSLError, ssl.SSLError)
        self.assertIs(kssl.CERT_REQUIRED, ssl.CERT_REQUIRED)
        self.assertIs(kssl.TLSVersion, ssl.TLSVersion)
        self.assertIs(kssl.MemoryBIO, ssl.MemoryBIO)
        self.assertEqual(kssl.OPENSSL_VERSION, ssl.OPENSSL_VERSION)
        # kssl.wrap_socket is MicroPython's, never the stdlib's deprecated one
        self.assertIsNot(kssl.wrap_socket, getattr(ssl, "wrap_socket", None))
        s = ctx.wrap_socket(socket.socket(), server_hostname="localhost")
        with s:
            self.assertIsInstance(s, ssl.SSLSocket)
            self.assertIsInstance(s, kssl.SSLSocket)
            self.assertIsNone(s.offload)  # not connected yet

    def test_connect_after_wrap_and_accept_on_wrapped(self):
        # Wrap an unconnected socket, then connect(); the listening socket
        # is itself wrapped and accept() returns kssl sockets.
        ls = server_ctx(kssl).wrap_socket(listener(), server_side=True)

        def server():
            with ls:
                s, _ = ls.accept()
            with s:
                s.settimeout(TIMEOUT)
                self.assertIsInstance(s, kssl.SSLSocket)
                s.sendall(s.recv(5)[::-1])
                return s.cipher()
        peer = Peer(server).start()
        c = client_ctx(kssl).wrap_socket(socket.socket(), server_hostname="localhost")
        with c:
            c.settimeout(TIMEOUT)
            self.assertEqual(c.connect_ex(ls.getsockname()), 0)
            c.sendall(b"hello")
            self.assertEqual(c.recv(5), b"olleh")
            self.assertEqual(c.cipher(), peer.result())

    def test_makefile(self):
        def server(s):
            f = s.makefile("rwb")
            line = f.readline()
            f.write(line.upper())
            f.flush()
            return line
        port, peer = serve(server_ctx(kssl), server)
        with connect(client_ctx(kssl), port) as c:
            with c.makefile("rwb") as f:
                f.write(b"line one\n")
                f.flush()
                self.assertEqual(f.readline(), b"LINE ONE\n")
        self.assertEqual(peer.result(), b"line one\n")

    def test_unwrap_close_notify(self):
        def server(s):
            s.sendall(b"bye")
            plain = s.unwrap()
            return plain.fileno() >= 0
        port, peer = serve(server_ctx(kssl), server)
        with connect(client_ctx(ssl), port) as c:
            self.assertEqual(c.recv(3), b"bye")
            c.unwrap()
        self.assertTrue(peer.result())

    def test_threads_read_and_write_concurrently(self):
        # One thread writes while another reads on the same socket.
        data = payload(1 << 20)

        def server(s):
            got = bytearray()
            while len(got) < len(data):
                chunk = s.recv(65536)
                if not chunk:
                    break
                s.sendall(chunk)
                got += chunk
            return len(got)
        port, peer = serve(server_ctx(ssl), server)
        with connect(client_ctx(kssl), port) as c:
            writer = Peer(c.sendall, data).start()
            back = bytearray()
            while len(back) < len(data):
                chunk = c.recv(65536)
                self.assertTrue(chunk)
                back += chunk
            writer.result()
        self.assertEqual(sha256(bytes(back)), sha256(data))
        self.assertEqual(peer.result(), len(data))


class SendfileTest(OffloadAssertions, unittest.TestCase):

    def send_file(self, client_mod, offset, count, size=SIZE):
        data = payload(size, seed=b"sendfile")
        with tempfile.NamedTemporaryFile() as f:
            f.write(data)
            f.flush()
            stat_before = kssl.tls_stat()

            def server(s):
                with open(f.name, "rb") as src:
                    sent = s.sendfile(src, offset, count)
                    pos = src.tell()
                off = s.offload
                s.unwrap()
                return sent, pos, off, kssl.tls_stat()
            port, peer = serve(server_ctx(kssl), server)
            with connect(client_ctx(client_mod), port) as c:
                got = recv_all(c)
                c.unwrap()  # answer the server's close_notify
            sent, pos, off, stat_after = peer.result()
        want = data[offset:offset + count] if count else data[offset:]
        self.assertEqual(sent, len(want))
        self.assertEqual(pos, offset + len(want))
        self.assertEqual(sha256(got), sha256(want))
        return off, stat_before, stat_after

    def test_sendfile_whole_file(self):
        off, before, after = self.send_file(ssl, 0, None)
        if KTLS:
            # The bytes went file -> kernel TLS: TX was offloaded and the
            # kernel counted a software-TLS TX socket.
            self.assertEqual(off.tx, "kernel", off.tx_reason)
            self.assertGreater(after["TlsTxSw"], before["TlsTxSw"])
        else:
            self.assertEqual(off.tx, "user")
            self.assertIn("kernel has no tls ULP", off.tx_reason)
            self.assertIsNone(after)

    def test_sendfile_offset_count(self):
        self.send_file(kssl, 4097, 300001)

    def test_sendfile_count_past_eof(self):
        # Stops at end of file, as socket.sendfile does.
        data_size = 100000
        off, _, _ = self.send_file(ssl, 1000, None, size=data_size)

    def test_sendfile_non_file_falls_back_to_send(self):
        import io
        buf = io.BytesIO(payload(200000))

        def server(s):
            n = s.sendfile(buf)
            s.unwrap()
            return n
        port, peer = serve(server_ctx(kssl), server)
        with connect(client_ctx(ssl), port) as c:
            got = recv_all(c)
            c.unwrap()
        self.assertEqual(peer.result(), 200000)
        self.assertEqual(sha256(got), sha256(buf.getvalue()))


if __name__ == "__main__":
    unittest.main()
