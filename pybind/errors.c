/*
 * Failed libkssl calls -> the stdlib ssl exceptions. Everything is decided
 * from numbers (struct kssl_error_info: KSSL_E_* code, KSSL_R_* reason and
 * detail, errno, OpenSSL's packed error); the exception itself is built by
 * kssl/_errors.py, which spells it exactly as CPython's _ssl.c does. This
 * file only adds the texts OpenSSL keeps for those numbers. Nothing here
 * reads libkssl's message text.
 */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "module.h"

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

/*
 * The OpenSSL error that names the cause. Failures kssl detects itself on
 * the kernel path get the code OpenSSL would have queued in userspace.
 */
static unsigned long openssl_error(const struct kssl_error_info *e)
{
	if (e->openssl_error)
		return e->openssl_error;
	if (e->reason == KSSL_R_PEER_ALERT && e->detail >= 0 && e->detail < 256)
		return ERR_PACK(ERR_LIB_SSL, 0,
				SSL_AD_REASON_OFFSET + (int)e->detail);
	if (e->reason == KSSL_R_KERNEL_RECORD) {
		switch (e->detail) {
		case 20:
			return ERR_PACK(ERR_LIB_SSL, 0,
					SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC);
		case 22:
			return ERR_PACK(ERR_LIB_SSL, 0,
					SSL_R_ENCRYPTED_LENGTH_TOO_LONG);
		default:
			return ERR_PACK(ERR_LIB_SSL, 0, SSL_R_WRONG_VERSION_NUMBER);
		}
	}
	return 0;
}

PyObject *kp_raise(KsConn *c, const struct kssl_error_info *e, const char *op)
{
	unsigned long oe = openssl_error(e);
	const char *errstr = oe ? ERR_reason_error_string(oe) : NULL;
	const char *vtext = e->code == KSSL_E_CERT
			    ? X509_verify_cert_error_string(e->detail) : NULL;
	const char *name = c && c->conn ? kssl_conn_server_name(c->conn) : NULL;
	PyObject *build = get_builder(), *exc;

	if (!build)
		return NULL;
	exc = PyObject_CallFunction(build, "iilliizzzzzi", e->code, e->reason,
				    e->detail, (long)e->sys_errno,
				    oe ? ERR_GET_LIB(oe) : 0,
				    oe ? ERR_GET_REASON(oe) : 0, errstr, vtext,
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
