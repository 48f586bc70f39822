/*
 * Session objects: a client's TLS session kept in memory (no DER round
 * trip), what can be read from it, and a context's session counters. The
 * DER calls (kssl_conn_get_session / kssl_conn_set_session) stay in
 * src/connection.c for sessions stored outside the process.
 *
 * A kssl_session is an OpenSSL SSL_SESSION: OpenSSL never changes a session
 * once a handshake has finished with it (a TLS 1.3 ticket makes a new one),
 * so a session handed out is a stable snapshot.
 */
#include <string.h>

#include <openssl/ssl.h>

#include "internal.h"

static SSL_SESSION *raw(const kssl_session *s)
{
	return (SSL_SESSION *)s;
}

kssl_session *kssl_conn_session(kssl_conn *conn)
{
	SSL_SESSION *s = conn->core.ssl ? SSL_get1_session(conn->core.ssl) : NULL;

	if (!s && conn->session) {
		s = conn->session;
		SSL_SESSION_up_ref(s);
	}
	if (!s)
		ks_err(KSSL_E_INVAL, "kssl_conn_session: no session (handshake not started, or released)");
	return (kssl_session *)s;
}

int kssl_conn_resume(kssl_conn *conn, kssl_session *s)
{
	if (!s)
		return ks_err(KSSL_E_INVAL, "kssl_conn_resume: no session");
	if (conn->core.ctx->role != KSSL_CLIENT)
		return ks_err(KSSL_E_INVAL, "kssl_conn_resume: server connections resume from the client's offer");
	if (!conn->core.ssl || conn->core.handshake_done || !SSL_in_before(conn->core.ssl))
		return ks_err(KSSL_E_INVAL, "kssl_conn_resume: the handshake has already started");
	if (!SSL_set_session(conn->core.ssl, raw(s)))
		return ks_err_ssl(KSSL_E_INVAL, "SSL_set_session");
	return 0;
}

void kssl_session_up_ref(kssl_session *s)
{
	if (s)
		SSL_SESSION_up_ref(raw(s));
}

void kssl_session_free(kssl_session *s)
{
	SSL_SESSION_free(raw(s));
}

void kssl_session_info(const kssl_session *s, struct kssl_session_info *out)
{
	const unsigned char *id;
	unsigned int id_len = 0;

	memset(out, 0, sizeof(*out));
	id = SSL_SESSION_get_id(raw(s), &id_len);
	if (id_len > sizeof(out->id))
		id_len = sizeof(out->id);
	memcpy(out->id, id, id_len);
	out->id_len = id_len;
	out->time = SSL_SESSION_get_time(raw(s));
	out->timeout = SSL_SESSION_get_timeout(raw(s));
	out->ticket_lifetime_hint = SSL_SESSION_get_ticket_lifetime_hint(raw(s));
	out->has_ticket = SSL_SESSION_has_ticket(raw(s));
	out->resumable = SSL_SESSION_is_resumable(raw(s));
	out->version = SSL_SESSION_get_protocol_version(raw(s));
}

void kssl_ctx_session_stats(kssl_ctx *ctx, struct kssl_session_stats *out)
{
	SSL_CTX *c = ctx->ssl_ctx;

	out->number = SSL_CTX_sess_number(c);
	out->connect = SSL_CTX_sess_connect(c);
	out->connect_good = SSL_CTX_sess_connect_good(c);
	out->connect_renegotiate = SSL_CTX_sess_connect_renegotiate(c);
	out->accept = SSL_CTX_sess_accept(c);
	out->accept_good = SSL_CTX_sess_accept_good(c);
	out->accept_renegotiate = SSL_CTX_sess_accept_renegotiate(c);
	out->hits = SSL_CTX_sess_hits(c);
	out->misses = SSL_CTX_sess_misses(c);
	out->timeouts = SSL_CTX_sess_timeouts(c);
	out->cache_full = SSL_CTX_sess_cache_full(c);
}
