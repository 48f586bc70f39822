/*
 * The session core (struct ks_core, src/internal.h): what a TLS
 * connection and a DTLS session do the same way, written once. Creating
 * and freeing the core, the handshake and record steps that run in
 * OpenSSL, and what is learnt when the handshake ends. The callers add
 * what is theirs: kernel TLS for kssl_conn (src/connection.c, src/io.c,
 * src/offload.c), cookies and retransmission for kssl_dtls (src/dtls.c).
 */
#include <stdlib.h>

#include <openssl/err.h>

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

void ks_core_free(struct ks_core *c)
{
	if (c->ssl) {
		/* Not a failure of the session: keep it resumable if cached. */
		if (!c->failed)
			SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	kssl_ctx_free(c->ctx);
	c->ctx = NULL;
	ks_info_clear(&c->info);
	ks_fail_free(c);
}

void ks_info_clear(struct ks_info *info)
{
	free(info->server_name);
	info->server_name = NULL;
	OPENSSL_free(info->peer_der);
	info->peer_der = NULL;
	info->peer_der_len = 0;
}
