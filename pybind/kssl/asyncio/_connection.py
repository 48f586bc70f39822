"""One connection: the kssl handshake on the socket and the transport
asyncio gets (or asyncio's stock ssl transport); the client helpers."""
import asyncio
import socket
import ssl as _ssl
import weakref

from .._socket import Offload
from . import _cpython
from ._path import choose_path
from ._socket import _KsslSocket

_DEFAULT_LIMIT = 2 ** 16          # asyncio.streams' default


def _set_done(fut):
    if not fut.done():
        fut.set_result(None)


async def _wait_fd(loop, fd, write):
    fut = loop.create_future()
    if write:
        loop.add_writer(fd, _set_done, fut)
    else:
        loop.add_reader(fd, _set_done, fut)
    try:
        await fut
    finally:
        if write:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)


async def _handshake(loop, sock, obj, timeout):
    fd = sock.fileno()

    async def run():
        while True:
            try:
                obj.do_handshake()
                return
            except _ssl.SSLWantReadError:
                await _wait_fd(loop, fd, False)
            except _ssl.SSLWantWriteError:
                await _wait_fd(loop, fd, True)
    try:
        await asyncio.wait_for(run(), timeout)
    except asyncio.TimeoutError:
        # What asyncio's stock path raises.
        raise ConnectionAbortedError(
            "SSL handshake is taking longer than %s seconds: aborting the "
            "connection" % timeout) from None


def _user_offload(reason):
    return Offload("user", "user", reason, reason)


class _LiveExtra(dict):
    """Transport extras whose "kssl_offload" is read when asked: a TLS 1.3
    client's RX moves to the kernel only after the server's session
    tickets, i.e. after the handshake-time snapshot."""

    def get(self, key, default=None):
        obj = dict.get(self, "ssl_object")
        if key == "kssl_offload" and obj is not None:
            return obj.offload()
        return dict.get(self, key, default)


def _timeouts(handshake, shutdown):
    kw = {}
    if handshake is not None:
        kw["ssl_handshake_timeout"] = handshake
    if shutdown is not None:
        kw["ssl_shutdown_timeout"] = shutdown
    return kw


async def _stock(loop, protocol_factory, sock, ctx, server_side,
                 server_hostname, handshake_timeout, shutdown_timeout,
                 reason):
    """asyncio's own ssl= transport, plus the kssl_offload extra."""
    kw = _timeouts(handshake_timeout, shutdown_timeout)
    make = _cpython.ssl_transport_maker(loop)
    if make is None:
        # Another loop (uvloop, ...): its public API, without the extra.
        if server_side:
            return await loop.connect_accepted_socket(
                protocol_factory, sock, ssl=ctx, **kw)
        return await loop.create_connection(
            protocol_factory, sock=sock, ssl=ctx,
            server_hostname=server_hostname or "", **kw)
    protocol = protocol_factory()
    waiter = loop.create_future()
    # Same as loop.connect_accepted_socket(ssl=) / create_connection(sock=,
    # ssl=), with one more extra: unknown keys on the ssl transport fall
    # through to the socket transport's extras.
    transport = make(sock, protocol, ctx, waiter, server_side=server_side,
                     server_hostname=None if server_side else server_hostname,
                     extra={"kssl_offload": _user_offload(reason)}, **kw)
    try:
        await waiter
    except BaseException:
        transport.close()
        raise
    return transport, protocol


async def _build_native(loop, ctx, server_side):
    # The libkssl context is built lazily at the first wrap; for a client
    # that loads the system CA store (tens of ms): not on the event loop.
    build = getattr(ctx, "_kssl_native", None)
    if build is not None:
        await loop.run_in_executor(None, build, server_side)


async def _kernel(loop, protocol_factory, sock, ctx, server_side,
                  server_hostname, handshake_timeout, shutdown_timeout,
                  prebuilt):
    """kssl handshake on the socket, then a plain socket transport."""
    if not prebuilt:
        try:
            await _build_native(loop, ctx, server_side)
        except BaseException:
            sock.close()
            raise
    ks = _KsslSocket(sock.family, sock.type, sock.proto, fileno=sock.detach())
    try:
        ks.setblocking(False)
        obj = ctx._wrap_socket(ks, server_side,
                               None if server_side else server_hostname)
        ks._kssl_attach(obj, loop, shutdown_timeout)
        await _handshake(loop, ks, obj,
                         _cpython.SSL_HANDSHAKE_TIMEOUT
                         if handshake_timeout is None else handshake_timeout)
        offload = obj.offload()
        ks._kssl_handshake_done(offload)
        try:
            peercert = obj.getpeercert()
        except (ValueError, _ssl.SSLError):
            peercert = None
        extra = _LiveExtra({
            "kssl_offload": offload,
            "sslcontext": ctx,
            "ssl_object": obj,
            "peercert": peercert,
            "cipher": obj.cipher(),
            "compression": obj.compression(),
        })
        protocol = protocol_factory()
        waiter = loop.create_future()
        transport = _cpython.make_socket_transport(loop, ks, protocol,
                                                   waiter, extra)
    except BaseException:
        ks.close()
        raise
    if offload.tx != "kernel":
        # os.sendfile() would put plaintext on the wire: make asyncio use
        # its read + transport.write() fallback (through OpenSSL).
        _cpython.use_sendfile_fallback(transport)
        # close_notify through OpenSSL also drops unread input, which a
        # half-close must not: no write_eof() there (as asyncio's own ssl
        # transports).
        transport.can_write_eof = _no
    ks._kssl_transport = weakref.ref(transport)
    _mark_abort(transport, ks)
    try:
        await waiter
    except BaseException:
        transport.close()
        raise
    ks._kssl_after_user_read()
    return transport, protocol


def _no():
    return False


def _mark_abort(transport, sock):
    # The socket cannot tell abort() from close() (both end in
    # sock.close()), so the transport's abort tells it first.
    abort = transport.abort

    def kssl_abort():
        sock._kssl_aborted = True
        abort()
    transport.abort = kssl_abort


async def _connect_sock(loop, protocol_factory, sock, ctx, server_side,
                        server_hostname, handshake_timeout, shutdown_timeout,
                        prebuilt=False):
    if sock.type != socket.SOCK_STREAM:
        raise ValueError("A Stream Socket was expected, got %r" % (sock,))
    if not server_side and ctx.check_hostname and not server_hostname:
        sock.close()
        raise ValueError("check_hostname requires server_hostname")
    sock.setblocking(False)
    use_kssl, reason = choose_path(loop, ctx)
    if not use_kssl:
        return await _stock(loop, protocol_factory, sock, ctx, server_side,
                            server_hostname, handshake_timeout,
                            shutdown_timeout, reason)
    return await _kernel(loop, protocol_factory, sock, ctx, server_side,
                         server_hostname, handshake_timeout, shutdown_timeout,
                         prebuilt)


def _check_tcp(ctx):
    if getattr(ctx, "_dtls", False):
        raise ValueError("a DTLS context cannot secure a TCP stream")


def _server_context(ctx):
    if not isinstance(ctx, _ssl.SSLContext):
        raise TypeError("ssl argument must be an SSLContext, got %r" % (ctx,))
    _check_tcp(ctx)
    if ctx.protocol == _ssl.PROTOCOL_TLS_CLIENT:
        raise ValueError("ssl is a PROTOCOL_TLS_CLIENT context; a server "
                         "needs a server context")
    return ctx


def _client_context(ctx):
    if ctx is True:
        from .. import create_default_context
        return create_default_context()
    if not isinstance(ctx, _ssl.SSLContext):
        raise TypeError("ssl argument must be an SSLContext or True, got %r"
                        % (ctx,))
    _check_tcp(ctx)
    if ctx.protocol == _ssl.PROTOCOL_TLS_SERVER:
        raise ValueError("ssl is a PROTOCOL_TLS_SERVER context; a client "
                         "needs a client context")
    return ctx


async def connect_accepted_socket(loop, protocol_factory, sock, *, ssl,
                                  ssl_handshake_timeout=None,
                                  ssl_shutdown_timeout=None):
    """As loop.connect_accepted_socket(protocol_factory, sock, ssl=ssl),
    over kernel TLS where possible. Returns (transport, protocol); the
    socket belongs to the transport from now on."""
    loop = loop or asyncio.get_running_loop()
    return await _connect_sock(loop, protocol_factory, sock,
                               _server_context(ssl), True, None,
                               ssl_handshake_timeout, ssl_shutdown_timeout)


# -- clients -------------------------------------------------------------------

async def _open_tcp(loop, host, port, family, proto, flags, local_addr):
    infos = await loop.getaddrinfo(host, port, family=family,
                                   type=socket.SOCK_STREAM, proto=proto,
                                   flags=flags)
    if not infos:
        raise OSError("getaddrinfo() returned empty list")
    errors = []
    for fam, type_, pro, _, address in infos:
        sock = socket.socket(fam, type_, pro)
        try:
            sock.setblocking(False)
            if local_addr is not None:
                sock.bind(local_addr)
            await loop.sock_connect(sock, address)
            return sock
        except OSError as exc:
            errors.append(exc)
            sock.close()
        except BaseException:
            sock.close()
            raise
    if len(errors) == 1 or len({str(e) for e in errors}) == 1:
        raise errors[0]
    raise OSError("Multiple exceptions: %s" % ", ".join(map(str, errors)))


async def create_connection(loop, protocol_factory, host=None, port=None, *,
                            ssl=True, server_hostname=None, sock=None,
                            family=0, proto=0, flags=0, local_addr=None,
                            ssl_handshake_timeout=None,
                            ssl_shutdown_timeout=None):
    """As loop.create_connection(protocol_factory, host, port, ssl=ssl,
    ...), over kernel TLS where possible. loop None = the running loop.
    ssl: a (kssl.)SSLContext, or True for kssl.create_default_context().
    Returns (transport, protocol)."""
    loop = loop or asyncio.get_running_loop()
    ctx = _client_context(ssl)
    if server_hostname is None:
        if not host:
            raise ValueError("You must set server_hostname when using ssl "
                             "without a host")
        server_hostname = host
    if sock is not None:
        if host is not None or port is not None or family or proto \
                or flags or local_addr is not None:
            raise ValueError("host/port and sock can not be specified at "
                             "the same time")
    else:
        if host is None and port is None:
            raise ValueError("host and port was not specified and no sock "
                             "specified")
        sock = await _open_tcp(loop, host, port, family, proto, flags,
                               local_addr)
    return await _connect_sock(loop, protocol_factory, sock, ctx, False,
                               server_hostname or None,
                               ssl_handshake_timeout, ssl_shutdown_timeout)


async def open_connection(host=None, port=None, *, ssl=True,
                          limit=_DEFAULT_LIMIT, **kwds):
    """As asyncio.open_connection(host, port, ssl=ssl, ...), over kernel
    TLS where possible: returns (StreamReader, StreamWriter)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=limit, loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    transport, _ = await create_connection(loop, lambda: protocol, host, port,
                                           ssl=ssl, **kwds)
    writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    return reader, writer
