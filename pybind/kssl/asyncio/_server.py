"""Servers: Server (asyncio.AbstractServer), create_server,
start_server."""
import asyncio
import errno
import logging
import os
import socket
import sys
import weakref

from . import _cpython
from ._path import choose_path
from ._connection import _DEFAULT_LIMIT, _build_native, _connect_sock, \
    _server_context

logger = logging.getLogger("kssl.asyncio")

_ACCEPT_RETRY_DELAY = 1.0         # asyncio's, after EMFILE and friends


class Server(asyncio.AbstractServer):
    """What create_server/start_server return: asyncio.Server's interface
    (close, wait_closed, serve_forever, start_serving, is_serving,
    sockets, get_loop, async with), plus close_clients/abort_clients."""

    def __init__(self, loop, sockets, protocol_factory, ctx, backlog,
                 handshake_timeout, shutdown_timeout):
        self._loop = loop
        self._sockets = sockets
        self._protocol_factory = protocol_factory
        self._ctx = ctx
        self._backlog = backlog
        self._handshake_timeout = handshake_timeout
        self._shutdown_timeout = shutdown_timeout
        self._serving = False
        self._serving_forever_fut = None
        self._accepting = []
        self._connecting = set()
        self._clients = weakref.WeakSet()
        self._closed = loop.create_future()

    def __repr__(self):
        return "<%s sockets=%r>" % (type(self).__name__, self.sockets)

    @property
    def sockets(self):
        if self._sockets is None:
            return ()
        if not _cpython.HAS_TRANSPORT_SOCKET:
            return tuple(self._sockets)
        return tuple(_cpython.transport_socket(s) for s in self._sockets)

    def get_loop(self):
        return self._loop

    def is_serving(self):
        return self._serving

    def _start_serving(self):
        if self._serving or self._sockets is None:
            return
        self._serving = True
        for sock in self._sockets:
            sock.listen(self._backlog)
            self._accepting.append(
                self._loop.create_task(self._accept_loop(sock)))

    async def start_serving(self):
        self._start_serving()
        await asyncio.sleep(0)

    async def serve_forever(self):
        if self._serving_forever_fut is not None:
            raise RuntimeError("server %r is already being awaited on "
                               "serve_forever()" % (self,))
        if self._sockets is None:
            raise RuntimeError("server %r is closed" % (self,))
        self._start_serving()
        self._serving_forever_fut = self._loop.create_future()
        try:
            await self._serving_forever_fut
        except asyncio.CancelledError:
            try:
                self.close()
                await self.wait_closed()
            finally:
                raise
        finally:
            self._serving_forever_fut = None

    def close(self):
        sockets = self._sockets
        if sockets is None:
            return
        self._sockets = None
        self._serving = False
        for task in self._accepting:
            task.cancel()
        for task in list(self._connecting):
            task.cancel()
        for sock in sockets:
            if sock.fileno() >= 0:
                self._loop.remove_reader(sock.fileno())
            sock.close()
        if (self._serving_forever_fut is not None
                and not self._serving_forever_fut.done()):
            self._serving_forever_fut.cancel()
            self._serving_forever_fut = None
        if not self._closed.done():
            self._closed.set_result(None)

    async def wait_closed(self):
        """Wait until close() was called and the accept loops and the
        handshakes in progress have ended (established connections live
        on, as with asyncio.Server in 3.11; see close_clients)."""
        await asyncio.shield(self._closed)
        pending = self._accepting + list(self._connecting)
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    def close_clients(self):
        for transport in list(self._clients):
            transport.close()

    def abort_clients(self):
        for transport in list(self._clients):
            transport.abort()

    async def _accept_loop(self, sock):
        loop = self._loop
        while True:
            try:
                conn, addr = await loop.sock_accept(sock)
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                continue
            except OSError as exc:
                if self._sockets is None:
                    return
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS,
                                 errno.ENOMEM):
                    loop.call_exception_handler({
                        "message": "kssl.asyncio: socket.accept() out of "
                                   "system resource",
                        "exception": exc,
                        "socket": sock,
                    })
                    await asyncio.sleep(_ACCEPT_RETRY_DELAY)
                    continue
                raise
            task = loop.create_task(self._connect(conn, addr))
            self._connecting.add(task)
            task.add_done_callback(self._connecting.discard)

    async def _connect(self, conn, addr):
        try:
            transport, _ = await _connect_sock(
                self._loop, self._protocol_factory, conn, self._ctx, True,
                None, self._handshake_timeout, self._shutdown_timeout,
                prebuilt=True)
        except asyncio.CancelledError:
            conn.close()
            raise
        except OSError as exc:  # ssl.SSLError, resets, handshake timeout
            if self._loop.get_debug():
                logger.debug("kssl.asyncio: TLS connection from %r failed: "
                             "%s", addr, exc)
            conn.close()
            return
        except Exception as exc:
            conn.close()
            self._loop.call_exception_handler({
                "message": "kssl.asyncio: setting up a TLS connection "
                           "from %r failed" % (addr,),
                "exception": exc,
            })
            return
        self._clients.add(transport)


def _hosts(host):
    if host is None or host == "":
        return [None]
    if isinstance(host, str):
        return [host]
    return list(host)


async def create_server(loop, protocol_factory, host=None, port=None, *,
                        ssl, family=socket.AF_UNSPEC,
                        flags=socket.AI_PASSIVE, sock=None, backlog=100,
                        reuse_address=None, reuse_port=None,
                        ssl_handshake_timeout=None,
                        ssl_shutdown_timeout=None, start_serving=True):
    """As loop.create_server(protocol_factory, host, port, ssl=ssl, ...),
    over kernel TLS where possible: each accepted connection does its
    handshake with kssl, then protocol_factory() gets a plain socket
    transport (or asyncio's stock ssl transport where kTLS is missing).
    sock: an existing listening (or bound) socket instead of host/port; the
    server owns it. loop None = the running loop. Returns a Server."""
    loop = loop or asyncio.get_running_loop()
    ctx = _server_context(ssl)
    if host is not None or port is not None:
        if sock is not None:
            raise ValueError("host/port and sock can not be specified at "
                             "the same time")
        if reuse_address is None:
            reuse_address = os.name == "posix" and sys.platform != "cygwin"
        infos = []
        for h in _hosts(host):
            for info in await loop.getaddrinfo(h, port, family=family,
                                               type=socket.SOCK_STREAM,
                                               flags=flags):
                if info not in infos:
                    infos.append(info)
        sockets = []
        try:
            for af, socktype, proto, _, address in infos:
                try:
                    s = socket.socket(af, socktype, proto)
                except OSError:
                    continue  # a family this host does not have
                sockets.append(s)
                if reuse_address:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if reuse_port:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                if af == getattr(socket, "AF_INET6", None):
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                try:
                    s.bind(address)
                except OSError as err:
                    raise OSError(err.errno, "error while attempting to bind "
                                  "on address %r: %s" % (
                                      address, (err.strerror or "").lower())
                                  ) from None
        except BaseException:
            for s in sockets:
                s.close()
            raise
        if not sockets:
            raise OSError("no address to listen on for %r" % (host,))
    else:
        if sock is None:
            raise ValueError("Neither host/port nor sock were specified")
        if sock.type != socket.SOCK_STREAM:
            raise ValueError("A Stream Socket was expected, got %r" % (sock,))
        sockets = [sock]
    for s in sockets:
        s.setblocking(False)
    if choose_path(loop, ctx)[0]:
        try:
            await _build_native(loop, ctx, True)
        except BaseException:
            for s in sockets:
                s.close()
            raise
    server = Server(loop, sockets, protocol_factory, ctx, backlog,
                    ssl_handshake_timeout, ssl_shutdown_timeout)
    if start_serving:
        server._start_serving()
        await asyncio.sleep(0)
    return server


async def start_server(client_connected_cb, host=None, port=None, *, ssl,
                       limit=_DEFAULT_LIMIT, **kwds):
    """As asyncio.start_server(client_connected_cb, host, port, ssl=ssl,
    ...), over kernel TLS where possible. The callback gets (reader,
    writer); writer.get_extra_info("kssl_offload") says where the records
    are, loop.sendfile(writer.transport, file) is os.sendfile(2) when TX is
    kernel TLS. Returns a Server."""
    loop = asyncio.get_running_loop()

    def factory():
        reader = asyncio.StreamReader(limit=limit, loop=loop)
        return asyncio.StreamReaderProtocol(reader, client_connected_cb,
                                            loop=loop)
    return await create_server(loop, factory, host, port, ssl=ssl, **kwds)
