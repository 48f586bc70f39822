/*
 * Failed libkssl calls -> the stdlib ssl exceptions. Everything is decided
 * from numbers (struct kssl_error_info: KSSL_E_* code, KSSL_R_* reason and
 * detail, errno, OpenSSL's packed error); the exception itself is built by
 * kssl/_errors.py, which spells it exactly as CPython's _ssl.c does. This
 * file only adds the texts OpenSSL keeps for those numbers (openssl.c).
 * Nothing here reads libkssl's message text.
 */
#include "module.h"
#include "openssl.h"

static PyObject *builder;

static PyObject *get_builder(void)
{
	if (!builder) {
		PyObject *m = PyImport_ImportModule("kssl._errors");

		if (!m)
			return NULL;
		builder = PyObject_GetAttrString(m, "build");
		Py_DECREF(m);
	}
	return builder;
}

PyObject *kp_raise(KsConn *c, const struct kssl_error_info *e, const char *op)
{
	struct kp_ossl_error oe;
	const char *name = c && c->conn ? kssl_conn_server_name(c->conn) : NULL;
	PyObject *build = get_builder(), *exc;

	if (!build)
		return NULL;
	kp_ossl_error(e, &oe);
	exc = PyObject_CallFunction(build, "iilliizzzzzi", e->code, e->reason,
				    e->detail, (long)e->sys_errno,
				    oe.lib, oe.reason, oe.reason_text, oe.verify_text,
				    name, e->message, op, c ? c->ignore_eof : 0);
	if (!exc)
		return NULL;
	PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
	Py_DECREF(exc);
	return NULL;
}

PyObject *kp_raise_ctx(int code)
{
	struct kssl_error_info e;

	kssl_last_error_info(&e);
	e.code = code;
	return kp_raise(NULL, &e, NULL);
}
