/*
 * TLS 1.3 post-handshake client authentication for kssl sockets: thin
 * calls into libkssl (src/pha.c), used by kssl/_context.py and
 * kssl/_socket.py.
 */
#include <string.h>

#include "module.h"

/* set_pha(native, on): the context's post_handshake_auth. */
PyObject *ks_set_pha(PyObject *m, PyObject *args)
{
	KsContext *native;
	int on;

	(void)m;
	if (!PyArg_ParseTuple(args, "O!p:set_pha", &KsContext_Type, &native, &on))
		return NULL;
	kssl_ctx_set_post_handshake_auth(native->ctx, on);
	Py_RETURN_NONE;
}

/* verify_pha(conn): SSLSocket.verify_client_post_handshake(). */
PyObject *ks_verify_pha(PyObject *m, PyObject *arg)
{
	KsConn *conn;
	char msg[512];
	int r;

	(void)m;
	if (!PyObject_TypeCheck(arg, &KsConn_Type))
		return PyErr_Format(PyExc_TypeError, "expected a _kssl.Conn");
	conn = (KsConn *)arg;
	Py_BEGIN_ALLOW_THREADS
	PyThread_acquire_lock(conn->lock, WAIT_LOCK);
	r = kssl_conn_verify_client_post_handshake(conn->conn);
	if (r < 0)
		snprintf(msg, sizeof(msg), "%s", kssl_last_error());
	PyThread_release_lock(conn->lock);
	Py_END_ALLOW_THREADS
	if (r < 0)
		return ks_raise(conn, r, msg);
	Py_RETURN_NONE;
}
