"""kssl.SSLContext: an ssl.SSLContext whose sockets run on libkssl.

Every setting goes to the stdlib context first (so it is validated, reads
back, and wrap_bio()/asyncio keep working on the stdlib implementation),
and is then mirrored into a libkssl context. Settings made by methods
(certificates, CAs, ciphers, ALPN, curves) are recorded and replayed;
settings that are properties (verify_mode, versions, options, ...) are
read back from the stdlib context when a native context is built. Native
contexts are built lazily, one per role, and rebuilt when anything changed.
"""
import os
import ssl as _ssl
import threading

from . import _kssl

OFFLOAD_MODES = {"both": 0, "tx": 1, "rx": 2, "none": 3}

# X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT
_HOST_NO_PARTIAL_WILDCARDS = 0x4
_HOST_NEVER_CHECK_SUBJECT = 0x20


class _State:
    __slots__ = ("lock", "ops", "gen", "ciphers", "alpn", "groups",
                 "offload", "native")

    def __init__(self):
        self.lock = threading.RLock()
        self.ops = []          # (native method name, args), replayed in order
        self.gen = 0           # bumped by every recorded change
        self.ciphers = None    # the string given to set_ciphers
        self.alpn = None
        self.groups = None
        self.offload = "both"
        self.native = {}       # server_side -> (settings key, _kssl.Context)


_state_lock = threading.Lock()


class SSLContext(_ssl.SSLContext):
    """ssl.SSLContext whose wrap_socket() returns kssl.SSLSocket objects.

    Extra attribute: kssl_offload = "both" | "tx" | "rx" | "none", which
    directions kssl may move into kernel TLS (default "both").
    """

    sslsocket_class = None  # kssl.SSLSocket, set by kssl/_socket.py

    # -- recorded state -------------------------------------------------

    def _kst(self):
        st = self.__dict__.get("_kssl_state")
        if st is None:
            with _state_lock:
                st = self.__dict__.setdefault("_kssl_state", _State())
        return st

    def _record(self, method, *args):
        st = self._kst()
        with st.lock:
            st.ops.append((method, args))
            st.gen += 1

    def _set(self, name, value):
        st = self._kst()
        with st.lock:
            setattr(st, name, value)
            st.gen += 1

    @property
    def kssl_offload(self):
        return self._kst().offload

    @kssl_offload.setter
    def kssl_offload(self, mode):
        if mode not in OFFLOAD_MODES:
            raise ValueError("kssl_offload must be one of %s, not %r"
                             % (", ".join(map(repr, OFFLOAD_MODES)), mode))
        self._set("offload", mode)

    # -- methods mirrored into libkssl ----------------------------------

    def load_cert_chain(self, certfile, keyfile=None, password=None):
        if callable(password):
            given = []

            def remember():
                value = password()
                given.append(value)
                return value
            super().load_cert_chain(certfile, keyfile, remember)
            password = given[0] if given else None
        else:
            super().load_cert_chain(certfile, keyfile, password)
        if isinstance(password, str):
            password = password.encode("utf-8")
        elif password is not None:
            password = bytes(password)
        self._record("use_cert_file", os.path.abspath(os.fspath(certfile)),
                     None if keyfile is None
                     else os.path.abspath(os.fspath(keyfile)), password)

    def load_verify_locations(self, cafile=None, capath=None, cadata=None):
        super().load_verify_locations(cafile, capath, cadata)
        if cafile is not None:
            self._record("load_ca_file", os.path.abspath(os.fspath(cafile)))
        if capath is not None:
            self._record("load_ca_dir", os.path.abspath(os.fspath(capath)))
        if cadata is not None:
            if isinstance(cadata, str):
                self._record("load_ca_mem", cadata.encode("ascii"), False)
            else:
                self._record("load_ca_mem", bytes(memoryview(cadata)), True)

    def set_default_verify_paths(self):
        super().set_default_verify_paths()
        self._record("load_default_cas")

    def set_ciphers(self, ciphers):
        super().set_ciphers(ciphers)
        self._set("ciphers", ciphers)

    def set_alpn_protocols(self, alpn_protocols):
        protocols = list(alpn_protocols)
        super().set_alpn_protocols(protocols)
        self._set("alpn", protocols)

    def set_ecdh_curve(self, name):
        super().set_ecdh_curve(name)
        self._set("groups", name)

    # -- the native context ---------------------------------------------

    def _settings_key(self, st):
        return (st.gen, st.offload, int(self.verify_mode), self.check_hostname,
                int(self.minimum_version), int(self.maximum_version),
                int(self.options), self.num_tickets, self.keylog_filename,
                int(self.verify_flags), self.hostname_checks_common_name,
                self.security_level, self.sni_callback is not None)

    def _kssl_native(self, server_side):
        """The _kssl.Context for this role, built from current settings."""
        st = self._kst()
        with st.lock:
            key = self._settings_key(st)
            cached = st.native.get(server_side)
            if cached is not None and cached[0] == key:
                return cached[1]
            native = self._build_native(st, server_side)
            st.native[server_side] = (key, native)
            return native

    def _versions(self):
        lo, hi = int(self.minimum_version), int(self.maximum_version)
        tls12, tls13 = _kssl.TLS1_2, _kssl.TLS1_3
        if 0 < hi < tls12:
            raise _ssl.SSLError(
                "kssl supports TLS 1.2 and 1.3 only; maximum_version is %s"
                % self.maximum_version)
        # Anything below TLS 1.2 (or MINIMUM_SUPPORTED) is kssl's floor.
        return (tls13 if lo >= tls13 else 0,
                hi if hi in (tls12, tls13) else 0)

    def _cipher_list(self):
        # get_ciphers() is what OpenSSL made of the stdlib's cipher string
        # (its default or set_ciphers'), in preference order; TLS 1.3
        # suites are configured separately (and not settable in 3.11).
        names = [c["name"] for c in self.get_ciphers()
                 if c.get("protocol") != "TLSv1.3"]
        return ":".join(names) if names else self._kst().ciphers

    def _build_native(self, st, server_side):
        native = _kssl.Context(server_side)
        native.clear_cas()
        for method, args in st.ops:
            getattr(native, method)(*args)
        hostflags = _HOST_NO_PARTIAL_WILDCARDS
        if not self.hostname_checks_common_name:
            hostflags |= _HOST_NEVER_CHECK_SUBJECT
        native.set_verify(int(self.verify_mode), self.check_hostname,
                          int(self.verify_flags), hostflags)
        native.set_versions(*self._versions())
        ciphers = self._cipher_list()
        if ciphers:
            native.set_ciphers(ciphers, self.security_level)
        if server_side:
            native.set_num_tickets(self.num_tickets)
        native.set_options(int(self.options))
        if st.alpn:
            native.set_alpn(st.alpn)
        if st.groups:
            native.set_groups(st.groups)
        if self.keylog_filename:
            native.set_keylog_file(self.keylog_filename)
        native.set_offload(OFFLOAD_MODES[st.offload])
        if server_side and self.sni_callback is not None:
            _kssl.enable_sni(native)
        return native

    # -- sockets ----------------------------------------------------------

    def _wrap_socket(self, sock, server_side, server_hostname=None, *,
                     owner=None, session=None):
        # Called by ssl.SSLSocket._create/_real_connect in place of the
        # stdlib's C implementation: returns the `_sslobj` of the socket.
        from ._socket import KsslObject
        if server_side and self.protocol == _ssl.PROTOCOL_TLS_CLIENT:
            raise _ssl.SSLError("Cannot create a server socket with a "
                                "PROTOCOL_TLS_CLIENT context")
        if not server_side and self.protocol == _ssl.PROTOCOL_TLS_SERVER:
            raise _ssl.SSLError("Cannot create a client socket with a "
                                "PROTOCOL_TLS_SERVER context")
        native = self._kssl_native(bool(server_side))
        obj = KsslObject(native, sock, bool(server_side),
                         None if server_side else server_hostname)
        obj._setup(self, sock, owner, server_hostname)
        if session is not None:
            obj.session = session
        return obj
