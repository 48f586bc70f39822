/* kssl._kssl module: types, the stdlib exception classes, probe(). */
#include "module.h"


struct kp_py_classes kp_cls;
int kp_sni_thunk(kssl_conn *conn, const char *name, void *arg);

static PyObject *mod_kernel_has_tls(PyObject *m, PyObject *unused)
{
	int r;

	(void)m;
	(void)unused;
	Py_BEGIN_ALLOW_THREADS
	r = kssl_kernel_has_tls();
	Py_END_ALLOW_THREADS
	return PyBool_FromLong(r);
}

/* Servers whose Python context has an sni_callback route it here. */
static PyObject *mod_enable_sni(PyObject *m, PyObject *arg)
{
	(void)m;
	if (!PyObject_TypeCheck(arg, &KsContext_Type))
		return PyErr_Format(PyExc_TypeError, "expected a _kssl.Context");
	kssl_ctx_set_sni_cb(((KsContext *)arg)->ctx, kp_sni_thunk, NULL);
	Py_RETURN_NONE;
}

static PyMethodDef mod_methods[] = {
	{ "kernel_has_tls", mod_kernel_has_tls, METH_NOARGS,
	  "True if the running kernel offers the \"tls\" TCP ULP." },
	{ "enable_sni", mod_enable_sni, METH_O,
	  "enable_sni(ctx): call conn._sni(name) during server handshakes." },
	{ "cipher_table", kp_cipher_table, METH_NOARGS,
	  "[(iana, openssl, id, protocol_id, version)] of every suite OpenSSL knows." },
	{ "key_pem", kp_key_pem, METH_O,
	  "key_pem(der): an unencrypted DER private key as PKCS#8 PEM bytes." },
	{ "session_get", kp_session_get, METH_VARARGS,
	  "session_get(conn, ctx): the conn's session object, or None." },
	{ "session_set", kp_session_set, METH_VARARGS,
	  "session_set(conn, session): resume session in the coming handshake." },
	{ "session_context", kp_session_context, METH_O,
	  "session_context(session): the SSLContext it came from." },
	{ "session_stats", kp_session_stats, METH_O,
	  "session_stats(native): the context's session counters." },
	{ "keep_sessions", kp_keep_sessions, METH_O,
	  "keep_sessions(native): a client context keeps its sessions." },
	{ "set_pha", kp_set_pha, METH_VARARGS,
	  "set_pha(native, on): TLS 1.3 post-handshake client authentication." },
	{ "verify_pha", kp_verify_pha, METH_O,
	  "verify_pha(conn): request the client's certificate (server, TLS 1.3)." },
	{ "wrap_socket_method", kp_wrap_socket_method, METH_NOARGS,
	  "wrap_socket_method(): kssl.SSLContext._wrap_socket (setup.c)." },
	{ "set_conn_class", kp_set_conn_class, METH_VARARGS,
	  "set_conn_class(cls, eof_probe): what _wrap_socket makes (setup.c)." },
	{ "set_shared_rule", kp_set_shared_rule, METH_O,
	  "set_shared_rule(own_list): what shared_ciphers() returns (conn.c)." },
	{ NULL, NULL, 0, NULL },
};

static struct PyModuleDef kssl_module = {
	PyModuleDef_HEAD_INIT,
	.m_name = "kssl._kssl",
	.m_doc = "libkssl bindings (internal; use the kssl package).",
	.m_size = -1,
	.m_methods = mod_methods,
};

static int load_classes(void)
{
	PyObject *ssl = PyImport_ImportModule("ssl");
	struct { PyObject **slot; const char *name; } map[] = {
		{ &kp_cls.ssl_error, "SSLError" },
		{ &kp_cls.zero_return, "SSLZeroReturnError" },
		{ &kp_cls.want_read, "SSLWantReadError" },
		{ &kp_cls.want_write, "SSLWantWriteError" },
		{ &kp_cls.syscall, "SSLSyscallError" },
		{ &kp_cls.eof, "SSLEOFError" },
		{ &kp_cls.cert_verification, "SSLCertVerificationError" },
	};

	if (!ssl)
		return -1;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		*map[i].slot = PyObject_GetAttrString(ssl, map[i].name);
		if (!*map[i].slot) {
			Py_DECREF(ssl);
			return -1;
		}
	}
	Py_DECREF(ssl);
	return 0;
}

PyMODINIT_FUNC PyInit__kssl(void)
{
	PyObject *m;

	if (PyType_Ready(&KsContext_Type) < 0 || PyType_Ready(&KsConn_Type) < 0 ||
	    PyType_Ready(&KsDtls_Type) < 0 || PyType_Ready(&KsSession_Type) < 0)
		return NULL;
	if (load_classes() < 0)
		return NULL;
	m = PyModule_Create(&kssl_module);
	if (!m)
		return NULL;
	if (PyModule_AddObjectRef(m, "Context", (PyObject *)&KsContext_Type) < 0 ||
	    PyModule_AddObjectRef(m, "Conn", (PyObject *)&KsConn_Type) < 0 ||
	    PyModule_AddObjectRef(m, "DTLS", (PyObject *)&KsDtls_Type) < 0 ||
	    PyModule_AddObjectRef(m, "SSLSession", (PyObject *)&KsSession_Type) < 0 ||
	    PyModule_AddStringConstant(m, "KSSL_VERSION", KSSL_VERSION_STRING) < 0 ||
	    PyModule_AddIntConstant(m, "TLS1_2", KSSL_TLS1_2) < 0 ||
	    PyModule_AddIntConstant(m, "TLS1_3", KSSL_TLS1_3) < 0) {
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
