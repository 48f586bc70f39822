/*
 * _kssl.Context: a kssl_ctx configured from the settings the Python
 * SSLContext recorded. The Python side configures it fully before the
 * first connection and never changes it afterwards (it builds a new one
 * when a setting changes), which is what makes sharing it between threads
 * safe (see kssl.h, "Threads").
 */
#include <stdlib.h>
#include <string.h>

#include "module.h"
#include "openssl.h"

#include <kssl/kssl_dtls.h>

#define CTX_CHECK(r) do { if ((r) < 0) return kp_raise_ctx(r); } while (0)

static PyObject *ctx_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "server_side", "dtls", NULL };
	int server = 0, dtls = 0;
	enum kssl_role role;
	KsContext *self;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "p|p", kwlist, &server, &dtls))
		return NULL;
	self = (KsContext *)type->tp_alloc(type, 0);
	if (!self)
		return NULL;
	role = server ? KSSL_SERVER : KSSL_CLIENT;
	/* As a stdlib SSLContext: no trust anchors, no key log, no DHE group
	 * until told (kssl/_context.py replays the settings). */
	self->ctx = dtls ? kssl_dtls_ctx_new(role) :
		kssl_ctx_new_ex(role, KSSL_CTX_NO_ENV | KSSL_CTX_NO_SYSTEM_CAS |
				KSSL_CTX_NO_DH_AUTO);
	if (!self->ctx) {
		Py_DECREF(self);
		return kp_raise_ctx(KSSL_E_NOMEM);
	}
	return (PyObject *)self;
}

static void ctx_dealloc(KsContext *self)
{
	kssl_ctx_free(self->ctx);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

struct pw { const char *buf; Py_ssize_t len; };

static int pw_cb(char *buf, int size, void *arg)
{
	struct pw *p = arg;

	if (!p->buf || p->len > size)
		return -1;
	memcpy(buf, p->buf, (size_t)p->len);
	return (int)p->len;
}

static PyObject *ctx_use_cert_file(KsContext *self, PyObject *args)
{
	PyObject *cert, *key = Py_None, *cert_b = NULL, *key_b = NULL;
	struct pw pw = { NULL, 0 };
	int r;

	if (!PyArg_ParseTuple(args, "O&|Oz#", PyUnicode_FSConverter, &cert,
			      &key, &pw.buf, &pw.len))
		return NULL;
	cert_b = cert;
	if (key != Py_None && !PyUnicode_FSConverter(key, &key_b)) {
		Py_DECREF(cert_b);
		return NULL;
	}
	kssl_ctx_set_password_cb(self->ctx, pw_cb, &pw);
	r = kssl_ctx_use_cert_file(self->ctx, PyBytes_AS_STRING(cert_b),
				   key_b ? PyBytes_AS_STRING(key_b) : NULL);
	kssl_ctx_set_password_cb(self->ctx, NULL, NULL);
	Py_DECREF(cert_b);
	Py_XDECREF(key_b);
	CTX_CHECK(r);
	Py_RETURN_NONE;
}

/* Certificate and key as data (PEM text or DER bytes, as `der` says). */
static PyObject *ctx_use_cert_mem(KsContext *self, PyObject *args)
{
	Py_buffer cert, key;
	struct pw pw = { NULL, 0 };
	int der, r;

	if (!PyArg_ParseTuple(args, "y*y*p|z#", &cert, &key, &der, &pw.buf, &pw.len))
		return NULL;
	kssl_ctx_set_password_cb(self->ctx, pw_cb, &pw);
	r = kssl_ctx_use_cert_mem(self->ctx, cert.buf, (size_t)cert.len,
				  key.buf, (size_t)key.len,
				  der ? KSSL_FORMAT_DER : KSSL_FORMAT_PEM);
	kssl_ctx_set_password_cb(self->ctx, NULL, NULL);
	PyBuffer_Release(&cert);
	PyBuffer_Release(&key);
	CTX_CHECK(r);
	Py_RETURN_NONE;
}

/* The stdlib half loads keys from PEM files only: DER keys are re-encoded. */
PyObject *kp_key_pem(PyObject *m, PyObject *arg)
{
	Py_buffer der;
	char *pem;
	size_t len;
	int r;
	PyObject *out;

	(void)m;
	if (PyObject_GetBuffer(arg, &der, PyBUF_SIMPLE) < 0)
		return NULL;
	r = kp_ossl_key_pem(der.buf, (size_t)der.len, &pem, &len);
	PyBuffer_Release(&der);
	if (r < 0) {
		PyErr_SetString(PyExc_ValueError, "invalid key");
		return NULL;
	}
	out = PyBytes_FromStringAndSize(pem, (Py_ssize_t)len);
	free(pem);
	return out;
}

static PyObject *path_call(KsContext *self, PyObject *arg,
			   int (*fn)(kssl_ctx *, const char *))
{
	PyObject *b;
	int r;

	if (!PyUnicode_FSConverter(arg, &b))
		return NULL;
	r = fn(self->ctx, PyBytes_AS_STRING(b));
	Py_DECREF(b);
	CTX_CHECK(r);
	Py_RETURN_NONE;
}

static PyObject *ctx_load_ca_file(KsContext *self, PyObject *arg)
{
	return path_call(self, arg, kssl_ctx_load_ca_file);
}

static PyObject *ctx_load_dh_params(KsContext *self, PyObject *arg)
{
	return path_call(self, arg, kssl_ctx_load_dh_params);
}

static PyObject *ctx_load_ca_dir(KsContext *self, PyObject *arg)
{
	return path_call(self, arg, kssl_ctx_load_ca_dir);
}

/* store_certs(): DER of every certificate in the context's X509 store. */
static PyObject *ctx_store_certs(KsContext *self, PyObject *unused)
{
	size_t n = kp_ossl_store_count(self->ctx);
	PyObject *list = PyList_New(0);

	(void)unused;
	for (size_t i = 0; list && i < n; i++) {
		uint8_t *der;
		size_t len;
		PyObject *b;

		if (kp_ossl_store_cert(self->ctx, i, &der, &len) < 0)
			continue; /* a CRL, or the store changed meanwhile */
		b = PyBytes_FromStringAndSize((const char *)der, (Py_ssize_t)len);
		free(der);
		if (!b || PyList_Append(list, b) < 0)
			Py_CLEAR(list);
		Py_XDECREF(b);
	}
	return list;
}

/* set_msg_cb(on): report protocol messages to KsslObject._msg (msg.c). */
static PyObject *ctx_set_msg_cb(KsContext *self, PyObject *arg)
{
	int on = PyObject_IsTrue(arg);

	if (on < 0)
		return NULL;
	kp_msg_enable(self->ctx, on);
	Py_RETURN_NONE;
}

/* set_keylog_file(path or None): None stops logging ($SSLKEYLOGFILE too). */
static PyObject *ctx_set_keylog_file(KsContext *self, PyObject *arg)
{
	if (arg == Py_None) {
		CTX_CHECK(kssl_ctx_set_keylog_file(self->ctx, NULL));
		Py_RETURN_NONE;
	}
	return path_call(self, arg, kssl_ctx_set_keylog_file);
}

static PyObject *ctx_load_ca_mem(KsContext *self, PyObject *args)
{
	Py_buffer data;
	int der, r;

	if (!PyArg_ParseTuple(args, "y*p", &data, &der))
		return NULL;
	r = kssl_ctx_load_ca_mem(self->ctx, data.buf, (size_t)data.len,
				 der ? KSSL_FORMAT_DER : KSSL_FORMAT_PEM);
	PyBuffer_Release(&data);
	CTX_CHECK(r);
	Py_RETURN_NONE;
}

static PyObject *ctx_load_default_cas(KsContext *self, PyObject *unused)
{
	(void)unused;
	CTX_CHECK(kssl_ctx_load_default_cas(self->ctx));
	Py_RETURN_NONE;
}

/* kssl_dtls_ctx_new loads the system CAs for clients; ssl.SSLContext
 * starts with an empty store, and the Python side replays what was loaded. */
static PyObject *ctx_clear_cas(KsContext *self, PyObject *unused)
{
	(void)unused;
	CTX_CHECK(kssl_ctx_clear_cas(self->ctx));
	Py_RETURN_NONE;
}

static PyObject *ctx_set_verify(KsContext *self, PyObject *args)
{
	int mode, check, flags, hostflags;

	if (!PyArg_ParseTuple(args, "ipii", &mode, &check, &flags, &hostflags))
		return NULL;
	if (mode < KSSL_VERIFY_NONE || mode > KSSL_VERIFY_REQUIRED) {
		PyErr_SetString(PyExc_ValueError, "invalid verify mode");
		return NULL;
	}
	kssl_ctx_set_verify(self->ctx, (enum kssl_verify)mode);
	kssl_ctx_set_check_hostname(self->ctx, check);
	kp_ossl_set_verify_flags(self->ctx, (unsigned long)flags, (unsigned int)hostflags);
	Py_RETURN_NONE;
}

static PyObject *ctx_set_versions(KsContext *self, PyObject *args)
{
	int lo, hi;

	if (!PyArg_ParseTuple(args, "ii", &lo, &hi))
		return NULL;
	CTX_CHECK(kssl_ctx_set_versions(self->ctx, lo, hi));
	Py_RETURN_NONE;
}

static PyObject *ctx_set_fixed_version(KsContext *self, PyObject *arg)
{
	int v = PyLong_AsLong(arg);

	if (PyErr_Occurred())
		return NULL;
	CTX_CHECK(kssl_ctx_set_fixed_version(self->ctx, v));
	Py_RETURN_NONE;
}

static PyObject *ctx_set_ciphers(KsContext *self, PyObject *args)
{
	const char *list;
	int level;

	if (!PyArg_ParseTuple(args, "si", &list, &level))
		return NULL;
	if (level >= 0)
		kssl_ctx_set_security_level(self->ctx, level);
	CTX_CHECK(kssl_ctx_set_ciphers(self->ctx, list));
	Py_RETURN_NONE;
}

static PyObject *ctx_set_ciphersuites(KsContext *self, PyObject *args)
{
	const char *list;

	if (!PyArg_ParseTuple(args, "s", &list))
		return NULL;
	CTX_CHECK(kssl_ctx_set_ciphersuites(self->ctx, list));
	Py_RETURN_NONE;
}

static PyObject *ctx_set_alpn(KsContext *self, PyObject *arg)
{
	PyObject *seq = PySequence_Fast(arg, "ALPN protocols must be a sequence of str");
	const char *names[64];
	Py_ssize_t n;
	int r;

	if (!seq)
		return NULL;
	n = PySequence_Fast_GET_SIZE(seq);
	if (n > 64) {
		Py_DECREF(seq);
		PyErr_SetString(PyExc_ValueError, "too many ALPN protocols");
		return NULL;
	}
	for (Py_ssize_t i = 0; i < n; i++) {
		names[i] = PyUnicode_AsUTF8(PySequence_Fast_GET_ITEM(seq, i));
		if (!names[i]) {
			Py_DECREF(seq);
			return NULL;
		}
	}
	r = kssl_ctx_set_alpn(self->ctx, names, (size_t)n);
	Py_DECREF(seq);
	CTX_CHECK(r);
	Py_RETURN_NONE;
}

static PyObject *ctx_set_num_tickets(KsContext *self, PyObject *arg)
{
	Py_ssize_t n = PyLong_AsSsize_t(arg);

	if (n < 0)
		return PyErr_Occurred() ? NULL : PyErr_Format(PyExc_ValueError, "negative");
	CTX_CHECK(kssl_ctx_set_num_tickets(self->ctx, (size_t)n));
	Py_RETURN_NONE;
}

static PyObject *ctx_set_offload(KsContext *self, PyObject *arg)
{
	long m = PyLong_AsLong(arg);

	if (m < KSSL_OFFLOAD_BOTH || m > KSSL_OFFLOAD_NONE)
		return PyErr_Occurred() ? NULL : PyErr_Format(PyExc_ValueError, "invalid offload mode");
	kssl_ctx_set_offload(self->ctx, (enum kssl_offload_mode)m);
	Py_RETURN_NONE;
}

/* ssl.Options bits (OpenSSL's, see openssl.c). */
static PyObject *ctx_set_options(KsContext *self, PyObject *arg)
{
	uint64_t opts = PyLong_AsUnsignedLongLong(arg);

	if (PyErr_Occurred())
		return NULL;
	kp_ossl_set_options(self->ctx, opts);
	Py_RETURN_NONE;
}

static PyObject *ctx_set_groups(KsContext *self, PyObject *arg)
{
	const char *g = PyUnicode_AsUTF8(arg);

	if (!g)
		return NULL;
	if (kssl_ctx_set_groups(self->ctx, g) < 0) {
		PyErr_Format(PyExc_ValueError, "unknown elliptic curve name %R", arg);
		return NULL;
	}
	Py_RETURN_NONE;
}

static PyMethodDef ctx_methods[] = {
	{ "use_cert_file", (PyCFunction)ctx_use_cert_file, METH_VARARGS,
	  "use_cert_file(certfile, keyfile=None, password=None)" },
	{ "use_cert_mem", (PyCFunction)ctx_use_cert_mem, METH_VARARGS,
	  "use_cert_mem(cert, key, der, password=None)" },
	{ "load_ca_file", (PyCFunction)ctx_load_ca_file, METH_O, NULL },
	{ "load_ca_dir", (PyCFunction)ctx_load_ca_dir, METH_O, NULL },
	{ "set_msg_cb", (PyCFunction)ctx_set_msg_cb, METH_O, NULL },
	{ "store_certs", (PyCFunction)ctx_store_certs, METH_NOARGS, NULL },
	{ "load_ca_mem", (PyCFunction)ctx_load_ca_mem, METH_VARARGS,
	  "load_ca_mem(data, der)" },
	{ "load_default_cas", (PyCFunction)ctx_load_default_cas, METH_NOARGS, NULL },
	{ "clear_cas", (PyCFunction)ctx_clear_cas, METH_NOARGS, NULL },
	{ "set_verify", (PyCFunction)ctx_set_verify, METH_VARARGS,
	  "set_verify(mode, check_hostname, verify_flags, hostflags)" },
	{ "set_versions", (PyCFunction)ctx_set_versions, METH_VARARGS, NULL },
	{ "set_fixed_version", (PyCFunction)ctx_set_fixed_version, METH_O, NULL },
	{ "load_dh_params", (PyCFunction)ctx_load_dh_params, METH_O, NULL },
	{ "set_ciphers", (PyCFunction)ctx_set_ciphers, METH_VARARGS,
	  "set_ciphers(openssl_list, security_level or -1)" },
	{ "set_ciphersuites", (PyCFunction)ctx_set_ciphersuites, METH_VARARGS,
	  "set_ciphersuites(tls13_list)" },
	{ "set_alpn", (PyCFunction)ctx_set_alpn, METH_O, NULL },
	{ "set_num_tickets", (PyCFunction)ctx_set_num_tickets, METH_O, NULL },
	{ "set_keylog_file", (PyCFunction)ctx_set_keylog_file, METH_O, NULL },
	{ "set_offload", (PyCFunction)ctx_set_offload, METH_O, NULL },
	{ "set_options", (PyCFunction)ctx_set_options, METH_O, NULL },
	{ "set_groups", (PyCFunction)ctx_set_groups, METH_O, NULL },
	{ NULL, NULL, 0, NULL },
};

PyTypeObject KsContext_Type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "kssl._kssl.Context",
	.tp_doc = "Context(server_side, dtls=False): a libkssl context (kssl_ctx).",
	.tp_basicsize = sizeof(KsContext),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_new = ctx_new,
	.tp_dealloc = (destructor)ctx_dealloc,
	.tp_methods = ctx_methods,
};
