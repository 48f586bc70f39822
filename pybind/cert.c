/*
 * _ssl.Certificate for kssl sockets: what the stdlib's private
 * _sslobj.get_verified_chain() / get_unverified_chain() return on Python
 * 3.10-3.12 (3.13's public SSLSocket methods give DER bytes instead). The
 * stdlib's type can only be made by its own _ssl around an X509*, so kssl
 * has a type of the same name and behaviour around the DER that libkssl
 * keeps (kssl_conn_chain_der): public_bytes(), get_info(), repr with the
 * RFC 2253 subject, hash of the subject name, equality of the encoding.
 */
#include "module.h"
#include "openssl.h"

typedef struct {
	PyObject_HEAD
	PyObject *der; /* bytes */
	Py_hash_t hash;
} KsCert;

static PyTypeObject KsCert_Type;

/* The stdlib's _ssl.ENCODING_* (X509_FILETYPE_PEM, _ASN1, PEM + 0x100). */
enum { KP_ENC_PEM = 1, KP_ENC_DER = 2, KP_ENC_PEM_AUX = 0x101 };

static void cert_dealloc(KsCert *self)
{
	Py_XDECREF(self->der);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static const uint8_t *der_of(KsCert *self, size_t *len)
{
	*len = (size_t)PyBytes_GET_SIZE(self->der);
	return (const uint8_t *)PyBytes_AS_STRING(self->der);
}

static PyObject *cert_public_bytes(KsCert *self, PyObject *args, PyObject *kw)
{
	static char *names[] = { "format", NULL };
	int format = KP_ENC_PEM;
	const uint8_t *der;
	size_t len, n;
	char *pem;
	PyObject *r;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|i:public_bytes", names, &format))
		return NULL;
	if (format == KP_ENC_DER)
		return Py_NewRef(self->der);
	if (format != KP_ENC_PEM && format != KP_ENC_PEM_AUX) {
		PyErr_SetString(PyExc_ValueError, "Unsupported format");
		return NULL;
	}
	der = der_of(self, &len);
	if (kp_ossl_cert_pem(der, len, format == KP_ENC_PEM_AUX, &pem, &n) < 0)
		return PyErr_NoMemory();
	r = PyUnicode_DecodeASCII(pem, (Py_ssize_t)n, "strict");
	free(pem);
	return r;
}

/* get_info(): getpeercert()'s dict, from the stdlib's own decoder
 * (kssl._socket._decode_cert). */
static PyObject *cert_get_info(KsCert *self, PyObject *unused)
{
	static PyObject *decode;

	(void)unused;
	if (!decode) {
		PyObject *mod = PyImport_ImportModule("kssl._socket");

		decode = mod ? PyObject_GetAttrString(mod, "_decode_cert") : NULL;
		Py_XDECREF(mod);
		if (!decode)
			return NULL;
	}
	return PyObject_CallOneArg(decode, self->der);
}

static PyObject *cert_repr(KsCert *self)
{
	const uint8_t *der;
	size_t len;
	char *subject;
	PyObject *s, *r;

	der = der_of(self, &len);
	if (kp_ossl_cert_subject(der, len, &subject) < 0)
		return PyErr_NoMemory();
	s = PyUnicode_DecodeUTF8(subject, (Py_ssize_t)strlen(subject), "strict");
	free(subject);
	if (!s)
		return NULL;
	r = PyUnicode_FromFormat("<%s '%U'>", Py_TYPE(self)->tp_name, s);
	Py_DECREF(s);
	return r;
}

static Py_hash_t cert_hash(KsCert *self)
{
	if (self->hash == -1) {
		const uint8_t *der;
		size_t len;
		unsigned long h;

		der = der_of(self, &len);
		h = kp_ossl_cert_subject_hash(der, len);
		self->hash = (Py_hash_t)h == -1 ? -2 : (Py_hash_t)h;
	}
	return self->hash;
}

/* == and != only, as the stdlib's; X509_cmp orders by the encoding. */
static PyObject *cert_richcompare(PyObject *a, PyObject *b, int op)
{
	int eq;

	if (!Py_IS_TYPE(b, &KsCert_Type) || (op != Py_EQ && op != Py_NE))
		Py_RETURN_NOTIMPLEMENTED;
	eq = PyObject_RichCompareBool(((KsCert *)a)->der, ((KsCert *)b)->der, Py_EQ);
	if (eq < 0)
		return NULL;
	return PyBool_FromLong(op == Py_EQ ? eq : !eq);
}

static PyMethodDef cert_methods[] = {
	{ "public_bytes", (PyCFunction)(void (*)(void))cert_public_bytes,
	  METH_VARARGS | METH_KEYWORDS,
	  "public_bytes(format=ENCODING_PEM): PEM text, or DER bytes" },
	{ "get_info", (PyCFunction)cert_get_info, METH_NOARGS,
	  "get_info(): the certificate as getpeercert() decodes it" },
	{ NULL, NULL, 0, NULL },
};

static PyTypeObject KsCert_Type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "_ssl.Certificate",
	.tp_doc = "A certificate of a kssl socket's peer chain (as _ssl.Certificate).",
	.tp_basicsize = sizeof(KsCert),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION |
		    Py_TPFLAGS_IMMUTABLETYPE,
	.tp_dealloc = (destructor)cert_dealloc,
	.tp_repr = (reprfunc)cert_repr,
	.tp_hash = (hashfunc)cert_hash,
	.tp_richcompare = cert_richcompare,
	.tp_methods = cert_methods,
};

PyObject *kp_cert_list(PyObject *ders)
{
	PyObject *list;
	Py_ssize_t n;

	if (!ders || ders == Py_None)
		return ders;
	if (PyType_Ready(&KsCert_Type) < 0) {
		Py_DECREF(ders);
		return NULL;
	}
	n = PyList_GET_SIZE(ders);
	list = PyList_New(n);
	for (Py_ssize_t i = 0; list && i < n; i++) {
		KsCert *c = PyObject_New(KsCert, &KsCert_Type);

		if (!c) {
			Py_CLEAR(list);
			break;
		}
		c->der = Py_NewRef(PyList_GET_ITEM(ders, i));
		c->hash = -1;
		PyList_SET_ITEM(list, i, (PyObject *)c);
	}
	Py_DECREF(ders);
	return list;
}
