/*
 * OCSP stapling on the server side: the caller supplies a DER OCSP
 * response (fetched and refreshed outside, e.g. by `openssl ocsp`); it is
 * sent in the handshake to every client that asks (status_request).
 */
#include <openssl/ocsp.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* OpenSSL calls this on the server only when the client sent
 * status_request; a copy is handed over (OpenSSL frees it). */
static int ocsp_status_cb(SSL *ssl, void *arg)
{
	kssl_ctx *ctx = arg;
	unsigned char *copy;

	if (!ctx->ocsp_len)
		return SSL_TLSEXT_ERR_NOACK;
	copy = OPENSSL_memdup(ctx->ocsp, ctx->ocsp_len);
	if (!copy)
		return SSL_TLSEXT_ERR_NOACK;
	if (!SSL_set_tlsext_status_ocsp_resp(ssl, copy, (long)ctx->ocsp_len)) {
		OPENSSL_free(copy);
		return SSL_TLSEXT_ERR_NOACK;
	}
	return SSL_TLSEXT_ERR_OK;
}

int kssl_ctx_set_ocsp_response(kssl_ctx *ctx, const void *der, size_t len)
{
	const unsigned char *p = der;
	OCSP_RESPONSE *resp;
	unsigned char *copy = NULL;
	int status;

	if (ctx->role != KSSL_SERVER)
		return ks_err(KSSL_E_INVAL, "kssl_ctx_set_ocsp_response: "
			      "server contexts only");
	if (der && len) {
		if (len > 1L << 20)
			return ks_err(KSSL_E_FILE, "OCSP response too large");
		resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
		if (!resp || p != (const unsigned char *)der + len) {
			OCSP_RESPONSE_free(resp);
			return ks_err_ssl(KSSL_E_FILE, "not a DER OCSP response");
		}
		status = OCSP_response_status(resp);
		OCSP_RESPONSE_free(resp);
		if (status != OCSP_RESPONSE_STATUS_SUCCESSFUL)
			return ks_err(KSSL_E_FILE, "OCSP response status is %s, "
				      "not successful",
				      OCSP_response_status_str(status));
		copy = malloc(len);
		if (!copy)
			return ks_err(KSSL_E_NOMEM, "out of memory");
		memcpy(copy, der, len);
	}
	free(ctx->ocsp);
	ctx->ocsp = copy;
	ctx->ocsp_len = copy ? len : 0;
	SSL_CTX_set_tlsext_status_cb(ctx->ssl_ctx, ocsp_status_cb);
	SSL_CTX_set_tlsext_status_arg(ctx->ssl_ctx, ctx);
	return 0;
}
