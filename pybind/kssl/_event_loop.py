"""An asyncio event loop whose ssl= servers and connections use kssl.

    asyncio.set_event_loop_policy(kssl.asyncio.EventLoopPolicy())
    # or: asyncio.run(main(), loop_factory=...)  (3.12+)

On this loop, loop.create_server(..., ssl=ctx) and loop.create_connection(
..., ssl=ctx) with a kssl.SSLContext go through kssl.asyncio (handshake
with kssl, then a plain socket transport over kernel TLS where the kernel
can; asyncio's stock TLS transport where it cannot), so frameworks that
only ever call the loop's own API — asyncio.start_server/open_connection,
uvicorn, aiohttp's sites — get offloaded connections without knowing about
kssl. Any other ssl= value (a stdlib ssl.SSLContext, True) takes asyncio's
stock path unchanged.
"""
import asyncio

from ._context import SSLContext

__all__ = ["EventLoop", "EventLoopPolicy"]


class EventLoop(asyncio.SelectorEventLoop):
    """asyncio's selector loop, with kssl.SSLContext routed through kssl."""

    async def create_server(self, protocol_factory, host=None, port=None,
                            *, ssl=None, **kw):
        if not isinstance(ssl, SSLContext):
            return await super().create_server(protocol_factory, host, port,
                                               ssl=ssl, **kw)
        from . import asyncio as kasyncio
        return await kasyncio.create_server(self, protocol_factory, host,
                                            port, ssl=ssl, **kw)

    async def create_connection(self, protocol_factory, host=None, port=None,
                                *, ssl=None, **kw):
        if not isinstance(ssl, SSLContext):
            return await super().create_connection(protocol_factory, host,
                                                   port, ssl=ssl, **kw)
        # kssl tries the resolved addresses in order, without Happy Eyeballs.
        kw.pop("happy_eyeballs_delay", None)
        kw.pop("interleave", None)
        from . import asyncio as kasyncio
        return await kasyncio.create_connection(self, protocol_factory, host,
                                                port, ssl=ssl, **kw)


class EventLoopPolicy(asyncio.DefaultEventLoopPolicy):
    """The default policy, making kssl EventLoops."""

    _loop_factory = EventLoop
