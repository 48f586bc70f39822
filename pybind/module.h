/*
 * kssl._kssl: the thin CPython layer over libkssl. Two types, Context
 * (a kssl_ctx) and Conn (a kssl_conn on a socket's fd), plus the mapping
 * of KSSL_E_* codes onto the stdlib ssl exception classes. Everything
 * ssl-shaped (settings mirroring, SSLSocket, getpeercert dicts) lives in
 * the Python package; this file set only calls the C API.
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
int kp_read_begin(struct kp_read *rd, PyObject *args, Py_ssize_t default_len);
PyObject *kp_read_end(struct kp_read *rd, Py_ssize_t n);
/* (name, protocol, bits) of a `const SSL_CIPHER *`, as the stdlib's. */
PyObject *kp_cipher_tuple(const void *cipher);
/* The peer certificate's DER as bytes, None without one; ValueError
 * before the handshake. */
PyObject *kp_peer_der(int handshake_done, const uint8_t *der, size_t n);

/* Module functions defined next to what they serve. */
PyObject *kp_cipher_table(PyObject *m, PyObject *unused); /* ciphers.c */
PyObject *kp_key_pem(PyObject *m, PyObject *arg);         /* context.c */

typedef struct {
	PyObject_HEAD
	kssl_ctx *ctx;
} KsContext;

/* What OpenSSL knows only until kssl frees the SSL (both directions in
 * the kernel): captured by an info callback at handshake end. */
#define KP_MAX_SHARED 128
struct kp_hs_snapshot {
	int done;
	const void *cipher; /* const SSL_CIPHER *, static in libssl */
	const void *shared[KP_MAX_SHARED];
	int n_shared; /* -1: not applicable (client side) */
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
	int eof_seen;
	struct kp_hs_snapshot hs;
} KsConn;

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

#endif
