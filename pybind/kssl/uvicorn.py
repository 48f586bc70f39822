"""uvicorn (ASGI) over kssl: TLS records in the kernel.

    import kssl.uvicorn
    kssl.uvicorn.run("app:app", host="0.0.0.0", port=8443,
                     ssl_certfile="cert.pem", ssl_keyfile="key.pem")

takes uvicorn.run()'s arguments. uvicorn builds its TLS context from the
ssl_* settings with the stdlib; here the same settings make a kssl context,
and the server runs on kssl.asyncio.EventLoop, whose create_server() hands
kssl contexts to kssl.asyncio: every connection does its handshake with
kssl and then reaches uvicorn as a plain socket transport over kernel TLS.

What is offloaded: the TLS record layer of every connection (encryption
and decryption in the kernel). What is not: zero-copy file bodies — ASGI
has no sendfile (responses are bytes handed to transport.write), so a file
still passes through the process, unlike aiohttp's FileResponse or WSGI's
wsgi.file_wrapper under kssl.gunicorn.

uvicorn has no public hook for the context or the loop object, so this
module uses (tested with Debian's uvicorn 0.17.6): Config(loop="none"),
which makes uvicorn use the current event loop policy; Config.load(),
which builds config.ssl; and the config.ssl attribute, replaced by the
kssl context before the server starts.
"""
import asyncio
import ssl as _ssl

from ._context import SSLContext
from ._event_loop import EventLoopPolicy

__all__ = ["run", "context_from_config"]


def context_from_config(config):
    """A kssl.SSLContext with the meaning uvicorn gives its ssl_* settings."""
    ctx = SSLContext(config.ssl_version)
    password = config.ssl_keyfile_password
    ctx.load_cert_chain(config.ssl_certfile, config.ssl_keyfile,
                        (lambda: password) if password else None)
    ctx.verify_mode = config.ssl_cert_reqs
    if config.ssl_ca_certs:
        ctx.load_verify_locations(config.ssl_ca_certs)
    if config.ssl_ciphers:
        ctx.set_ciphers(config.ssl_ciphers)
    return ctx


def run(app, **kwargs):
    """uvicorn.run(app, **kwargs) with kssl TLS (see the module doc). One
    process: reload and workers > 1 are refused."""
    import uvicorn

    if kwargs.get("reload") or (kwargs.get("workers") or 1) > 1:
        raise ValueError("kssl.uvicorn.run serves in one process: no reload, workers=1")
    kwargs["loop"] = "none"
    config = uvicorn.Config(app, **kwargs)
    config.load()
    if isinstance(config.ssl, _ssl.SSLContext) and not isinstance(config.ssl, SSLContext):
        config.ssl = context_from_config(config)
    asyncio.set_event_loop_policy(EventLoopPolicy())
    try:
        uvicorn.Server(config).run()
    finally:
        asyncio.set_event_loop_policy(None)
