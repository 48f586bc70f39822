"""gunicorn worker classes whose TLS connections are kssl sockets.

    gunicorn --certfile cert.pem --keyfile key.pem \\
             -k kssl.gunicorn.SyncWorker app:application
    (or -k kssl.gunicorn.ThreadWorker, with --threads N)

With these workers, every TLS connection is a kssl.SSLSocket (handshake
in OpenSSL, records in kernel TLS where the kernel can), and WSGI file
responses (``environ["wsgi.file_wrapper"]``, which Django's FileResponse
and Flask's send_file use) go out through ``SSLSocket.sendfile()``: with
kernel TX that is sendfile(2) from the page cache, the bytes never enter
the process. Stock gunicorn turns sendfile off whenever TLS is on, since
its sendfile would bypass the stdlib's userspace TLS; kssl's sendfile
encrypts in userspace when TX stays there, so it is safe either way.

The TLS settings are gunicorn's own (--certfile, --keyfile, --ca-certs,
--cert-reqs, --ciphers, --ssl-version, --do-handshake-on-connect,
--suppress-ragged-eofs); the context is built once per worker rather than
once per connection as ssl.wrap_socket() does.

gunicorn has no public hook for either change, so the worker replaces, in
its own process only, these three names (tested with Debian's gunicorn
20.1.0):

- ``gunicorn.workers.sync.ssl`` and ``gunicorn.workers.gthread.ssl``: the
  module each worker calls ``ssl.wrap_socket(sock, server_side=True,
  **cfg.ssl_options)`` on; it becomes a namespace whose wrap_socket uses
  the worker's kssl context (every other name is the stdlib ssl's);
- ``gunicorn.http.wsgi.Response``: the response class that wsgi.create()
  instantiates; the subclass lets sendfile() run on kssl sockets.
"""
import logging
import ssl as _ssl
import types

import gunicorn.http.wsgi as _wsgi
import gunicorn.workers.gthread as _gthread
import gunicorn.workers.sync as _sync

from ._context import SSLContext
from ._socket import SSLSocket

__all__ = ["SyncWorker", "ThreadWorker", "context_from_config"]

_log = logging.getLogger("gunicorn.error")


def context_from_config(cfg):
    """A server-side kssl.SSLContext from gunicorn's SSL settings, with the
    meaning ssl.wrap_socket() gives them."""
    opts = cfg.ssl_options
    version = opts.get("ssl_version", _ssl.PROTOCOL_TLS_SERVER)
    if version == _ssl.PROTOCOL_TLS:  # gunicorn's default; server side here
        version = _ssl.PROTOCOL_TLS_SERVER
    ctx = SSLContext(version)
    ctx.verify_mode = opts.get("cert_reqs", _ssl.CERT_NONE)
    if opts.get("ca_certs"):
        ctx.load_verify_locations(opts["ca_certs"])
    if opts.get("certfile"):
        ctx.load_cert_chain(opts["certfile"], opts.get("keyfile"))
    if opts.get("ciphers"):
        ctx.set_ciphers(opts["ciphers"])
    return ctx


def _ssl_namespace(ctx):
    """What the worker modules see as `ssl`: wrap_socket on ctx, the rest
    the stdlib's (SSLError, SSL_ERROR_EOF, ...)."""
    ns = types.SimpleNamespace(**{n: getattr(_ssl, n) for n in dir(_ssl)
                                  if not n.startswith("__")})

    def wrap_socket(sock, server_side=True, do_handshake_on_connect=True,
                    suppress_ragged_eofs=True, **_ignored):
        # _ignored: the settings already applied to ctx (certfile, ...).
        return ctx.wrap_socket(sock, server_side=server_side,
                               do_handshake_on_connect=do_handshake_on_connect,
                               suppress_ragged_eofs=suppress_ragged_eofs)

    ns.wrap_socket = wrap_socket
    return ns


class _SendfileConfig:
    """The worker's config, except that is_ssl reads False: gunicorn's
    Response.sendfile() refuses TLS sockets only because the stdlib's
    cannot sendfile; a kssl socket can."""

    is_ssl = False

    def __init__(self, cfg):
        self._cfg = cfg

    def __getattr__(self, name):
        return getattr(self._cfg, name)


class _Response(_wsgi.Response):
    def sendfile(self, respiter):
        if not isinstance(self.sock, SSLSocket):
            return super().sendfile(respiter)
        cfg = self.cfg
        self.cfg = _SendfileConfig(cfg)
        try:
            done = super().sendfile(respiter)
        finally:
            self.cfg = cfg
        if done:
            off = self.sock.offload
            _log.debug("kssl: file response by sendfile, tx=%s",
                       off.tx if off else "user")
        return done


def _install(worker):
    if not worker.cfg.is_ssl:
        return
    ns = _ssl_namespace(context_from_config(worker.cfg))
    _sync.ssl = ns
    _gthread.ssl = ns
    _wsgi.Response = _Response


class SyncWorker(_sync.SyncWorker):
    """gunicorn's sync worker on kssl sockets (see the module doc)."""

    def init_process(self):
        _install(self)
        super().init_process()


class ThreadWorker(_gthread.ThreadWorker):
    """gunicorn's gthread worker on kssl sockets (see the module doc)."""

    def init_process(self):
        _install(self)
        super().init_process()
