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

Modules: _path (which transport a connection gets), _socket (the socket
subclass asyncio's transport runs on), _connection (handshake and
transport assembly, clients), _server (Server, create_server,
start_server), _cpython (every use of CPython-private asyncio API, in one
place, with the versions it was tested on).
"""
from ._connection import (connect_accepted_socket, create_connection,
                          open_connection)
from ._server import Server, create_server, start_server
from ._socket import _KsslSocket  # noqa: F401 (tests patch it)

__all__ = ["start_server", "open_connection", "create_server",
           "create_connection", "connect_accepted_socket", "Server"]

# Tests set this to "kssl" or "stock" to force a path on any kernel
# (read by _path.choose_path).
_path_override = None


# A loop that routes ssl=kssl.SSLContext through the functions above.
from .._event_loop import EventLoop, EventLoopPolicy  # noqa: E402
__all__ += ["EventLoop", "EventLoopPolicy"]
