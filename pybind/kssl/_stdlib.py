"""The ssl module's context factories, building kssl contexts.

create_default_context(), _create_unverified_context() (alias
_create_stdlib_context, which ftplib, poplib, imaplib and smtplib call)
and get_server_certificate() take the arguments of CPython 3.11's and
apply them in the same order, so validation and exceptions are the
stdlib's; the contexts are kssl.SSLContext objects.
"""
import os
import socket
import ssl as _ssl
import sys

from ._context import SSLContext


def _check_purpose(purpose):
    if not isinstance(purpose, _ssl._ASN1Object):
        raise TypeError(purpose)


def _finish(context, purpose, cafile, capath, cadata):
    # The stdlib's common tail: CAs (explicit, else the system's when the
    # context verifies), then SSLKEYLOGFILE.
    if cafile or capath or cadata:
        context.load_verify_locations(cafile, capath, cadata)
    elif context.verify_mode != _ssl.CERT_NONE:
        context.load_default_certs(purpose)
    keylog = os.environ.get("SSLKEYLOGFILE")
    if keylog and not sys.flags.ignore_environment:
        context.keylog_filename = keylog
    return context


def create_default_context(purpose=_ssl.Purpose.SERVER_AUTH, *, cafile=None,
                           capath=None, cadata=None):
    """As ssl.create_default_context(), returning a kssl.SSLContext."""
    _check_purpose(purpose)
    if purpose == _ssl.Purpose.SERVER_AUTH:
        # Clients: verify the server's certificate and its name.
        context = SSLContext(_ssl.PROTOCOL_TLS_CLIENT)
        context.verify_mode = _ssl.CERT_REQUIRED
        context.check_hostname = True
    elif purpose == _ssl.Purpose.CLIENT_AUTH:
        context = SSLContext(_ssl.PROTOCOL_TLS_SERVER)
    else:
        raise ValueError(purpose)
    return _finish(context, purpose, cafile, capath, cadata)


def _create_unverified_context(protocol=None, *, cert_reqs=_ssl.CERT_NONE,
                               check_hostname=False,
                               purpose=_ssl.Purpose.SERVER_AUTH,
                               certfile=None, keyfile=None,
                               cafile=None, capath=None, cadata=None):
    """As ssl._create_unverified_context() (the stdlib modules' factory,
    also ssl._create_stdlib_context), returning a kssl.SSLContext: no
    verification unless cert_reqs/check_hostname ask for it."""
    _check_purpose(purpose)
    if purpose == _ssl.Purpose.SERVER_AUTH:
        if protocol is None:
            protocol = _ssl.PROTOCOL_TLS_CLIENT
    elif purpose == _ssl.Purpose.CLIENT_AUTH:
        if protocol is None:
            protocol = _ssl.PROTOCOL_TLS_SERVER
    else:
        raise ValueError(purpose)
    context = SSLContext(protocol)
    context.check_hostname = check_hostname
    if cert_reqs is not None:
        context.verify_mode = cert_reqs
    if check_hostname:
        context.check_hostname = True
    if keyfile and not certfile:
        raise ValueError("certfile must be specified")
    if certfile or keyfile:
        context.load_cert_chain(certfile, keyfile)
    return _finish(context, purpose, cafile, capath, cadata)


def get_server_certificate(addr, ssl_version=_ssl.PROTOCOL_TLS_CLIENT,
                           ca_certs=None,
                           timeout=socket._GLOBAL_DEFAULT_TIMEOUT):
    """As ssl.get_server_certificate(): the server's certificate as PEM,
    verified against ca_certs when given (over a kssl connection)."""
    host, port = addr
    cert_reqs = _ssl.CERT_NONE if ca_certs is None else _ssl.CERT_REQUIRED
    context = _create_unverified_context(ssl_version, cert_reqs=cert_reqs,
                                         cafile=ca_certs)
    with socket.create_connection(addr, timeout=timeout) as sock:
        with context.wrap_socket(sock, server_hostname=host) as sslsock:
            der = sslsock.getpeercert(True)
    return _ssl.DER_cert_to_PEM_cert(der)
