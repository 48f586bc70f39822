/*
 * kssl._kssl: the thin CPython layer over libkssl. Two types, Context
 * (a kssl_ctx) and Conn (a kssl_conn on a socket's fd), plus the mapping
 * of KSSL_E_* codes onto the stdlib ssl exception classes. Everything
 * ssl-shaped (settings mirroring, SSLSocket, getpeercert dicts) lives in
 * the Python package; this file set only calls the C API.
 */
#ifndef KSSL_PYBIND_MODULE_H
#define KSSL_PYBIND_MODULE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <kssl/kssl.h>

/* The stdlib ssl classes, looked up once at import (module.c). */
struct ks_py_classes {
	PyObject *ssl_error;
	PyObject *zero_return;
	PyObject *want_read;
	PyObject *want_write;
	PyObject *syscall;
	PyObject *eof;
	PyObject *cert_verification;
};
extern struct ks_py_classes ks_cls;

extern PyTypeObject KsContext_Type;
extern PyTypeObject KsConn_Type;
extern PyTypeObject KsDtls_Type; /* dtls.c */

/*
 * values.c. read(len=default, buffer=None) as the stdlib's _sslobj.read:
 * ks_read_begin parses the arguments and gives the buffer to fill
 * (buf, len); ks_read_end(rd, n) returns the bytes object or the count
 * for n >= 0 bytes read, and releases everything (NULL) for n < 0.
 */
struct ks_read {
	Py_buffer view;   /* buffer= given */
	PyObject *bytes;  /* else: the result being filled */
	char *buf;
	Py_ssize_t len;
};
int ks_read_begin(struct ks_read *rd, PyObject *args, Py_ssize_t default_len);
PyObject *ks_read_end(struct ks_read *rd, Py_ssize_t n);
/* (name, protocol, bits) of a `const SSL_CIPHER *`, as the stdlib's. */
PyObject *ks_cipher_tuple(const void *cipher);
/* The peer certificate's DER as bytes, None without one; ValueError
 * before the handshake. */
PyObject *ks_peer_der(int handshake_done, const uint8_t *der, size_t n);

/* Module functions defined next to what they serve. */
PyObject *ks_cipher_table(PyObject *m, PyObject *unused); /* ciphers.c */
PyObject *ks_key_pem(PyObject *m, PyObject *arg);         /* context.c */
PyObject *ks_set_shared_rule(PyObject *m, PyObject *arg); /* conn.c */
/* session.c: session objects (KsSession_Type) and session counters. */
extern PyTypeObject KsSession_Type;
PyObject *ks_session_get(PyObject *m, PyObject *args);
PyObject *ks_session_set(PyObject *m, PyObject *args);
PyObject *ks_session_context(PyObject *m, PyObject *arg);
PyObject *ks_session_stats(PyObject *m, PyObject *arg);
PyObject *ks_keep_sessions(PyObject *m, PyObject *arg);
/* pha.c: post-handshake authentication. */
PyObject *ks_set_pha(PyObject *m, PyObject *args);
PyObject *ks_verify_pha(PyObject *m, PyObject *arg);

typedef struct {
	PyObject_HEAD
	kssl_ctx *ctx;
} KsContext;

/* What OpenSSL knows only until kssl frees the SSL (both directions in
 * the kernel): captured by an info callback at handshake end. */
#define KS_MAX_SHARED 128
struct ks_hs_snapshot {
	int done;
	const void *cipher; /* const SSL_CIPHER *, static in libssl */
	unsigned char finished[64];
	size_t finished_len;
	const void *shared[KS_MAX_SHARED];
	int n_shared; /* -1: not applicable (client side) */
	/* STACK_OF(X509) * (own references): the verified chain (leaf to
	 * root) and the chain the peer sent (leaf first); NULL if none. */
	void *chain[2];
};

typedef struct {
	PyObject_HEAD
	kssl_conn *conn;
	KsContext *native;     /* kssl_ctx the conn runs on (strong ref) */
	PyObject *sock_ref;    /* weakref to the Python socket object */
	PyObject *dict;        /* instance __dict__ for the Python subclass */
	PyObject *weakreflist;
	PyThread_type_lock lock; /* one kssl call on this conn at a time */
	int fd;
	int server_side;
	int ignore_eof;  /* OP_IGNORE_UNEXPECTED_EOF: a FIN reads as EOF */
	int eof_state;   /* enum ks_eof (eof.c): where in the stdlib's EOF
			    sequence the connection is; 0 = not ended */
	int raw_eof;     /* 1: libkssl's errors as they are (kssl.asyncio) */
	int eof_is_eoferror; /* this CPython's _ssl reports OpenSSL's
				UNEXPECTED_EOF as SSLEOFError (>= 3.11.3) */
	int shut_state;  /* enum ks_shut (eof.c): unwrap()'s progress */
	struct ks_hs_snapshot hs;
} KsConn;

/* What a kssl call on a socket conn was doing (eof.c). */
enum ks_io { KS_IO_HANDSHAKE, KS_IO_READ, KS_IO_WRITE, KS_IO_SHUTDOWN };

/*
 * ks_eof_failure: a kssl call on a socket conn failed with `code` (errno
 * err_no). If that is, or follows, the end of the transport, set what the
 * stdlib's _ssl gives there (eof.c): returns 0 for a read that ends as b""
 * (end of data) or -1 with the exception set. Returns 1 for any other
 * failure (the caller raises it).
 */
int ks_eof_failure(KsConn *self, enum ks_io io, int code, int err_no);

/* The next read once the transport ended: 0 (b"") or -1 (exception). */
int ks_eof_read(KsConn *self);

/*
 * unwrap() as the stdlib's (eof.c). KS_SHUT_SENT: our close_notify went
 * out, so writes fail with PROTOCOL_IS_SHUTDOWN; KS_SHUT_FAILED:
 * application data arrived after it, which OpenSSL treats as an error
 * that leaves the SSL out of its "handshake done" state.
 */
enum ks_shut { KS_SHUT_NONE = 0, KS_SHUT_SENT, KS_SHUT_FAILED };
/* Raise what the stdlib raises for a write (after close_notify), for
 * unwrap() (data after close_notify: marks KS_SHUT_FAILED) and for
 * unwrap() again after that failure. Each returns -1. */
int ks_shut_write_error(KsConn *self);
int ks_shut_data_error(KsConn *self);
int ks_shut_again_error(KsConn *self);

/*
 * Raise the Python exception for a failed kssl call. msg is the copy of
 * kssl_last_error() taken right after the call; conn may be NULL (context
 * calls). Always returns NULL.
 */
PyObject *ks_raise(KsConn *conn, int code, const char *msg);
/* For context-level failures (no TLS peer involved). */
PyObject *ks_raise_ctx(int code);
/* session.c: fn(conn->conn, arg) under the conn lock without the GIL; None, or the
 * exception for its KSSL_E_* result. */
PyObject *ks_conn_call(KsConn *conn, int (*fn)(kssl_conn *, void *), void *arg);

#endif
