"""Python exceptions for failed libkssl calls, built from numbers only.

pybind/errors.c hands over what libkssl reports about a failure as numbers
(KSSL_E_* code, KSSL_R_* reason and its detail, errno, OpenSSL's library
and reason codes, the X509 verify code) plus OpenSSL's own texts for those
codes. Nothing here reads a libkssl message to decide anything: the libkssl
text only ends up in exceptions that have no stdlib counterpart.

The exception classes, args and message text are the stdlib's: the
message is built as CPython's _ssl.c builds it ("[LIB: REASON] text
(_ssl.c:LINE)"), with the library and reason names from the running
interpreter's own tables (_ssl.lib_codes_to_names, err_codes_to_names).
LINE is the source line of the _ssl.c call site that raises in the stdlib
(one per operation: handshake, read, write, shutdown); it differs between
CPython builds, so it is observed once from the running stdlib by making
each operation fail on a memory BIO (no sockets, no certificates).
"""
import os
import ssl
import _ssl

# ssl.SSL_ERROR_* values, which the stdlib puts in args[0] (errno).
_SSL_ERROR_SSL = 1
_SSL_ERROR_WANT_READ = 2
_SSL_ERROR_WANT_WRITE = 3
_SSL_ERROR_SYSCALL = 5
_SSL_ERROR_ZERO_RETURN = 6
_SSL_ERROR_EOF = 8

# include/kssl/kssl.h: enum kssl_error / enum kssl_reason
E_WANT_READ, E_WANT_WRITE, E_SYSCALL, E_TLS, E_CERT, E_ALERT, E_EOF = \
    -1, -2, -3, -4, -5, -6, -7
E_INVAL, E_NOMEM, E_FILE, E_SHORT_FILE, E_REKEY, E_CLOSED, E_INTR = \
    -8, -9, -10, -11, -12, -13, -14
R_ERRNO, R_OPENSSL, R_BAD_CERT_DATA, R_BAD_KEY_DATA = 1, 2, 3, 4
R_PEER_ALERT, R_VERIFY_FAILED, R_UNEXPECTED_EOF = 7, 8, 9
R_KERNEL_RECORD = 10

_LINES = {}


def _fail_on_memory_bio(op):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    if op != "shutdown":
        # Not a TLS record: every operation fails in the handshake.
        incoming.write(b"\x16\x03\x01\x00\x02\xff\xff" + bytes(64))
    call = {"handshake": obj.do_handshake,
            "read": lambda: obj.read(1),
            "write": lambda: obj.write(b"x"),
            "shutdown": obj.unwrap}[op]
    try:
        call()
    except ssl.SSLError as e:
        text = str(e)
        if text.endswith(")") and "(_ssl.c:" in text:
            return int(text[text.rindex(":") + 1:-1])
    return None


def lineno(op):
    """The _ssl.c line the stdlib names for a failure in op."""
    if op not in _LINES:
        try:
            _LINES[op] = _fail_on_memory_bio(op)
        except Exception:  # pragma: no cover - a stdlib without MemoryBIO
            _LINES[op] = None
    return _LINES[op]


def _suffix(op):
    # Context calls (op None): the stdlib's line is that of the SSLContext
    # method, which cannot be observed without certificates: no suffix.
    line = lineno(op) if op else None
    return "" if line is None else " (_ssl.c:%d)" % line


def _handshake_timeout_line():
    # The stdlib names its source line in this one message only
    # ("_ssl.c:975: The handshake operation timed out"): observe it once on
    # a socket pair whose other end never answers.
    import socket
    a, b = socket.socketpair()
    try:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        a.settimeout(0.001)
        with ctx.wrap_socket(a, do_handshake_on_connect=False) as s:
            s.do_handshake()
    except TimeoutError as e:
        text = str(e)
        if text.startswith("_ssl.c:"):
            return int(text.split(":")[1])
    finally:
        a.close()
        b.close()
    return None


def timeout_text(op):
    """The stdlib's TimeoutError text for op (pybind/conn.c)."""
    text = "The %s operation timed out" % op
    if op == "handshake":
        if "timeout" not in _LINES:
            try:
                _LINES["timeout"] = _handshake_timeout_line()
            except Exception:  # pragma: no cover
                _LINES["timeout"] = None
        if _LINES["timeout"] is not None:
            text = "_ssl.c:%d: %s" % (_LINES["timeout"], text)
    return text


def suffixed(text, op):
    """text as the stdlib's _ssl.c raises it from op (pybind/eof.c)."""
    return text + _suffix(op)


def _ssl_exc(cls, errno, library, reason, text):
    exc = cls(errno, text)
    exc.library = library
    exc.reason = reason
    return exc


def _openssl_names(lib, reason):
    library = _ssl.lib_codes_to_names.get(lib)
    name = _ssl.err_codes_to_names.get((lib, reason))
    return library, name


def _openssl_text(lib, reason, errstr, op, extra=None):
    """The stdlib's message for an OpenSSL error (fill_and_set_sslerror)."""
    library, name = _openssl_names(lib, reason)
    text = errstr or "unknown error"
    if extra is not None:
        text = "%s: %s" % (text, extra)
    if library and name:
        text = "[%s: %s] %s" % (library, name, text)
    elif library:
        text = "[%s] %s" % (library, text)
    return library, name, text + _suffix(op)


def _verify_message(verify_code, verify_text, server_name):
    # The stdlib's wording for the two checks it makes itself.
    if verify_code == 62 and server_name:  # X509_V_ERR_HOSTNAME_MISMATCH
        return ("Hostname mismatch, certificate is not valid for '%s'."
                % server_name)
    if verify_code == 64 and server_name:  # X509_V_ERR_IP_ADDRESS_MISMATCH
        return ("IP address mismatch, certificate is not valid for '%s'."
                % server_name)
    return verify_text


def build(code, reason, detail, sys_errno, lib, lib_reason, errstr,
          verify_text, server_name, message, op, ignore_eof=False):
    """Return the exception for one failure (see pybind/errors.c). It
    carries libkssl's numbers as _kssl_code, _kssl_reason, _kssl_detail."""
    if code == E_EOF and ignore_eof:
        # OP_IGNORE_UNEXPECTED_EOF: OpenSSL reports a bare EOF as a clean
        # close (SSL_ERROR_ZERO_RETURN), and the stdlib says so.
        exc = _ssl_exc(ssl.SSLZeroReturnError, _SSL_ERROR_ZERO_RETURN, None,
                       None, "TLS/SSL connection has been closed (EOF)"
                       + _suffix(op))
    else:
        exc = _build(code, reason, detail, sys_errno, lib, lib_reason,
                     errstr, verify_text, server_name, message, op)
    exc._kssl_code = code
    exc._kssl_reason = reason
    exc._kssl_detail = detail
    return exc


def _build(code, reason, detail, sys_errno, lib, lib_reason, errstr,
           verify_text, server_name, message, op):
    if code == E_WANT_READ:
        return _ssl_exc(ssl.SSLWantReadError, _SSL_ERROR_WANT_READ, None,
                        None, "The operation did not complete (read)"
                        + _suffix(op))
    if code == E_WANT_WRITE:
        return _ssl_exc(ssl.SSLWantWriteError, _SSL_ERROR_WANT_WRITE, None,
                        None, "The operation did not complete (write)"
                        + _suffix(op))
    if code == E_NOMEM:
        return MemoryError()
    if code == E_INVAL:
        return ValueError(message)
    if code == E_EOF or reason == R_UNEXPECTED_EOF:
        return _ssl_exc(ssl.SSLEOFError, _SSL_ERROR_EOF, "SSL",
                        "UNEXPECTED_EOF_WHILE_READING",
                        "[SSL: UNEXPECTED_EOF_WHILE_READING] EOF occurred in "
                        "violation of protocol" + _suffix(op))
    if code == E_CERT:
        vmsg = _verify_message(detail, verify_text, server_name)
        # SSL_R_CERTIFICATE_VERIFY_FAILED (134) when OpenSSL named none
        library, name, text = _openssl_text(
            lib or 20, lib_reason or 134,
            errstr or "certificate verify failed", op, vmsg)
        exc = _ssl_exc(ssl.SSLCertVerificationError, _SSL_ERROR_SSL,
                       library, name, text)
        exc.verify_code = detail
        exc.verify_message = vmsg
        return exc
    if code in (E_SYSCALL, E_INTR) and sys_errno:
        # OSError(errno, text) picks ConnectionResetError etc., as the
        # stdlib's socket calls raise.
        return OSError(sys_errno, os.strerror(sys_errno))
    if code == E_SYSCALL:
        return _ssl_exc(ssl.SSLSyscallError, _SSL_ERROR_SYSCALL, None, None,
                        message + _suffix(op))
    if lib:
        library, name, text = _openssl_text(lib, lib_reason, errstr, op)
        return _ssl_exc(ssl.SSLError, _SSL_ERROR_SSL, library, name, text)
    names = {E_REKEY: "KEY_UPDATE_NOT_SUPPORTED",
             E_CLOSED: "CONNECTION_FAILED"}
    return _ssl_exc(ssl.SSLError, _SSL_ERROR_SSL, "KSSL",
                    names.get(code, _code_name(code)), message)


def _code_name(code):
    for k, v in globals().items():
        if k.startswith("E_") and v == code:
            return k[2:]
    return "ERROR"
