/*
 * Fuzz target: certificates and private keys from memory, as an
 * application or the Python module hands them to libkssl (PEM, DER,
 * PKCS#1/SEC1/PKCS#8, encrypted with a password). Public calls only.
 * Input: one mode byte, then parts separated by "@@@@":
 * certificate/chain, key, password.
 *   mode bit 0: DER instead of PEM; bits 1-2: which call
 *   (0 use_cert_mem, 1 add_chain_cert_mem, 2 load_ca_mem, 3 use_cert_mem
 *   then add_chain_cert_mem with the key part as a chain certificate);
 *   bit 3: a password callback answers with the password part;
 *   bit 4: the callback fails (returns -1).
 * Invariants: every call returns 0 or a negative KSSL_E_* code; a key that
 * was accepted matches the certificate (SSL_CTX_check_private_key).
 */
#include "fuzz.h"

#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "kssl/kssl.h"

struct pw {
	const uint8_t *p;
	size_t len;
	int fail;
	int calls;
};

static int password(char *buf, int size, void *arg)
{
	struct pw *pw = arg;
	size_t n = pw->len;

	pw->calls++;
	if (pw->fail)
		return -1;
	if (n > (size_t)size)
		n = (size_t)size;
	if (n) /* no password part: p is NULL */
		memcpy(buf, pw->p, n);
	return (int)n;
}

static void check_rc(int r)
{
	FUZZ_CHECK(r == 0 || (r <= KSSL_E_SYSCALL && r >= -99));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *part[3] = { NULL, NULL, NULL };
	size_t len[3] = { 0, 0, 0 };
	struct pw pw = { 0 };
	enum kssl_format fmt;
	kssl_ctx *ctx;
	int mode, r;

	if (size < 1)
		return 0;
	mode = data[0];
	fuzz_split(data + 1, size - 1, part, len, 3);
	fmt = mode & 1 ? KSSL_FORMAT_DER : KSSL_FORMAT_PEM;
	ctx = kssl_ctx_new(KSSL_SERVER);
	FUZZ_CHECK(ctx);
	if (mode & 8) {
		pw.p = part[2];
		pw.len = len[2];
		pw.fail = !!(mode & 16);
		kssl_ctx_set_password_cb(ctx, password, &pw);
	}
	switch ((mode >> 1) & 3) {
	case 0:
	case 3:
		r = kssl_ctx_use_cert_mem(ctx, part[0], len[0], part[1], len[1], fmt);
		check_rc(r);
		if (r == 0)
			FUZZ_CHECK(SSL_CTX_check_private_key(kssl_ctx_ssl_ctx(ctx)) == 1);
		if (((mode >> 1) & 3) == 3)
			check_rc(kssl_ctx_add_chain_cert_mem(ctx, part[1], len[1], fmt));
		break;
	case 1:
		check_rc(kssl_ctx_add_chain_cert_mem(ctx, part[0], len[0], fmt));
		break;
	case 2:
		check_rc(kssl_ctx_load_ca_mem(ctx, part[0], len[0], fmt));
		break;
	}
	kssl_ctx_free(ctx);
	ERR_clear_error();
	return 0;
}
