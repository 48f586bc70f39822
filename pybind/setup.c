/*
 * kssl.SSLContext._wrap_socket: the `_sslobj` of a kssl.SSLSocket, made in
 * one C call (a method descriptor of _ssl._SSLContext, as the stdlib's).
 *
 * The stdlib's SSLContext._wrap_socket is C; kssl's ran as Python code
 * (the role checks, the native context lookup, the object, its settings),
 * which made every handshake cost more than the stdlib's. This does the
 * same steps, in the same order, with the same exceptions:
 *   - a role the context's protocol refuses: the stdlib's SSLError;
 *   - the libkssl context of the role: kssl.SSLContext's fast path (the
 *     one built for the current settings, kssl/_context.py
 *     _kssl_native), else a call to ctx._kssl_native(server_side), which
 *     builds it;
 *   - the Conn (of the class kssl/_socket.py registered, KsslObject) with
 *     what the Python layer reads back: _context, _owner (a weakref),
 *     server_hostname, _ignore_eof (the context's
 *     OP_IGNORE_UNEXPECTED_EOF), _eof_is_eoferror (eof_probe(), once);
 *   - session: `obj.session = session` (its checks are Python's).
 */
#include <string.h>

#include "module.h"

static PyObject *conn_class;   /* kssl._socket.KsslObject */
static PyObject *eof_probe;    /* kssl._socket.eof_is_eoferror */
static int eof_rule = -1;      /* its answer, once asked */

/* What wrap() reads of the stdlib half, fetched once. */
static struct {
	PyObject *options;   /* _ssl._SSLContext.options (an int getter) */
	PyObject *protocol;  /* _ssl._SSLContext.protocol */
	PyObject *sni;       /* _ssl._SSLContext.sni_callback */
	PyTypeObject *base;  /* _ssl._SSLContext */
	long tls_client, tls_server, ignore_eof;
	/* interned names */
	PyObject *s_state, *s_native, *s_gen, *s_offload, *s_kssl_native,
		 *s_session;
} w;

/* _wrap_socket's parameters: sock, server_side, server_hostname=None, *,
 * owner=None, session=None (the stdlib's). */
static const char *const kw_names[] = { "sock", "server_side", "server_hostname",
					"owner", "session" };
static PyObject *kw_str[5];

static PyObject *intern(const char *name, PyObject **slot)
{
	if (!*slot)
		*slot = PyUnicode_InternFromString(name);
	return *slot;
}

static int long_attr(PyObject *mod, const char *name, long *out)
{
	PyObject *v = PyObject_GetAttrString(mod, name);

	if (!v)
		return -1;
	*out = PyLong_AsLong(v);
	Py_DECREF(v);
	return *out == -1 && PyErr_Occurred() ? -1 : 0;
}

/* The stdlib half's getters and constants, and the names, fetched once. */
static int init_once(void)
{
	PyObject *ssl, *base;
	int ok;

	if (w.options)
		return 0;
	if (!intern("_kssl_state", &w.s_state) || !intern("native", &w.s_native) ||
	    !intern("gen", &w.s_gen) || !intern("offload", &w.s_offload) ||
	    !intern("_kssl_native", &w.s_kssl_native) || !intern("session", &w.s_session))
		return -1;
	for (size_t i = 0; i < sizeof(kw_names) / sizeof(kw_names[0]); i++)
		if (!intern(kw_names[i], &kw_str[i]))
			return -1;
	ssl = PyImport_ImportModule("ssl");
	if (!ssl)
		return -1;
	base = PyObject_GetAttrString(ssl, "_SSLContext");
	ok = base && long_attr(ssl, "PROTOCOL_TLS_CLIENT", &w.tls_client) == 0 &&
	     long_attr(ssl, "PROTOCOL_TLS_SERVER", &w.tls_server) == 0 &&
	     long_attr(ssl, "OP_IGNORE_UNEXPECTED_EOF", &w.ignore_eof) == 0 &&
	     (w.protocol = PyObject_GetAttrString(base, "protocol")) &&
	     (w.sni = PyObject_GetAttrString(base, "sni_callback")) &&
	     (w.options = PyObject_GetAttrString(base, "options"));
	if (ok)
		w.base = (PyTypeObject *)Py_NewRef(base);
	Py_XDECREF(base);
	Py_DECREF(ssl);
	return ok ? 0 : -1;
}

/*
 * set_conn_class(cls, eof_probe): the Conn subclass _wrap_socket makes, and
 * the function telling how this CPython reports UNEXPECTED_EOF (kssl._socket).
 */
PyObject *kp_set_conn_class(PyObject *m, PyObject *args)
{
	PyObject *cls, *probe;

	(void)m;
	if (!PyArg_ParseTuple(args, "O!O:set_conn_class", &PyType_Type, &cls, &probe))
		return NULL;
	if (!PyType_IsSubtype((PyTypeObject *)cls, &KsConn_Type))
		return PyErr_Format(PyExc_TypeError, "expected a subclass of _kssl.Conn");
	Py_INCREF(cls);
	Py_XSETREF(conn_class, cls);
	Py_INCREF(probe);
	Py_XSETREF(eof_probe, probe);
	Py_RETURN_NONE;
}

/* A getset descriptor of _ssl._SSLContext applied to ctx (new ref). */
static PyObject *base_get(PyObject *descr, PyObject *ctx)
{
	return Py_TYPE(descr)->tp_descr_get(descr, ctx, (PyObject *)Py_TYPE(ctx));
}

/* 1 if key (gen, offload, sni) is st's current one, 0 if not, -1 error:
 * kssl.SSLContext._settings_key(st) == key, without the tuple. */
static int key_current(PyObject *ctx, PyObject *st, PyObject *key)
{
	PyObject *now[3];
	int eq = 1;

	if (!PyTuple_Check(key) || PyTuple_GET_SIZE(key) != 3)
		return 0;
	now[0] = PyObject_GetAttr(st, w.s_gen);
	now[1] = now[0] ? PyObject_GetAttr(st, w.s_offload) : NULL;
	now[2] = now[1] ? base_get(w.sni, ctx) : NULL;
	for (int i = 0; i < 3; i++) {
		if (!now[i]) {
			eq = -1;
			break;
		}
		if (eq == 1)
			eq = PyObject_RichCompareBool(PyTuple_GET_ITEM(key, i), now[i], Py_EQ);
	}
	for (int i = 0; i < 3; i++)
		Py_XDECREF(now[i]);
	return eq;
}

/*
 * The _kssl.Context for the role: the one kssl.SSLContext built for the
 * current settings (st.native[server_side] = (key, native)), else what
 * ctx._kssl_native(server_side) builds. New reference.
 */
static PyObject *native_for(PyObject *ctx, int server_side)
{
	PyObject *dict = PyObject_GenericGetDict(ctx, NULL), *st, *natives = NULL;
	PyObject *cached, *role = server_side ? Py_True : Py_False, *r = NULL;

	if (!dict)
		return NULL;
	st = PyDict_GetItemWithError(dict, w.s_state);
	if (st)
		natives = PyObject_GetAttr(st, w.s_native);
	if (natives && PyDict_Check(natives)) {
		cached = PyDict_GetItemWithError(natives, role);
		if (cached && PyTuple_Check(cached) && PyTuple_GET_SIZE(cached) == 2) {
			int cur = key_current(ctx, st, PyTuple_GET_ITEM(cached, 0));

			if (cur > 0)
				r = Py_NewRef(PyTuple_GET_ITEM(cached, 1));
		}
	}
	Py_XDECREF(natives);
	Py_DECREF(dict);
	if (r || PyErr_Occurred())
		return r;
	return PyObject_CallMethodOneArg(ctx, w.s_kssl_native, role);
}

/* The stdlib's refusal of a role its context's protocol excludes. */
static int role_allowed(PyObject *ctx, int server_side)
{
	PyObject *p = base_get(w.protocol, ctx);
	long proto;

	if (!p)
		return -1;
	proto = PyLong_AsLong(p);
	Py_DECREF(p);
	if (proto == -1 && PyErr_Occurred())
		return -1;
	if (server_side && proto == w.tls_client) {
		PyErr_SetString(kp_cls.ssl_error,
				"Cannot create a server socket with a PROTOCOL_TLS_CLIENT context");
		return -1;
	}
	if (!server_side && proto == w.tls_server) {
		PyErr_SetString(kp_cls.ssl_error,
				"Cannot create a client socket with a PROTOCOL_TLS_SERVER context");
		return -1;
	}
	return 0;
}

/* The context's OP_IGNORE_UNEXPECTED_EOF, from the raw int options. */
static int ignores_eof(PyObject *ctx)
{
	PyObject *o = base_get(w.options, ctx);
	long long v;

	if (!o)
		return -1;
	v = PyLong_AsLongLong(o);
	Py_DECREF(o);
	if (v == -1 && PyErr_Occurred())
		return -1;
	return (v & w.ignore_eof) != 0;
}

static int eof_is_eoferror(void)
{
	PyObject *r;

	if (eof_rule < 0) {
		r = PyObject_CallNoArgs(eof_probe);
		if (!r)
			return -1;
		eof_rule = PyObject_IsTrue(r);
		Py_DECREF(r);
	}
	return eof_rule;
}

/* The SNI name a client sends: str (no NUL) or None, as "z" parses. */
static int sni_name(PyObject *name, const char **out)
{
	Py_ssize_t n;

	*out = NULL;
	if (name == Py_None)
		return 0;
	if (!PyUnicode_Check(name)) {
		PyErr_Format(PyExc_TypeError, "server_hostname must be str or None, not %.50s",
			     Py_TYPE(name)->tp_name);
		return -1;
	}
	*out = PyUnicode_AsUTF8AndSize(name, &n);
	if (!*out)
		return -1;
	if ((size_t)n != strlen(*out)) {
		PyErr_SetString(PyExc_ValueError, "embedded null character");
		return -1;
	}
	return 0;
}

/* Binds _wrap_socket's arguments into a[5]; -1 with TypeError. */
static int bind_args(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
		     PyObject **a)
{
	Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;

	a[2] = a[3] = a[4] = Py_None;
	a[0] = a[1] = NULL;
	if (nargs > 3) {
		PyErr_Format(PyExc_TypeError, "_wrap_socket() takes at most 3 positional "
			     "arguments (%zd given)", nargs);
		return -1;
	}
	for (Py_ssize_t i = 0; i < nargs; i++)
		a[i] = args[i];
	for (Py_ssize_t k = 0; k < nkw; k++) {
		PyObject *name = PyTuple_GET_ITEM(kwnames, k);
		size_t i = 0;

		while (i < 5 && name != kw_str[i]) /* interned: the usual case */
			i++;
		for (i = i < 5 ? i : 0; i < 5 && name != kw_str[i] &&
		     PyUnicode_Compare(name, kw_str[i]) != 0; i++)
			;
		if (i == 5 || (Py_ssize_t)i < nargs) {
			PyErr_Format(PyExc_TypeError, i == 5 ?
				     "_wrap_socket() got an unexpected keyword argument '%S'" :
				     "argument for _wrap_socket() given by name ('%S') and position",
				     name);
			return -1;
		}
		a[i] = args[nargs + k];
	}
	if (!a[0] || !a[1]) {
		PyErr_SetString(PyExc_TypeError, "_wrap_socket() missing required argument "
				"'sock' or 'server_side'");
		return -1;
	}
	return 0;
}

/* SSLContext._wrap_socket(sock, server_side, server_hostname=None, *,
 * owner=None, session=None), for kssl.SSLContext (self = ctx). */
static PyObject *wrap_socket(PyObject *ctx, PyObject *const *args, Py_ssize_t nargs,
			     PyObject *kwnames)
{
	PyObject *a[5], *sock, *hostname, *owner, *session, *native;
	const char *sni = NULL;
	KsConn *obj;
	int server_side, ign, eofe;

	if (bind_args(args, nargs, kwnames, a) < 0)
		return NULL;
	if (!conn_class)
		return PyErr_Format(PyExc_RuntimeError, "kssl._socket not imported");
	sock = a[0];
	hostname = a[2];
	owner = a[3];
	session = a[4];
	server_side = PyObject_IsTrue(a[1]);

	if (server_side < 0 || role_allowed(ctx, server_side) < 0)
		return NULL;
	native = native_for(ctx, server_side);
	if (!native)
		return NULL;
	if (!PyObject_TypeCheck(native, &KsContext_Type)) {
		Py_DECREF(native);
		return PyErr_Format(PyExc_TypeError, "expected a _kssl.Context");
	}
	if (!server_side && sni_name(hostname, &sni) < 0) {
		Py_DECREF(native);
		return NULL;
	}
	obj = (KsConn *)kp_conn_make((PyTypeObject *)conn_class, (KsContext *)native, sock,
				     server_side, sni);
	Py_DECREF(native);
	if (!obj)
		return NULL;
	obj->context = Py_NewRef(ctx);
	obj->owner_ref = owner == Py_None ? NULL : PyWeakref_NewRef(owner, NULL);
	obj->hostname = Py_NewRef(hostname);
	ign = ignores_eof(ctx);
	eofe = ign < 0 ? -1 : eof_is_eoferror();
	if ((owner != Py_None && !obj->owner_ref) || eofe < 0)
		goto fail;
	obj->ignore_eof = ign;
	obj->eof_is_eoferror = eofe;
	if (session != Py_None && PyObject_SetAttr((PyObject *)obj, w.s_session, session) < 0)
		goto fail;
	return (PyObject *)obj;
fail:
	Py_DECREF(obj);
	return NULL;
}

static PyMethodDef wrap_socket_def = {
	"_wrap_socket", (PyCFunction)(void (*)(void))wrap_socket,
	METH_FASTCALL | METH_KEYWORDS,
	"_wrap_socket(sock, server_side, server_hostname=None, *, owner=None, "
	"session=None): the _sslobj of an SSLSocket (a kssl KsslObject)."
};

/* wrap_socket_method(): _wrap_socket as a method of _ssl._SSLContext, for
 * kssl.SSLContext's class body (a method descriptor, as the stdlib's). */
PyObject *kp_wrap_socket_method(PyObject *m, PyObject *unused)
{
	(void)m;
	(void)unused;
	if (init_once() < 0)
		return NULL;
	return PyDescr_NewMethod(w.base, &wrap_socket_def);
}

/*
 * The stdlib's _ssl reads a socket's fd and timeout from its C fields, so
 * the methods of _socket.socket stand for them (a subclass's override is
 * not what the stdlib sees); they also skip the instance-dict lookup a
 * method call makes, at every kssl call.
 */
PyObject *kp_sock_call(PyObject *sock, enum kp_sock_op op)
{
	static const char *const names[] = { "fileno", "gettimeout" };
	static PyObject *socket_type, *descr[2], *interned[2];

	if (!socket_type) {
		PyObject *mod = PyImport_ImportModule("_socket"), *t;

		t = mod ? PyObject_GetAttrString(mod, "socket") : NULL;
		Py_XDECREF(mod);
		if (!t)
			return NULL;
		for (int i = 0; i < 2; i++)
			if (!(interned[i] = PyUnicode_InternFromString(names[i])) ||
			    !(descr[i] = PyObject_GetAttr(t, interned[i]))) {
				Py_DECREF(t);
				return NULL;
			}
		socket_type = t;
	}
	if (!PyObject_TypeCheck(sock, (PyTypeObject *)socket_type))
		return PyObject_CallMethodNoArgs(sock, interned[op]);
	if (Py_IS_TYPE(descr[op], &PyMethodDescr_Type)) {
		PyMethodDef *def = ((PyMethodDescrObject *)descr[op])->d_method;

		/* Its C function, as a method call would reach it. */
		if ((def->ml_flags & ~METH_COEXIST) == METH_NOARGS)
			return def->ml_meth(sock, NULL);
	}
	return PyObject_CallOneArg(descr[op], sock);
}
