/*
 * kssl._kssl: the thin CPython layer over libkssl. Two types, Context
 * (a kssl_ctx) and Conn (a kssl_conn on a socket's fd), plus the mapping
 * of KSSL_E_* codes onto the stdlib ssl exception classes. Everything
 * ssl-shaped (settings mirroring, SSLSocket, getpeercert dicts) lives in
 * the Python package; this file set only calls the C API, except
 * pybind/openssl.c (openssl.h), the one place that calls OpenSSL directly.
 *
 * Naming: the binding's own symbols are kp_* / KP_* (libkssl's internal
 * prefix ks_ is the library's alone).
 */
#ifndef KSSL_PYBIND_MODULE_H
#define KSSL_PYBIND_MODULE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <kssl/kssl.h>

/* The stdlib ssl classes, looked up once at import (module.c). */
struct kp_py_classes {
	PyObject *ssl_error;
	PyObject *zero_return;
	PyObject *want_read;
	PyObject *want_write;
	PyObject *syscall;
	PyObject *eof;
	PyObject *cert_verification;
};
extern struct kp_py_classes kp_cls;

extern PyTypeObject KsContext_Type;
extern PyTypeObject KsConn_Type;
extern PyTypeObject KsDtls_Type; /* dtls.c */

/*
 * values.c. read(len=default, buffer=None) as the stdlib's _sslobj.read:
 * kp_read_begin parses the arguments and gives the buffer to fill
 * (buf, len); kp_read_end(rd, n) returns the bytes object or the count
 * for n >= 0 bytes read, and releases everything (NULL) for n < 0.
 */
struct kp_read {
	Py_buffer view;   /* buffer= given */
	PyObject *bytes;  /* else: the result being filled */
	char *buf;
	Py_ssize_t len;
};
int kp_read_begin(struct kp_read *rd, PyObject *const *args, Py_ssize_t nargs,
		  Py_ssize_t default_len);
PyObject *kp_read_end(struct kp_read *rd, Py_ssize_t n);
/* (name, protocol, bits) of a suite, as the stdlib's cipher(). */
PyObject *kp_cipher_tuple(const struct kssl_cipher_desc *d);
/* The peer certificate's DER as bytes, None without one; ValueError
 * before the handshake. */
PyObject *kp_peer_der(int handshake_done, const uint8_t *der, size_t n);

/*
 * cert.c. A list of DER bytes (a new reference, consumed) as a list of
 * _ssl.Certificate objects; None stays None, NULL stays NULL.
 */
PyObject *kp_cert_list(PyObject *ders);

/* Module functions defined next to what they serve. */
PyObject *kp_cipher_table(PyObject *m, PyObject *unused); /* ciphers.c */
PyObject *kp_key_pem(PyObject *m, PyObject *arg);         /* context.c */
PyObject *kp_set_shared_rule(PyObject *m, PyObject *arg); /* conn_info.c */
/* session.c: session objects (KsSession_Type) and session counters. */
extern PyTypeObject KsSession_Type;
PyObject *kp_session_get(PyObject *m, PyObject *args);
PyObject *kp_session_set(PyObject *m, PyObject *args);
PyObject *kp_session_context(PyObject *m, PyObject *arg);
PyObject *kp_session_stats(PyObject *m, PyObject *arg);
PyObject *kp_keep_sessions(PyObject *m, PyObject *arg);
/* pha.c: post-handshake authentication. */
PyObject *kp_set_pha(PyObject *m, PyObject *args);
PyObject *kp_verify_pha(PyObject *m, PyObject *arg);

typedef struct {
	PyObject_HEAD
	kssl_ctx *ctx;
} KsContext;

typedef struct {
	PyObject_HEAD
	kssl_conn *conn;
	KsContext *native;     /* kssl_ctx the conn runs on (strong ref) */
	PyObject *sock_ref;    /* weakref to the Python socket object */
	PyObject *context;     /* the SSLContext (Python: _context) */
	PyObject *owner_ref;   /* weakref to the SSLSocket, or NULL (_owner) */
	PyObject *hostname;    /* server_hostname as given, or NULL */
	PyObject *cert;        /* getpeercert()'s dict once made (_cert) */
	PyObject *weakreflist;
	PyThread_type_lock lock; /* one kssl call on this conn at a time */
	int fd;
	int server_side;
	int ignore_eof;  /* OP_IGNORE_UNEXPECTED_EOF: a FIN reads as EOF */
	int eof_state;   /* enum kp_eof (eof.c): where in the stdlib's EOF
			    sequence the connection is; 0 = not ended */
	int raw_eof;     /* 1: libkssl's errors as they are (kssl.asyncio) */
	int eof_is_eoferror; /* this CPython's _ssl reports OpenSSL's
				UNEXPECTED_EOF as SSLEOFError (>= 3.11.3) */
	int shut_state;  /* enum kp_shut (eof.c): unwrap()'s progress */
	int unwrapping;  /* reads inside unwrap(): the stdlib's SSL_shutdown
			    reads there, so errors name its _ssl.c line */
	size_t wpend;    /* bytes of a record the stdlib's OpenSSL would hold
			    unsent (a failed write or alert, eof.c) */
	size_t wtry;     /* bytes the stdlib would put in the record of the
			    write that just failed (set by conn.c) */
	int werrno;      /* errno of the write that left wpend: what the
			    stdlib's unwrap() then reports (eof.c) */
	int fatal;       /* the stdlib's OpenSSL met a fatal error on a write
			    (BAD_LENGTH): version() None (eof.c) */
	PyObject *msg_exc[3]; /* what SSLContext._msg_callback raised, raised
				 when the call that ran it returns (msg.c) */
} KsConn;

/* conn_info.c: _sslobj methods about what the handshake negotiated. */
PyObject *kp_conn_cipher(KsConn *self, PyObject *unused);
PyObject *kp_conn_shared_ciphers(KsConn *self, PyObject *unused);
PyObject *kp_conn_version(KsConn *self, PyObject *unused);
PyObject *kp_conn_alpn(KsConn *self, PyObject *unused);
PyObject *kp_conn_compression(KsConn *self, PyObject *unused);
PyObject *kp_conn_channel_binding(KsConn *self, PyObject *args);
PyObject *kp_conn_peer_der(KsConn *self, PyObject *unused);
PyObject *kp_conn_chain(KsConn *self, PyObject *arg);
PyObject *kp_conn_verified_chain(KsConn *self, PyObject *unused);
PyObject *kp_conn_unverified_chain(KsConn *self, PyObject *unused);

/*
 * msg.c. SSLContext._msg_callback: kp_msg_enable(ctx, on) has libkssl
 * report a native context's protocol messages; kp_msg_raise(self) raises
 * what the callback raised during the call that just returned (chained
 * to the call's own error, as the stdlib's _ssl does): -1, or 0 if
 * nothing.
 */
void kp_msg_enable(kssl_ctx *ctx, int on);
int kp_msg_raise(KsConn *self);

/*
 * conn.c: a new Conn (of type, a subclass) on sock's fd for the native
 * context; hostname (may be NULL) is sent as SNI by a client.
 */
PyObject *kp_conn_make(PyTypeObject *type, KsContext *native, PyObject *sock,
		       int server_side, const char *hostname);
/*
 * setup.c: sock.fileno() / sock.gettimeout() as the stdlib's _ssl reads
 * them: _socket.socket's own (its C fields) for a socket, else a method
 * call. New reference.
 */
enum kp_sock_op { KP_SOCK_FILENO, KP_SOCK_GETTIMEOUT };
PyObject *kp_sock_call(PyObject *sock, enum kp_sock_op op);
/* setup.c: wrap_socket_method(), kssl.SSLContext._wrap_socket (the
 * `_sslobj` of an SSLSocket); set_conn_class(cls, eof_probe). */
PyObject *kp_wrap_socket_method(PyObject *m, PyObject *unused);
PyObject *kp_set_conn_class(PyObject *m, PyObject *args);

/* What a kssl call on a socket conn was doing (eof.c). */
enum kp_io { KP_IO_HANDSHAKE, KP_IO_READ, KP_IO_WRITE, KP_IO_SHUTDOWN };

/*
 * kp_eof_failure: a kssl call on a socket conn failed with `code` (errno
 * err_no). If that is, or follows, the end of the transport, set what the
 * stdlib's _ssl gives there (eof.c): returns 0 for a read that ends as b""
 * (end of data) or -1 with the exception set. Returns 1 for any other
 * failure (the caller raises it).
 */
int kp_eof_failure(KsConn *self, enum kp_io io, int code, int err_no);

/* The next read once the transport ended: 0 (b"") or -1 (exception). */
int kp_eof_read(KsConn *self);

/*
 * Before a write of len bytes (eof.c): -1 with the exception the stdlib's
 * OpenSSL gives without writing (after our close_notify, shorter than a
 * record it still holds, after UNEXPECTED_EOF), else 0.
 */
int kp_eof_write_gate(KsConn *self, size_t len);

/*
 * Bytes a write() of n should hand the kernel per send() (eof.c): once
 * the peer ended its stream, kernel TX sends one record a call, as the
 * stdlib's OpenSSL writes them, so a reset fails the same record; 0 (all
 * at once) otherwise.
 */
size_t kp_eof_write_record(KsConn *self, size_t n);

/* A read returned close_notify: later failing writes are the stdlib's
 * SSLZeroReturnError (eof.c). */
void kp_eof_close_notify(KsConn *self);

/*
 * unwrap() as the stdlib's (eof.c). KP_SHUT_SENT: our close_notify went
 * out, so writes fail with PROTOCOL_IS_SHUTDOWN; KP_SHUT_FAILED:
 * application data arrived after it, which OpenSSL treats as an error
 * that leaves the SSL out of its "handshake done" state.
 */
enum kp_shut { KP_SHUT_NONE = 0, KP_SHUT_SENT, KP_SHUT_FAILED };
/* Raise what the stdlib raises for a write (after close_notify), for
 * unwrap() (data after close_notify: marks KP_SHUT_FAILED) and for
 * unwrap() again after that failure. Each returns -1. */
int kp_shut_write_error(KsConn *self);
int kp_shut_data_error(KsConn *self);
int kp_shut_again_error(KsConn *self);

/*
 * Before unwrap() sends close_notify (eof.c): -1 with the exception the
 * stdlib's SSL_shutdown gives without a successful write (the SSL in its
 * error state, a record held unsent, a socket that takes no more writes),
 * else 1 (send it).
 */
int kp_shut_gate(KsConn *self);

/* 1 if the stdlib's OpenSSL would be out of its "handshake done" state
 * (a fatal error: UNEXPECTED_EOF, data after close_notify): version()
 * None, getpeercert() "handshake not done yet" (eof.c). */
int kp_ssl_in_error(const KsConn *self);

/*
 * Raise the Python exception for a failed kssl call (errors.c). err is the
 * copy of kssl_last_error_info() taken right after the call (its code set
 * to the call's result); op ("handshake", "read", "write", "shutdown")
 * names the stdlib operation the failure stands for; conn and op may be
 * NULL (context calls). Always returns NULL.
 */
PyObject *kp_raise(KsConn *conn, const struct kssl_error_info *err,
		   const char *op);
/* For context-level failures (no TLS peer involved). */
PyObject *kp_raise_ctx(int code);
/* session.c: fn(conn->conn, arg) under the conn lock without the GIL; None, or the
 * exception for its KSSL_E_* result. */
PyObject *kp_conn_call(KsConn *conn, int (*fn)(kssl_conn *, void *), void *arg);

#endif
