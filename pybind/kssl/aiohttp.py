"""aiohttp applications served over kssl (kernel TLS, zero-copy files).

    from aiohttp import web
    import kssl, kssl.aiohttp

    ctx = kssl.create_default_context(kssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain("cert.pem", "key.pem")
    kssl.aiohttp.run_app(app, port=8443, ssl_context=ctx)

or, inside a program that manages its own runner:

    runner = web.AppRunner(app)
    await runner.setup()
    server = await kssl.aiohttp.start(runner, "0.0.0.0", 8443, ssl_context=ctx)
    ...
    await kssl.aiohttp.stop(runner, server)

Each connection does its handshake with kssl and reaches aiohttp as a plain
socket transport over kernel TLS, so web.FileResponse's loop.sendfile()
becomes os.sendfile(2) into the kernel. Only aiohttp's public API is used
(AppRunner.setup/server/cleanup); tested with Debian's python3-aiohttp 3.8.
"""
import asyncio

from . import asyncio as _kasyncio

__all__ = ["start", "stop", "run_app"]


async def start(runner, host=None, port=None, *, ssl_context, sock=None,
                backlog=128, reuse_address=None, reuse_port=None):
    """Serve runner's application over kssl TLS on host:port (or sock, a
    listening socket). runner must be set up. Returns the listening
    kssl.asyncio.Server; end with stop(runner, server)."""
    handler = runner.server
    if handler is None:
        raise RuntimeError("call 'await runner.setup()' before kssl.aiohttp.start()")
    return await _kasyncio.create_server(
        None, handler, host, port, ssl=ssl_context, sock=sock,
        backlog=backlog, reuse_address=reuse_address, reuse_port=reuse_port)


async def stop(runner, server, shutdown_timeout=60.0):
    """Stop serving as aiohttp's sites do: stop listening, run the app's
    on_shutdown, give open connections shutdown_timeout seconds, then
    runner.cleanup()."""
    server.close()
    await server.wait_closed()
    await runner.shutdown()
    if runner.server is not None:
        await runner.server.shutdown(shutdown_timeout)
    await runner.cleanup()


def run_app(app, *, host=None, port=8443, ssl_context, sock=None,
            backlog=128, shutdown_timeout=60.0, print=print,
            handle_signals=True):
    """As aiohttp.web.run_app(app, host=, port=, ssl_context=), serving over
    kssl: runs until SIGINT/SIGTERM, then shuts down gracefully."""
    from aiohttp import web

    async def main():
        runner = web.AppRunner(app, handle_signals=handle_signals)
        await runner.setup()
        server = await start(runner, host, port, ssl_context=ssl_context,
                             sock=sock, backlog=backlog)
        try:
            if print is not None:
                for s in server.sockets:
                    addr = s.getsockname()
                    print("======== Running on https://%s:%d (kssl) ========"
                          % (addr[0], addr[1]), flush=True)
            await asyncio.Event().wait()   # until a signal or cancellation
        finally:
            await stop(runner, server, shutdown_timeout)

    try:
        asyncio.run(main())
    except (web.GracefulExit, KeyboardInterrupt):
        pass
