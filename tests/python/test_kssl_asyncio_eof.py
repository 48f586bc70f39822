"""kssl.asyncio with userspace RX: the peer's last data and its
close_notify arriving together still end the stream. The peer is
asyncio's stock TLS server, which sends both in one flush and then waits
(up to its 30 s ssl_shutdown_timeout) for our close_notify: the
connection must end promptly on both sides (outcomes, not timings: each
wait has a generous guard)."""
import asyncio
import ssl
import unittest

import kssl
import kssl.asyncio as kaio
from support import TIMEOUT, cert, client_ctx, forced_path, payload

GUARD = 10.0  # far below the server's 30 s shutdown timeout


class LastDataWithCloseNotifyTest(unittest.TestCase):

    def run_case(self, size, offload):
        body = payload(size, seed=b"last-data")

        async def main():
            lost = asyncio.get_running_loop().create_future()

            async def handle(reader, writer):
                writer.write(body)
                writer.close()  # data + close_notify, then waits for ours
                try:
                    await writer.wait_closed()
                finally:
                    if not lost.done():
                        lost.set_result(True)

            sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            sctx.load_cert_chain(cert("server.pem"), cert("server.key"))
            server = await asyncio.start_server(handle, "127.0.0.1", 0,
                                                ssl=sctx)
            port = server.sockets[0].getsockname()[1]
            ctx = client_ctx(kssl)
            ctx.kssl_offload = offload
            async with server:
                reader, writer = await kaio.open_connection(
                    "127.0.0.1", port, ssl=ctx, server_hostname="localhost")
                got = await asyncio.wait_for(reader.read(), GUARD)
                writer.close()
                await asyncio.wait_for(writer.wait_closed(), GUARD)
                # The stock server's connection ended (our close_notify
                # reached it) well before its 30 s shutdown timeout.
                await asyncio.wait_for(lost, GUARD)
                return got, writer.get_extra_info("kssl_offload")

        with forced_path("kssl"):
            return body, asyncio.run(asyncio.wait_for(main(), TIMEOUT * 2))

    def test_small_and_large_responses(self):
        for size in (5, 1000, 100000):
            for offload in ("none", "tx"):  # userspace RX
                with self.subTest(size=size, offload=offload):
                    body, (got, off) = self.run_case(size, offload)
                    self.assertEqual(got, body)
                    self.assertEqual(off.rx, "user")


if __name__ == "__main__":
    unittest.main()
