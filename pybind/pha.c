/*
 * TLS 1.3 post-handshake client authentication for kssl sockets: thin
 * calls into libkssl (src/pha.c), used by kssl/_context.py and
 * kssl/_socket.py.
 */
#include <string.h>

#include "module.h"

/* set_pha(native, on): the context's post_handshake_auth. */
PyObject *kp_set_pha(PyObject *m, PyObject *args)
{
	KsContext *native;
	int on;

	(void)m;
	if (!PyArg_ParseTuple(args, "O!p:set_pha", &KsContext_Type, &native, &on))
		return NULL;
	kssl_ctx_set_post_handshake_auth(native->ctx, on);
	Py_RETURN_NONE;
}

static int verify(kssl_conn *c, void *unused)
{
	(void)unused;
	return kssl_conn_verify_client_post_handshake(c);
}

/* verify_pha(conn): SSLSocket.verify_client_post_handshake(). */
PyObject *kp_verify_pha(PyObject *m, PyObject *arg)
{
	(void)m;
	if (!PyObject_TypeCheck(arg, &KsConn_Type))
		return PyErr_Format(PyExc_TypeError, "expected a _kssl.Conn");
	return kp_conn_call((KsConn *)arg, verify, NULL);
}
