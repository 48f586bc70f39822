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

	(void)ssl;
	if (conn->core.ctx->msg_cb)
		conn->core.ctx->msg_cb(conn, write_p, version, content_type, buf, len,
				       conn->core.ctx->msg_arg);
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
			d->records = SSL_version(conn->core.ssl) == TLS1_3_VERSION ? 0 : 1;
		if (p[0] == HS_KEY_UPDATE && !write_p)
			conn->rx_keyupdate_seen = 1;
		/* A post-handshake Finished read: the peer's certificate
		 * (already processed) may be new (src/pha.c). */
		if (p[0] == HS_FINISHED && !write_p && conn->core.handshake_done)
			ks_core_peer_changed(&conn->core);
		break;
	case SSL3_RT_ALERT:
		/*
		 * OpenSSL's own write of this alert was swallowed by the BIO
		 * (TX is in the kernel): say it through the kernel instead,
		 * best effort: the connection fails either way.
		 */
		if (write_p && len == 2 && conn->tx.state == KSSL_STATE_KERNEL)
			(void)!ktls_send_record(conn->core.fd, KTLS_CT_ALERT, p, 2);
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
	size_t len;
	int is_client_secret;

	if (!conn)
		return;
	ks_keylog_write(conn->core.ctx, line);
	if (strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24) == 0)
		is_client_secret = 1;
	else if (strncmp(line, "SERVER_TRAFFIC_SECRET_0 ", 24) == 0)
		is_client_secret = 0;
	else
		return;
	d = is_client_secret == !SSL_is_server(ssl) ? &conn->tx : &conn->rx;
	rest = strchr(line + 24, ' '); /* skip the client random */
	/* Held only until the switch (src/offload.c frees it). Without
	 * memory for it the direction stays in userspace, and says why
	 * ("traffic secret not captured"). */
	if (!d->secret)
		d->secret = OPENSSL_malloc(KS_MAX_SECRET);
	if (!rest || !d->secret ||
	    unhex(rest + 1, d->secret, KS_MAX_SECRET, &len) < 0)
		len = 0;
	d->secret_len = (unsigned)len; /* at most KS_MAX_SECRET */
}

void ks_conn_watch_records(kssl_conn *conn, int on)
{
	SSL_set_msg_callback(conn->core.ssl, on ? msg_cb : NULL);
	SSL_set_msg_callback_arg(conn->core.ssl, on ? conn : NULL);
}

int kssl_handshake(kssl_conn *conn)
{
	int r = ks_core_handshake_start(&conn->core);

	if (r <= 0)
		return r;
	r = ks_core_handshake_step(&conn->core, "TLS handshake");
	if (r < 0)
		return r;
	ks_offload_after_handshake(conn);
	return 0;
}
