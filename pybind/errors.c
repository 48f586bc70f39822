/*
 * KSSL_E_* -> the stdlib ssl exception classes, so `except ssl.SSLError`
 * and friends catch kssl failures. args, library, reason, verify_code and
 * verify_message are set the way the stdlib sets them; the text keeps
 * kssl's message, which names the cause.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "module.h"

/* ssl.SSL_ERROR_* values, which the stdlib puts in args[0]. */
enum {
	PY_SSL_ERROR_SSL = 1,
	PY_SSL_ERROR_WANT_READ = 2,
	PY_SSL_ERROR_WANT_WRITE = 3,
	PY_SSL_ERROR_SYSCALL = 5,
	PY_SSL_ERROR_EOF = 8,
};

static void set_attr(PyObject *exc, const char *name, PyObject *value)
{
	if (!value) {
		PyErr_Clear();
		return;
	}
	if (PyObject_SetAttrString(exc, name, value) < 0)
		PyErr_Clear();
	Py_DECREF(value);
}

static PyObject *raise_ssl(PyObject *cls, int ssl_errno, const char *library,
			   const char *reason, const char *text)
{
	PyObject *exc;
	char buf[768];

	if (reason)
		snprintf(buf, sizeof(buf), "[%s: %s] %s", library, reason, text);
	else
		snprintf(buf, sizeof(buf), "%s", text);
	exc = PyObject_CallFunction(cls, "is", ssl_errno, buf);
	if (!exc)
		return NULL;
	set_attr(exc, "library", library ? PyUnicode_FromString(library)
					 : Py_NewRef(Py_None));
	set_attr(exc, "reason", reason ? PyUnicode_FromString(reason)
				       : Py_NewRef(Py_None));
	PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
	Py_DECREF(exc);
	return NULL;
}

/* "tlsv1 alert protocol version" -> "TLSV1_ALERT_PROTOCOL_VERSION": the
 * stdlib's reason names are OpenSSL's reason strings spelled that way. */
static int reason_code(const char *text, char *out, size_t size)
{
	size_t i;

	for (i = 0; text[i] && i + 1 < size; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c == ' ')
			out[i] = '_';
		else if (isalnum(c) || c == '_')
			out[i] = (char)toupper(c);
		else
			return 0;
	}
	out[i] = '\0';
	return i > 0 && !text[i];
}

static const char *last_segment(const char *msg)
{
	const char *p = strrchr(msg, ':');

	if (!p)
		return msg;
	while (*++p == ' ')
		;
	return p;
}

/* The errno behind a KSSL_E_SYSCALL message ("...: <strerror>"). */
static int errno_of(const char *msg)
{
	const char *tail = last_segment(msg);

	for (int e = 1; e < 200; e++)
		if (strcmp(tail, strerror(e)) == 0)
			return e;
	return 0;
}

static long verify_code_of(KsConn *c, const char *msg)
{
	SSL *ssl = c && c->conn ? kssl_conn_ssl(c->conn) : NULL;
	const char *p;
	long v = 0;

	if (ssl)
		v = SSL_get_verify_result(ssl);
	if (!v && c && c->conn)
		v = kssl_conn_verify_result(c->conn);
	if (!v && (p = strstr(msg, "(X509 error ")))
		v = strtol(p + 12, NULL, 10);
	return v;
}

static PyObject *raise_cert(KsConn *c, const char *msg)
{
	long v = verify_code_of(c, msg);
	const char *name = c && c->conn ? kssl_conn_server_name(c->conn) : NULL;
	PyObject *vmsg, *exc;
	char text[768];

	if (v == X509_V_ERR_HOSTNAME_MISMATCH && name)
		vmsg = PyUnicode_FromFormat("Hostname mismatch, certificate is not valid for '%s'.", name);
	else if (v == X509_V_ERR_IP_ADDRESS_MISMATCH && name)
		vmsg = PyUnicode_FromFormat("IP address mismatch, certificate is not valid for '%s'.", name);
	else
		vmsg = PyUnicode_FromString(X509_verify_cert_error_string(v));
	if (!vmsg)
		return NULL;
	snprintf(text, sizeof(text),
		 "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: %s (kssl: %s)",
		 PyUnicode_AsUTF8(vmsg), msg);
	exc = PyObject_CallFunction(ks_cls.cert_verification, "is",
				    PY_SSL_ERROR_SSL, text);
	if (!exc) {
		Py_DECREF(vmsg);
		return NULL;
	}
	set_attr(exc, "library", PyUnicode_FromString("SSL"));
	set_attr(exc, "reason", PyUnicode_FromString("CERTIFICATE_VERIFY_FAILED"));
	set_attr(exc, "verify_code", PyLong_FromLong(v));
	set_attr(exc, "verify_message", vmsg);
	PyErr_SetObject(ks_cls.cert_verification, exc);
	Py_DECREF(exc);
	return NULL;
}

static PyObject *raise_alert(const char *msg)
{
	const char *p = strrchr(msg, '(');
	char reason[128];
	int desc = p ? atoi(p + 1) : -1;
	const char *r = NULL;

	if (desc >= 0 && desc < 256)
		r = ERR_reason_error_string(ERR_PACK(ERR_LIB_SSL, 0,
						     SSL_AD_REASON_OFFSET + desc));
	if (!r || !reason_code(r, reason, sizeof(reason)))
		snprintf(reason, sizeof(reason), "TLS_ALERT_%d", desc);
	return raise_ssl(ks_cls.ssl_error, PY_SSL_ERROR_SSL, "SSL", reason, msg);
}

PyObject *ks_raise(KsConn *c, int code, const char *msg)
{
	char reason[128];
	int e;

	switch (code) {
	case KSSL_E_WANT_READ:
		return raise_ssl(ks_cls.want_read, PY_SSL_ERROR_WANT_READ, NULL,
				 NULL, "The operation did not complete (read)");
	case KSSL_E_WANT_WRITE:
		return raise_ssl(ks_cls.want_write, PY_SSL_ERROR_WANT_WRITE, NULL,
				 NULL, "The operation did not complete (write)");
	case KSSL_E_EOF:
		return raise_ssl(ks_cls.eof, PY_SSL_ERROR_EOF, "SSL",
				 "UNEXPECTED_EOF_WHILE_READING", msg);
	case KSSL_E_CERT:
		return raise_cert(c, msg);
	case KSSL_E_ALERT:
		return raise_alert(msg);
	case KSSL_E_SYSCALL:
		e = errno_of(msg);
		if (e) {
			/* OSError(errno, text) picks ConnectionResetError etc. */
			PyObject *exc = PyObject_CallFunction(PyExc_OSError, "is", e, msg);

			if (exc) {
				PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
				Py_DECREF(exc);
			}
			return NULL;
		}
		return raise_ssl(ks_cls.syscall, PY_SSL_ERROR_SYSCALL, NULL, NULL, msg);
	case KSSL_E_INVAL:
		PyErr_SetString(PyExc_ValueError, msg);
		return NULL;
	case KSSL_E_NOMEM:
		return PyErr_NoMemory();
	case KSSL_E_REKEY:
		return raise_ssl(ks_cls.ssl_error, PY_SSL_ERROR_SSL, "KSSL",
				 "KEY_UPDATE_NOT_SUPPORTED", msg);
	case KSSL_E_CLOSED:
		return raise_ssl(ks_cls.ssl_error, PY_SSL_ERROR_SSL, "KSSL",
				 "CONNECTION_FAILED", msg);
	}
	if (!reason_code(last_segment(msg), reason, sizeof(reason)))
		snprintf(reason, sizeof(reason), "%s", kssl_error_name(code) + 7);
	return raise_ssl(ks_cls.ssl_error, PY_SSL_ERROR_SSL, "SSL", reason, msg);
}

PyObject *ks_raise_ctx(int code)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "%s", kssl_last_error());
	return ks_raise(NULL, code, msg);
}
