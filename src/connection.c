/* kssl_conn: life cycle and what can be asked of a connection. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "internal.h"

const struct ks_kind ks_kind_tls = {
	.noun = "connection",
	.set_hostname = "kssl_conn_set_hostname",
	.shutdown = "kssl_shutdown",
};

kssl_conn *kssl_conn_new(kssl_ctx *ctx, int fd)
{
	kssl_conn *conn;

	if (!ctx || fd < 0) {
		ks_err(KSSL_E_INVAL, "kssl_conn_new: need a context and a socket");
		return NULL;
	}
	conn = ks_zalloc(sizeof(*conn), "kssl_conn_new");
	if (!conn)
		return NULL;
	conn->sf_fd = -1;
	conn->offload = ctx->offload;
	if (ks_core_init(&conn->core, &ks_kind_tls, ctx, fd, ks_bio_new(conn),
			 "kssl_conn_new") < 0) {
		free(conn);
		return NULL;
	}
	SSL_set_app_data(conn->core.ssl, conn);
	ks_conn_apply_mode(conn);
	return conn;
}

/*
 * Where the directions may go decides three things, set again whenever the
 * offload mode or the context changes before the handshake ends:
 *  - OpenSSL's read-ahead reads whole socket buffers: fewer recv calls,
 *    but bytes past the current record then sit in OpenSSL, and the
 *    kernel must find the RX stream at a record boundary
 *    (src/offload.c). So only where RX cannot move. Should a later change
 *    allow it after all, the switch still waits for SSL_has_pending() ==
 *    0 (ks_offload_rx_now).
 *  - The key log callback, where the context alone would leave it off.
 *  - The message callback (src/handshake.c) counts records for the
 *    switch; where no direction can move OpenSSL need not call it for
 *    every record and message (a server's post-handshake authentication
 *    turns it on when it starts, src/pha.c). Both counts restart at
 *    Finished, so installing it later in the handshake (an SNI
 *    callback's new context) loses nothing. A context that traces
 *    messages (kssl_ctx_set_msg_cb) needs it whatever the mode.
 */
void ks_conn_apply_mode(kssl_conn *conn)
{
	int can = ks_kernel_can_offload() && conn->offload != KSSL_OFFLOAD_NONE;
	int rx_may_move = can && conn->offload != KSSL_OFFLOAD_TX;

	if (!conn->core.ssl || conn->core.handshake_done)
		return;
	SSL_set_read_ahead(conn->core.ssl, conn->core.ctx->read_ahead && !rx_may_move);
	ks_conn_watch_records(conn, can || conn->core.ctx->msg_cb);
	/* A connection that may offload on a context that does not: the
	 * context's key log callback must run for it (src/context.c). */
	if (can && conn->core.ctx->offload == KSSL_OFFLOAD_NONE &&
	    !__atomic_exchange_n(&conn->core.ctx->conn_offload, 1, __ATOMIC_RELAXED))
		ks_ctx_update_keylog(conn->core.ctx);
}

void kssl_conn_free(kssl_conn *conn)
{
	if (!conn)
		return;
	ks_core_free(&conn->core);
	ks_dir_forget_secret(&conn->tx);
	ks_dir_forget_secret(&conn->rx);
	SSL_SESSION_free(conn->session);
	kssl_ctx_free(conn->first_ctx);
	free(conn->sf_buf);
	OPENSSL_cleanse(conn, sizeof(*conn)); /* secrets, control bytes */
	free(conn);
}

int kssl_conn_set_hostname(kssl_conn *conn, const char *name)
{
	return ks_hostname_set(&conn->core, name);
}

int kssl_conn_set_ctx(kssl_conn *conn, kssl_ctx *ctx)
{
	if (!conn->core.ssl || conn->core.handshake_done || ctx->role != conn->core.ctx->role)
		return ks_err(KSSL_E_INVAL, "kssl_conn_set_ctx: only during the handshake, same role");
	if (!SSL_set_SSL_CTX(conn->core.ssl, ctx->ssl_ctx))
		return ks_err_ssl(KSSL_E_INVAL, "SSL_set_SSL_CTX");
	/* SSL_set_SSL_CTX takes the certificate, not the verify settings. */
	SSL_set_verify(conn->core.ssl, SSL_CTX_get_verify_mode(ctx->ssl_ctx),
		       SSL_CTX_get_verify_callback(ctx->ssl_ctx));
	SSL_set_verify_depth(conn->core.ssl, SSL_CTX_get_verify_depth(ctx->ssl_ctx));
	conn->offload = ctx->offload;
	kssl_ctx_up_ref(ctx);
	/*
	 * The first context stays referenced for the conn's life: OpenSSL
	 * keeps its SSL_CTX as the session context, and its callbacks point
	 * at that kssl_ctx.
	 */
	if (!conn->first_ctx)
		conn->first_ctx = conn->core.ctx;
	else
		kssl_ctx_free(conn->core.ctx);
	conn->core.ctx = ctx;
	ks_conn_apply_mode(conn);
	return 0;
}

void kssl_conn_set_offload(kssl_conn *conn, enum kssl_offload_mode mode)
{
	if (conn->core.handshake_done)
		return;
	conn->offload = mode;
	ks_conn_apply_mode(conn);
}

void kssl_conn_set_data(kssl_conn *conn, void *data)
{
	conn->data = data;
}

void *kssl_conn_get_data(const kssl_conn *conn)
{
	return conn->data;
}

int kssl_conn_fd(const kssl_conn *conn)
{
	return conn->core.fd;
}

void *kssl_conn_ssl(kssl_conn *conn)
{
	return conn->core.ssl;
}

enum kssl_offload_state kssl_conn_offload(const kssl_conn *conn,
					  enum kssl_dir dir,
					  const char **reason)
{
	const struct ks_dir *d = dir == KSSL_DIR_TX ? &conn->tx : &conn->rx;

	if (reason)
		*reason = d->state == KSSL_STATE_KERNEL ? NULL :
			  d->reason ? d->reason : "handshake not finished";
	return d->state;
}

KS_CORE_ACCESSORS(kssl_conn, kssl_conn)

const char *kssl_conn_alpn(const kssl_conn *conn, size_t *len)
{
	if (len)
		*len = conn->core.info.alpn_len;
	return conn->core.info.alpn_len ? (const char *)conn->core.info.alpn : NULL;
}

const char *kssl_conn_server_name(const kssl_conn *conn)
{
	return conn->core.info.server_name;
}

int kssl_conn_session_reused(const kssl_conn *conn)
{
	return conn->core.info.session_reused;
}

int kssl_conn_get_session(kssl_conn *conn, uint8_t **out, size_t *len)
{
	SSL_SESSION *s = conn->core.ssl ? SSL_get1_session(conn->core.ssl) : NULL;
	unsigned char *buf, *p;
	int n;

	if (!s && conn->session) {
		s = conn->session;
		SSL_SESSION_up_ref(s);
	}
	if (!s || !SSL_SESSION_is_resumable(s)) {
		SSL_SESSION_free(s);
		return ks_err(KSSL_E_INVAL, "no resumable session (yet): for TLS 1.3 it comes with the server's tickets, after the first read");
	}
	n = i2d_SSL_SESSION(s, NULL);
	buf = n > 0 ? malloc((size_t)n) : NULL;
	if (!buf) {
		SSL_SESSION_free(s);
		return ks_err(KSSL_E_NOMEM, "kssl_conn_get_session: out of memory");
	}
	p = buf;
	i2d_SSL_SESSION(s, &p);
	SSL_SESSION_free(s);
	*out = buf;
	*len = (size_t)n;
	return 0;
}

int kssl_conn_set_session(kssl_conn *conn, const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	SSL_SESSION *s;
	int ok;

	if (!conn->core.ssl || !SSL_in_before(conn->core.ssl) || conn->core.ctx->role != KSSL_CLIENT)
		return ks_err(KSSL_E_INVAL, "kssl_conn_set_session: clients only, before the handshake");
	s = d2i_SSL_SESSION(NULL, &p, (long)len);
	if (!s)
		return ks_err_ssl(KSSL_E_INVAL, "kssl_conn_set_session: bad session data");
	ok = SSL_set_session(conn->core.ssl, s);
	SSL_SESSION_free(s);
	if (!ok)
		return ks_err_ssl(KSSL_E_INVAL, "SSL_set_session");
	return 0;
}

size_t kssl_conn_tls_unique(const kssl_conn *conn, uint8_t *buf, size_t size)
{
	size_t n = conn->core.info.tls_unique_len;

	if (!conn->core.handshake_done || !n)
		return 0;
	if (buf)
		memcpy(buf, conn->core.info.tls_unique, n < size ? n : size);
	return n;
}
