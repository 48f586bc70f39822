"""kssl: the ssl module's interface, with kernel TLS offload.

    import kssl as ssl

kssl re-exports the stdlib ssl module's constants, enums, exceptions and
helpers (so `except ssl.SSLError` catches kssl errors) and replaces
SSLContext, SSLSocket and create_default_context: sockets from
kssl.SSLContext.wrap_socket() do the handshake in OpenSSL and then move
the record layer into the kernel (Linux kTLS) where it can, so write(),
sendfile() and splice() on the socket produce TLS records. wrap_bio(),
SSLObject and asyncio's stock ssl= path stay on the stdlib implementation
(no offload). See docs/python.md.

MicroPython/QuecPython extras: kssl.wrap_socket(sock, key=, cert=, ...)
with key/cert data, set_ciphers() with IANA names, and DTLS
(SSLContext(PROTOCOL_DTLS_CLIENT/SERVER).wrap_socket(udp_socket)).
"""
import os as _os
import ssl as _ssl
import sys as _sys
import types as _types

# Everything public from ssl, except what kssl replaces (wrap_socket is
# MicroPython's here: the stdlib's deprecated one would make stdlib sockets).
_REPLACED = {"SSLContext", "SSLSocket", "SSLSession",
             "create_default_context", "wrap_socket"}
for _name in dir(_ssl):
    if (_name.startswith("_") or _name in _REPLACED
            or isinstance(getattr(_ssl, _name), _types.ModuleType)):
        continue
    globals()[_name] = getattr(_ssl, _name)
del _name

from . import _kssl  # noqa: E402
from ._context import SSLContext, OFFLOAD_MODES, DTLSMethod  # noqa: E402
from ._socket import SSLSocket, Offload  # noqa: E402
SSLSession = _kssl.SSLSession  # kssl sockets' sessions (docs/python.md)
from ._dtls import DTLSSocket  # noqa: E402
from ._micropython import wrap_socket  # noqa: E402

PROTOCOL_DTLS_CLIENT = DTLSMethod.PROTOCOL_DTLS_CLIENT
PROTOCOL_DTLS_SERVER = DTLSMethod.PROTOCOL_DTLS_SERVER

__version__ = _kssl.KSSL_VERSION


def create_default_context(purpose=_ssl.Purpose.SERVER_AUTH, *, cafile=None,
                           capath=None, cadata=None):
    """As ssl.create_default_context(), returning a kssl.SSLContext."""
    if not isinstance(purpose, _ssl._ASN1Object):
        raise TypeError(purpose)
    if purpose == _ssl.Purpose.SERVER_AUTH:
        # Clients: verify the server's certificate and its name.
        ctx = SSLContext(_ssl.PROTOCOL_TLS_CLIENT)
        ctx.verify_mode = _ssl.CERT_REQUIRED
        ctx.check_hostname = True
    elif purpose == _ssl.Purpose.CLIENT_AUTH:
        ctx = SSLContext(_ssl.PROTOCOL_TLS_SERVER)
    else:
        raise ValueError(purpose)
    if cafile or capath or cadata:
        ctx.load_verify_locations(cafile, capath, cadata)
    elif ctx.verify_mode != _ssl.CERT_NONE:
        ctx.load_default_certs(purpose)
    keylog = _os.environ.get("SSLKEYLOGFILE")
    if keylog and not _sys.flags.ignore_environment:
        ctx.keylog_filename = keylog
    return ctx


def tls_stat():
    """/proc/net/tls_stat as a dict of counters (None without kTLS)."""
    try:
        with open("/proc/net/tls_stat") as f:
            return {k: int(v) for k, v in (line.split() for line in f
                                            if line.strip())}
    except OSError:
        return None


def probe():
    """What the running kernel offers for TLS offload.

    tls_ulp: the "tls" TCP ULP is available (kTLS usable at all);
    kernel: the kernel release; tls_stat: the kernel's TLS counters.
    """
    return {
        "tls_ulp": _kssl.kernel_has_tls(),
        "kernel": _os.uname().release,
        "tls_stat": tls_stat(),
        "kssl_version": __version__,
    }
