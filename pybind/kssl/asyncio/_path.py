"""Which transport a connection gets: kssl's socket transport or
asyncio's stock ssl transport (see the package docstring)."""
import sys

from .. import _kssl
from .._context import SSLContext
from . import _cpython

_kernel_tls = None


def _kernel_has_tls():
    global _kernel_tls
    if _kernel_tls is None:
        _kernel_tls = bool(_kssl.kernel_has_tls())
    return _kernel_tls


def choose_path(loop, ctx):
    """(True, None) for the kssl path, or (False, why not)."""
    if not isinstance(ctx, SSLContext):
        return False, "not a kssl.SSLContext: asyncio's stock ssl transport"
    override = sys.modules[__package__]._path_override
    if override is not None:
        return override == "kssl", "forced stock path (tests)"
    if not _cpython.is_selector_loop(loop):
        return False, ("%s is not a selector event loop: asyncio's stock "
                       "ssl transport" % type(loop).__name__)
    if ctx.kssl_offload == "none":
        return False, "kssl_offload is 'none': asyncio's stock ssl transport"
    if not _kernel_has_tls():
        return False, ("kernel has no tls ULP (CONFIG_TLS): asyncio's stock "
                       "ssl transport")
    return True, None
