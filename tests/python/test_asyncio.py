"""asyncio's stock ssl= path accepts kssl contexts (stdlib SSLObject: no
offload there), both as server and as client."""
import asyncio
import ssl
import unittest

import kssl
from support import TIMEOUT, client_ctx, payload, server_ctx, sha256


class AsyncioStockPathTest(unittest.TestCase):

    def run_pair(self, sctx, cctx):
        data = payload(300000, seed=b"asyncio")

        async def handle(reader, writer):
            got = await reader.readexactly(len(data))
            writer.write(sha256(got).encode())
            await writer.drain()
            writer.close()
            await writer.wait_closed()

        async def main():
            server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=sctx)
            port = server.sockets[0].getsockname()[1]
            async with server:
                reader, writer = await asyncio.open_connection(
                    "127.0.0.1", port, ssl=cctx, server_hostname="localhost")
                sslobj = writer.get_extra_info("ssl_object")
                writer.write(data)
                await writer.drain()
                answer = await reader.read()
                writer.close()
                await writer.wait_closed()
                return answer, sslobj
        answer, sslobj = asyncio.run(asyncio.wait_for(main(), TIMEOUT))
        self.assertEqual(answer, sha256(data).encode())
        self.assertIsInstance(sslobj, ssl.SSLObject)

    def test_kssl_server_context(self):
        self.run_pair(server_ctx(kssl), client_ctx(ssl))

    def test_kssl_client_context(self):
        self.run_pair(server_ctx(ssl), client_ctx(kssl))

    def test_kssl_both(self):
        self.run_pair(server_ctx(kssl), client_ctx(kssl))


if __name__ == "__main__":
    unittest.main()
