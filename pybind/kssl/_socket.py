"""kssl.SSLSocket and the `_sslobj` it runs on.

ssl.SSLSocket does all its TLS work through `self._sslobj`, an object
made by `context._wrap_socket()`. kssl.SSLContext returns a KsslObject
there (a libkssl connection on the socket's fd), so the stdlib's own
SSLSocket methods (recv, send, sendall, makefile, unwrap, accept,
connect, suppress_ragged_eofs, timeouts) run unchanged on top of it.
kssl.SSLSocket adds `offload` and a zero-copy sendfile().
"""
import collections
import io
import os
import ssl as _ssl
import weakref

from . import _kssl
from ._certdata import memfile
from ._context import SSLContext

Offload = collections.namedtuple("Offload", "tx rx tx_reason rx_reason")
Offload.__doc__ = """Where each direction's TLS records are processed.

tx, rx: "kernel" (kernel TLS), "user" (OpenSSL in this process) or
"pending" (handshake not finished, or a client's receive switch waits for
the server's session tickets). *_reason says why a direction is not
"kernel" (None when it is)."""


_raw_options = _ssl._SSLContext.options.__get__  # an int, not Options(...)
_IGNORE_EOF = int(_ssl.OP_IGNORE_UNEXPECTED_EOF)
_raw_msg = _ssl._SSLContext._msg_callback.__get__


_decoded = {}  # DER -> getpeercert() dict, the most recent _DECODED_MAX
_DECODED_MAX = 64


def _decode_cert(der):
    """The stdlib's getpeercert() dict for a DER certificate.

    Uses the stdlib's own decoder (ssl._ssl._test_decode_cert, which takes
    a PEM file path) so the dict is exactly the stdlib's; the PEM lives in
    an anonymous memfd, never on disk. That round trip (PEM, memfd, X.509
    parse: ~450 us) would cost more than a TLS handshake's share, so dicts
    of recent certificates are kept: a client meets the same server
    certificate again and again. Each caller gets its own dict (its values
    are immutable tuples, strings and ints, as the stdlib's).
    """
    cached = _decoded.get(der)
    if cached is None:
        pem = _ssl.DER_cert_to_PEM_cert(der).encode("ascii")
        with memfile(pem) as path:
            cached = _ssl._ssl._test_decode_cert(path)
        if len(_decoded) >= _DECODED_MAX:
            try:  # the oldest; other threads may be at it too
                del _decoded[next(iter(_decoded))]
            except (RuntimeError, StopIteration, KeyError):
                pass
        _decoded[der] = cached
    return dict(cached)


def peercert(obj, der, binary_form):
    """getpeercert() as the stdlib's, for an object with _context and a
    _cert cache: the DER, {} for an unverified certificate, or the dict."""
    if binary_form or der is None:
        return der
    if obj._context.verify_mode == _ssl.CERT_NONE:
        return {}
    if obj._cert is None:
        obj._cert = _decode_cert(der)
    return obj._cert


_eof_is_eoferror = None


def eof_is_eoferror():
    """How this interpreter's _ssl reports OpenSSL's UNEXPECTED_EOF (a
    transport EOF without close_notify, OP_IGNORE_UNEXPECTED_EOF cleared):
    SSLError (CPython 3.11.2) or SSLEOFError (later 3.11, 3.12+). Probed
    once on a memory BIO, no network."""
    global _eof_is_eoferror
    if _eof_is_eoferror is None:
        ctx = _ssl.SSLContext(_ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = _ssl.CERT_NONE
        ctx.options &= ~_ssl.OP_IGNORE_UNEXPECTED_EOF
        incoming = _ssl.MemoryBIO()
        obj = ctx.wrap_bio(incoming, _ssl.MemoryBIO())
        result = False
        for _ in range(2):
            try:
                obj.do_handshake()
            except _ssl.SSLWantReadError:
                incoming.write_eof()
            except _ssl.SSLError as e:
                result = isinstance(e, _ssl.SSLEOFError)
                break
        _eof_is_eoferror = result
    return _eof_is_eoferror


def _probe_shared_rule():
    """What this interpreter's shared_ciphers() returns: a client's
    SSLObject gives None under CPython >= 3.11.4 (a server then lists its
    ciphers the client offered), its own cipher list under 3.11.2 (both
    sides, also before the handshake). Probed once at import, no I/O."""
    ctx = _ssl.SSLContext(_ssl.PROTOCOL_TLS_CLIENT)
    obj = ctx.wrap_bio(_ssl.MemoryBIO(), _ssl.MemoryBIO())
    _kssl.set_shared_rule(obj.shared_ciphers() is not None)


_probe_shared_rule()


class KsslObject(_kssl.Conn):
    """The `_sslobj` of a kssl.SSLSocket (internal).

    Made by _kssl.wrap() (pybind/setup.c), which also sets what the stdlib's
    _SSLSocket holds: _context, _owner (a weakref), server_hostname,
    _sock (a weakref), _ignore_eof, _eof_is_eoferror."""

    __slots__ = ()  # no __dict__, as the stdlib's _SSLSocket (_cert is C's)

    @property
    def context(self):
        return self._context

    @context.setter
    def context(self, ctx):
        # As the stdlib's: any SSLContext, at any time. After the handshake
        # only what the socket reports changes (context, getpeercert()'s
        # verify_mode rule); before it (an SNI callback) the connection
        # continues on the new context's certificate and settings, which
        # only a kssl.SSLContext carries.
        if not isinstance(ctx, _ssl.SSLContext):
            raise TypeError("The value must be a SSLContext")
        if ctx is self._context:
            return
        if not self._handshake_done:
            if not isinstance(ctx, SSLContext):
                raise TypeError("The value must be a kssl.SSLContext until "
                                "the handshake is done")
            self._set_native(ctx._kssl_native(self.server_side))
        self._context = ctx

    @property
    def owner(self):
        return None if self._owner is None else self._owner()

    @owner.setter
    def owner(self, value):
        self._owner = None if value is None else weakref.ref(value)

    @property
    def session(self):
        return _kssl.session_get(self, self._context)

    @session.setter
    def session(self, value):
        # The checks and messages of the stdlib's _ssl, in its order.
        if not isinstance(value, _kssl.SSLSession):
            raise TypeError("Value is not a SSLSession.")
        if _kssl.session_context(value) is not self._context:
            raise ValueError("Session refers to a different SSLContext.")
        if self.server_side:
            raise ValueError("Cannot set session for server-side SSLSocket.")
        if self._handshake_done:
            raise ValueError("Cannot set session after handshake.")
        _kssl.session_set(self, value)

    def getpeercert(self, binary_form=False):
        return peercert(self, self._peer_der(), binary_form)

    def verify_client_post_handshake(self):
        _kssl.verify_pha(self)

    def shutdown(self):
        # unwrap(): close_notify both ways, then the plain socket. A
        # direction that went to kernel TLS cannot come back: the socket
        # keeps the "tls" ULP and its keys; closing it is all that is left.
        self._close_notify()
        return self._sock()

    def _sni(self, server_name):
        # Called by libkssl during a server handshake (GIL held).
        ctx = self._context
        callback = ctx.sni_callback
        if callback is None:
            return 0
        owner = self.owner
        result = callback(owner if owner is not None else self,
                          server_name, ctx)
        return result or 0

    def _msg(self, direction, version, content_type, msg_type, data):
        # Called by libkssl for each protocol message (GIL held; msg.c),
        # as the stdlib's _ssl calls SSLContext._msg_callback's wrapper.
        callback = _raw_msg(self._context)
        if callback is not None:
            owner = self.owner
            callback(owner if owner is not None else self, direction,
                     version, content_type, msg_type, data)

    def offload(self):
        return Offload(*self._offload())


class SSLSocket(_ssl.SSLSocket):
    """ssl.SSLSocket on libkssl: kernel TLS once the handshake is done."""

    @property
    def offload(self):
        """An Offload tuple, or None before the TLS layer exists."""
        obj = self._sslobj
        if obj is None or not isinstance(obj, KsslObject):
            return None
        return obj.offload()

    def get_verified_chain(self):
        """The verified certificate chain of the peer (leaf to trust
        anchor) as a list of DER bytes; [] if none (Python 3.13's)."""
        return self._chain(True)

    def get_unverified_chain(self):
        """The certificates the peer sent (leaf first) as DER bytes; []
        if none (Python 3.13's)."""
        return self._chain(False)

    def _chain(self, verified):
        obj = self._sslobj
        if obj is None:
            raise ValueError("The SSL socket is not connected")
        if not isinstance(obj, KsslObject):
            chain = (obj.get_verified_chain() if verified
                     else obj.get_unverified_chain())
            return [c.public_bytes(_ssl._ssl.ENCODING_DER)
                    for c in chain or ()]
        return obj._chain(verified) or []

    def sendfile(self, file, offset=0, count=None):
        """Send a file; returns the number of bytes sent.

        With kernel TX the bytes go file -> kernel TLS by sendfile(2) and
        never enter this process; otherwise libkssl reads and encrypts
        them. Files without a usable fileno() fall back to send().
        """
        obj = self._sslobj
        if obj is None or not isinstance(obj, KsslObject):
            return super().sendfile(file, offset, count)
        self._checkClosed()
        if "b" not in getattr(file, "mode", "b"):
            raise ValueError("file should be opened in binary mode")
        if count is not None and (not isinstance(count, int) or count <= 0):
            raise ValueError(
                "count must be a positive integer (got {!r})".format(count))
        if self.gettimeout() == 0:
            raise ValueError("non-blocking sockets are not supported")
        try:
            fileno = file.fileno()
            size = os.fstat(fileno).st_size
        except (AttributeError, io.UnsupportedOperation, OSError):
            return self._sendfile_use_send(file, offset, count)
        if count is None:
            count = max(size - offset, 0)
        sent = 0
        try:
            sent = obj.sendfile(fileno, offset, count)
        finally:
            if sent > 0 and hasattr(file, "seek"):
                file.seek(offset + sent)
        return sent


SSLContext.sslsocket_class = SSLSocket
_kssl.set_conn_class(KsslObject, eof_is_eoferror)
