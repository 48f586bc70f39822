"""Certificates and keys given as data (MicroPython) where the stdlib
takes file paths: telling data from paths, PEM/DER, and handing data to
the stdlib half of a context, which loads PEM files only.
"""
import contextlib
import os
import ssl as _ssl
import tempfile

from . import _kssl


def is_pem(data):
    return bytes(data[:64]).lstrip()[:11] == b"-----BEGIN "


def is_der(data):
    """One DER SEQUENCE spanning exactly the whole buffer."""
    if len(data) < 2 or data[0] != 0x30:
        return False
    n = data[1]
    if n < 0x80:
        return 2 + n == len(data)
    k = n & 0x7F
    if not 1 <= k <= 4 or len(data) < 2 + k:
        return False
    return 2 + k + int.from_bytes(bytes(data[2:2 + k]), "big") == len(data)


def as_data(obj):
    """Certificate/key DATA passed where the stdlib takes a path, or None.

    bytearray and memoryview are always data (they cannot be paths); bytes
    are data when they are PEM text (start with "-----BEGIN ") or exactly
    one DER structure, else a path, as in the stdlib; str and os.PathLike
    are always paths.
    """
    if isinstance(obj, (bytearray, memoryview)):
        return bytes(obj)
    if isinstance(obj, bytes) and (is_pem(obj) or is_der(obj)):
        return obj
    return None


@contextlib.contextmanager
def memfile(data):
    """A path whose content is `data`: an anonymous memfd, never on disk
    (a private temporary file where memfd_create is missing)."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("kssl-pem", os.MFD_CLOEXEC)
        try:
            os.write(fd, data)
            yield "/proc/self/fd/%d" % fd
        finally:
            os.close(fd)
        return
    with tempfile.NamedTemporaryFile(suffix=".pem") as f:
        f.write(data)
        f.flush()
        yield f.name


def to_pem(data, kind):
    """PEM bytes for certificate or key data given as PEM or DER."""
    if is_pem(data):
        return data
    if kind == "key":
        return _kssl.key_pem(data)  # ValueError("invalid key")
    return _ssl.DER_cert_to_PEM_cert(data).encode("ascii")


def password_bytes(password):
    if callable(password):
        password = password()
    if isinstance(password, str):
        return password.encode("utf-8")
    return None if password is None else bytes(password)


def read(path):
    with open(path, "rb") as f:
        return f.read()
