/* Certificates, private keys and trust anchors for a kssl_ctx. */
#include <limits.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "internal.h"

static int pem_pw_thunk(char *buf, int size, int rwflag, void *arg)
{
	kssl_ctx *ctx = arg;

	(void)rwflag;
	if (!ctx->pw_cb)
		return -1;
	return ctx->pw_cb(buf, size, ctx->pw_arg);
}

void kssl_ctx_set_password_cb(kssl_ctx *ctx, kssl_password_cb cb, void *arg)
{
	ctx->pw_cb = cb;
	ctx->pw_arg = arg;
	SSL_CTX_set_default_passwd_cb(ctx->ssl_ctx, cb ? pem_pw_thunk : NULL);
	SSL_CTX_set_default_passwd_cb_userdata(ctx->ssl_ctx, cb ? ctx : NULL);
}

int kssl_ctx_use_cert_file(kssl_ctx *ctx, const char *chain_path,
			   const char *key_path)
{
	if (!chain_path)
		return ks_err(KSSL_E_INVAL, "kssl_ctx_use_cert_file: no certificate file");
	if (!key_path)
		key_path = chain_path;
	if (!SSL_CTX_use_certificate_chain_file(ctx->ssl_ctx, chain_path))
		return ks_why(ks_err_ssl(KSSL_E_FILE, "cannot load certificate chain %s",
				  chain_path), KSSL_R_BAD_CERT_DATA, 0);
	if (!SSL_CTX_use_PrivateKey_file(ctx->ssl_ctx, key_path,
					 SSL_FILETYPE_PEM))
		return ks_why(ks_err_ssl(KSSL_E_FILE, "cannot load private key %s",
				  key_path), KSSL_R_BAD_KEY_DATA, 0);
	if (!SSL_CTX_check_private_key(ctx->ssl_ctx))
		return ks_why(ks_err_ssl(KSSL_E_FILE,
				  "private key %s does not match certificate %s",
				  key_path, chain_path), KSSL_R_KEY_MISMATCH, 0);
	return 0;
}

static int len_ok(size_t len)
{
	return len > 0 && len <= INT_MAX;
}

/* Reads one certificate; *p advances past it (DER) or the BIO does (PEM). */
static X509 *read_cert(BIO *bio, const unsigned char **p, long len,
		       enum kssl_format format)
{
	if (format == KSSL_FORMAT_DER)
		return d2i_X509(NULL, p, len);
	return PEM_read_bio_X509(bio, NULL, NULL, NULL);
}

int kssl_ctx_use_cert_mem(kssl_ctx *ctx, const void *cert, size_t cert_len,
			  const void *key, size_t key_len,
			  enum kssl_format format)
{
	const unsigned char *p = cert;
	BIO *bio;
	X509 *x;
	EVP_PKEY *pkey = NULL;
	int rc = KSSL_E_FILE;

	if (!cert || !len_ok(cert_len) || !key || !len_ok(key_len))
		return ks_err(KSSL_E_INVAL, "kssl_ctx_use_cert_mem: empty certificate or key");
	bio = BIO_new_mem_buf(cert, (int)cert_len);
	if (!bio)
		return ks_err_ssl(KSSL_E_NOMEM, "BIO_new_mem_buf");
	x = read_cert(bio, &p, (long)cert_len, format);
	if (!x) {
		ks_why(ks_err_ssl(KSSL_E_FILE, "invalid certificate data"), KSSL_R_BAD_CERT_DATA, 0);
		goto out;
	}
	if (!SSL_CTX_use_certificate(ctx->ssl_ctx, x)) {
		ks_err_ssl(KSSL_E_FILE, "cannot use certificate");
		goto out;
	}
	/* PEM: the rest of the text is the chain. */
	if (format == KSSL_FORMAT_PEM) {
		X509 *extra;

		SSL_CTX_clear_chain_certs(ctx->ssl_ctx);
		while ((extra = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
			if (!SSL_CTX_add0_chain_cert(ctx->ssl_ctx, extra)) {
				X509_free(extra);
				ks_err_ssl(KSSL_E_FILE, "cannot add chain certificate");
				goto out;
			}
		}
		ERR_clear_error(); /* the loop ends on "no start line" */
	}
	BIO_free(bio);
	bio = BIO_new_mem_buf(key, (int)key_len);
	if (!bio) {
		ks_err_ssl(KSSL_E_NOMEM, "BIO_new_mem_buf");
		goto out;
	}
	if (format == KSSL_FORMAT_DER) {
		p = key;
		pkey = d2i_AutoPrivateKey(NULL, &p, (long)key_len);
	} else {
		pkey = PEM_read_bio_PrivateKey(bio, NULL, pem_pw_thunk, ctx);
	}
	if (!pkey) {
		ks_why(ks_err_ssl(KSSL_E_FILE, "invalid private key data"), KSSL_R_BAD_KEY_DATA, 0);
		goto out;
	}
	if (!SSL_CTX_use_PrivateKey(ctx->ssl_ctx, pkey) ||
	    !SSL_CTX_check_private_key(ctx->ssl_ctx)) {
		ks_why(ks_err_ssl(KSSL_E_FILE, "private key does not match certificate"), KSSL_R_KEY_MISMATCH, 0);
		goto out;
	}
	rc = 0;
out:
	EVP_PKEY_free(pkey);
	X509_free(x);
	BIO_free(bio);
	return rc;
}

int kssl_ctx_add_chain_cert_mem(kssl_ctx *ctx, const void *cert, size_t len,
				enum kssl_format format)
{
	const unsigned char *p = cert;
	BIO *bio;
	X509 *x;

	if (!cert || !len_ok(len))
		return ks_err(KSSL_E_INVAL, "kssl_ctx_add_chain_cert_mem: empty certificate");
	bio = BIO_new_mem_buf(cert, (int)len);
	if (!bio)
		return ks_err_ssl(KSSL_E_NOMEM, "BIO_new_mem_buf");
	x = read_cert(bio, &p, (long)len, format);
	BIO_free(bio);
	if (!x)
		return ks_why(ks_err_ssl(KSSL_E_FILE, "invalid chain certificate data"), KSSL_R_BAD_CERT_DATA, 0);
	if (!SSL_CTX_add0_chain_cert(ctx->ssl_ctx, x)) {
		X509_free(x);
		return ks_err_ssl(KSSL_E_FILE, "cannot add chain certificate");
	}
	return 0;
}

int kssl_ctx_load_ca_file(kssl_ctx *ctx, const char *cafile)
{
	if (!cafile || !SSL_CTX_load_verify_locations(ctx->ssl_ctx, cafile, NULL))
		return ks_why(ks_err_ssl(KSSL_E_FILE, "cannot load CA file %s",
				  cafile ? cafile : "(null)"), KSSL_R_BAD_CA_DATA, 0);
	return 0;
}

int kssl_ctx_load_ca_dir(kssl_ctx *ctx, const char *capath)
{
	if (!capath || !SSL_CTX_load_verify_locations(ctx->ssl_ctx, NULL, capath))
		return ks_why(ks_err_ssl(KSSL_E_FILE, "cannot load CA directory %s",
				  capath ? capath : "(null)"), KSSL_R_BAD_CA_DATA, 0);
	return 0;
}

int kssl_ctx_load_ca_mem(kssl_ctx *ctx, const void *data, size_t len,
			 enum kssl_format format)
{
	X509_STORE *store = SSL_CTX_get_cert_store(ctx->ssl_ctx);
	BIO *bio;
	int n = 0;
	unsigned long e;

	if (!data || !len_ok(len))
		return ks_err(KSSL_E_INVAL, "kssl_ctx_load_ca_mem: no data");
	bio = BIO_new_mem_buf(data, (int)len);
	if (!bio)
		return ks_err_ssl(KSSL_E_NOMEM, "BIO_new_mem_buf");
	for (;;) {
		X509 *x = format == KSSL_FORMAT_DER ? d2i_X509_bio(bio, NULL)
			: PEM_read_bio_X509(bio, NULL, NULL, NULL);

		if (!x)
			break;
		if (!X509_STORE_add_cert(store, x)) {
			e = ERR_peek_last_error();

			/* The same CA twice is fine, as in CPython. */
			if (ERR_GET_REASON(e) != X509_R_CERT_ALREADY_IN_HASH_TABLE) {
				X509_free(x);
				BIO_free(bio);
				return ks_why(ks_err_ssl(KSSL_E_FILE, "cannot add CA certificate"), KSSL_R_BAD_CA_DATA, 0);
			}
			ERR_clear_error();
		}
		X509_free(x);
		n++;
	}
	BIO_free(bio);
	/*
	 * As CPython's load_verify_locations(cadata=): read until a read
	 * fails; after at least one certificate, only the failure that means
	 * "no more data" ends it well (DER: no further header; PEM: no further
	 * BEGIN line, or no error at all); anything else refuses the data, as
	 * it does there.
	 */
	e = ERR_peek_last_error();
	if (n == 0 ||
	    !(e == 0 ||
	      (format == KSSL_FORMAT_DER && ERR_GET_LIB(e) == ERR_LIB_ASN1 &&
	       ERR_GET_REASON(e) == ASN1_R_HEADER_TOO_LONG) ||
	      (format == KSSL_FORMAT_PEM && ERR_GET_LIB(e) == ERR_LIB_PEM &&
	       ERR_GET_REASON(e) == PEM_R_NO_START_LINE)))
		return ks_why(ks_err_ssl(KSSL_E_FILE, "invalid CA certificate data"),
			      KSSL_R_BAD_CA_DATA, 0);
	ERR_clear_error();
	return 0;
}

int kssl_ctx_load_default_cas(kssl_ctx *ctx)
{
	if (!SSL_CTX_set_default_verify_paths(ctx->ssl_ctx))
		return ks_why(ks_err_ssl(KSSL_E_FILE, "cannot load the system CA store"), KSSL_R_BAD_CA_DATA, 0);
	return 0;
}

int kssl_ctx_clear_cas(kssl_ctx *ctx)
{
	X509_STORE *st = X509_STORE_new();

	if (!st)
		return ks_err_ssl(KSSL_E_NOMEM, "kssl_ctx_clear_cas: X509_STORE_new");
	/* SSL_CTX_set_cert_store frees the old store (and what it holds). */
	SSL_CTX_set_cert_store(ctx->ssl_ctx, st);
	return 0;
}
