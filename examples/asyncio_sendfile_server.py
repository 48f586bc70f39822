#!/usr/bin/python3
"""An asyncio HTTPS file server: kssl.asyncio + loop.sendfile().

    PYTHONPATH=build/python python3 examples/asyncio_sendfile_server.py \
        --cert server.pem --key server.key --port 8443 DIRECTORY

kssl does each TLS handshake, then asyncio gets a plain socket transport:
where the kernel has TLS (kTLS), loop.sendfile() is os.sendfile(2) and the
file bytes never enter this process. Elsewhere the connection runs on
asyncio's stock ssl transport (sendfile falls back to read+write); the log
line says which, per request.
"""
import argparse
import asyncio
import os

import kssl
import kssl.asyncio


async def handle(reader, writer, root):
    try:
        method, target, _ = (await reader.readline()).decode("latin-1").split()
        while (await reader.readline()).strip():
            pass  # skip the request headers
        path = os.path.realpath(os.path.join(root, target.lstrip("/")))
        if method != "GET" or not path.startswith(root + os.sep):
            raise FileNotFoundError
        f = open(path, "rb")
    except (ValueError, OSError):
        writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
                     b"Connection: close\r\n\r\n")
    else:
        with f:
            size = os.fstat(f.fileno()).st_size
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n"
                         b"Connection: close\r\n\r\n" % size)
            await asyncio.get_running_loop().sendfile(writer.transport, f)
        off = writer.get_extra_info("kssl_offload")
        why = "" if off.tx == "kernel" else " (%s)" % off.tx_reason
        print("GET %s %d bytes, tx=%s%s" % (target, size, off.tx, why),
              flush=True)
    writer.close()  # sends close_notify, also on kernel TLS


async def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("directory")
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8443)
    a = p.parse_args()
    ctx = kssl.create_default_context(kssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(a.cert, a.key)
    root = os.path.realpath(a.directory)
    server = await kssl.asyncio.start_server(
        lambda r, w: handle(r, w, root), a.host, a.port, ssl=ctx)
    print("kernel TLS:", kssl.probe()["tls_ulp"])
    print("serving https://%s:%d/" % (a.host, a.port), flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
