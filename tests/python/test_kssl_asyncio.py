"""kssl.asyncio: kssl handshakes handed to asyncio as plain socket
transports, so loop.sendfile() is os.sendfile() into kernel TLS.

Host (no kTLS): the helpers fall back to asyncio's stock ssl transport and
say so in get_extra_info("kssl_offload"); the kssl socket path itself
(forced) runs OpenSSL in userspace and must keep loop.sendfile() off
os.sendfile(). VM (kTLS): kernel both ways, plain _SelectorSocketTransport,
os.sendfile() used, /proc/net/tls_stat moved. Everywhere: the bytes arrive
intact and the peer sees close_notify (a clean TLS EOF, not a bare FIN).
"""
import asyncio
import contextlib
import os
import socket
import ssl
import tempfile
import unittest
from asyncio import selector_events

import kssl
import kssl.asyncio as kaio
from support import (IN_VM, KTLS, NO_ULP_REASON, TIMEOUT, client_ctx,
                     forced_path, payload, server_ctx, sha256)

# TCG runs kTLS at ~10 MB/s: a few MiB there, more on the host.
FILE_SIZE = (2 if IN_VM else 8) * 1024 * 1024 + 12345
VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def pin(ctx, version):
    ctx.minimum_version = ctx.maximum_version = VERSIONS[version]
    return ctx


class SendfileSpy:
    """Counts os.sendfile() calls and bytes (asyncio's native path)."""

    def __init__(self):
        self.calls = 0
        self.bytes = 0

    @contextlib.contextmanager
    def installed(self):
        real = os.sendfile

        def spy(*args):
            n = real(*args)
            self.calls += 1
            self.bytes += n
            return n
        os.sendfile = spy
        try:
            yield self
        finally:
            os.sendfile = real


def blocking_client(port, version, expect):
    """The stdlib's blocking ssl client, strict about EOF: a bare FIN
    raises SSLEOFError, only close_notify reads as b''."""
    ctx = pin(client_ctx(ssl), version)
    ctx.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost",
                             suppress_ragged_eofs=False) as s:
            s.sendall(b"GET\n")
            chunks = []
            while True:
                data = s.recv(1 << 16)
                if not data:
                    break
                chunks.append(data)
            got = b"".join(chunks)
            if len(got) != len(expect):
                raise AssertionError("got %d bytes, want %d" % (len(got), len(expect)))
            return sha256(got)


class FileServerMixin:
    """A kssl.asyncio server that answers one request line per connection
    with loop.sendfile() of a file, then closes."""

    @classmethod
    def setUpClass(cls):
        cls.data = payload(FILE_SIZE, seed=b"kssl-asyncio")
        cls.digest = sha256(cls.data)
        fd, cls.path = tempfile.mkstemp(prefix="kssl-aio-")
        with os.fdopen(fd, "wb") as f:
            f.write(cls.data)

    @classmethod
    def tearDownClass(cls):
        os.unlink(cls.path)

    async def start(self, version, sctx=None):
        self.seen = []  # (offload, transport, sendfile result) per connection
        loop = asyncio.get_running_loop()

        async def handle(reader, writer):
            offload = writer.get_extra_info("kssl_offload")
            line = await reader.readline()
            assert line == b"GET\n", line
            with open(self.path, "rb") as f:
                sent = await loop.sendfile(writer.transport, f)
            self.seen.append((offload, writer.transport, sent))
            writer.close()
            await writer.wait_closed()

        ctx = sctx or pin(server_ctx(kssl), version)
        server = await kaio.start_server(handle, "127.0.0.1", 0, ssl=ctx)
        return server, server.sockets[0].getsockname()[1]

    async def fetch(self, opener, port, cctx):
        reader, writer = await opener("127.0.0.1", port, ssl=cctx,
                                      server_hostname="localhost")
        # kssl socket path: did the peer end with close_notify or a FIN?
        # (The transport drops its socket once it closes after the EOF.)
        sock = getattr(writer.transport, "_sock", None)
        writer.write(b"GET\n")
        await writer.drain()
        got = await reader.read()
        info = {k: writer.get_extra_info(k) for k in
                ("kssl_offload", "sslcontext", "ssl_object", "cipher")}
        info["transport"] = writer.transport
        info["kssl_eof"] = getattr(sock, "kssl_eof", "n/a")
        writer.close()
        await writer.wait_closed()
        return got, info


class KsslAsyncioSendfileTest(FileServerMixin, unittest.TestCase):

    def run_case(self, version):
        spy = SendfileSpy()
        stat0 = kssl.tls_stat()

        async def main():
            loop = asyncio.get_running_loop()
            server, port = await self.start(version)
            async with server:
                stdlib = await self.fetch(asyncio.open_connection, port,
                                          pin(client_ctx(ssl), version))
                ours = await self.fetch(kaio.open_connection, port,
                                        pin(client_ctx(kssl), version))
                strict = await loop.run_in_executor(
                    None, blocking_client, port, version, self.data)
            return stdlib, ours, strict

        with spy.installed():
            stdlib, ours, strict = asyncio.run(
                asyncio.wait_for(main(), TIMEOUT * 6))
        stat1 = kssl.tls_stat()

        # The bytes, whoever the client.
        self.assertEqual(sha256(stdlib[0]), self.digest)
        self.assertEqual(sha256(ours[0]), self.digest)
        self.assertEqual(strict, self.digest)  # and close_notify arrived
        self.assertEqual(len(self.seen), 3)
        for _, _, sent in self.seen:
            self.assertEqual(sent, FILE_SIZE)

        ssl_version = "TLSv" + version
        for offload, transport, _ in self.seen:
            if KTLS:
                self.assertEqual(offload, kssl.Offload("kernel", "kernel", None, None))
                self.assertIs(type(transport), selector_events._SelectorSocketTransport)
            else:
                self.assertEqual((offload.tx, offload.rx), ("user", "user"))
                self.assertIn(NO_ULP_REASON, offload.tx_reason)
                self.assertIn("stock ssl transport", offload.tx_reason)
                self.assertNotIsInstance(transport, selector_events._SelectorSocketTransport)

        # The kssl.asyncio client: its own view of the connection.
        info = ours[1]
        self.assertIsInstance(info["sslcontext"], kssl.SSLContext)
        self.assertEqual(info["ssl_object"].version(), ssl_version)
        self.assertEqual(info["cipher"][1], ssl_version)
        if KTLS:
            self.assertEqual(info["kssl_offload"],
                             kssl.Offload("kernel", "kernel", None, None))
            # Its socket read the server's close_notify (via recvmsg: a
            # bare recv() on a kTLS socket fails with EIO on that record).
            self.assertEqual(info["kssl_eof"], "close_notify")
        else:
            self.assertIn(NO_ULP_REASON, info["kssl_offload"].rx_reason)

        if KTLS:
            # loop.sendfile took asyncio's native path: os.sendfile() into
            # the kernel TLS socket, the whole file for each connection.
            self.assertGreaterEqual(spy.calls, 3)
            self.assertEqual(spy.bytes, 3 * FILE_SIZE)
            # Server side, one TX and one RX install per connection, plus
            # the kssl client's own.
            self.assertGreaterEqual(stat1["TlsTxSw"] - stat0["TlsTxSw"], 4)
            self.assertGreaterEqual(stat1["TlsRxSw"] - stat0["TlsRxSw"], 4)
            self.assertEqual(stat1["TlsDecryptError"], stat0["TlsDecryptError"])
        else:
            # Stock ssl transports: asyncio's read+write fallback.
            self.assertEqual(spy.calls, 0)
            self.assertIsNone(stat1)

    def test_tls13(self):
        self.run_case("1.3")

    def test_tls12(self):
        self.run_case("1.2")


class KsslSocketPathTest(FileServerMixin, unittest.TestCase):
    """The kssl socket path forced on any kernel: on the host it runs with
    both directions in OpenSSL, which the plain-transport plumbing must
    survive (no os.sendfile of plaintext, OpenSSL-buffered reads, close)."""

    def run_case(self, version):
        spy = SendfileSpy()

        async def main():
            loop = asyncio.get_running_loop()
            server, port = await self.start(version)
            async with server:
                got, info = await self.fetch(kaio.open_connection, port,
                                             pin(client_ctx(kssl), version))
                strict = await loop.run_in_executor(
                    None, blocking_client, port, version, self.data)
            return got, info, strict

        with forced_path("kssl"), spy.installed():
            got, info, strict = asyncio.run(asyncio.wait_for(main(), TIMEOUT * 6))
        self.assertEqual(sha256(got), self.digest)
        self.assertEqual(info["kssl_eof"], "close_notify")
        self.assertEqual(strict, self.digest)
        for offload, transport, sent in self.seen:
            self.assertEqual(sent, FILE_SIZE)
            self.assertIs(type(transport), selector_events._SelectorSocketTransport)
            if KTLS:
                self.assertEqual((offload.tx, offload.rx), ("kernel", "kernel"))
            else:
                self.assertEqual((offload.tx, offload.rx), ("user", "user"))
                self.assertIn(NO_ULP_REASON, offload.tx_reason)
        if KTLS:
            self.assertEqual(spy.bytes, 2 * FILE_SIZE)
        else:
            # Userspace TX: asyncio must have used its fallback.
            self.assertEqual(spy.calls, 0)

    def test_tls13(self):
        self.run_case("1.3")

    def test_tls12(self):
        self.run_case("1.2")

    def test_small_buffers(self):
        # A BufferedProtocol with buffers far below one TLS record: with
        # userspace RX, OpenSSL keeps the rest of each record, which the
        # selector cannot see; the socket must still deliver everything.
        data = payload(300000, seed=b"small")

        class Sink(asyncio.BufferedProtocol):
            def __init__(self):
                self.buf = bytearray(1000)
                self.got = bytearray()
                self.done = asyncio.get_running_loop().create_future()

            def get_buffer(self, hint):
                # A memoryview: the stock path in CPython 3.11.2 reads
                # into buf[offset:], which for a bytearray is a copy.
                return memoryview(self.buf)

            def buffer_updated(self, n):
                self.got += self.buf[:n]

            def eof_received(self):
                self.done.set_result(bytes(self.got))

            def connection_lost(self, exc):
                if not self.done.done():
                    self.done.set_exception(exc or ConnectionError("lost"))

        async def handle(reader, writer):
            writer.write(data)
            await writer.drain()
            writer.close()

        async def main():
            loop = asyncio.get_running_loop()
            server = await kaio.start_server(handle, "127.0.0.1", 0,
                                             ssl=server_ctx(kssl))
            port = server.sockets[0].getsockname()[1]
            async with server:
                transport, sink = await kaio.create_connection(
                    loop, Sink, "127.0.0.1", port, ssl=client_ctx(kssl),
                    server_hostname="localhost")
                try:
                    return await sink.done
                finally:
                    transport.close()
        for path in ("kssl", "stock"):
            with self.subTest(path=path), forced_path(path):
                got = asyncio.run(asyncio.wait_for(main(), TIMEOUT * 2))
                self.assertEqual(sha256(got), sha256(data))

    def test_close_notify_with_full_send_buffer(self):
        # close() when close_notify does not fit into the socket buffer:
        # the socket waits (without blocking the loop) until it does, and
        # closes after it. "simulated": the first attempt reports
        # SSLWantWriteError; "real" (kernel TX only): the server fills the
        # socket with send() until EAGAIN before closing, while the client
        # is not reading yet.
        modes = ["simulated"] + (["real"] if KTLS else [])
        chunk = payload(65536, seed=b"fill")

        def run(mode):
            deferred = []
            real_defer = kaio._KsslSocket._kssl_defer

            def spy(sock, action):
                deferred.append(action)
                return real_defer(sock, action)

            async def handle(reader, writer):
                sock = writer.transport._sock
                sent = bytearray()
                if mode == "simulated":
                    # First attempt: "socket buffer full", on whichever
                    # path sends close_notify (kernel TX: the socket's
                    # sendmsg; userspace TX: OpenSSL via the binding).
                    obj = sock._kssl_obj
                    calls = []
                    if sock._kssl_tx_kernel:
                        def alert():
                            calls.append(1)
                            if len(calls) == 1:
                                raise BlockingIOError(11, "simulated")
                            return type(sock)._kssl_alert_kernel(sock)
                        sock._kssl_alert_kernel = alert
                    else:
                        # The _sslobj has no __dict__ (as the stdlib's):
                        # a subclass in its place, same layout.
                        class FullOnce(type(obj)):
                            __slots__ = ()

                            def shutdown(self):
                                calls.append(1)
                                if len(calls) == 1:
                                    raise ssl.SSLWantWriteError(3,
                                                                "simulated")
                                return super().shutdown()
                        obj.__class__ = FullOnce
                    writer.write(chunk)
                    sent += chunk
                else:
                    try:
                        while True:
                            sent += chunk[:sock.send(chunk)]
                    except BlockingIOError:
                        pass
                sizes.set_result(bytes(sent))
                writer.close()

            async def main():
                server = await kaio.start_server(handle, "127.0.0.1", 0,
                                                 ssl=server_ctx(kssl))
                port = server.sockets[0].getsockname()[1]
                async with server:
                    reader, writer = await kaio.open_connection(
                        "127.0.0.1", port, ssl=client_ctx(kssl),
                        server_hostname="localhost")
                    sock = writer.transport._sock
                    expect = await sizes
                    await asyncio.sleep(0.3)  # the server's close() ran
                    got = await reader.read()
                    eof = sock.kssl_eof
                    writer.close()
                    await writer.wait_closed()
                    return got, expect, eof

            async def outer():
                nonlocal sizes
                sizes = asyncio.get_running_loop().create_future()
                return await main()
            sizes = None
            kaio._KsslSocket._kssl_defer = spy
            try:
                got, expect, eof = asyncio.run(asyncio.wait_for(outer(), TIMEOUT * 3))
            finally:
                kaio._KsslSocket._kssl_defer = real_defer
            return got, expect, eof, deferred

        for mode in modes:
            with self.subTest(mode=mode), forced_path("kssl"):
                got, expect, eof, deferred = run(mode)
                self.assertGreater(len(expect), 0)
                self.assertEqual(len(got), len(expect))
                self.assertEqual(sha256(got), sha256(expect))
                self.assertEqual(deferred, ["close"])
                self.assertEqual(eof, "close_notify")

    def test_partial_offload(self):
        # One direction in the kernel, the other in OpenSSL (kssl_offload
        # "tx"/"rx"), and a TLS 1.2 CBC suite no kernel takes: the socket
        # runs the userspace direction through OpenSSL, and loop.sendfile()
        # uses os.sendfile() only when TX is kernel TLS.
        cases = {
            "tx": (dict(kssl_offload="tx"), "1.3", ("kernel", "user")),
            "rx": (dict(kssl_offload="rx"), "1.3", ("user", "kernel")),
            "cbc": (dict(ciphers="ECDHE-RSA-AES128-SHA256"), "1.2",
                    ("user", "user")),
        }
        for name, (settings, version, expect) in cases.items():
            with self.subTest(case=name), forced_path("kssl"):
                spy = SendfileSpy()
                ciphers = settings.get("ciphers")

                def configure(ctx):
                    pin(ctx, version)
                    if ciphers:
                        ctx.set_ciphers(ciphers)
                    if "kssl_offload" in settings and isinstance(ctx, kssl.SSLContext):
                        ctx.kssl_offload = settings["kssl_offload"]
                    return ctx

                async def main():
                    loop = asyncio.get_running_loop()
                    server, port = await self.start(
                        version, sctx=configure(server_ctx(kssl)))
                    async with server:
                        ours = await self.fetch(kaio.open_connection, port,
                                                configure(client_ctx(kssl)))
                        strict = await loop.run_in_executor(
                            None, blocking_client, port, version, self.data)
                    return ours, strict

                with spy.installed():
                    ours, strict = asyncio.run(
                        asyncio.wait_for(main(), TIMEOUT * 6))
                self.assertEqual(sha256(ours[0]), self.digest)
                self.assertEqual(ours[1]["kssl_eof"], "close_notify")
                self.assertEqual(strict, self.digest)
                if not KTLS:
                    expect = ("user", "user")
                for offload, transport, sent in self.seen:
                    self.assertEqual(sent, FILE_SIZE)
                    self.assertEqual((offload.tx, offload.rx), expect,
                                     offload)
                if name == "cbc":
                    self.assertEqual(self.seen[0][1].get_extra_info(
                        "cipher")[0], "ECDHE-RSA-AES128-SHA256")
                if expect[0] == "kernel":
                    self.assertEqual(spy.bytes, 2 * FILE_SIZE)
                else:
                    self.assertEqual(spy.calls, 0)

    def test_abort_sends_no_close_notify(self):
        # As asyncio's ssl transports: abort() is a truncation.
        async def handle(reader, writer):
            writer.write(b"partial")
            await writer.drain()
            writer.transport.abort()

        async def main():
            server = await kaio.start_server(handle, "127.0.0.1", 0,
                                             ssl=server_ctx(kssl))
            port = server.sockets[0].getsockname()[1]
            async with server:
                reader, writer = await kaio.open_connection(
                    "127.0.0.1", port, ssl=client_ctx(kssl),
                    server_hostname="localhost")
                sock = writer.transport._sock
                got = await reader.read()
                writer.close()
                await writer.wait_closed()
                return got, sock.kssl_eof
        with forced_path("kssl"):
            got, eof = asyncio.run(asyncio.wait_for(main(), TIMEOUT * 2))
        self.assertEqual(got, b"partial")
        self.assertEqual(eof, "ragged")

    def test_write_eof(self):
        # write_eof() with kernel TX: close_notify, then FIN, and nothing
        # else: input that arrived before it stays readable (the server's
        # greeting sits unread in the socket while reading is paused), and
        # the server still answers after reading the EOF. With userspace
        # TX there is no half-close (as asyncio's own ssl transports).
        data = payload(200000, seed=b"eof")

        class Answer(asyncio.Protocol):
            def connection_made(self, transport):
                self.transport, self.got = transport, bytearray()
                transport.write(b"hello;")

            def data_received(self, chunk):
                self.got += chunk

            def eof_received(self):
                eofs.append(self.transport._sock.kssl_eof)
                self.transport.write(sha256(self.got).encode())
                self.transport.close()
                return True

            def connection_lost(self, exc):
                served.set_result(None)

        class Ask(asyncio.Protocol):
            def __init__(self):
                self.got = bytearray()
                self.loop = asyncio.get_running_loop()
                self.done = self.loop.create_future()

            def connection_made(self, transport):
                self.can = transport.can_write_eof()
                if not self.can:
                    transport.close()
                    self.done.set_result(None)
                    return
                transport.pause_reading()
                transport.write(data)

                def half_close():
                    transport.write_eof()
                    transport.resume_reading()
                self.loop.call_later(0.5, half_close)

            def data_received(self, chunk):
                self.got += chunk

            def eof_received(self):
                self.done.set_result(bytes(self.got))

        async def main():
            nonlocal served
            loop = asyncio.get_running_loop()
            served = loop.create_future()
            server = await kaio.create_server(loop, Answer, "127.0.0.1", 0,
                                              ssl=server_ctx(kssl))
            port = server.sockets[0].getsockname()[1]
            async with server:
                transport, ask = await kaio.create_connection(
                    loop, Ask, "127.0.0.1", port, ssl=client_ctx(kssl),
                    server_hostname="localhost")
                try:
                    return await ask.done, ask.can
                finally:
                    transport.close()
                    await served
        eofs, served = [], None
        with forced_path("kssl"):
            answer, can = asyncio.run(asyncio.wait_for(main(), TIMEOUT * 2))
        self.assertEqual(can, KTLS)
        if KTLS:
            self.assertEqual(answer, b"hello;" + sha256(data).encode())
            self.assertEqual(eofs, ["close_notify"])

    def test_upload_and_echo(self):
        # Client TX / server RX through the kssl socket: the client sends,
        # the server answers with a digest.
        data = payload(1024 * 1024 + 7, seed=b"upload")

        async def handle(reader, writer):
            got = await reader.readexactly(len(data))
            writer.write(sha256(got).encode())
            await writer.drain()
            writer.close()

        async def main():
            server = await kaio.start_server(handle, "127.0.0.1", 0,
                                             ssl=server_ctx(kssl))
            port = server.sockets[0].getsockname()[1]
            async with server:
                reader, writer = await kaio.open_connection(
                    "127.0.0.1", port, ssl=client_ctx(kssl),
                    server_hostname="localhost")
                writer.write(data)
                await writer.drain()
                answer = await reader.read()
                writer.close()
                await writer.wait_closed()
                return answer
        with forced_path("kssl"):
            answer = asyncio.run(asyncio.wait_for(main(), TIMEOUT * 3))
        self.assertEqual(answer, sha256(data).encode())


class KsslAsyncioBehaviourTest(FileServerMixin, unittest.TestCase):

    def test_handshake_failure_keeps_serving(self):
        # A client that does not trust the server fails the handshake
        # with the stdlib's exception; the server serves the next one.
        async def main():
            server, port = await self.start("1.3")
            async with server:
                bad = kssl.create_default_context()  # system CAs only
                with self.assertRaises(ssl.SSLCertVerificationError):
                    await kaio.open_connection("127.0.0.1", port, ssl=bad,
                                               server_hostname="localhost")
                got, _ = await self.fetch(kaio.open_connection, port,
                                          client_ctx(kssl))
                return got
        for path in ("kssl", "stock"):
            with self.subTest(path=path), forced_path(path):
                got = asyncio.run(asyncio.wait_for(main(), TIMEOUT * 3))
                self.assertEqual(sha256(got), self.digest)

    def test_hostname_checked(self):
        async def main():
            server, port = await self.start("1.3")
            async with server:
                with self.assertRaises(ssl.SSLCertVerificationError):
                    await kaio.open_connection("127.0.0.1", port,
                                               ssl=client_ctx(kssl),
                                               server_hostname="wrong.example")
                with socket.socket() as s, self.assertRaises(ValueError):
                    await kaio.open_connection(sock=s, ssl=client_ctx(kssl))
        for path in ("kssl", "stock"):
            with self.subTest(path=path), forced_path(path):
                asyncio.run(asyncio.wait_for(main(), TIMEOUT * 2))

    def test_concurrent_clients(self):
        async def main():
            server, port = await self.start("1.3")
            async with server:
                results = await asyncio.gather(*[
                    self.fetch(kaio.open_connection, port, client_ctx(kssl))
                    for _ in range(4)])
            return [r[0] for r in results]
        for got in asyncio.run(asyncio.wait_for(main(), TIMEOUT * 6)):
            self.assertEqual(sha256(got), self.digest)

    def test_low_level_api_and_server_object(self):
        # create_server(loop, factory, sock=...) with a pre-made listening
        # socket, as an aiohttp-style server would use it.
        async def main():
            loop = asyncio.get_running_loop()

            class Proto(asyncio.Protocol):
                def connection_made(self, transport):
                    self.transport = transport
                    off = transport.get_extra_info("kssl_offload")
                    transport.write(repr(tuple(off[:2])).encode())
                    transport.close()

            ls = socket.create_server(("127.0.0.1", 0))
            port = ls.getsockname()[1]
            server = await kaio.create_server(loop, Proto, sock=ls,
                                              ssl=server_ctx(kssl))
            self.assertTrue(server.is_serving())
            self.assertIsInstance(server, asyncio.AbstractServer)
            async with server:
                reader, writer = await kaio.open_connection(
                    "127.0.0.1", port, ssl=client_ctx(kssl),
                    server_hostname="localhost")
                answer = await reader.read()
                writer.close()
                await writer.wait_closed()
            self.assertFalse(server.is_serving())
            self.assertEqual(ls.fileno(), -1)  # the server owned it
            return answer
        answer = asyncio.run(asyncio.wait_for(main(), TIMEOUT * 2))
        expect = "('kernel', 'kernel')" if KTLS else "('user', 'user')"
        self.assertEqual(answer.decode(), expect)

    def test_plain_ssl_context_uses_stock_path(self):
        # A stdlib ssl.SSLContext cannot be offloaded: stock transport.
        async def main():
            server, port = await self.start("1.3", sctx=server_ctx(ssl))
            async with server:
                got, info = await self.fetch(kaio.open_connection, port,
                                             client_ctx(ssl))
            return got, info
        got, info = asyncio.run(asyncio.wait_for(main(), TIMEOUT * 3))
        self.assertEqual(sha256(got), self.digest)
        offload = self.seen[0][0]
        self.assertEqual((offload.tx, offload.rx), ("user", "user"))
        self.assertIn("not a kssl.SSLContext", offload.tx_reason)
        self.assertIn("not a kssl.SSLContext", info["kssl_offload"].tx_reason)

    def test_argument_errors(self):
        async def main():
            loop = asyncio.get_running_loop()
            with self.assertRaises(TypeError):
                await kaio.start_server(lambda r, w: None, "127.0.0.1", 0,
                                        ssl=None)
            with self.assertRaises(ValueError):
                await kaio.start_server(lambda r, w: None, "127.0.0.1", 0,
                                        ssl=client_ctx(kssl))
            with self.assertRaises(ValueError):
                await kaio.create_server(loop, asyncio.Protocol,
                                         ssl=server_ctx(kssl))
            with self.assertRaises(ValueError):
                await kaio.open_connection("127.0.0.1", 1,
                                           ssl=server_ctx(kssl))
        asyncio.run(main())


if __name__ == "__main__":
    unittest.main()
