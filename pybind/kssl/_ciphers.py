"""IANA cipher suite names (MicroPython/QuecPython/mbedTLS style) for kssl.

OpenSSL cipher strings take OpenSSL's names only ("ECDHE-RSA-AES128-GCM-
SHA256"); SSLContext.set_ciphers() also takes a list of IANA names
("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"), mapped here through the table of
every suite OpenSSL knows (_kssl.cipher_table()). TLS 1.3 names
("TLS_AES_128_GCM_SHA256") are OpenSSL's names too and go to the TLS 1.3
list. Names OpenSSL 3.0 cannot offer are refused with the reason.
"""
import functools
import ssl as _ssl

from . import _kssl


class Suite:
    __slots__ = ("iana", "openssl", "id", "code", "version")

    def __init__(self, iana, openssl, id_, code, version):
        self.iana, self.openssl, self.id = iana, openssl, id_
        self.code, self.version = code, version

    @property
    def tls13(self):
        return self.version == "TLSv1.3"


@functools.lru_cache(maxsize=None)
def table():
    """{IANA name: Suite} for every suite this OpenSSL can negotiate."""
    return {t[0]: Suite(*t) for t in _kssl.cipher_table()}


@functools.lru_cache(maxsize=None)
def _by_id():
    return {s.id: s.iana for s in table().values()}


def iana_of(cipher_id):
    """IANA name for an ssl get_ciphers() 'id' (None if unknown)."""
    return _by_id().get(cipher_id)


def unavailable_reason(name):
    """Why OpenSSL cannot offer the suite `name`, or None if it can."""
    if name in table():
        return None
    if name == "TLS_EMPTY_RENEGOTIATION_INFO_SCSV":
        return ("a signalling cipher suite value (RFC 5746), not a cipher "
                "suite: OpenSSL puts it in every initial ClientHello itself")
    if name.startswith(("TLS_ECDH_RSA_", "TLS_ECDH_ECDSA_")):
        return ("static ECDH key exchange (RFC 4492 ECDH_RSA/ECDH_ECDSA) is "
                "not implemented in OpenSSL (removed in 1.1.0)")
    if "_CAMELLIA_" in name and "_GCM_" in name:
        return ("Camellia-GCM suites (RFC 6367) are not implemented in "
                "OpenSSL")
    return "not a cipher suite %s implements" % _ssl.OPENSSL_VERSION


def _no_cipher(why):
    # As the stdlib's set_ciphers failure, with the reason in the text.
    e = _ssl.SSLError(_ssl.SSL_ERROR_SSL, "No cipher can be selected: " + why)
    e.library, e.reason = "SSL", "NO_CIPHER_MATCH"
    return e


def split(names):
    """A list of IANA names -> (TLS 1.2 OpenSSL names, TLS 1.3 names).

    Raises ssl.SSLError naming the first suite OpenSSL cannot offer.
    """
    if isinstance(names, (bytes, bytearray)):
        raise TypeError("cipher suite names must be str")
    tls12, tls13 = [], []
    known = table()
    for name in names:
        if not isinstance(name, str):
            raise TypeError("cipher suite names must be str, not %s"
                            % type(name).__name__)
        why = unavailable_reason(name)
        if why is not None:
            raise _no_cipher("%s: %s" % (name, why))
        suite = known[name]
        (tls13 if suite.tls13 else tls12).append(
            suite.iana if suite.tls13 else suite.openssl)
    if not tls12 and not tls13:
        raise _no_cipher("empty list")
    return tls12, tls13
