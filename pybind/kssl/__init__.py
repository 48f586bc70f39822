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

kssl.install() (or `python3 -m kssl run app.py`) puts kssl in place of
ssl for the whole program, unmodified: `import ssl` then gives kssl.

MicroPython/QuecPython extras: kssl.wrap_socket(sock, key=, cert=, ...)
with key/cert data (the same function is also CPython's deprecated
ssl.wrap_socket(sock, keyfile, certfile, ...)), set_ciphers() with IANA
names, and DTLS (SSLContext(PROTOCOL_DTLS_CLIENT/SERVER).wrap_socket(udp)).
"""
import os as _os
import ssl as _stdssl
import sys as _sys
import types as _types

# Every name of the stdlib ssl module (its constants, enums, exceptions,
# helpers, and the private names programs use: _ssl, _ASN1Object,
# _TLSAlertType, _PROTOCOL_NAMES, _DEFAULT_CIPHERS, ...), the very same
# objects, except what kssl replaces below with its own: the classes, and
# every function that builds a context. Not copied: the module's dunders,
# and _socket (the stdlib's alias of the socket module; here it is kssl's
# submodule of that name).
_REPLACED = {"SSLContext", "SSLSocket", "SSLSession", "create_default_context",
             "wrap_socket", "_create_unverified_context",
             "_create_stdlib_context", "_create_default_https_context",
             "get_server_certificate", "_socket"}
for _name in dir(_stdssl):
    if not (_name in _REPLACED
            or (_name.startswith("__") and _name.endswith("__"))):
        globals()[_name] = getattr(_stdssl, _name)
del _name

from . import _kssl  # noqa: E402
from ._context import SSLContext, OFFLOAD_MODES, DTLSMethod  # noqa: E402
from ._socket import SSLSocket, Offload  # noqa: E402
SSLSession = _kssl.SSLSession  # kssl sockets' sessions (docs/python.md)
from ._dtls import DTLSSocket  # noqa: E402
from ._micropython import wrap_socket  # noqa: E402
from ._stdlib import (create_default_context,  # noqa: E402
                      _create_unverified_context, get_server_certificate)
from ._install import install  # noqa: E402

# As in ssl: http.client and urllib call ssl._create_default_https_context()
# when given no context, so assigning another factory to it (the idiom
# `ssl._create_default_https_context = ssl._create_unverified_context`)
# changes what they build; ftplib, poplib, imaplib and smtplib call
# _create_stdlib_context().
_create_default_https_context = create_default_context
_create_stdlib_context = _create_unverified_context


class _Module(_types.ModuleType):
    """The kssl module's type: assigning one of the stdlib's context hooks
    (_create_default_https_context, _create_stdlib_context) on kssl also
    assigns it in the stdlib ssl module, so http.client, urllib, ftplib,
    ... follow it as they follow `ssl._create_default_https_context = f`,
    whichever of the two modules they imported."""

    def __setattr__(self, name, value):
        super().__setattr__(name, value)
        if name in ("_create_default_https_context",
                    "_create_stdlib_context"):
            setattr(_stdssl, name, value)


_sys.modules[__name__].__class__ = _Module

PROTOCOL_DTLS_CLIENT = DTLSMethod.PROTOCOL_DTLS_CLIENT
PROTOCOL_DTLS_SERVER = DTLSMethod.PROTOCOL_DTLS_SERVER

__version__ = _kssl.KSSL_VERSION


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
