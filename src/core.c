/*
 * The session core (struct ks_core, src/internal.h): what a TLS
 * connection and a DTLS session do the same way, written once. Creating
 * and freeing the core, the handshake and record steps that run in
 * OpenSSL, and what is learnt when the handshake ends. The callers add
 * what is theirs: kernel TLS for kssl_conn (src/connection.c, src/io.c,
 * src/offload.c), cookies and retransmission for kssl_dtls (src/dtls.c).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "internal.h"

int ks_core_init(struct ks_core *c, const struct ks_kind *kind,
		 kssl_ctx *ctx, int fd, BIO *bio, const char *what)
{
	c->kind = kind;
	c->fd = fd;
	c->ssl = bio ? SSL_new(ctx->ssl_ctx) : NULL;
	if (!c->ssl) {
		BIO_free(bio);
		return ks_err_ssl(KSSL_E_NOMEM, "%s: SSL_new", what);
	}
	SSL_set_bio(c->ssl, bio, bio);
	if (ctx->role == KSSL_CLIENT)
		SSL_set_connect_state(c->ssl);
	else
		SSL_set_accept_state(c->ssl);
	kssl_ctx_up_ref(ctx);
	c->ctx = ctx;
	return 0;
}

void ks_core_free_ssl(struct ks_core *c)
{
	if (!c->ssl)
		return;
	/*
	 * Not a failure of the session: keep it resumable if cached (OpenSSL
	 * drops a session from the cache when its SSL is freed unshut).
	 * SSL_free writes nothing.
	 */
	if (!c->failed)
		SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_free(c->ssl);
	c->ssl = NULL;
}

void ks_core_free(struct ks_core *c)
{
	ks_core_free_ssl(c);
	kssl_ctx_free(c->ctx);
	c->ctx = NULL;
	ks_info_clear(&c->info);
	ks_kept_free(c);
	ks_fail_free(c);
}

void ks_info_clear(struct ks_info *info)
{
	free(info->server_name);
	info->server_name = NULL;
	free(info->alpn);
	info->alpn = NULL;
	info->alpn_len = 0;
	X509_free(info->peer);
	info->peer = NULL;
	OPENSSL_free(info->peer_der);
	info->peer_der = NULL;
	info->peer_der_len = 0;
}

/* ---- what the handshake gave (struct ks_info) ---------------------------- */

/* The DER is made when first asked for (ks_core_peer_cert_der): most
 * connections never ask, and i2d_X509 costs ~5k instructions. */
void ks_core_peer_changed(struct ks_core *c)
{
	X509 *peer = c->ssl ? SSL_get1_peer_certificate(c->ssl) : NULL;

	if (!peer)
		return;
	X509_free(c->info.peer);
	c->info.peer = peer;
	OPENSSL_free(c->info.peer_der);
	c->info.peer_der = NULL;
	c->info.peer_der_len = 0;
	c->info.verify_result = SSL_get_verify_result(c->ssl);
}

/* At handshake end: what outlives the SSL (TLS frees it once both
 * directions are in the kernel) and what the accessors report. */
static void record_info(struct ks_core *c)
{
	struct ks_info *in = &c->info;
	const SSL_CIPHER *cipher = SSL_get_current_cipher(c->ssl);
	const unsigned char *alpn = NULL;
	unsigned int alpn_len = 0;

	in->version = SSL_version(c->ssl);
	in->session_reused = SSL_session_reused(c->ssl);
	/* tls-unique: the first Finished sent, the client's in a full
	 * handshake and the server's when resuming (RFC 5929, 3.1). */
	if (in->session_reused ^ (c->ctx->role == KSSL_CLIENT))
		in->tls_unique_len = SSL_get_finished(c->ssl, in->tls_unique,
						      sizeof(in->tls_unique));
	else
		in->tls_unique_len = SSL_get_peer_finished(c->ssl, in->tls_unique,
							   sizeof(in->tls_unique));
	if (in->tls_unique_len > sizeof(in->tls_unique))
		in->tls_unique_len = 0;
	in->verify_result = SSL_get_verify_result(c->ssl);
	in->suite = cipher;
	SSL_get0_alpn_selected(c->ssl, &alpn, &alpn_len);
	if (alpn && alpn_len && !in->alpn && (in->alpn = malloc(alpn_len))) {
		memcpy(in->alpn, alpn, alpn_len);
		in->alpn_len = alpn_len;
	}
	if (c->ctx->role == KSSL_SERVER && !in->server_name) {
		const char *sni = SSL_get_servername(c->ssl,
						     TLSEXT_NAMETYPE_host_name);

		if (sni)
			in->server_name = strdup(sni);
	}
	ks_core_peer_changed(c);
}

int ks_core_version(const struct ks_core *c)
{
	return c->handshake_done ? c->info.version : 0;
}

const char *ks_core_cipher(const struct ks_core *c, int openssl_name)
{
	if (!c->handshake_done || !c->info.suite)
		return NULL;
	return openssl_name ? SSL_CIPHER_get_name(c->info.suite)
			    : SSL_CIPHER_standard_name(c->info.suite);
}

size_t ks_core_peer_cert_der(const struct ks_core *c, const uint8_t **der)
{
	/* The cache of a const accessor: a session belongs to one thread at a
	 * time (kssl.h), and ks_core objects are never defined const. */
	struct ks_info *in = (struct ks_info *)&c->info;

	if (in->peer && !in->peer_der) {
		unsigned char *p = NULL;
		int n = i2d_X509(in->peer, &p);

		if (n > 0) {
			in->peer_der = p;
			in->peer_der_len = (size_t)n;
		}
	}
	*der = in->peer_der;
	return in->peer_der_len;
}

long ks_core_verify_result(const struct ks_core *c)
{
	if (!c->handshake_done && c->ssl)
		return SSL_get_verify_result(c->ssl);
	return c->info.verify_result;
}

size_t ks_core_pending(const struct ks_core *c)
{
	int n = c->ssl ? SSL_pending(c->ssl) : 0;

	return n > 0 ? (size_t)n : 0;
}

/* ---- the handshake and the records, in OpenSSL ------------------------- */

int ks_core_handshake_start(struct ks_core *c)
{
	int r;

	if (c->failed)
		return ks_failed_earlier(c);
	if (c->handshake_done)
		return 0;
	if (SSL_in_before(c->ssl) && (r = ks_hostname_apply(c)) < 0)
		return ks_fail(c, r);
	return 1;
}

int ks_core_handshake_step(struct ks_core *c, const char *what)
{
	int r;

	ERR_clear_error();
	errno = 0;
	r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		c->handshake_done = 1;
		record_info(c);
		return 0;
	}
	r = ks_ssl_result(c, r, what);
	/* ZERO_RETURN means "read ended cleanly": not a finished handshake. */
	if (r == 0)
		r = ks_fail(c, ks_err(KSSL_E_EOF,
			"%s: peer sent close_notify before the handshake finished",
			what));
	return r;
}

int ks_core_read(struct ks_core *c, void *buf, size_t len, const char *what)
{
	int n;

	ERR_clear_error();
	errno = 0;
	n = SSL_read(c->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
	return n > 0 ? n : ks_ssl_result(c, n, what);
}

int ks_core_write(struct ks_core *c, const void *buf, size_t len,
		  const char *what)
{
	int n;

	ERR_clear_error();
	errno = 0;
	n = SSL_write(c->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
	if (n > 0)
		return n;
	n = ks_ssl_result(c, n, what);
	/*
	 * A failed SSL_write once the peer's close_notify arrived reports
	 * ZERO_RETURN, which ks_ssl_result maps to 0 (right for reads). A
	 * write must never look like "0 bytes written": callers loop on
	 * short writes.
	 */
	if (n == 0)
		n = ks_why(ks_err(KSSL_E_CLOSED,
			   "%s: the peer sent close_notify; OpenSSL writes no more data after it",
			   what), KSSL_R_PEER_CLOSED, 0);
	return n;
}

int ks_core_tx_closed(const struct ks_core *c, const char *call)
{
	return ks_why(ks_err(KSSL_E_CLOSED, "%s after %s", call,
			     c->kind->shutdown), KSSL_R_SHUT_DOWN, 0);
}

int ks_core_shutdown(struct ks_core *c, const char *what)
{
	int r;

	if (c->failed)
		return ks_failed_earlier(c);
	if (!c->handshake_done)
		return ks_err(KSSL_E_INVAL, "%s before the handshake finished",
			      c->kind->shutdown);
	if (!c->tx_closed) {
		ERR_clear_error();
		errno = 0;
		r = SSL_shutdown(c->ssl);
		if (r < 0)
			return ks_ssl_result(c, r, what);
		c->tx_closed = 1;
		if (r == 1)
			c->rx_closed = 1;
	}
	return c->rx_closed;
}
