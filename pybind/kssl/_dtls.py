"""kssl.DTLSSocket: DTLS 1.2 over a UDP socket (libkssl's kssl_dtls).

    ctx = kssl.SSLContext(kssl.PROTOCOL_DTLS_CLIENT)
    udp.connect(addr)
    d = ctx.wrap_socket(udp, server_hostname="example.org")
    d.send(b"one datagram"); d.recv(2048)

The model (see include/kssl/kssl_dtls.h): a client socket is connected to
its server; a server socket is bound, and its handshake first does the
cookie exchange (HelloVerifyRequest), then connects the socket to the
client that answered it, so one DTLSSocket is one client. Each send() is
one record in one datagram; each recv() returns one record's plaintext.
Records are always processed in userspace (Linux has no kernel DTLS):
`offload` says so.

Timeouts follow the socket's, as for SSLSocket: None blocks (libkssl
retransmits lost flights itself), 0 raises SSLWantReadError/
SSLWantWriteError (then wait at most dtls_timeout() seconds and call
handle_timeout()), > 0 waits, retransmitting, then raises TimeoutError.
"""
import errno
import select
import socket
import ssl as _ssl
import time

from . import _kssl


class DTLSSocket:
    """A DTLS session on a UDP socket (from SSLContext.wrap_socket)."""

    def __init__(self, context, sock, server_side, server_hostname,
                 do_handshake_on_connect=True):
        from ._context import DTLSMethod
        if sock.type != socket.SOCK_DGRAM:
            raise NotImplementedError("DTLS needs a datagram (SOCK_DGRAM) "
                                      "socket")
        client = context.protocol == DTLSMethod.PROTOCOL_DTLS_CLIENT
        if server_side == client:
            raise _ssl.SSLError("Cannot create a %s socket with a %s context"
                                % ("server" if server_side else "client",
                                   context.protocol.name))
        if server_side:
            server_hostname = None
        elif context.check_hostname and not server_hostname:
            raise ValueError("check_hostname requires server_hostname")
        self._context = context
        self._sock = sock
        self.server_side = server_side
        self.server_hostname = server_hostname
        self._obj = _kssl.DTLS(context._kssl_native(server_side),
                               sock.fileno(), server_side, server_hostname)
        self._cert = None
        if do_handshake_on_connect:
            try:
                self.do_handshake()
            except BaseException:
                # As ssl.SSLSocket: a failed handshake closes the socket (a
                # server's is connected to the failed client by then).
                self.close()
                raise

    # -- the wait loop ---------------------------------------------------

    def _live(self):
        if self._obj is None:
            raise OSError(errno.EBADF, "Bad file descriptor (DTLS socket "
                          "closed or unwrapped)")
        return self._obj

    def _io(self, what, fn, *args):
        obj = self._live()
        timeout = self._sock.gettimeout()
        if timeout is None:
            return fn(obj, *args)  # blocking: libkssl waits and retransmits
        deadline = time.monotonic() + timeout
        poller = select.poll()
        while True:
            try:
                return fn(obj, *args)
            except _ssl.SSLWantReadError:
                if timeout == 0:
                    raise
                events = select.POLLIN
            except _ssl.SSLWantWriteError:
                if timeout == 0:
                    raise
                events = select.POLLOUT
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("The %s operation timed out" % what)
            timer = obj.timeout()
            wait = left if timer is None else min(left, timer)
            poller.register(self._sock, events)
            ready = poller.poll(wait * 1000.0)
            poller.unregister(self._sock)
            if not ready:
                obj.handle_timeout()  # retransmits if the DTLS timer is due

    # -- I/O ------------------------------------------------------------

    def do_handshake(self):
        """Run the handshake (servers: cookie exchange first)."""
        self._io("handshake", _kssl.DTLS.do_handshake)

    def send(self, data, flags=0):
        """Send `data` as one record in one datagram; returns len(data)."""
        if flags:
            raise ValueError("non-zero flags not allowed in calls to send() "
                             "on %s" % self.__class__)
        return self._io("write", _kssl.DTLS.write, data)

    write = send

    def recv(self, bufsize=16384, flags=0):
        """The plaintext of the next record (at most bufsize bytes; the
        rest of a longer one comes with the next call); b"" once the peer
        sent close_notify."""
        if flags:
            raise ValueError("non-zero flags not allowed in calls to recv() "
                             "on %s" % self.__class__)
        return self._io("read", _kssl.DTLS.read, bufsize)

    def read(self, len=16384, buffer=None):
        if buffer is not None:
            return self._io("read", _kssl.DTLS.read, len, buffer)
        return self.recv(len)

    def recv_into(self, buffer, nbytes=0, flags=0):
        if flags:
            raise ValueError("non-zero flags not allowed in calls to "
                             "recv_into() on %s" % self.__class__)
        return self._io("read", _kssl.DTLS.read, nbytes, buffer)

    def pending(self):
        return self._live().pending()

    def dtls_timeout(self):
        """Seconds until the retransmission timer fires, or None."""
        return self._live().timeout()

    def handle_timeout(self):
        """Retransmit the last flight if the timer is due (non-blocking
        sockets); True if it did."""
        return self._live().handle_timeout()

    def unwrap(self):
        """Send close_notify and return the UDP socket (still connected to
        the peer). DTLS does not wait for the peer's close_notify."""
        obj = self._live()
        obj.shutdown()
        self._obj = None
        return self._sock

    def close(self):
        """Free the session and close the UDP socket (no close_notify:
        use unwrap() first to send one)."""
        self._obj = None
        self._sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- state ----------------------------------------------------------

    @property
    def context(self):
        return self._context

    @property
    def offload(self):
        """kssl.Offload: always "user" both ways, with the reason."""
        from ._socket import Offload
        return Offload(*self._live()._offload())

    def version(self):
        return self._live().version()

    def cipher(self):
        return self._live().cipher()

    def iana_cipher(self):
        """The negotiated suite's IANA name (None before the handshake)."""
        return self._live().iana_cipher()

    def getpeercert(self, binary_form=False):
        from ._socket import peercert
        return peercert(self, self._live()._peer_der(), binary_form)

    def fileno(self):
        return self._sock.fileno()

    def getpeername(self):
        return self._sock.getpeername()

    def getsockname(self):
        return self._sock.getsockname()

    def gettimeout(self):
        return self._sock.gettimeout()

    def settimeout(self, value):
        self._sock.settimeout(value)

    def setblocking(self, flag):
        self._sock.setblocking(flag)

    def __repr__(self):
        state = "closed" if self._obj is None else (
            self.version() or "handshaking")
        return "<kssl.DTLSSocket %s %s fd=%d>" % (
            "server" if self.server_side else "client", state,
            self._sock.fileno())
