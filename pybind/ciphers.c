/*
 * Cipher suite names: OpenSSL calls a suite "ECDHE-RSA-AES128-GCM-SHA256",
 * IANA (and MicroPython/QuecPython, mbedTLS) "TLS_ECDHE_RSA_WITH_AES_128_
 * GCM_SHA256". OpenSSL 3.0 cipher strings take only its own names, so the
 * Python side maps IANA names through this table: every suite of an
 * all-ciphers context, with both names. Suites whose algorithms the loaded
 * providers lack (RC4, DES, SEED, ... without the legacy provider) are not
 * in it, since OpenSSL could not negotiate them either.
 */
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "module.h"

static const char all_tls12[] = "ALL:COMPLEMENTOFALL:@SECLEVEL=0";
static const char all_tls13[] =
	"TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:"
	"TLS_AES_128_GCM_SHA256:TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256";

/* _kssl.cipher_table() -> [(iana, openssl, id, protocol_id, version)] */
PyObject *kp_cipher_table(PyObject *m, PyObject *unused)
{
	SSL_CTX *sc = SSL_CTX_new(TLS_method());
	STACK_OF(SSL_CIPHER) *sk;
	PyObject *list = NULL;

	(void)m;
	(void)unused;
	if (!sc || !SSL_CTX_set_cipher_list(sc, all_tls12) ||
	    !SSL_CTX_set_ciphersuites(sc, all_tls13)) {
		SSL_CTX_free(sc);
		ERR_clear_error();
		PyErr_SetString(kp_cls.ssl_error, "cipher_table: cannot build the all-ciphers context");
		return NULL;
	}
	sk = SSL_CTX_get_ciphers(sc);
	list = PyList_New(0);
	for (int i = 0; list && i < sk_SSL_CIPHER_num(sk); i++) {
		const SSL_CIPHER *c = sk_SSL_CIPHER_value(sk, i);
		const char *iana = SSL_CIPHER_standard_name(c);
		PyObject *t;

		if (!iana)
			continue;
		t = Py_BuildValue("(sskis)", iana, SSL_CIPHER_get_name(c),
				  (unsigned long)SSL_CIPHER_get_id(c),
				  (int)SSL_CIPHER_get_protocol_id(c),
				  SSL_CIPHER_get_version(c));
		if (!t || PyList_Append(list, t) < 0)
			Py_CLEAR(list);
		Py_XDECREF(t);
	}
	SSL_CTX_free(sc);
	return list;
}
