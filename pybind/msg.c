/*
 * SSLContext._msg_callback on kssl sockets. libkssl reports each TLS
 * message OpenSSL handles (kssl_ctx_set_msg_cb); this passes it on as the
 * stdlib's _ssl does: the message type is the first byte of a handshake
 * message or record header (whose version is taken from bytes 1-2), an
 * alert's description, 0x0101 for ChangeCipherSpec, -1 otherwise; the
 * callback gets the SSLSocket, "read"/"write", the numbers and the bytes
 * (kssl._socket.KsslObject._msg turns numbers into ssl's enums by way of
 * the stdlib's own wrapper), and what it raises surfaces when the kssl
 * call that ran it returns.
 */
#include "module.h"

enum {
	RT_CHANGE_CIPHER_SPEC = 20,
	RT_ALERT = 21,
	RT_HANDSHAKE = 22,
	RT_HEADER = 256,
	RT_INNER_CONTENT_TYPE = 257,
	MT_CHANGE_CIPHER_SPEC = 0x0101, /* OpenSSL's pseudo message type */
};

static void msg_thunk(kssl_conn *conn, int write_p, int version, int content_type,
		      const void *buf, size_t len, void *arg)
{
	KsConn *self = kssl_conn_get_data(conn);
	const unsigned char *p = buf;
	int msg_type = -1;
	PyGILState_STATE g;
	PyObject *r;

	(void)arg;
	if (!self)
		return;
	/* The stdlib reads these bytes as (signed) char. */
	switch (content_type) {
	case RT_CHANGE_CIPHER_SPEC:
		msg_type = MT_CHANGE_CIPHER_SPEC;
		break;
	case RT_ALERT: /* level, description */
		msg_type = len > 1 ? (signed char)p[1] : -1;
		break;
	case RT_HANDSHAKE:
	case RT_INNER_CONTENT_TYPE:
		msg_type = len ? (signed char)p[0] : -1;
		break;
	case RT_HEADER: /* type, version, length */
		if (len >= 3)
			version = p[1] << 8 | p[2];
		msg_type = len ? (signed char)p[0] : -1;
		break;
	}
	g = PyGILState_Ensure();
	r = PyObject_CallMethod((PyObject *)self, "_msg", "siiiy#", write_p ? "write" : "read",
				version, content_type, msg_type, buf, (Py_ssize_t)len);
	if (r) {
		Py_DECREF(r);
	} else {
		/* the latest wins, as in the stdlib */
		Py_CLEAR(self->msg_exc[0]);
		Py_CLEAR(self->msg_exc[1]);
		Py_CLEAR(self->msg_exc[2]);
		PyErr_Fetch(&self->msg_exc[0], &self->msg_exc[1], &self->msg_exc[2]);
	}
	PyGILState_Release(g);
}

void kp_msg_enable(kssl_ctx *ctx, int on)
{
	kssl_ctx_set_msg_cb(ctx, on ? msg_thunk : NULL, NULL);
}

int kp_msg_raise(KsConn *self)
{
	PyObject *t = self->msg_exc[0], *v = self->msg_exc[1], *tb = self->msg_exc[2];

	if (!t)
		return 0;
	self->msg_exc[0] = self->msg_exc[1] = self->msg_exc[2] = NULL;
	_PyErr_ChainExceptions(t, v, tb);
	return -1;
}
