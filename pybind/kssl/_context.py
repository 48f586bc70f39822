"""kssl.SSLContext: an ssl.SSLContext whose sockets run on libkssl.

Every setting goes to the stdlib context first (so it is validated, reads
back, and wrap_bio()/asyncio keep working on the stdlib implementation),
and is then mirrored into a libkssl context. Settings made by methods
(certificates, CAs, ciphers, ALPN, curves) are recorded and replayed;
settings that are properties (verify_mode, versions, options, ...) are
read back from the stdlib context when a native context is built. Native
contexts are built lazily, one per role, and rebuilt when anything changed.
"""
import enum
import os
import ssl as _ssl
import threading

from . import _ciphers, _errors, _kssl
from ._certdata import as_data, is_pem, memfile, password_bytes, read, to_pem

OFFLOAD_MODES = {"both": 0, "tx": 1, "rx": 2, "none": 3}


class DTLSMethod(enum.IntEnum):
    """kssl's DTLS protocols for SSLContext(protocol) (MicroPython names;
    the stdlib has none). Values differ from every ssl.PROTOCOL_*."""
    PROTOCOL_DTLS_CLIENT = 0xD0
    PROTOCOL_DTLS_SERVER = 0xD1


# The stdlib half of a DTLS context: it holds and validates the settings.
_DTLS_BASE = {DTLSMethod.PROTOCOL_DTLS_CLIENT: _ssl.PROTOCOL_TLS_CLIENT,
              DTLSMethod.PROTOCOL_DTLS_SERVER: _ssl.PROTOCOL_TLS_SERVER}


# Version-specific protocols: the one version each negotiates.
_LEGACY_PINS = {_ssl.PROTOCOL_TLSv1_2: 0x0303, _ssl.PROTOCOL_TLSv1_1: 0x0302,
                _ssl.PROTOCOL_TLSv1: 0x0301}
_SSL3 = 0x0300  # OpenSSL's lowest bound: "no minimum" (SSL 3.0 if built)

# X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT
_HOST_NO_PARTIAL_WILDCARDS = 0x4
_HOST_NEVER_CHECK_SUBJECT = 0x20


class _State:
    __slots__ = ("lock", "ops", "gen", "ciphers", "tls13", "alpn",
                 "groups", "dh", "offload", "native", "retired_stats",
                 "store_seen")

    def __init__(self):
        self.lock = threading.RLock()
        self.ops = []          # (native method name, args), replayed in order
        self.gen = 0           # bumped by every recorded change
        self.ciphers = None    # the string given to set_ciphers
        self.tls13 = None      # TLS 1.3 suites from set_ciphers(list)
        self.alpn = None
        self.groups = None
        self.dh = None         # load_dh_params' file (absolute)
        self.offload = "both"
        self.native = {}       # server_side -> (settings key, _kssl.Context)
        self.retired_stats = {}  # session counters of replaced natives
        self.store_seen = set()  # native store certificates given to the
                                 # stdlib half (_sync_store)


_state_lock = threading.Lock()


# set_servername_callback() changes the stdlib half without an attribute
# assignment: the one setting read back at each wrap_socket.
_raw_sni = _ssl._SSLContext.sni_callback.__get__
# _msg_callback's C slot: the stdlib's enum-making wrapper of the callback.
_raw_msg = _ssl._SSLContext._msg_callback.__get__


def _add_stats(total, more):
    for k, v in more.items():
        total[k] = total.get(k, 0) + v


class _DTLSSockets:
    """The sslsocket_class of a PROTOCOL_DTLS_* context: wrap_socket()
    (the stdlib's) makes a kssl.DTLSSocket on a UDP socket."""

    @staticmethod
    def _create(sock, server_side=False, do_handshake_on_connect=True,
                suppress_ragged_eofs=True, server_hostname=None,
                context=None, session=None):
        from ._dtls import DTLSSocket
        return DTLSSocket(context, sock, bool(server_side), server_hostname,
                          do_handshake_on_connect)


class SSLContext(_ssl.SSLContext):
    """ssl.SSLContext whose wrap_socket() returns kssl.SSLSocket objects.

    Extra attribute: kssl_offload = "both" | "tx" | "rx" | "none", which
    directions kssl may move into kernel TLS (default "both"). With a
    PROTOCOL_DTLS_* context, wrap_socket() takes a UDP socket and returns
    a kssl.DTLSSocket.
    """

    sslsocket_class = None  # kssl.SSLSocket, set by kssl/_socket.py

    def __new__(cls, protocol=None, *args, **kwargs):
        base = _DTLS_BASE.get(protocol) if isinstance(protocol, int) else None
        self = super().__new__(cls, protocol if base is None else base,
                               *args, **kwargs)
        if base is not None:
            self.__dict__["_kssl_dtls"] = DTLSMethod(protocol)
            # The stdlib's wrap_socket() then makes a kssl.DTLSSocket.
            self.__dict__["sslsocket_class"] = _DTLSSockets
        return self

    @property
    def protocol(self):
        dtls = self.__dict__.get("_kssl_dtls")
        return dtls if dtls is not None else super().protocol

    @property
    def _dtls(self):
        return self.__dict__.get("_kssl_dtls") is not None

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

    def __setattr__(self, name, value):
        # verify_mode, options, minimum_version, post_handshake_auth, ...:
        # any of them may change what the native contexts must hold.
        super().__setattr__(name, value)
        st = self.__dict__.get("_kssl_state")
        if st is not None:
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
        """As ssl.SSLContext.load_cert_chain; certfile and keyfile may also
        be the certificate and key themselves (MicroPython extension): see
        _certdata.as_data() for how data is told from a path."""
        cert_data, key_data = as_data(certfile), as_data(keyfile)
        if cert_data is not None or key_data is not None:
            if cert_data is None:
                cert_data = read(certfile)
            if key_data is None and keyfile is not None:
                key_data = read(keyfile)
            self._load_cert_data(cert_data, key_data, password)
            return
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

    def _load_cert_data(self, cert, key, password=None):
        """Certificate (chain) and key given as PEM or DER bytes.

        Raises ValueError("invalid cert") / ValueError("invalid key") when
        one does not parse (as MicroPython; the libkssl reason is chained),
        ssl.SSLError when the key does not match the certificate.
        """
        password = password_bytes(password)
        key_pem = to_pem(cert if key is None else key, "key")
        cert_pem = to_pem(cert, "cert")
        try:
            # A server context: it does not load the system CA store.
            _kssl.Context(True).use_cert_mem(cert_pem, key_pem, False,
                                             password)
        except _ssl.SSLError as e:
            # libkssl's reason for data that does not parse (kssl.h)
            why = getattr(e, "_kssl_reason", None)
            if why == _errors.R_BAD_CERT_DATA:
                raise ValueError("invalid cert") from e
            if why == _errors.R_BAD_KEY_DATA:
                raise ValueError("invalid key") from e
            raise
        with memfile(cert_pem) as cpath, memfile(key_pem) as kpath:
            super().load_cert_chain(cpath, kpath, password)
        self._record("use_cert_mem", cert_pem, key_pem, False, password)

    def load_verify_locations(self, cafile=None, capath=None, cadata=None):
        """As ssl.SSLContext.load_verify_locations; cadata may also be PEM
        as bytes (MicroPython), besides PEM str and DER bytes."""
        if (isinstance(cadata, (bytes, bytearray, memoryview))
                and is_pem(cadata)):
            try:
                cadata = bytes(cadata).decode("ascii")
            except UnicodeDecodeError:
                pass  # not PEM after all: DER to the stdlib, which refuses it
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
        """An OpenSSL cipher string (as ssl), or a list of IANA suite names.

        A list is the whole set of suites offered: its TLS 1.2 names become
        the TLS 1.2 cipher list, its TLS 1.3 names the TLS 1.3 suites (kssl
        sockets only: the stdlib half keeps OpenSSL's default TLS 1.3
        suites). A list of TLS 1.2 names only sets maximum_version to TLS
        1.2, one of TLS 1.3 names only sets minimum_version to TLS 1.3
        (OpenSSL cannot hold an empty TLS 1.2 list), undoing the opposite
        bound if an earlier list set it.
        """
        if isinstance(ciphers, str):
            super().set_ciphers(ciphers)
            with self._kst().lock:
                self._set("ciphers", ciphers)
                self._set("tls13", None)
            return
        tls12, tls13 = _ciphers.split(list(ciphers))
        if tls12:
            super().set_ciphers(":".join(tls12))
        self._fit_versions(bool(tls12), bool(tls13))
        with self._kst().lock:
            self._set("ciphers", ":".join(tls12) or None)
            self._set("tls13", tls13 or None)

    def _fit_versions(self, tls12, tls13):
        # A list of one version's suites selects that version (and undoes
        # the opposite bound an earlier list may have set).
        v = _ssl.TLSVersion
        if not tls13:
            if self.minimum_version == v.TLSv1_3:
                self.minimum_version = v.TLSv1_2
            self.maximum_version = v.TLSv1_2
        if not tls12:
            if self.maximum_version == v.TLSv1_2:
                self.maximum_version = v.MAXIMUM_SUPPORTED
            self.minimum_version = v.TLSv1_3

    def get_ciphers(self):
        """As ssl.SSLContext.get_ciphers(), each dict with one more key:
        'iana', the suite's IANA name. After set_ciphers(list) the TLS 1.3
        entries are the listed ones the stdlib half also has."""
        tls13 = self._kst().tls13
        out = []
        for c in super().get_ciphers():
            c["iana"] = _ciphers.iana_of(c["id"])
            if (tls13 is not None and c.get("protocol") == "TLSv1.3"
                    and c["iana"] not in tls13):
                continue
            out.append(c)
        return out

    def set_alpn_protocols(self, alpn_protocols):
        protocols = list(alpn_protocols)
        super().set_alpn_protocols(protocols)
        self._set("alpn", protocols)

    def set_ecdh_curve(self, name):
        super().set_ecdh_curve(name)
        self._set("groups", name)

    def load_dh_params(self, path):
        # The stdlib half reads and checks the file (its exceptions); the
        # native half loads it again, after the security level is set.
        super().load_dh_params(path)
        self._set("dh", os.path.abspath(os.fspath(path)))

    # -- the native context ---------------------------------------------

    def _settings_key(self, st):
        # Checked at every wrap_socket, so no reading back of every setting
        # (ssl's enum-making properties cost ~10 us each): attribute
        # assignments bump st.gen (__setattr__), methods record themselves.
        # _kssl.wrap() (pybind/setup.c) compares the same three in C.
        return (st.gen, st.offload, _raw_sni(self))

    def _kssl_native(self, server_side):
        """The _kssl.Context for this role, built from current settings."""
        st = self._kst()
        # Fast path without the lock (a dict read is atomic): the settings
        # have not changed since the native context was built.
        cached = st.native.get(server_side)
        if cached is not None and cached[0] == self._settings_key(st):
            return cached[1]
        with st.lock:
            key = self._settings_key(st)
            cached = st.native.get(server_side)
            if cached is not None and cached[0] == key:
                return cached[1]
            native = self._build_native(st, server_side)
            if cached is not None:
                _add_stats(st.retired_stats,
                           _kssl.session_stats(cached[1]))
                self._sync_store(st, [cached[1]])
            st.native[server_side] = (key, native)
            return native

    def _sync_store(self, st, natives):
        # While verifying, OpenSSL adds the certificates it looks up in a
        # hash directory (capath, the default one) to the store of the
        # context that verifies: for kssl sockets a native one. The
        # stdlib's store would hold them after the same connections, so
        # they go to the stdlib half, which get_ca_certs() and
        # cert_store_stats() read (duplicates are ignored there).
        for native in natives:
            for der in native.store_certs():
                if der not in st.store_seen:
                    st.store_seen.add(der)
                    _ssl._SSLContext.load_verify_locations(self, cadata=der)

    def get_ca_certs(self, binary_form=False):
        """As ssl.SSLContext.get_ca_certs(), including the CA certificates
        this context's kssl sockets loaded from a capath while verifying."""
        st = self._kst()
        with st.lock:
            self._sync_store(st, [n for _, n in st.native.values()])
        return super().get_ca_certs(binary_form)

    def cert_store_stats(self):
        """As ssl.SSLContext.cert_store_stats(), counting the certificates
        this context's kssl sockets loaded from a capath while verifying."""
        st = self._kst()
        with st.lock:
            self._sync_store(st, [n for _, n in st.native.values()])
        return super().cert_store_stats()

    def session_stats(self):
        """As ssl.SSLContext.session_stats(): the stdlib half's counters
        (wrap_bio, asyncio's stock path) plus those of the libkssl
        contexts this context's sockets ran on."""
        out = super().session_stats()
        st = self._kst()
        with st.lock:
            _add_stats(out, st.retired_stats)
            for _, native in st.native.values():
                _add_stats(out, _kssl.session_stats(native))
        return out

    def _versions(self):
        # The stdlib's bounds, given to OpenSSL under libkssl as the
        # stdlib gives them to its own, so that OpenSSL offers, accepts and
        # refuses exactly the same versions, TLS 1.0/1.1 included (such a
        # connection stays in userspace; `offload` says why). One
        # exception: the stdlib's "no minimum" (MINIMUM_SUPPORTED, the
        # default of Debian's 3.11.2) keeps libkssl's TLS 1.2 floor (no
        # TLS 1.0/1.1 without a pin), unless TLS 1.2 itself is turned off
        # (maximum_version below it, OP_NO_TLSv1_2): then what OpenSSL has
        # left below it is what the stdlib would try.
        lo, hi = int(self.minimum_version), int(self.maximum_version)
        tls12 = _kssl.TLS1_2
        hi = max(hi, 0)  # MAXIMUM_SUPPORTED: no maximum
        if lo < 0:       # MINIMUM_SUPPORTED
            no12 = 0 < hi < tls12 or self.options & _ssl.OP_NO_TLSv1_2
            lo = _SSL3 if no12 else 0
        return lo, hi  # lo > hi: OpenSSL's handshake fails, as the stdlib's

    def _cipher_list(self):
        # get_ciphers() is what OpenSSL made of the stdlib's cipher string
        # (its default or set_ciphers'), in preference order; TLS 1.3
        # suites are configured separately (and not settable in 3.11).
        names = [c["name"] for c in self.get_ciphers()
                 if c.get("protocol") != "TLSv1.3"]
        return ":".join(names) if names else self._kst().ciphers

    def _build_native(self, st, server_side):
        dtls = self._dtls
        native = _kssl.Context(server_side, dtls)
        if dtls:  # TLS natives start empty (kssl_ctx_new_ex)
            native.clear_cas()
        for method, args in st.ops:
            getattr(native, method)(*args)
        hostflags = _HOST_NO_PARTIAL_WILDCARDS
        if not self.hostname_checks_common_name:
            hostflags |= _HOST_NEVER_CHECK_SUBJECT
        native.set_verify(int(self.verify_mode), self.check_hostname,
                          int(self.verify_flags), hostflags)
        legacy = _LEGACY_PINS.get(self.protocol)
        if legacy is not None:
            # The stdlib's version-specific method (TLSv1_2_method() ...):
            # exactly that version, bounds and OP_NO_* options ignored.
            native.set_fixed_version(legacy)
        elif not dtls:  # DTLS contexts are DTLS 1.2, whatever the versions
            native.set_versions(*self._versions())
        ciphers = self._cipher_list()
        if ciphers:
            native.set_ciphers(ciphers, self.security_level)
        if st.dh and server_side and not dtls:
            native.load_dh_params(st.dh)
        if st.tls13 and not dtls:
            native.set_ciphersuites(":".join(st.tls13))
        if server_side:
            native.set_num_tickets(self.num_tickets)
        native.set_options(int(self.options))
        if st.alpn and not dtls:
            native.set_alpn(st.alpn)
        if st.groups:
            native.set_groups(st.groups)
        # The stdlib logs keys only where keylog_filename is set (which
        # create_default_context() does from $SSLKEYLOGFILE); libkssl
        # starts every context with $SSLKEYLOGFILE, so None turns it off.
        native.set_keylog_file(self.keylog_filename)
        native.set_offload(OFFLOAD_MODES[st.offload])
        if server_side and self.sni_callback is not None and not dtls:
            _kssl.enable_sni(native)
        if not server_side and not dtls:
            _kssl.keep_sessions(native)  # sock.session, as the stdlib's
        if self.post_handshake_auth and not dtls:
            _kssl.set_pha(native, True)
        if _raw_msg(self) is not None and not dtls:
            native.set_msg_cb(True)
        return native

    # -- sockets ----------------------------------------------------------

    def wrap_bio(self, *args, **kwargs):
        if self._dtls:
            raise NotImplementedError("kssl DTLS contexts wrap UDP sockets "
                                      "only (no wrap_bio)")
        return super().wrap_bio(*args, **kwargs)

    # ssl.SSLSocket._create/_real_connect call it in place of the stdlib's
    # C implementation: _wrap_socket(sock, server_side, server_hostname=None,
    # *, owner=None, session=None) returns the socket's `_sslobj`, a
    # kssl._socket.KsslObject. C as the stdlib's (pybind/setup.c): the role
    # check, _kssl_native's fast path, the object and its settings.
    _wrap_socket = _kssl.wrap_socket_method()
