/*
 * The handshake in OpenSSL, and what we must watch while it runs to be able
 * to hand the record layer to the kernel afterwards:
 *
 *  - TLS 1.3 traffic secrets, from the key log callback (OpenSSL 3.0 has no
 *    other public way to get them);
 *  - the number of records each direction has already used under the
 *    current keys, i.e. the next sequence number. OpenSSL has no getter, so
 *    we count record headers (SSL3_RT_HEADER in the message callback) and
 *    reset the count at each direction's Finished message: in TLS 1.2 the
 *    Finished record is number 0 under the new keys, in TLS 1.3 it is the
 *    last one under the handshake keys (a TLS 1.3 server then writes each
 *    NewSessionTicket in its own record inside SSL_accept, so its TX starts
 *    at the number of tickets, not 0).
 */
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "ktls/ktls.h"
#include "internal.h"

enum {
	HS_FINISHED = 20,
	HS_KEY_UPDATE = 24,
};

static void msg_cb(int write_p, int version, int content_type,
		   const void *buf, size_t len, SSL *ssl, void *arg)
{
	kssl_conn *conn = arg;
	struct ks_dir *d = write_p ? &conn->tx : &conn->rx;
	const unsigned char *p = buf;

	(void)version;
	(void)ssl;
	switch (content_type) {
	case SSL3_RT_HEADER:
		d->records++;
		break;
	case SSL3_RT_HANDSHAKE:
		if (len < 1)
			break;
		/*
		 * Finished is the last record under the old keys in TLS 1.3
		 * and the first (number 0) under the new ones in TLS 1.2.
		 * Counting from Finished, not ChangeCipherSpec, because
		 * OpenSSL 3.0 reports only a *written* CCS to this callback.
		 */
		if (p[0] == HS_FINISHED)
			d->records = SSL_version(conn->ssl) == TLS1_3_VERSION ? 0 : 1;
		if (p[0] == HS_KEY_UPDATE && !write_p)
			conn->rx_keyupdate_seen = 1;
		/* A post-handshake Finished read: the peer's certificate
		 * (already processed) may be new (src/pha.c). */
		if (p[0] == HS_FINISHED && !write_p && conn->handshake_done)
			ks_pha_peer_changed(conn);
		break;
	case SSL3_RT_ALERT:
		/*
		 * OpenSSL's own write of this alert was swallowed by the BIO
		 * (TX is in the kernel): say it through the kernel instead,
		 * best effort: the connection fails either way.
		 */
		if (write_p && len == 2 && conn->tx.state == KSSL_STATE_KERNEL)
			(void)!ktls_send_record(conn->fd, KTLS_CT_ALERT, p, 2);
		break;
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Runs for every key log line of every handshake: no sscanf per byte
 * (that was 120k instructions per TLS 1.3 handshake, see docs/bench.md). */
static int unhex(const char *s, unsigned char *out, size_t max, size_t *len)
{
	size_t n = 0;

	while (s[0] && s[0] != ' ' && s[0] != '\n') {
		int hi = hexval(s[0]), lo = s[1] ? hexval(s[1]) : -1;

		if (n == max || hi < 0 || lo < 0)
			return -1;
		out[n++] = (unsigned char)(hi << 4 | lo);
		s += 2;
	}
	*len = n;
	return 0;
}

/* Installed on every kssl SSL_CTX (src/context.c). */
void ks_keylog_cb(const SSL *ssl, const char *line)
{
	kssl_conn *conn = SSL_get_app_data(ssl);
	const char *rest;
	struct ks_dir *d = NULL;
	int is_client_secret;

	if (!conn)
		return;
	if (conn->ctx->keylog) {
		/* Checked again under the lock: set_keylog_file(NULL) closes it. */
		pthread_mutex_lock(&conn->ctx->keylog_lock);
		if (conn->ctx->keylog)
			fprintf(conn->ctx->keylog, "%s\n", line);
		pthread_mutex_unlock(&conn->ctx->keylog_lock);
	}
	if (strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24) == 0)
		is_client_secret = 1;
	else if (strncmp(line, "SERVER_TRAFFIC_SECRET_0 ", 24) == 0)
		is_client_secret = 0;
	else
		return;
	d = is_client_secret == !SSL_is_server(ssl) ? &conn->tx : &conn->rx;
	rest = strchr(line + 24, ' '); /* skip the client random */
	if (!rest || unhex(rest + 1, d->secret, sizeof(d->secret),
			   &d->secret_len) < 0)
		d->secret_len = 0;
}

void ks_conn_install_callbacks(kssl_conn *conn)
{
	SSL_set_app_data(conn->ssl, conn);
	SSL_set_msg_callback(conn->ssl, msg_cb);
	SSL_set_msg_callback_arg(conn->ssl, conn);
}

static void record_info(kssl_conn *conn)
{
	struct ks_info *in = &conn->info;
	const SSL_CIPHER *c = SSL_get_current_cipher(conn->ssl);
	const unsigned char *alpn = NULL;
	unsigned int alpn_len = 0;
	X509 *peer;

	in->version = SSL_version(conn->ssl);
	in->session_reused = SSL_session_reused(conn->ssl);
	/* tls-unique: the first Finished sent, the client's in a full
	 * handshake and the server's when resuming (RFC 5929, 3.1). */
	if (in->session_reused ^ (conn->ctx->role == KSSL_CLIENT))
		in->tls_unique_len = SSL_get_finished(conn->ssl, in->tls_unique,
						      sizeof(in->tls_unique));
	else
		in->tls_unique_len = SSL_get_peer_finished(conn->ssl, in->tls_unique,
							   sizeof(in->tls_unique));
	if (in->tls_unique_len > sizeof(in->tls_unique))
		in->tls_unique_len = 0;
	in->verify_result = SSL_get_verify_result(conn->ssl);
	if (c) {
		snprintf(in->cipher, sizeof(in->cipher), "%s",
			 SSL_CIPHER_standard_name(c));
		snprintf(in->cipher_openssl, sizeof(in->cipher_openssl), "%s",
			 SSL_CIPHER_get_name(c));
	}
	SSL_get0_alpn_selected(conn->ssl, &alpn, &alpn_len);
	if (alpn && alpn_len <= sizeof(in->alpn)) {
		memcpy(in->alpn, alpn, alpn_len);
		in->alpn_len = alpn_len;
	}
	if (conn->ctx->role == KSSL_SERVER && !in->server_name) {
		const char *sni = SSL_get_servername(conn->ssl,
						     TLSEXT_NAMETYPE_host_name);

		if (sni)
			in->server_name = strdup(sni);
	}
	peer = SSL_get1_peer_certificate(conn->ssl);
	if (peer) {
		unsigned char *der = NULL;
		int n = i2d_X509(peer, &der);

		if (n > 0) {
			in->peer_der = der;
			in->peer_der_len = (size_t)n;
		}
		X509_free(peer);
	}
}

int kssl_handshake(kssl_conn *conn)
{
	int r;

	if (conn->failed)
		return ks_failed_earlier(conn, "connection");
	if (conn->handshake_done)
		return 0;
	if (SSL_in_before(conn->ssl) && (r = ks_hostname_apply(conn, "kssl_conn_set_hostname")) < 0)
		return ks_fail(conn, r);
	ERR_clear_error();
	errno = 0;
	r = SSL_do_handshake(conn->ssl);
	if (r != 1) {
		r = ks_ssl_result(conn, r, "TLS handshake");
		/* ZERO_RETURN means "read ended cleanly": not a finished handshake. */
		if (r == 0)
			r = ks_fail(conn, ks_err(KSSL_E_EOF,
				"TLS handshake: peer sent close_notify before the handshake finished"));
		return r;
	}
	conn->handshake_done = 1;
	record_info(conn);
	ks_offload_after_handshake(conn);
	return 0;
}
