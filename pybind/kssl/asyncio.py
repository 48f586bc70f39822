"""kssl.asyncio: TLS connections that asyncio sees as plain TCP transports.

asyncio's stock TLS path (``ssl=`` on create_server/open_connection/
start_tls) runs TLS in userspace through ``SSLContext.wrap_bio``; with a
kssl context it works, but nothing reaches the kernel, and loop.sendfile()
on such a transport falls back to read()+write().

The helpers here do the handshake with kssl on the TCP socket itself
(non-blocking, driven by the event loop), and then hand asyncio an ordinary
socket transport over that socket. Once both record directions are kernel
TLS, the socket *is* a plain socket for the kernel: transport.write() is
send(2) and loop.sendfile(transport, file) is os.sendfile(2), with the
kernel encrypting.

    server = await kssl.asyncio.start_server(handle, host, port, ssl=ctx)
    reader, writer = await kssl.asyncio.open_connection(host, port, ssl=ctx)
    writer.get_extra_info("kssl_offload")   # kssl.Offload(tx=..., rx=...)

What asyncio gets, per connection:

- kssl path (the kernel offers the "tls" ULP, the context is a
  kssl.SSLContext with kssl_offload != "none", the loop is a selector
  loop): a plain _SelectorSocketTransport on a socket subclass whose
  recv()/send() go through the libkssl connection. With kernel RX that
  is recvmsg(2) plus the handling of TLS control records (close_notify,
  alerts, TLS 1.3 session tickets, KeyUpdate refusal) that a bare recv()
  cannot do (the kernel fails it with EIO); with kernel TX it is send(2).
  close() (and write_eof(), with kernel TX) send close_notify first,
  which the kernel never does by itself; abort() does not. If libkssl
  kept a direction in userspace (a cipher the kernel lacks, ...), the
  same socket runs it through OpenSSL and
  loop.sendfile() is switched to asyncio's read+write fallback, so no
  plaintext can reach the wire.
- otherwise (no kTLS in this kernel, a plain ssl.SSLContext, another
  event loop): asyncio's stock ssl= transport for that connection, so the
  same application code runs everywhere. get_extra_info("kssl_offload")
  then says "user" both ways and why.

Extra info on both paths: "kssl_offload", "sslcontext", "ssl_object",
"peercert", "cipher", "compression", "socket", "sockname", "peername".
"""
import asyncio
import errno
import logging
import os
import socket
import ssl as _ssl
import sys
import weakref

from asyncio import constants as _aconst
from asyncio import selector_events as _selector_events

from . import _kssl
from ._context import SSLContext
from ._socket import Offload

try:
    from asyncio import trsock as _trsock
except ImportError:  # pragma: no cover - Python < 3.8
    _trsock = None

__all__ = ["start_server", "open_connection", "create_server",
           "create_connection", "connect_accepted_socket", "Server"]

logger = logging.getLogger(__name__)

_DEFAULT_LIMIT = 2 ** 16          # asyncio.streams' default
_MAX_RECORD = 16384               # largest TLS plaintext record
_KICK_DELAY = 0.05                # see _KsslSocket._kssl_kick
_ACCEPT_RETRY_DELAY = 1.0         # asyncio's, after EMFILE and friends
# Linux <linux/tls.h>, <bits/socket.h>: a record of another content type
# is sent by sendmsg() with this cmsg (as libkssl's ktls_send_record).
_SOL_TLS = getattr(socket, "SOL_TLS", 282)
_TLS_SET_RECORD_TYPE = getattr(socket, "TLS_SET_RECORD_TYPE", 1)
_CLOSE_NOTIFY = ([b"\x01\x00"],                  # warning, close_notify
                 [(_SOL_TLS, _TLS_SET_RECORD_TYPE, b"\x15")])  # alert

# Tests set this to "kssl" or "stock" to force a path on any kernel.
_path_override = None

_kernel_tls = None


def _kernel_has_tls():
    global _kernel_tls
    if _kernel_tls is None:
        _kernel_tls = bool(_kssl.kernel_has_tls())
    return _kernel_tls


def _choose_path(loop, ctx):
    """(True, None) for the kssl path, or (False, why not)."""
    if not isinstance(ctx, SSLContext):
        return False, "not a kssl.SSLContext: asyncio's stock ssl transport"
    if _path_override is not None:
        return _path_override == "kssl", "forced stock path (tests)"
    if not isinstance(loop, _selector_events.BaseSelectorEventLoop):
        return False, ("%s is not a selector event loop: asyncio's stock "
                       "ssl transport" % type(loop).__name__)
    if ctx.kssl_offload == "none":
        return False, "kssl_offload is 'none': asyncio's stock ssl transport"
    if not _kernel_has_tls():
        return False, ("kernel has no tls ULP (CONFIG_TLS): asyncio's stock "
                       "ssl transport")
    return True, None


def _would_block():
    return BlockingIOError(errno.EAGAIN, os.strerror(errno.EAGAIN))


class _KsslSocket(socket.socket):
    """A TCP socket carrying a libkssl connection (internal).

    asyncio's socket transport calls recv()/recv_into()/send() (and
    shutdown()/close()) on it; they go through the libkssl connection, so
    the records are the kernel's where it took a direction and OpenSSL's
    where it did not. Everything that could move plaintext past libkssl is
    overridden or refused.
    """

    _kssl_obj = None

    def _kssl_attach(self, obj, loop, shutdown_timeout):
        self._kssl_obj = obj
        self._kssl_loop = loop
        self._kssl_shutdown_timeout = (
            _aconst.SSL_SHUTDOWN_TIMEOUT if shutdown_timeout is None
            else shutdown_timeout)
        self._kssl_tx_kernel = False
        self._kssl_rx_kernel = False
        self._kssl_eof = None            # "close_notify" | "ragged"
        self._kssl_failed = False        # a TLS/socket error was raised
        self._kssl_notified = False      # our close_notify is out
        self._kssl_aborted = False       # transport.abort(): no goodbye
        self._kssl_deferred = None       # [actions] waiting for POLLOUT
        self._kssl_timer = None
        self._kssl_transport = None      # weakref, for _kssl_kick
        self._kssl_kick_handle = None
        # A bare TCP FIN must raise SSLEOFError (not read as b"") so that
        # kssl_eof can tell it from close_notify; recv maps both to b"".
        obj._ignore_eof = 0

    def _kssl_handshake_done(self, offload):
        self._kssl_tx_kernel = offload.tx == "kernel"
        self._kssl_rx_kernel = offload.rx == "kernel"

    @property
    def kssl_eof(self):
        """How the peer ended: None (not yet), "close_notify", "ragged"."""
        return self._kssl_eof

    # -- reading ---------------------------------------------------------

    @staticmethod
    def _check_flags(flags, name):
        if flags:
            raise ValueError("non-zero flags not allowed in calls to %s() "
                             "on a kssl socket" % name)

    def _kssl_read(self, n, buf=None):
        """One libkssl read: data (or a count), empty at EOF, None if it
        would block."""
        obj = self._kssl_obj
        if obj is None:
            raise OSError(errno.EBADF, "kssl socket is closed")
        try:
            r = obj.read(n) if buf is None else obj.read(n, buf)
        except (_ssl.SSLWantReadError, _ssl.SSLWantWriteError):
            return None
        except _ssl.SSLEOFError:
            self._kssl_eof = "ragged"
            self._kssl_failed = True
            return b"" if buf is None else 0
        except OSError:
            self._kssl_failed = True
            raise
        if not r:
            self._kssl_eof = self._kssl_eof or "close_notify"
        return r

    def _kssl_sizes(self, want, got):
        """Next read size, or 0 to stop. With userspace RX, OpenSSL keeps
        the rest of a record it could not hand out; the selector cannot
        see that, so only read less than a record when nothing else was
        read (and then _kssl_kick takes over)."""
        pending = self._kssl_obj.pending()
        if pending:
            return min(want, pending)
        if got and want < _MAX_RECORD:
            return 0
        return want

    def recv(self, bufsize, flags=0):
        self._check_flags(flags, "recv")
        if bufsize < 0:
            raise ValueError("negative buffersize in recv")
        if self._kssl_eof or bufsize == 0:
            return b""
        if self._kssl_rx_kernel:
            data = self._kssl_read(bufsize)
            if data is None:
                raise _would_block()
            return data
        chunks, got = [], 0
        while got < bufsize:
            n = self._kssl_sizes(bufsize - got, got)
            if not n:
                break
            data = self._kssl_read(n)
            if not data:
                break
            chunks.append(data)
            got += len(data)
        self._kssl_after_user_read()
        if not chunks:
            if self._kssl_eof:
                return b""
            raise _would_block()
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def recv_into(self, buffer, nbytes=0, flags=0):
        self._check_flags(flags, "recv_into")
        view = memoryview(buffer).cast("B")
        if nbytes < 0:
            raise ValueError("negative buffersize in recv_into")
        if nbytes == 0 or nbytes > len(view):
            nbytes = len(view)
        if self._kssl_eof or nbytes == 0:
            return 0
        if self._kssl_rx_kernel:
            n = self._kssl_read(nbytes, view[:nbytes])
            if n is None:
                raise _would_block()
            return n
        got = 0
        while got < nbytes:
            n = self._kssl_sizes(nbytes - got, got)
            if not n:
                break
            r = self._kssl_read(n, view[got:got + n])
            if not r:
                break
            got += r
        self._kssl_after_user_read()
        if not got and not self._kssl_eof:
            raise _would_block()
        return got

    def _kssl_after_user_read(self):
        obj = self._kssl_obj
        if (obj is not None and self._kssl_kick_handle is None
                and not self._kssl_eof and obj.pending()):
            self._kssl_kick_handle = self._kssl_loop.call_soon(self._kssl_kick)

    def _kssl_kick(self):
        # OpenSSL holds plaintext the selector cannot signal: run the
        # transport's read callback as if the fd were readable. While the
        # transport is paused, look again a little later.
        self._kssl_kick_handle = None
        obj = self._kssl_obj
        tr = self._kssl_transport() if self._kssl_transport else None
        if obj is None or tr is None or tr.is_closing() or not obj.pending():
            return
        if tr.is_reading() and hasattr(tr, "_read_ready"):
            tr._read_ready()
        else:
            self._kssl_kick_handle = self._kssl_loop.call_later(
                _KICK_DELAY, self._kssl_kick)

    # -- writing ---------------------------------------------------------

    def send(self, data, flags=0):
        self._check_flags(flags, "send")
        obj = self._kssl_obj
        if obj is None:
            raise OSError(errno.EBADF, "kssl socket is closed")
        try:
            n = obj.write(data)
        except (_ssl.SSLWantWriteError, _ssl.SSLWantReadError):
            raise _would_block() from None
        except OSError:
            self._kssl_failed = True
            raise
        if n == 0 and len(memoryview(data)):
            # libkssl with userspace TX: a write that fails after the
            # peer's close_notify comes back as 0 bytes (OpenSSL calls it
            # SSL_ERROR_ZERO_RETURN). Retrying would spin: fail as the
            # stdlib does for that case.
            self._kssl_failed = True
            raise _ssl.SSLZeroReturnError(
                _ssl.SSL_ERROR_ZERO_RETURN,
                "TLS/SSL connection has been closed (EOF)")
        return n

    def sendall(self, data, flags=0):
        view = memoryview(data).cast("B")
        while view:
            n = self.send(view, flags)
            view = view[n:]

    def sendmsg(self, buffers, ancdata=(), flags=0, address=None):
        # Python >= 3.12 asyncio writes its buffer with sendmsg().
        if ancdata or address is not None:
            raise NotImplementedError("sendmsg with ancillary data or an "
                                      "address on a kssl socket")
        return self.send(b"".join(bytes(memoryview(b).cast("B"))
                                  for b in buffers), flags)

    def sendfile(self, file, offset=0, count=None):
        if self._kssl_tx_kernel:
            return super().sendfile(file, offset, count)
        return self._sendfile_use_send(file, offset, count)

    def _refused(self, *args, **kwargs):
        raise NotImplementedError("not available on a kssl socket (it "
                                  "would bypass TLS)")

    sendto = recvfrom = recvfrom_into = recvmsg = recvmsg_into = _refused

    def dup(self):
        raise NotImplementedError("a kssl socket cannot be duplicated")

    # -- ending ------------------------------------------------------------

    def _kssl_alert_kernel(self):
        socket.socket.sendmsg(self, *_CLOSE_NOTIFY)

    def _kssl_close_notify(self):
        """Send close_notify once. False if the socket buffer is full."""
        if self._kssl_notified or self._kssl_obj is None:
            return True
        if self._kssl_failed:
            # libkssl already failed the connection (and told the peer
            # with a fatal alert where it could): nothing more to say.
            self._kssl_notified = True
            return True
        if self._kssl_tx_kernel:
            # The alert record, straight through kernel TLS. Only that:
            # reads stay with the application (write_eof() is a
            # half-close, and close() must not wait for the peer).
            try:
                self._kssl_alert_kernel()
            except (BlockingIOError, InterruptedError):
                return False
            except OSError as exc:
                logger.debug("kssl.asyncio: no close_notify sent: %s", exc)
        else:
            # Userspace TX: only OpenSSL can write the record. The
            # binding's shutdown() sends close_notify, then reads (and
            # drops) what has arrived until the peer's close_notify,
            # stopping at SSLWantReadError (non-blocking).
            try:
                self._kssl_obj.shutdown()
            except _ssl.SSLWantWriteError:
                return False
            except _ssl.SSLWantReadError:
                pass
            except (_ssl.SSLError, OSError, ValueError) as exc:
                # Failed connection or handshake never done.
                logger.debug("kssl.asyncio: no close_notify sent: %s", exc)
        self._kssl_notified = True
        return True

    def _kssl_defer(self, action):
        """Wait (without blocking the loop) until close_notify fits into
        the socket buffer, then do `action`. False if there is no loop."""
        if self._kssl_deferred is not None:
            self._kssl_deferred.append(action)
            return True
        loop = getattr(self, "_kssl_loop", None)
        if loop is None or loop.is_closed():
            return False
        try:
            if asyncio.get_running_loop() is not loop:
                return False
        except RuntimeError:
            return False
        self._kssl_deferred = [action]
        # The private variant: during write_eof() the fd still belongs to
        # a live transport, and the public add_writer() refuses that.
        getattr(loop, "_add_writer", loop.add_writer)(self.fileno(),
                                                      self._kssl_retry)
        self._kssl_timer = loop.call_later(self._kssl_shutdown_timeout,
                                           self._kssl_give_up)
        return True

    def _kssl_retry(self):
        if not self._kssl_close_notify():
            return
        self._kssl_run_deferred()

    def _kssl_give_up(self):
        logger.debug("kssl.asyncio: close_notify not sent within %ss",
                     self._kssl_shutdown_timeout)
        self._kssl_notified = True
        self._kssl_run_deferred()

    def _kssl_run_deferred(self):
        actions, self._kssl_deferred = self._kssl_deferred, None
        if self._kssl_timer is not None:
            self._kssl_timer.cancel()
            self._kssl_timer = None
        loop = self._kssl_loop
        if self.fileno() >= 0 and not loop.is_closed():
            getattr(loop, "_remove_writer", loop.remove_writer)(self.fileno())
        for action in actions or ():
            try:
                if action == "close":
                    self.close()
                else:
                    super().shutdown(action)
            except OSError:
                pass

    def shutdown(self, how):
        if self._kssl_obj is not None and how in (socket.SHUT_WR,
                                                  socket.SHUT_RDWR):
            if self._kssl_deferred is not None or not self._kssl_close_notify():
                if self._kssl_defer(how):
                    return
        super().shutdown(how)

    def close(self):
        if self._kssl_obj is not None and self.fileno() >= 0:
            if self._kssl_aborted:
                # As asyncio's ssl transports: abort() closes at once,
                # without close_notify (the peer sees a truncation).
                self._kssl_notified = True
                if self._kssl_deferred is not None:
                    self._kssl_deferred = ["close"]
                    self._kssl_run_deferred()
                    return
            if self._kssl_deferred is not None:
                if "close" not in self._kssl_deferred:
                    self._kssl_deferred.append("close")
                return
            if not self._kssl_close_notify() and self._kssl_defer("close"):
                return
            if self._kssl_kick_handle is not None:
                self._kssl_kick_handle.cancel()
                self._kssl_kick_handle = None
            self._kssl_obj = None
        super().close()


# -- one connection ----------------------------------------------------------

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


def _timeouts(handshake, shutdown):
    kw = {}
    if handshake is not None:
        kw["ssl_handshake_timeout"] = handshake
    if shutdown is not None:
        kw["ssl_shutdown_timeout"] = shutdown
    return kw


class _LiveExtra(dict):
    """Transport extras whose "kssl_offload" is read when asked: a TLS 1.3
    client's RX moves to the kernel only after the server's session
    tickets, i.e. after the handshake-time snapshot."""

    def get(self, key, default=None):
        obj = dict.get(self, "ssl_object")
        if key == "kssl_offload" and obj is not None:
            return obj.offload()
        return dict.get(self, key, default)


async def _stock(loop, protocol_factory, sock, ctx, server_side,
                 server_hostname, handshake_timeout, shutdown_timeout,
                 reason):
    """asyncio's own ssl= transport, plus the kssl_offload extra."""
    kw = _timeouts(handshake_timeout, shutdown_timeout)
    make = getattr(loop, "_make_ssl_transport", None)
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
                         _aconst.SSL_HANDSHAKE_TIMEOUT
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
        transport = loop._make_socket_transport(ks, protocol, waiter,
                                                extra=extra)
    except BaseException:
        ks.close()
        raise
    if offload.tx != "kernel":
        # os.sendfile() would put plaintext on the wire: make asyncio use
        # its read + transport.write() fallback (through OpenSSL).
        transport._sendfile_compatible = _aconst._SendfileMode.FALLBACK
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
    use_kssl, reason = _choose_path(loop, ctx)
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
        from . import create_default_context
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


# -- servers -------------------------------------------------------------------

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
        if _trsock is None:
            return tuple(self._sockets)
        return tuple(_trsock.TransportSocket(s) for s in self._sockets)

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
    if _choose_path(loop, ctx)[0]:
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


# A loop that routes ssl=kssl.SSLContext through the functions above.
from ._event_loop import EventLoop, EventLoopPolicy  # noqa: E402
__all__ += ["EventLoop", "EventLoopPolicy"]
