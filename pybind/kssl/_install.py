"""kssl.install(): kssl in place of the ssl module, for unmodified programs.

install() binds sys.modules["ssl"] to the kssl package, so every later
`import ssl` (the program's, a library's, or a stdlib module's imported
afterwards: http.client, urllib, ftplib, asyncio, ...) gets kssl.

kssl's own modules keep the stdlib's ssl: the ones imported with the
package already hold it; for kssl submodules imported afterwards (such as
kssl.asyncio) a finder gives each one an __import__ that resolves "ssl"
to the stdlib module, in that module's namespace only.
"""
import builtins
import importlib.abc
import importlib.machinery
import ssl as _ssl
import sys

_PACKAGE = __name__.rpartition(".")[0]


def _stdlib_import(name, globals=None, locals=None, fromlist=(), level=0):
    if name == "ssl" and level == 0:
        return _ssl
    return builtins.__import__(name, globals, locals, fromlist, level)


class _Loader(importlib.abc.Loader):
    """Runs a kssl submodule with `import ssl` meaning the stdlib's."""

    def __init__(self, loader):
        self._loader = loader

    def __getattr__(self, name):
        # get_source, get_filename, is_package, ...: the real loader's.
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        own = dict(builtins.__dict__)
        own["__import__"] = _stdlib_import
        module.__builtins__ = own
        self._loader.exec_module(module)


class _Finder(importlib.abc.MetaPathFinder):
    """Finds kssl submodules as usual and wraps their loader."""

    def find_spec(self, fullname, path, target=None):
        if not fullname.startswith(_PACKAGE + "."):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or not isinstance(
                spec.loader, importlib.machinery.SourceFileLoader):
            return spec
        spec.loader = _Loader(spec.loader)
        return spec


def install():
    """Put kssl in place of the stdlib ssl module (sys.modules["ssl"]).

    Call it before the program imports what uses ssl: every `import ssl`
    executed afterwards gets kssl. Modules that imported ssl before keep
    the stdlib module they bound (their contexts and sockets stay the
    stdlib's, without offload). A context hook already assigned on the
    stdlib module (_create_default_https_context, _create_stdlib_context)
    is kept. Idempotent; returns the kssl module.
    """
    package = sys.modules[_PACKAGE]
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
    _adopt_hooks(package)
    sys.modules["ssl"] = package
    return package


def _adopt_hooks(package):
    # A context hook the program already set on the stdlib module (say
    # ssl._create_default_https_context = ssl._create_unverified_context)
    # carries over to kssl; the stdlib's own factories map to kssl's. (Set
    # in kssl's namespace only: the stdlib module keeps its value.)
    twins = {_ssl.create_default_context: package.create_default_context,
             _ssl._create_unverified_context:
                 package._create_unverified_context}
    for name, default in (
            ("_create_default_https_context", _ssl.create_default_context),
            ("_create_stdlib_context", _ssl._create_unverified_context)):
        value = getattr(_ssl, name)
        if value is not default and value is not getattr(package, name):
            package.__dict__[name] = twins.get(value, value)
