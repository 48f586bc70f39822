"""The MicroPython / QuecPython module-level wrap_socket().

MicroPython:  wrap_socket(sock, server_side=False, key=None, cert=None,
                          cert_reqs=CERT_NONE, cadata=None,
                          server_hostname=None, do_handshake=True)
QuecPython:   wrap_socket(sock, server_hostname=None, cert=None, key=None)

Both are this one function: when the second positional argument is a str,
the positional arguments follow QuecPython's order (server_hostname, cert,
key); otherwise MicroPython's. Keywords mean the same in both.
"""
import inspect
import socket
import ssl as _ssl

from ._context import DTLSMethod, SSLContext

_MPY_ORDER = ("server_side", "key", "cert", "cert_reqs", "cadata",
              "server_hostname", "do_handshake")
_QPY_ORDER = ("server_hostname", "cert", "key")


def _data(value, what):
    if isinstance(value, str):
        return value.encode("ascii")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError("%s must be PEM text (str or bytes) or DER bytes, not %s"
                    % (what, type(value).__name__))


def _wrap(sock, server_side=False, key=None, cert=None,
          cert_reqs=_ssl.CERT_NONE, cadata=None, server_hostname=None,
          do_handshake=True):
    if (key is None) != (cert is None):
        raise TypeError("wrap_socket: key and cert must be given together "
                        "(got only %s)" % ("key" if cert is None else "cert"))
    server_side = bool(server_side)
    if sock.type == socket.SOCK_DGRAM:
        protocol = (DTLSMethod.PROTOCOL_DTLS_SERVER if server_side
                    else DTLSMethod.PROTOCOL_DTLS_CLIENT)
    else:
        protocol = (_ssl.PROTOCOL_TLS_SERVER if server_side
                    else _ssl.PROTOCOL_TLS_CLIENT)
    ctx = SSLContext(protocol)
    if key is not None:
        ctx._load_cert_data(_data(cert, "cert"), _data(key, "key"))
    if cadata is not None:
        ctx.load_verify_locations(cadata=cadata)
    if not server_side:
        # MicroPython checks the name whenever it verifies the server.
        ctx.check_hostname = cert_reqs == _ssl.CERT_REQUIRED
    ctx.verify_mode = cert_reqs
    return ctx.wrap_socket(sock, server_side=server_side,
                           do_handshake_on_connect=do_handshake,
                           server_hostname=server_hostname)


def wrap_socket(sock, *args, **kwargs):
    """Wrap `sock` in TLS (or DTLS for a UDP socket) the MicroPython way.

    key and cert are the key and certificate themselves (str or bytes, PEM
    or DER), both or neither; cadata the CA certificates (DER bytes, one
    or more concatenated, or PEM). cert_reqs=CERT_REQUIRED also checks the
    server's name against server_hostname (which is then required). A bad
    key raises ValueError("invalid key"), a bad certificate
    ValueError("invalid cert"). Returns a kssl.SSLSocket (kssl.DTLSSocket
    for UDP).
    """
    if "keyfile" in kwargs or "certfile" in kwargs:
        raise TypeError("kssl.wrap_socket is MicroPython's (key=, cert= take "
                        "the data itself); the stdlib's deprecated "
                        "ssl.wrap_socket(keyfile=, certfile=) is not "
                        "provided: use SSLContext.wrap_socket")
    order = _QPY_ORDER if args and isinstance(args[0], str) else _MPY_ORDER
    if len(args) > len(order):
        raise TypeError("wrap_socket() takes at most %d positional arguments "
                        "(%d given)" % (len(order) + 1, len(args) + 1))
    for name, value in zip(order, args):
        if name in kwargs:
            raise TypeError("wrap_socket() got multiple values for argument "
                            "%r" % name)
        kwargs[name] = value
    return _wrap(sock, **kwargs)


wrap_socket.__signature__ = inspect.signature(_wrap)
