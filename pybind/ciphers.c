/*
 * Cipher suite names: OpenSSL calls a suite "ECDHE-RSA-AES128-GCM-SHA256",
 * IANA (and MicroPython/QuecPython, mbedTLS) "TLS_ECDHE_RSA_WITH_AES_128_
 * GCM_SHA256". OpenSSL 3.0 cipher strings take only its own names, so the
 * Python side maps IANA names through libkssl's table of every suite the
 * loaded providers can negotiate (kssl_cipher_table), with both names.
 */
#include <stdlib.h>

#include "module.h"

/* _kssl.cipher_table() -> [(iana, openssl, id, protocol_id, version)] */
PyObject *kp_cipher_table(PyObject *m, PyObject *unused)
{
	struct kssl_cipher_desc *t;
	size_t n;
	PyObject *list;

	(void)m;
	(void)unused;
	if (kssl_cipher_table(&t, &n) < 0)
		return kp_raise_ctx(KSSL_E_TLS);
	list = PyList_New(0);
	for (size_t i = 0; list && i < n; i++) {
		PyObject *e = Py_BuildValue("(sskis)", t[i].iana_name, t[i].name,
					    (unsigned long)t[i].id,
					    (int)t[i].protocol_id, t[i].version);

		if (!e || PyList_Append(list, e) < 0)
			Py_CLEAR(list);
		Py_XDECREF(e);
	}
	free(t);
	return list;
}
