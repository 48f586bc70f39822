"""The MicroPython / QuecPython module-level wrap_socket().

MicroPython:  wrap_socket(sock, server_side=False, key=None, cert=None,
                          cert_reqs=CERT_NONE, cadata=None,
                          server_hostname=None, do_handshake=True)
QuecPython:   wrap_socket(sock, server_hostname=None, cert=None, key=None)

Both are this one function: when the second positional argument is a str,
the positional arguments follow QuecPython's order (server_hostname, cert,
key); otherwise MicroPython's. Keywords mean the same in both.

The same kssl.wrap_socket is also CPython's deprecated module-level
ssl.wrap_socket(sock, keyfile, certfile, ...) (servers such as gunicorn
20 still call it); wrap_socket() below tells the forms apart.
"""
import os
import socket
import warnings
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


# CPython's deprecated module-level form (3.11 ssl.wrap_socket), in order.
_CPY_ORDER = ("keyfile", "certfile", "server_side", "cert_reqs",
              "ssl_version", "ca_certs", "do_handshake_on_connect",
              "suppress_ragged_eofs", "ciphers")
_CPY_ONLY = frozenset(_CPY_ORDER) - {"server_side", "cert_reqs"}
_MPY_ONLY = frozenset(_MPY_ORDER) - {"server_side", "cert_reqs"}


def _cpython_wrap(sock, keyfile=None, certfile=None, server_side=False,
                  cert_reqs=_ssl.CERT_NONE, ssl_version=_ssl.PROTOCOL_TLS,
                  ca_certs=None, do_handshake_on_connect=True,
                  suppress_ragged_eofs=True, ciphers=None):
    # The steps of CPython 3.11's ssl.wrap_socket, on a kssl context.
    # Arguments are bound (TypeError) before the warning, as there.
    warnings.warn(
        "ssl.wrap_socket() is deprecated, use SSLContext.wrap_socket()",
        category=DeprecationWarning, stacklevel=3)
    if server_side and not certfile:
        raise ValueError("certfile must be specified for server-side "
                         "operations")
    if keyfile and not certfile:
        raise ValueError("certfile must be specified")
    context = SSLContext(ssl_version)
    context.verify_mode = cert_reqs
    if ca_certs:
        context.load_verify_locations(ca_certs)
    if certfile:
        context.load_cert_chain(certfile, keyfile)
    if ciphers:
        context.set_ciphers(ciphers)
    return context.wrap_socket(
        sock=sock, server_side=server_side,
        do_handshake_on_connect=do_handshake_on_connect,
        suppress_ragged_eofs=suppress_ragged_eofs)


def _is_cert_data(value):
    # QuecPython passes the certificate itself; CPython a path.
    if isinstance(value, (bytearray, memoryview)):
        return True
    if isinstance(value, str):
        return value.lstrip().startswith("-----BEGIN ")
    if isinstance(value, bytes):
        return (value.lstrip().startswith(b"-----BEGIN ")
                or value[:1] == b"\x30")
    return False


def _is_cpython_form(sock, args, kwargs):
    cpy, mpy = _CPY_ONLY & kwargs.keys(), _MPY_ONLY & kwargs.keys()
    if cpy and mpy:
        raise TypeError("wrap_socket(): keywords %s (ssl.wrap_socket) and %s "
                        "(MicroPython) cannot be mixed"
                        % (", ".join(sorted(cpy)), ", ".join(sorted(mpy))))
    if cpy or mpy:
        return bool(cpy)
    if getattr(sock, "type", None) == socket.SOCK_DGRAM:
        return False  # DTLS: MicroPython's only
    if not args:
        return True   # both forms agree; the stdlib's is the spec
    first = args[0]
    if isinstance(first, bool):
        return False  # MicroPython's server_side
    if isinstance(first, str):
        # QuecPython (server_hostname, cert, key) vs CPython (keyfile,
        # certfile, ...): CPython's needs a certfile path after a keyfile.
        return (len(args) > 1
                and isinstance(args[1], (str, bytes, os.PathLike))
                and not _is_cert_data(args[1]))
    return first is None or isinstance(first, (bytes, os.PathLike))


def wrap_socket(sock, *args, **kwargs):
    """Wrap `sock` in TLS: CPython's ssl.wrap_socket or MicroPython's.

    CPython (deprecated there, DeprecationWarning as there):
      wrap_socket(sock, keyfile=None, certfile=None, server_side=False,
                  cert_reqs=CERT_NONE, ssl_version=PROTOCOL_TLS,
                  ca_certs=None, do_handshake_on_connect=True,
                  suppress_ragged_eofs=True, ciphers=None)
    MicroPython / QuecPython (see the module docstring): key and cert
    are the key and certificate themselves (str or bytes, PEM or DER),
    both or neither; cadata the CA certificates; cert_reqs=CERT_REQUIRED
    also checks the server's name against server_hostname. A bad key
    raises ValueError("invalid key"), a bad certificate ValueError("invalid
    cert"). A UDP socket gets DTLS (kssl.DTLSSocket).

    The form is told by the keywords (keyfile, certfile, ssl_version,
    ca_certs, do_handshake_on_connect, suppress_ragged_eofs, ciphers vs
    key, cert, cadata, server_hostname, do_handshake), else by the second
    positional argument: a bool is MicroPython's server_side; a str is
    QuecPython's server_hostname unless a path (not PEM/DER data) follows
    it, as CPython's keyfile, certfile; None, bytes or a path object is
    CPython's keyfile. With neither (wrap_socket(sock), or server_side /
    cert_reqs keywords only) it is CPython's.
    """
    if not _is_cpython_form(sock, args, kwargs):
        return _micropython_wrap(sock, args, kwargs)
    return _cpython_wrap(sock, *args, **kwargs)


# Argument errors name the function as the stdlib's do ("wrap_socket() got
# an unexpected keyword argument ...").
_cpython_wrap.__name__ = _cpython_wrap.__qualname__ = "wrap_socket"


def _micropython_wrap(sock, args, kwargs):
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
