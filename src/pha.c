/*
 * TLS 1.3 post-handshake client authentication (RFC 8446, 4.6.2).
 *
 * The exchange (server: CertificateRequest; client: Certificate,
 * CertificateVerify, Finished) is handshake messages inside application
 * traffic. Kernel TLS hands such records up as control records and cannot
 * run the exchange, and OpenSSL 3.0 can only take part in it through its
 * own record layer. So a connection on which the exchange may happen keeps
 * both directions in OpenSSL (kssl_conn_offload says why):
 *   - a client that offered it (its context has post-handshake auth on):
 *     the server may ask at any time;
 *   - a server with client verification (post-handshake auth setting or
 *     not: OpenSSL allows the request either way), when the client offered
 *     it: kssl_conn_verify_client_post_handshake() may be called at any
 *     time.
 * Everything else (TLS 1.2, a client that did not offer it) offloads as
 * usual. See docs/design.md, "Post-handshake authentication".
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/tls1.h>

#include "internal.h"

/* Server: remember whether the ClientHello offered post_handshake_auth. */
int ks_pha_hello_cb(SSL *ssl, int *alert, void *arg)
{
	kssl_conn *conn = SSL_get_app_data(ssl);
	const unsigned char *ext;
	size_t len;

	(void)alert;
	(void)arg;
	if (conn)
		conn->pha_offered = SSL_client_hello_get0_ext(
			ssl, TLSEXT_TYPE_post_handshake_auth, &ext, &len) == 1;
	return SSL_CLIENT_HELLO_SUCCESS;
}

int kssl_ctx_set_post_handshake_auth(kssl_ctx *ctx, int on)
{
	ctx->pha = !!on;
	if (ctx->role == KSSL_CLIENT) {
		SSL_CTX_set_post_handshake_auth(ctx->ssl_ctx, ctx->pha);
		return 0;
	}
	kssl_ctx_set_verify(ctx, ctx->verify); /* adds SSL_VERIFY_POST_HANDSHAKE */
	return 0;
}

int kssl_ctx_get_post_handshake_auth(const kssl_ctx *ctx)
{
	return ctx->pha;
}

const char *ks_pha_blocker(const kssl_conn *conn)
{
	if (conn->core.info.version != TLS1_3_VERSION)
		return NULL;
	if (conn->core.ctx->role == KSSL_CLIENT && conn->core.ctx->pha)
		return "post-handshake authentication offered: the server may request a client certificate at any time, and kernel TLS cannot carry that exchange";
	/* OpenSSL lets any verifying server request it, PHA setting or not. */
	if (conn->pha_offered && (SSL_get_verify_mode(conn->core.ssl) & SSL_VERIFY_PEER))
		return "post-handshake authentication possible (the client offered it, the server verifies clients): kssl_conn_verify_client_post_handshake needs OpenSSL's record layer";
	return NULL;
}

int kssl_conn_verify_client_post_handshake(kssl_conn *conn)
{
	static const char what[] = "kssl_conn_verify_client_post_handshake";

	if (conn->core.failed)
		return ks_failed_earlier(&conn->core);
	if (conn->core.ssl) {
		ERR_clear_error();
		if (SSL_verify_client_post_handshake(conn->core.ssl) == 1) {
			/* The client's Finished tells of its certificate
			 * (src/handshake.c), also where nothing is offloaded. */
			ks_conn_watch_records(conn, 1);
			return 0;
		}
		/* Not a failure of the connection: it goes on as before. */
		return ks_err_ssl(KSSL_E_TLS, "%s", what);
	}
	/* OpenSSL's state is gone, so both directions are in the kernel:
	 * the reasons OpenSSL would give, in its order of checks. */
	if (conn->core.info.version != TLS1_3_VERSION)
		return ks_why_openssl(ks_err(KSSL_E_TLS, "%s: wrong ssl version",
					     what),
				      ERR_PACK(ERR_LIB_SSL, 0,
					       SSL_R_WRONG_SSL_VERSION));
	if (conn->core.ctx->role != KSSL_SERVER)
		return ks_why_openssl(ks_err(KSSL_E_TLS, "%s: not server", what),
				      ERR_PACK(ERR_LIB_SSL, 0,
					       SSL_R_NOT_SERVER));
	return ks_why_openssl(ks_err(KSSL_E_TLS, "%s: extension not received",
				     what),
			      ERR_PACK(ERR_LIB_SSL, 0,
				       SSL_R_EXTENSION_NOT_RECEIVED));
}
