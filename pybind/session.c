/*
 * The session object of kssl sockets and the calls that make and take it.
 *
 * It behaves as CPython's _ssl.SSLSession (read-only id, time, timeout,
 * ticket_lifetime_hint, has_ticket; == and != by session ID, no ordering,
 * unhashable, not picklable, not instantiable from Python) and carries the
 * same type name so messages read the same ("cannot pickle
 * '_ssl.SSLSession' object"). It cannot *be* that type: CPython offers no
 * way to make one around a session from outside _ssl. kssl exports it as
 * kssl.SSLSession (docs/python.md).
 */
#include <string.h>

#include "module.h"

typedef struct {
	PyObject_HEAD
	kssl_session *s;
	struct kssl_session_info info;
	PyObject *ctx; /* the Python SSLContext of the socket it came from */
} KsSession;

static void session_dealloc(KsSession *self)
{
	PyObject_GC_UnTrack(self);
	kssl_session_free(self->s);
	Py_CLEAR(self->ctx);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static int session_traverse(KsSession *self, visitproc visit, void *arg)
{
	Py_VISIT(self->ctx);
	return 0;
}

static int session_clear(KsSession *self)
{
	Py_CLEAR(self->ctx);
	return 0;
}

static PyObject *session_richcompare(PyObject *a, PyObject *b, int op)
{
	const KsSession *l = (KsSession *)a, *r = (KsSession *)b;
	int same;

	if (!PyObject_TypeCheck(a, &KsSession_Type) ||
	    !PyObject_TypeCheck(b, &KsSession_Type) || (op != Py_EQ && op != Py_NE))
		Py_RETURN_NOTIMPLEMENTED;
	same = a == b || (l->info.id_len == r->info.id_len &&
			  memcmp(l->info.id, r->info.id, l->info.id_len) == 0);
	return PyBool_FromLong(op == Py_EQ ? same : !same);
}

static PyObject *get_id(KsSession *self, void *unused)
{
	(void)unused;
	return PyBytes_FromStringAndSize((const char *)self->info.id,
					 (Py_ssize_t)self->info.id_len);
}

static PyObject *get_time(KsSession *self, void *unused)
{
	(void)unused;
	return PyLong_FromLongLong(self->info.time);
}

static PyObject *get_timeout(KsSession *self, void *unused)
{
	(void)unused;
	return PyLong_FromLongLong(self->info.timeout);
}

static PyObject *get_hint(KsSession *self, void *unused)
{
	(void)unused;
	return PyLong_FromUnsignedLong(self->info.ticket_lifetime_hint);
}

static PyObject *get_has_ticket(KsSession *self, void *unused)
{
	(void)unused;
	return PyBool_FromLong(self->info.has_ticket);
}

static PyGetSetDef session_getset[] = {
	{ "id", (getter)get_id, NULL, "Session id", NULL },
	{ "time", (getter)get_time, NULL, "Session creation time (seconds since epoch).", NULL },
	{ "timeout", (getter)get_timeout, NULL, "Session timeout (delta in seconds).", NULL },
	{ "ticket_lifetime_hint", (getter)get_hint, NULL, "Ticket life time hint.", NULL },
	{ "has_ticket", (getter)get_has_ticket, NULL, "Does the session contain a ticket?", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

PyTypeObject KsSession_Type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "_ssl.SSLSession",
	.tp_doc = "A TLS client session of a kssl socket (as ssl.SSLSession).",
	.tp_basicsize = sizeof(KsSession),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
		    Py_TPFLAGS_DISALLOW_INSTANTIATION,
	.tp_dealloc = (destructor)session_dealloc,
	.tp_traverse = (traverseproc)session_traverse,
	.tp_clear = (inquiry)session_clear,
	.tp_richcompare = session_richcompare,
	.tp_hash = PyObject_HashNotImplemented,
	.tp_getset = session_getset,
};

/* session_get(conn, ctx): the conn's current session, or None. */
PyObject *kp_session_get(PyObject *m, PyObject *args)
{
	KsConn *conn;
	PyObject *ctx;
	KsSession *self;
	kssl_session *s;

	(void)m;
	if (!PyArg_ParseTuple(args, "O!O:session_get", &KsConn_Type, &conn, &ctx))
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	PyThread_acquire_lock(conn->lock, WAIT_LOCK);
	s = kssl_conn_session(conn->conn);
	PyThread_release_lock(conn->lock);
	Py_END_ALLOW_THREADS
	if (!s)
		Py_RETURN_NONE;
	self = PyObject_GC_New(KsSession, &KsSession_Type);
	if (!self) {
		kssl_session_free(s);
		return NULL;
	}
	self->s = s;
	kssl_session_info(s, &self->info);
	self->ctx = Py_NewRef(ctx);
	PyObject_GC_Track(self);
	return (PyObject *)self;
}

PyObject *kp_conn_call(KsConn *conn, int (*fn)(kssl_conn *, void *), void *arg)
{
	struct kssl_error_info err;
	int r;

	Py_BEGIN_ALLOW_THREADS
	PyThread_acquire_lock(conn->lock, WAIT_LOCK);
	r = fn(conn->conn, arg);
	if (r < 0) {
		kssl_last_error_info(&err);
		err.code = r;
	}
	PyThread_release_lock(conn->lock);
	Py_END_ALLOW_THREADS
	if (r < 0)
		return kp_raise(conn, &err, NULL);
	Py_RETURN_NONE;
}

static int resume(kssl_conn *c, void *s)
{
	return kssl_conn_resume(c, s);
}

/* session_set(conn, session): resume it in the coming handshake. */
PyObject *kp_session_set(PyObject *m, PyObject *args)
{
	KsConn *conn;
	KsSession *sess;

	(void)m;
	if (!PyArg_ParseTuple(args, "O!O!:session_set", &KsConn_Type, &conn,
			      &KsSession_Type, &sess))
		return NULL;
	return kp_conn_call(conn, resume, sess->s);
}

/* session_context(session): the SSLContext the session came from. */
PyObject *kp_session_context(PyObject *m, PyObject *arg)
{
	(void)m;
	if (!PyObject_TypeCheck(arg, &KsSession_Type))
		return PyErr_Format(PyExc_TypeError, "expected a kssl session");
	return Py_NewRef(((KsSession *)arg)->ctx);
}

/* session_stats(native): the kssl_ctx's counters as the stdlib's dict. */
PyObject *kp_session_stats(PyObject *m, PyObject *arg)
{
	struct kssl_session_stats st;

	(void)m;
	if (!PyObject_TypeCheck(arg, &KsContext_Type))
		return PyErr_Format(PyExc_TypeError, "expected a _kssl.Context");
	kssl_ctx_session_stats(((KsContext *)arg)->ctx, &st);
	return Py_BuildValue("{sl sl sl sl sl sl sl sl sl sl sl}",
			     "number", st.number, "connect", st.connect,
			     "connect_good", st.connect_good,
			     "connect_renegotiate", st.connect_renegotiate,
			     "accept", st.accept, "accept_good", st.accept_good,
			     "accept_renegotiate", st.accept_renegotiate,
			     "hits", st.hits, "misses", st.misses,
			     "timeouts", st.timeouts, "cache_full", st.cache_full);
}

/* keep_sessions(native): a client context keeps its sessions (the stdlib's
 * clients always do), so TLS 1.3 tickets are read before RX moves. */
PyObject *kp_keep_sessions(PyObject *m, PyObject *arg)
{
	(void)m;
	if (!PyObject_TypeCheck(arg, &KsContext_Type))
		return PyErr_Format(PyExc_TypeError, "expected a _kssl.Context");
	kssl_ctx_set_client_sessions(((KsContext *)arg)->ctx, 1);
	Py_RETURN_NONE;
}
