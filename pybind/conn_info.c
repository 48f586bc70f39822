/*
 * _kssl.Conn's answers about what the handshake negotiated, as the
 * stdlib's _sslobj gives them: cipher(), shared_ciphers(), version(),
 * selected_alpn_protocol(), compression(), get_channel_binding(), the
 * peer's certificate and chains. libkssl keeps them after it frees the
 * OpenSSL connection (both directions in the kernel), so they answer the
 * same before and after offload. The method table is conn.c's.
 */
#include <stdlib.h>
#include <string.h>

#include "module.h"

/*
 * What shared_ciphers() means in the running CPython's _ssl (probed by
 * kssl/_socket.py): 0 = a server's own ciphers that the client offered,
 * None on a client (CPython >= 3.11.4); 1 = the connection's own cipher
 * list on both sides, also before the handshake (CPython 3.11.2).
 */
static int shared_own_list;

PyObject *kp_set_shared_rule(PyObject *m, PyObject *arg)
{
	int own = PyObject_IsTrue(arg);

	(void)m;
	if (own < 0)
		return NULL;
	shared_own_list = own;
	Py_RETURN_NONE;
}

PyObject *kp_conn_cipher(KsConn *self, PyObject *unused)
{
	struct kssl_cipher_desc d;

	(void)unused;
	if (kssl_conn_cipher_desc(self->conn, &d) < 0)
		Py_RETURN_NONE;
	return kp_cipher_tuple(&d);
}

/* 1 if the suite id is among the n of the client's offered list. */
static int client_offered(KsConn *self, int n, uint32_t id)
{
	struct kssl_cipher_desc d;

	for (int i = 0; i < n; i++)
		if (kssl_conn_cipher_at(self->conn, KSSL_CIPHERS_CLIENT, (size_t)i, &d) == 0 &&
		    d.id == id)
			return 1;
	return 0;
}

/*
 * shared_ciphers() as this CPython's _ssl (see shared_own_list): the own
 * list, or a server's own ciphers that the client offered; from the lists
 * libkssl kept at handshake end (kssl_conn_set_keep_info).
 */
PyObject *kp_conn_shared_ciphers(KsConn *self, PyObject *unused)
{
	int n_own, n_client = -1;
	PyObject *list;

	(void)unused;
	/* Before the handshake: CPython 3.11.2's own list, else None. */
	if (!kssl_conn_version(self->conn) && !shared_own_list)
		Py_RETURN_NONE;
	if (!shared_own_list) {
		n_client = self->server_side ?
			kssl_conn_cipher_count(self->conn, KSSL_CIPHERS_CLIENT) : -1;
		if (n_client < 0)
			Py_RETURN_NONE;
	}
	n_own = kssl_conn_cipher_count(self->conn, KSSL_CIPHERS_OWN);
	if (n_own < 0)
		Py_RETURN_NONE;
	list = PyList_New(0);
	for (int i = 0; list && i < n_own; i++) {
		struct kssl_cipher_desc d;
		PyObject *t;

		if (kssl_conn_cipher_at(self->conn, KSSL_CIPHERS_OWN, (size_t)i, &d) < 0 ||
		    (n_client >= 0 && !client_offered(self, n_client, d.id)))
			continue;
		t = kp_cipher_tuple(&d);
		if (!t || PyList_Append(list, t) < 0)
			Py_CLEAR(list);
		Py_XDECREF(t);
	}
	return list;
}

PyObject *kp_conn_version(KsConn *self, PyObject *unused)
{
	(void)unused;
	if (kp_ssl_in_error(self))
		Py_RETURN_NONE; /* as OpenSSL then: not "init finished" */
	switch (kssl_conn_version(self->conn)) {
	case KSSL_TLS1_3: return PyUnicode_FromString("TLSv1.3");
	case KSSL_TLS1_2: return PyUnicode_FromString("TLSv1.2");
	case KSSL_TLS1_1: return PyUnicode_FromString("TLSv1.1");
	case KSSL_TLS1_0: return PyUnicode_FromString("TLSv1");
	}
	Py_RETURN_NONE;
}

PyObject *kp_conn_alpn(KsConn *self, PyObject *unused)
{
	size_t len;
	const char *p = kssl_conn_alpn(self->conn, &len);

	(void)unused;
	if (!p)
		Py_RETURN_NONE;
	return PyUnicode_DecodeASCII(p, (Py_ssize_t)len, "strict");
}

PyObject *kp_conn_compression(KsConn *self, PyObject *unused)
{
	(void)self;
	(void)unused;
	Py_RETURN_NONE;
}

PyObject *kp_conn_channel_binding(KsConn *self, PyObject *args)
{
	const char *type = "tls-unique";

	if (!PyArg_ParseTuple(args, "|s:get_channel_binding", &type))
		return NULL;
	if (strcmp(type, "tls-unique") != 0)
		return PyErr_Format(PyExc_ValueError,
				    "'%s' channel binding type not implemented", type);
	{
		uint8_t buf[64];
		size_t n = kssl_conn_tls_unique(self->conn, buf, sizeof(buf));

		if (!kssl_conn_version(self->conn) || n == 0 || n > sizeof(buf))
			Py_RETURN_NONE;
		return PyBytes_FromStringAndSize((const char *)buf, (Py_ssize_t)n);
	}
}

PyObject *kp_conn_peer_der(KsConn *self, PyObject *unused)
{
	const uint8_t *der = NULL;
	size_t n = kssl_conn_peer_cert_der(self->conn, &der);

	(void)unused;
	return kp_peer_der(kssl_conn_version(self->conn) != 0 &&
			   !kp_ssl_in_error(self), der, n);
}

/* _chain(verified): list of DER bytes, or None (no chain, or before the
 * handshake), as the stdlib's _sslobj.get_(un)verified_chain() gives
 * _ssl.Certificate objects. */
PyObject *kp_conn_chain(KsConn *self, PyObject *arg)
{
	int which = PyObject_IsTrue(arg), n;
	enum kssl_chain chain;
	PyObject *list;

	if (which < 0)
		return NULL;
	chain = which ? KSSL_CHAIN_VERIFIED : KSSL_CHAIN_SENT;
	n = kssl_conn_version(self->conn) ? kssl_conn_chain_count(self->conn, chain) : -1;
	if (n < 0)
		Py_RETURN_NONE;
	list = PyList_New(0);
	for (int i = 0; list && i < n; i++) {
		uint8_t *der = NULL;
		size_t len = 0;
		int r = kssl_conn_chain_der(self->conn, chain, (size_t)i, &der, &len);
		PyObject *b = r == 0 ? PyBytes_FromStringAndSize((char *)der, (Py_ssize_t)len) : NULL;

		free(der);
		if (!b || PyList_Append(list, b) < 0) {
			if (!b && !PyErr_Occurred())
				PyErr_SetString(kp_cls.ssl_error, "cannot encode a certificate");
			Py_XDECREF(b);
			Py_CLEAR(list);
			break;
		}
		Py_DECREF(b);
	}
	return list;
}

/* The stdlib's private _sslobj.get_verified_chain() (Python 3.10-3.12):
 * _ssl.Certificate objects, or None. */
PyObject *kp_conn_verified_chain(KsConn *self, PyObject *unused)
{
	(void)unused;
	return kp_cert_list(kp_conn_chain(self, Py_True));
}

/* _sslobj.get_unverified_chain(): the certificates the peer sent. */
PyObject *kp_conn_unverified_chain(KsConn *self, PyObject *unused)
{
	(void)unused;
	return kp_cert_list(kp_conn_chain(self, Py_False));
}

