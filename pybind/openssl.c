/*
 * Every direct OpenSSL call of the Python binding, in one place. The rest
 * of pybind/ calls libkssl only (kssl.h, kssl_dtls.h) and includes no
 * OpenSSL header. What is here, and why it does not go through libkssl:
 *
 *  - Error texts (kp_ossl_error): ERR_PACK, ERR_GET_LIB, ERR_GET_REASON,
 *    ERR_reason_error_string, X509_verify_cert_error_string. CPython's
 *    _ssl prints OpenSSL's library/reason numbers and texts in every
 *    SSLError ("[SSL: WRONG_VERSION_NUMBER] wrong version number") and
 *    the verify error text in SSLCertVerificationError; libkssl gives the
 *    numbers (kssl_last_openssl_error, KSSL_R_* + detail), the texts are
 *    OpenSSL's own tables. For failures libkssl detects on the kernel path
 *    the code OpenSSL would have queued in userspace is built here
 *    (ERR_PACK with SSL_AD_REASON_OFFSET and SSL_R_*), since those are the
 *    numbers _ssl shows.
 *  - Verify flags (kp_ossl_set_verify_flags): SSL_CTX_get0_param,
 *    X509_VERIFY_PARAM_clear_flags, X509_VERIFY_PARAM_set_flags,
 *    X509_VERIFY_PARAM_set_hostflags. ssl.VERIFY_* and the hostname flags
 *    are OpenSSL's X509_V_FLAG_* / X509_CHECK_FLAG_* bit words passed
 *    through unchanged; libkssl's API does not mirror OpenSSL flag words.
 *  - Options (kp_ossl_set_options): SSL_CTX_set_options, the same for
 *    ssl.OP_* (OpenSSL's SSL_OP_* bits), minus SSL_OP_ENABLE_KTLS.
 *  - DER key to PEM (kp_ossl_key_pem): d2i_AutoPrivateKey, BIO_new,
 *    BIO_s_mem, PEM_write_bio_PrivateKey, BIO_get_mem_ptr, BIO_free,
 *    EVP_PKEY_free, ERR_clear_error. The stdlib half of a kssl context
 *    loads keys from PEM files only; a format conversion, not TLS.
 *  - kssl_ctx_ssl_ctx (libkssl's documented escape) gives the SSL_CTX for
 *    the two setters above.
 *
 * Moved into libkssl instead: the handshake snapshot (chains, cipher
 * descriptors and lists: src/peerinfo.c), the cipher table
 * (kssl_cipher_table), the trust store reset (kssl_ctx_clear_cas), the
 * security level and groups (kssl_ctx_set_security_level/_groups).
 *
 * Tested with OpenSSL 3.0.19 (Debian 12's 3.0.x) under CPython 3.11.2
 * (Debian) and 3.11.7.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "openssl.h"

/*
 * The OpenSSL error that names the cause. Failures kssl detects itself on
 * the kernel path get the code OpenSSL would have queued in userspace.
 */
static unsigned long packed_error(const struct kssl_error_info *e)
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

void kp_ossl_error(const struct kssl_error_info *e, struct kp_ossl_error *out)
{
	unsigned long oe = packed_error(e);

	out->lib = oe ? ERR_GET_LIB(oe) : 0;
	out->reason = oe ? ERR_GET_REASON(oe) : 0;
	out->reason_text = oe ? ERR_reason_error_string(oe) : NULL;
	out->verify_text = e->code == KSSL_E_CERT
			   ? X509_verify_cert_error_string(e->detail) : NULL;
}

void kp_ossl_set_verify_flags(kssl_ctx *ctx, unsigned long flags,
			      unsigned int hostflags)
{
	X509_VERIFY_PARAM *param = SSL_CTX_get0_param(kssl_ctx_ssl_ctx(ctx));

	X509_VERIFY_PARAM_clear_flags(param, ~0UL);
	X509_VERIFY_PARAM_set_flags(param, flags);
	X509_VERIFY_PARAM_set_hostflags(param, hostflags);
}

/* SSL_OP_ENABLE_KTLS would let OpenSSL itself drive kernel TLS behind
 * kssl's back. */
void kp_ossl_set_options(kssl_ctx *ctx, uint64_t opts)
{
	SSL_CTX_set_options(kssl_ctx_ssl_ctx(ctx), opts & ~(uint64_t)SSL_OP_ENABLE_KTLS);
}

int kp_ossl_key_pem(const void *der, size_t len, char **pem, size_t *pem_len)
{
	const unsigned char *p = der;
	EVP_PKEY *pkey = d2i_AutoPrivateKey(NULL, &p, (long)len);
	BIO *bio = BIO_new(BIO_s_mem());
	BUF_MEM *mem;
	int r = -1;

	*pem = NULL;
	*pem_len = 0;
	if (pkey && bio && PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) &&
	    BIO_get_mem_ptr(bio, &mem) > 0 && (*pem = malloc(mem->length + 1))) {
		memcpy(*pem, mem->data, mem->length);
		*pem_len = mem->length;
		r = 0;
	}
	ERR_clear_error();
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	return r;
}

static X509 *cert_of(const uint8_t *der, size_t len)
{
	const unsigned char *p = der;

	return d2i_X509(NULL, &p, (long)len);
}

/* The contents of a memory BIO, malloc'd and NUL-ended. */
static int bio_out(BIO *bio, char **out, size_t *out_len)
{
	BUF_MEM *mem;

	if (BIO_get_mem_ptr(bio, &mem) <= 0 || !(*out = malloc(mem->length + 1)))
		return -1;
	memcpy(*out, mem->data, mem->length);
	(*out)[mem->length] = 0;
	if (out_len)
		*out_len = mem->length;
	return 0;
}

int kp_ossl_cert_pem(const uint8_t *der, size_t len, int with_aux, char **pem,
		     size_t *pem_len)
{
	X509 *x = cert_of(der, len);
	BIO *bio = BIO_new(BIO_s_mem());
	int r = -1;

	*pem = NULL;
	if (x && bio && (with_aux ? PEM_write_bio_X509_AUX(bio, x) : PEM_write_bio_X509(bio, x)))
		r = bio_out(bio, pem, pem_len);
	ERR_clear_error();
	BIO_free(bio);
	X509_free(x);
	return r;
}

int kp_ossl_cert_subject(const uint8_t *der, size_t len, char **out)
{
	X509 *x = cert_of(der, len);
	BIO *bio = BIO_new(BIO_s_mem());
	int r = -1;

	*out = NULL;
	if (x && bio && X509_NAME_print_ex(bio, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0)
		r = bio_out(bio, out, NULL);
	ERR_clear_error();
	BIO_free(bio);
	X509_free(x);
	return r;
}

unsigned long kp_ossl_cert_subject_hash(const uint8_t *der, size_t len)
{
	X509 *x = cert_of(der, len);
	unsigned long h = x ? X509_subject_name_hash(x) : 0;

	ERR_clear_error();
	X509_free(x);
	return h;
}

size_t kp_ossl_store_count(kssl_ctx *ctx)
{
	X509_STORE *store = SSL_CTX_get_cert_store(kssl_ctx_ssl_ctx(ctx));
	STACK_OF(X509_OBJECT) *objs;
	int n;

	if (!store || !X509_STORE_lock(store))
		return 0;
	objs = X509_STORE_get0_objects(store);
	n = objs ? sk_X509_OBJECT_num(objs) : 0;
	X509_STORE_unlock(store);
	return n > 0 ? (size_t)n : 0;
}

int kp_ossl_store_cert(kssl_ctx *ctx, size_t i, uint8_t **der, size_t *len)
{
	X509_STORE *store = SSL_CTX_get_cert_store(kssl_ctx_ssl_ctx(ctx));
	STACK_OF(X509_OBJECT) *objs;
	X509 *x = NULL;
	unsigned char *out = NULL;
	int n = -1;

	*der = NULL;
	*len = 0;
	if (!store || !X509_STORE_lock(store))
		return -1;
	objs = X509_STORE_get0_objects(store);
	if (objs && i < (size_t)sk_X509_OBJECT_num(objs))
		x = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, (int)i));
	if (x)
		n = i2d_X509(x, &out);
	X509_STORE_unlock(store);
	if (n > 0 && (*der = malloc((size_t)n))) {
		memcpy(*der, out, (size_t)n);
		*len = (size_t)n;
	}
	OPENSSL_free(out);
	return *der ? 0 : -1;
}
