/*
 * Fuzz target: cipher lists (kssl_ctx_set_ciphers for TLS 1.2,
 * kssl_ctx_set_ciphersuites for TLS 1.3) and the IANA <-> OpenSSL naming
 * of what they select, the mapping kssl_conn_cipher()/_openssl() and the
 * Python module's set_ciphers() translation rest on.
 * Input: one mode byte (bit 0: TLS 1.2 list, bit 1: TLS 1.3 list, neither:
 * both), then the list string.
 * Invariants: 0 or a negative KSSL_E_* code; a refused TLS 1.3 list
 * leaves the context's selection untouched; every selected suite's IANA
 * name maps back to the same OpenSSL name.
 * Not asserted: a refused TLS 1.2 list DOES change the selection (OpenSSL
 * 3.0 installs the parsed list, then fails because it holds no TLS 1.2
 * suite: "RC4", "" or a TLS 1.3 name leave only the TLS 1.3 suites).
 * CPython's ssl.SSLContext.set_ciphers behaves the same, so the Python
 * module matches it; see docs/security-testing.md.
 */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "kssl/kssl.h"

static kssl_ctx *ctx;

/* A fingerprint of the selection: count and ids in order. */
static unsigned long selection(SSL_CTX *sc, int *count)
{
	STACK_OF(SSL_CIPHER) *sk = SSL_CTX_get_ciphers(sc);
	unsigned long h = 5381;

	*count = sk ? sk_SSL_CIPHER_num(sk) : 0;
	for (int i = 0; i < *count; i++)
		h = h * 33 + (unsigned long)SSL_CIPHER_get_id(sk_SSL_CIPHER_value(sk, i));
	return h;
}

static void check_names(SSL_CTX *sc)
{
	STACK_OF(SSL_CIPHER) *sk = SSL_CTX_get_ciphers(sc);

	for (int i = 0; sk && i < sk_SSL_CIPHER_num(sk); i++) {
		const SSL_CIPHER *c = sk_SSL_CIPHER_value(sk, i);
		const char *iana = SSL_CIPHER_standard_name(c);
		const char *ossl = SSL_CIPHER_get_name(c);

		FUZZ_CHECK(ossl && *ossl);
		if (iana)
			FUZZ_CHECK(!strcmp(OPENSSL_cipher_name(iana), ossl));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned long before, after;
	int mode, nb, na, r;
	SSL_CTX *sc;
	char *list;

	if (size < 1)
		return 0;
	if (!ctx)
		ctx = kssl_ctx_new(KSSL_SERVER);
	FUZZ_CHECK(ctx);
	sc = kssl_ctx_ssl_ctx(ctx);
	mode = data[0] & 3;
	list = fuzz_cstr(data + 1, size - 1);
	if (mode == 0 || mode == 1) {
		r = kssl_ctx_set_ciphers(ctx, list);
		FUZZ_CHECK(r == 0 || r == KSSL_E_INVAL || r == KSSL_E_TLS);
		if (r < 0) /* back to a known state (see above) */
			FUZZ_CHECK(kssl_ctx_set_ciphers(ctx, "DEFAULT") == 0);
	}
	if (mode == 0 || mode == 2) {
		before = selection(sc, &nb);
		r = kssl_ctx_set_ciphersuites(ctx, list);
		FUZZ_CHECK(r == 0 || r == KSSL_E_INVAL || r == KSSL_E_TLS);
		after = selection(sc, &na);
		if (r < 0)
			FUZZ_CHECK(before == after && nb == na);
	}
	check_names(sc);
	free(list);
	ERR_clear_error();
	return 0;
}
