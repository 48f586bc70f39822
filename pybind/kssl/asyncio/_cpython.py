"""Every place kssl.asyncio relies on CPython-private asyncio API.

asyncio has no public way to put a plain socket transport over a socket
that already carries TLS, so the kssl path borrows these internals. Each
is wrapped here and nowhere else; the rest of the package calls these
functions. Tested on CPython 3.11.2 (Debian 12, /usr/bin/python3) and
3.11.7 (pyenv), with tests/python/test_kssl_asyncio*.py.

 1. asyncio.selector_events.BaseSelectorEventLoop: is_selector_loop(), the
    kssl path needs the selector loop's socket transport.
 2. loop._make_socket_transport(sock, protocol, waiter, extra=):
    make_socket_transport(), a plain _SelectorSocketTransport over the
    kssl socket.
 3. loop._make_ssl_transport(...): ssl_transport_maker(), the stock path
    with one more extra ("kssl_offload"); None on loops without it.
 4. asyncio.constants.SSL_HANDSHAKE_TIMEOUT / SSL_SHUTDOWN_TIMEOUT: the
    stock defaults (60 s / 30 s).
 5. transport._sendfile_compatible = constants._SendfileMode.FALLBACK:
    use_sendfile_fallback(), so loop.sendfile() never puts plaintext on
    the wire when TX stays in OpenSSL.
 6. transport._read_ready(): read_ready(), runs the transport's read
    callback when OpenSSL holds data or an EOF the selector cannot see.
 7. loop._add_writer() / loop._remove_writer(): add_writer() /
    remove_writer() for an fd that a live transport owns (the public
    add_writer() refuses it), to send a deferred close_notify.
 8. asyncio.trsock.TransportSocket: transport_socket(), what
    Server.sockets returns (as asyncio.Server).
"""
from asyncio import constants as _constants
from asyncio import selector_events as _selector_events

try:
    from asyncio import trsock as _trsock
except ImportError:  # pragma: no cover - Python < 3.8
    _trsock = None

SSL_HANDSHAKE_TIMEOUT = _constants.SSL_HANDSHAKE_TIMEOUT
SSL_SHUTDOWN_TIMEOUT = getattr(_constants, "SSL_SHUTDOWN_TIMEOUT", 30.0)
HAS_TRANSPORT_SOCKET = _trsock is not None


def is_selector_loop(loop):
    return isinstance(loop, _selector_events.BaseSelectorEventLoop)


def make_socket_transport(loop, sock, protocol, waiter, extra):
    return loop._make_socket_transport(sock, protocol, waiter, extra=extra)


def ssl_transport_maker(loop):
    return getattr(loop, "_make_ssl_transport", None)


def use_sendfile_fallback(transport):
    transport._sendfile_compatible = _constants._SendfileMode.FALLBACK


def has_read_ready(transport):
    return hasattr(transport, "_read_ready")


def read_ready(transport):
    transport._read_ready()


def add_writer(loop, fd, callback):
    getattr(loop, "_add_writer", loop.add_writer)(fd, callback)


def remove_writer(loop, fd):
    getattr(loop, "_remove_writer", loop.remove_writer)(fd)


def transport_socket(sock):
    return _trsock.TransportSocket(sock)
