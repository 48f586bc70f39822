/*
 * Session life cycle beyond plain data: close_notify both ways, a fatal alert
 * from the peer, TLS 1.3 and 1.2 resumption, NewSessionTickets arriving after
 * the client's receive direction moved to the kernel, and a TLS 1.3
 * KeyUpdate from a plain OpenSSL peer (which kernel TLS on Linux < 6.14
 * cannot follow: kssl must stop with KSSL_E_REKEY, never return wrong bytes).
 * Also: resumption with client certificates. Negotiation edge cases are in
 * test_negotiation.c.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

static void assert_tx_default(kssl_conn *c)
{
	if (h_ktls())
		h_assert_kernel(c, KSSL_DIR_TX);
	else
		h_assert_user(c, KSSL_DIR_TX, "no tls ULP");
}

START_TEST(close_notify_both_ways)
{
	kssl_ctx *sctx = h_server_ctx("server"), *cctx = h_client_ctx();
	unsigned char buf[16], sha[32];
	struct h_pair p;

	h_peer_init(&p.srv, sctx, -1);
	p.srv.recv_len = SIZE_MAX; /* until our close_notify */
	p.srv.close = 1;
	h_pair_open(&p, cctx);
	ck_assert_msg(h_handshake(p.c) == 0, "%s", kssl_last_error());
	ck_assert_int_eq(h_write_all(p.c, "hello", 5), 0);
	/* The server has not closed yet: 0 = "wait for its close_notify". */
	ck_assert_int_eq(kssl_shutdown(p.c), 0);
	ck_assert_int_eq(kssl_write(p.c, "x", 1), KSSL_E_CLOSED);
	h_assert_has(kssl_last_error(), "after kssl_shutdown");
	ck_assert_msg(kssl_read(p.c, buf, sizeof(buf)) == 0, "read: %s", kssl_last_error());
	ck_assert_int_eq(kssl_shutdown(p.c), 1);
	ck_assert_int_eq(kssl_read(p.c, buf, sizeof(buf)), 0); /* stays closed */
	h_assert_default_offload(p.c);
	h_pair_end(&p);
	/* The server read our bytes, then 0, then its shutdown saw ours: 1. */
	ck_assert_uint_eq(p.srv.got, 5);
	h_sha256("hello", 5, sha);
	ck_assert_int_eq(memcmp(p.srv.sha, sha, 32), 0);
	ck_assert_int_eq(p.srv.shutdown_rc, 1);
	kssl_ctx_free(cctx);
	kssl_ctx_free(sctx);
}
END_TEST

/*
 * With TX in OpenSSL, once the peer has sent close_notify and closed its
 * socket, SSL_write may fail with SSL_ERROR_ZERO_RETURN: kssl_write and
 * kssl_sendfile must report an error then, never "0 bytes written" (a
 * caller looping until everything is written would spin forever).
 */
START_TEST(write_after_peer_closed_never_returns_zero)
{
	kssl_ctx *sctx = h_server_ctx("server"), *cctx = h_client_ctx();
	unsigned char buf[1024] = { 0 };
	size_t sent = 1;
	ssize_t r = 0;
	struct h_pair p;
	int fd, i;

	h_peer_init(&p.srv, sctx, -1);
	p.srv.close = 1;
	kssl_ctx_set_offload(cctx, KSSL_OFFLOAD_NONE);
	h_pair_open(&p, cctx);
	ck_assert_msg(h_handshake(p.c) == 0, "%s", kssl_last_error());
	ck_assert_msg(kssl_read(p.c, buf, sizeof(buf)) == 0, "read: %s", kssl_last_error());
	/* The server waits for our close_notify: cut it off instead. */
	shutdown(p.sfd, SHUT_RDWR);
	h_peer_join(&p.srv);
	for (i = 0; i < 10000; i++) {
		r = kssl_write(p.c, buf, sizeof(buf));
		ck_assert_msg(r != 0, "kssl_write returned 0 after the peer closed");
		if (r < 0)
			break;
	}
	ck_assert_msg(r == KSSL_E_CLOSED || r == KSSL_E_SYSCALL, "%zd: %s", r,
		      kssl_last_error());
	fd = h_temp_file(4096, 1);
	r = kssl_sendfile(p.c, fd, 0, 4096, &sent);
	ck_assert_msg(r == KSSL_E_CLOSED || r == KSSL_E_SYSCALL, "%zd", r);
	ck_assert_uint_eq(sent, 0);
	close(fd);
	h_pair_free(&p);
	kssl_ctx_free(cctx);
	kssl_ctx_free(sctx);
}
END_TEST

/*
 * A FIN without close_notify (the peer half-closed) ends our receive
 * direction only: reads keep returning KSSL_E_EOF, and writes still reach
 * the peer (as the stdlib's OpenSSL, whose first write after a FIN goes
 * out). Kernel RX and TX in the VM, OpenSSL on the host.
 */
START_TEST(eof_ends_receive_direction_only)
{
	kssl_ctx *sctx = h_server_ctx("server"), *cctx = h_client_ctx();
	unsigned char buf[64], sha[32], want[32];
	size_t got = 0;
	struct h_pair p;

	h_peer_init(&p.srv, sctx, -1);
	h_pair_open(&p, cctx);
	ck_assert_msg(h_handshake(p.c) == 0, "%s", kssl_last_error());
	h_peer_join_ok(&p.srv); /* server handshake done, conn kept */
	ck_assert_int_eq(h_write_all(p.srv.conn, "x", 1), 0);
	ck_assert_int_eq(kssl_read(p.c, buf, sizeof(buf)), 1);
	h_assert_default_offload(p.c);
	ck_assert_int_eq(shutdown(p.sfd, SHUT_WR), 0); /* FIN, no close_notify */
	ck_assert_int_eq(kssl_read(p.c, buf, sizeof(buf)), KSSL_E_EOF);
	ck_assert_int_eq(kssl_read(p.c, buf, sizeof(buf)), KSSL_E_EOF);
	ck_assert_int_eq(h_write_stream(p.c, 100000, 5, NULL), 0);
	ck_assert_msg(h_read_n(p.srv.conn, 100000, sha, &got) >= 0, "%s",
		      kssl_last_error());
	h_stream_sha(100000, 5, want);
	ck_assert_int_eq(memcmp(sha, want, 32), 0);
	/* close_notify still goes out; the peer's never comes. */
	ck_assert_int_eq(kssl_shutdown(p.c), 0);
	ck_assert_int_eq(kssl_read(p.c, buf, sizeof(buf)), KSSL_E_EOF);
	ck_assert_int_eq(kssl_read(p.srv.conn, buf, sizeof(buf)), 0);
	h_pair_free(&p);
	kssl_ctx_free(cctx);
	kssl_ctx_free(sctx);
}
END_TEST

/* A plain OpenSSL client that trusts another CA: it must abort with unknown_ca. */
struct raw_client {
	SSL *ssl;
	int connect_rc;
	pthread_t thread;
};

static void *raw_client_main(void *arg)
{
	struct raw_client *rc = arg;

	h_block_sigpipe();
	rc->connect_rc = SSL_connect(rc->ssl);
	ERR_clear_error();
	return NULL;
}

START_TEST(peer_fatal_alert_unknown_ca_fails_handshake_with_alert_name)
{
	static const int versions[] = { KSSL_TLS1_3, KSSL_TLS1_2 };

	for (size_t i = 0; i < 2; i++) {
		kssl_ctx *sctx = h_server_ctx("server");
		struct raw_client rc = { 0 };
		kssl_conn *s;
		char buf[8];
		int cfd, sfd, r;

		ck_assert_int_eq(kssl_ctx_set_versions(sctx, versions[i], versions[i]), 0);
		h_tcp_pair(&cfd, &sfd);
		rc.ssl = h_raw_ssl(0, cfd, h_cert("other-ca.pem"), 0);
		ck_assert_int_eq(pthread_create(&rc.thread, NULL, raw_client_main, &rc), 0);
		s = h_conn(sctx, sfd);
		r = h_handshake(s);
		ck_assert_msg(r == KSSL_E_ALERT, "TLS %x: got %s: %s", versions[i],
			      kssl_error_name(r), kssl_last_error());
		h_assert_has(kssl_last_error(), "unknown_ca");
		/* A failed connection stays failed, and says why. */
		ck_assert_int_eq(kssl_read(s, buf, sizeof(buf)), KSSL_E_CLOSED);
		h_assert_has(kssl_last_error(), "unknown_ca");
		shutdown(sfd, SHUT_RDWR);
		ck_assert_int_eq(pthread_join(rc.thread, NULL), 0);
		ck_assert_int_le(rc.connect_rc, 0);
		SSL_free(rc.ssl);
		kssl_conn_free(s);
		kssl_ctx_free(sctx);
		h_close_pair(cfd, sfd);
	}
}
END_TEST

/*
 * A plain OpenSSL TLS 1.2 server writes 1000 bytes, then asks to
 * renegotiate. kssl refuses (no_renegotiation warning, sent through kernel TX
 * when TX is offloaded), and OpenSSL answers that with a fatal
 * handshake_failure alert, which kssl must report after the data: through
 * kernel RX as a control record, or through OpenSSL on the host.
 */
struct renego_server {
	SSL *ssl;
	const unsigned char *data;
	int stage; /* 1 data written, 2 HelloRequest sent */
	pthread_t thread;
};

static void *renego_server_main(void *arg)
{
	struct renego_server *rs = arg;
	char c;

	h_block_sigpipe();
	if (SSL_accept(rs->ssl) == 1 && SSL_write(rs->ssl, rs->data, 1000) == 1000)
		rs->stage = 1;
	if (rs->stage == 1 && SSL_renegotiate(rs->ssl) == 1 &&
	    SSL_do_handshake(rs->ssl) == 1)
		rs->stage = 2;
	if (rs->stage == 2)
		SSL_read(rs->ssl, &c, 1); /* the refusal; fatal alert goes out */
	ERR_clear_error();
	return NULL;
}

START_TEST(tls12_peer_fatal_alert_after_data_names_the_alert)
{
	kssl_ctx *cctx = h_client_ctx();
	struct renego_server rs = { 0 };
	unsigned char data[1000], sha[32], want[32];
	uint64_t seed = 17;
	size_t got = 0;
	kssl_conn *c;
	int cfd, sfd, r;

	h_fill(data, sizeof(data), &seed);
	h_tcp_pair(&cfd, &sfd);
	rs.ssl = h_raw_ssl(1, sfd, NULL, TLS1_2_VERSION);
	rs.data = data;
	ck_assert_int_eq(pthread_create(&rs.thread, NULL, renego_server_main, &rs), 0);
	c = h_conn(cctx, cfd);
	ck_assert_msg(h_handshake(c) == 0, "%s", kssl_last_error());
	h_assert_default_offload(c);
	r = h_read_n(c, SIZE_MAX, sha, &got);
	ck_assert_msg(r == KSSL_E_ALERT, "got %s after %zu bytes: %s",
		      kssl_error_name(r), got, kssl_last_error());
	h_assert_has(kssl_last_error(), "handshake_failure");
	ck_assert_uint_eq(got, sizeof(data));
	h_sha256(data, sizeof(data), want);
	ck_assert_int_eq(memcmp(sha, want, 32), 0);
	shutdown(cfd, SHUT_RDWR);
	ck_assert_int_eq(pthread_join(rs.thread, NULL), 0);
	ck_assert_int_eq(rs.stage, 2);
	SSL_free(rs.ssl);
	kssl_conn_free(c);
	kssl_ctx_free(cctx);
	h_close_pair(cfd, sfd);
}
END_TEST

/*
 * One connection of a resumption test: the server writes `len` bytes of
 * stream `seed`, the client reads them; returns the client's session.
 */
static void resume_round(kssl_ctx *sctx, kssl_ctx *cctx, const uint8_t *sess,
			 size_t sess_len, int want_reused, uint8_t **out,
			 size_t *out_len)
{
	size_t len = 200000, got = 0;
	unsigned char sha[32], want[32];
	struct h_pair p;
	int r;

	h_peer_init(&p.srv, sctx, -1);
	p.srv.write_len = len;
	p.srv.write_seed = 77;
	p.srv.close = 1;
	h_pair_open(&p, cctx);
	if (sess)
		ck_assert_msg(kssl_conn_set_session(p.c, sess, sess_len) == 0, "%s",
			      kssl_last_error());
	ck_assert_msg(h_handshake(p.c) == 0, "%s", kssl_last_error());
	ck_assert_int_eq(kssl_conn_session_reused(p.c), want_reused);
	assert_tx_default(p.c);
	if (kssl_conn_version(p.c) == KSSL_TLS1_3 && h_ktls()) {
		const char *why;

		/* RX waits in OpenSSL for the tickets, which precede data. */
		ck_assert_int_eq(kssl_conn_offload(p.c, KSSL_DIR_RX, &why),
				 KSSL_OFFLOAD_PENDING);
		h_assert_has(why, "tickets");
	}
	r = h_read_n(p.c, len, sha, &got);
	h_check_peer(r == 0, &p.srv, p.cfd, "read %zu: %s", got, kssl_last_error());
	h_stream_sha(len, 77, want);
	ck_assert_int_eq(memcmp(sha, want, 32), 0);
	h_assert_default_offload(p.c);
	r = kssl_conn_get_session(p.c, out, out_len);
	ck_assert_msg(r == 0, "get_session: %s", kssl_last_error());
	ck_assert_uint_gt(*out_len, 0);
	ck_assert_int_eq(h_close(p.c, NULL), 0);
	h_peer_join_ok(&p.srv);
	ck_assert_int_eq(kssl_conn_session_reused(p.srv.conn), want_reused);
	h_assert_default_offload(p.srv.conn);
	if (kssl_ctx_get_verify(sctx) == KSSL_VERIFY_REQUIRED) {
		const uint8_t *der = NULL;

		/* A resumed session still names the client's certificate. */
		ck_assert_uint_gt(kssl_conn_peer_cert_der(p.srv.conn, &der), 0);
		ck_assert_int_eq(kssl_conn_verify_result(p.srv.conn), 0);
	}
	h_pair_free(&p);
}

/* client_cert: the server requires one and the client sends client.pem. */
static void resumption(int version, int client_cert)
{
	kssl_ctx *sctx = h_server_ctx("server"), *cctx = h_client_ctx();
	uint8_t *s1 = NULL, *s2 = NULL;
	size_t l1 = 0, l2 = 0;

	if (client_cert) {
		char cert[4200];

		kssl_ctx_set_verify(sctx, KSSL_VERIFY_REQUIRED);
		ck_assert_msg(kssl_ctx_load_ca_file(sctx, h_cert("ca.pem")) == 0, "%s",
			      kssl_last_error());
		snprintf(cert, sizeof(cert), "%s", h_cert("client.pem"));
		ck_assert_msg(kssl_ctx_use_cert_file(cctx, cert, h_cert("client.key")) == 0,
			      "%s", kssl_last_error());
	}
	ck_assert_int_eq(kssl_ctx_set_versions(sctx, version, version), 0);
	ck_assert_int_eq(kssl_ctx_set_versions(cctx, version, version), 0);
	ck_assert_int_eq(kssl_ctx_set_num_tickets(sctx, 2), 0);
	kssl_ctx_set_client_sessions(cctx, 1);
	resume_round(sctx, cctx, NULL, 0, 0, &s1, &l1);
	resume_round(sctx, cctx, s1, l1, 1, &s2, &l2);
	free(s1);
	free(s2);
	kssl_ctx_free(cctx);
	kssl_ctx_free(sctx);
}

START_TEST(tls13_resumption_with_tickets_read_before_rx_switch)
{
	resumption(KSSL_TLS1_3, 0);
}
END_TEST

START_TEST(tls12_resumption)
{
	resumption(KSSL_TLS1_2, 0);
}
END_TEST

/*
 * A server that verifies client certificates must name its session id
 * context, or OpenSSL refuses to resume with internal_error.
 */
START_TEST(tls13_resumption_with_client_certificate)
{
	resumption(KSSL_TLS1_3, 1);
}
END_TEST

START_TEST(tls12_resumption_with_client_certificate)
{
	resumption(KSSL_TLS1_2, 1);
}
END_TEST

START_TEST(tickets_after_rx_offload_leave_data_intact)
{
	static const size_t tickets[] = { 0, 2, 5 };

	for (size_t i = 0; i < 3; i++) {
		kssl_ctx *sctx = h_server_ctx("server"), *cctx = h_client_ctx();
		size_t len = h_size(4 * H_MiB, 512 * 1024), got = 0;
		unsigned char sha[32], want[32];
		struct h_pair p;
		int r;

		/* Server TX starts at sequence number = tickets sent. */
		ck_assert_int_eq(kssl_ctx_set_num_tickets(sctx, tickets[i]), 0);
		h_peer_init(&p.srv, sctx, -1);
		p.srv.recv_len = len;
		p.srv.write_len = len;
		p.srv.write_seed = 5 + i;
		p.srv.close = 1;
		h_pair_open(&p, cctx);
		ck_assert_msg(h_handshake(p.c) == 0, "%s", kssl_last_error());
		/* No client sessions: RX moves at once, tickets land in the kernel. */
		h_assert_default_offload(p.c);
		r = h_write_stream(p.c, len, 9, want);
		h_check_peer(r == 0, &p.srv, p.cfd, "write: %s", kssl_last_error());
		r = h_read_n(p.c, len, sha, &got);
		h_check_peer(r == 0, &p.srv, p.cfd, "%zu tickets: read %zu: %s",
			     tickets[i], got, kssl_last_error());
		h_stream_sha(len, 5 + i, want);
		ck_assert_int_eq(memcmp(sha, want, 32), 0);
		ck_assert_int_eq(h_close(p.c, NULL), 0);
		h_pair_end(&p);
		h_stream_sha(len, 9, want);
		ck_assert_int_eq(memcmp(p.srv.sha, want, 32), 0);
		kssl_ctx_free(cctx);
		kssl_ctx_free(sctx);
	}
}
END_TEST

/*
 * The kernel hands control records (tickets, alerts) to reads like data, cut
 * to the caller's buffer: kssl must reassemble them by their own framing.
 * One-byte reads through 5 tickets, 5000 bytes and a close_notify.
 */
START_TEST(one_byte_reads_reassemble_tickets_data_and_close_notify)
{
	kssl_ctx *sctx = h_server_ctx("server"), *cctx = h_client_ctx();
	unsigned char got[5000], want[5000];
	uint64_t seed = 33;
	size_t n = 0;
	struct h_pair p;
	ssize_t r;

	ck_assert_int_eq(kssl_ctx_set_num_tickets(sctx, 5), 0);
	h_peer_init(&p.srv, sctx, -1);
	p.srv.write_len = sizeof(got);
	p.srv.write_seed = 33;
	p.srv.close = 1;
	h_pair_open(&p, cctx);
	ck_assert_msg(h_handshake(p.c) == 0, "%s", kssl_last_error());
	h_assert_default_offload(p.c);
	while ((r = kssl_read(p.c, got + n, 1)) == 1 && ++n < sizeof(got))
		;
	h_check_peer(n == sizeof(got), &p.srv, p.cfd, "read %zu bytes, then %zd: %s",
		     n, r, kssl_last_error());
	h_fill(want, sizeof(want), &seed);
	ck_assert_int_eq(memcmp(got, want, sizeof(want)), 0);
	/* The server's close_notify is still unread: 0, then a 1-byte read meets it. */
	ck_assert_int_eq(kssl_shutdown(p.c), 0);
	r = kssl_read(p.c, got, 1);
	ck_assert_msg(r == 0, "expected close_notify, got %zd: %s", r, kssl_last_error());
	h_pair_end(&p);
	kssl_ctx_free(cctx);
	kssl_ctx_free(sctx);
}
END_TEST

/*
 * A plain OpenSSL TLS 1.3 server: writes `before` bytes, re-keys, writes
 * `after` bytes, then waits for the client to close (close_notify answered,
 * alert or EOF ends it).
 */
struct raw_server {
	SSL *ssl;
	const unsigned char *data;
	size_t before, after;
	int update_type;
	int stage;       /* 1 accepted, 2 KeyUpdate queued, 3 all written */
	pthread_t thread;
};

static int raw_write_all(SSL *ssl, const unsigned char *p, size_t len)
{
	while (len) {
		int n = SSL_write(ssl, p, len > 65536 ? 65536 : (int)len);

		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void *raw_server_main(void *arg)
{
	struct raw_server *rs = arg;
	char c;

	h_block_sigpipe();
	if (SSL_accept(rs->ssl) == 1)
		rs->stage = 1;
	if (rs->stage == 1 && raw_write_all(rs->ssl, rs->data, rs->before) == 0 &&
	    SSL_key_update(rs->ssl, rs->update_type) == 1)
		rs->stage = 2;
	/* The KeyUpdate goes out with this write (a kTLS client may have
	 * closed the socket by the time the rest follows). */
	if (rs->stage == 2 && raw_write_all(rs->ssl, rs->data + rs->before, rs->after) == 0)
		rs->stage = 3;
	if (rs->stage == 3) {
		int n = SSL_read(rs->ssl, &c, 1);

		if (n <= 0 && SSL_get_error(rs->ssl, n) == SSL_ERROR_ZERO_RETURN)
			SSL_shutdown(rs->ssl);
	}
	ERR_clear_error();
	return NULL;
}

/* rx_user: the client keeps RX in OpenSSL (offload TX only). */
static void key_update(int update_type, int rx_user)
{
	kssl_ctx *cctx = h_client_ctx();
	struct raw_server rs = { 0 };
	size_t half = 100000, got = 0;
	unsigned char *data = malloc(2 * half), sha[32], want[32];
	uint64_t seed = 3;
	kssl_conn *c;
	char b;
	int cfd, sfd, r;

	ck_assert_ptr_nonnull(data);
	h_fill(data, 2 * half, &seed);
	h_tcp_pair(&cfd, &sfd);
	rs.ssl = h_raw_ssl(1, sfd, NULL, TLS1_3_VERSION);
	rs.data = data;
	rs.before = rs.after = half;
	rs.update_type = update_type;
	ck_assert_int_eq(pthread_create(&rs.thread, NULL, raw_server_main, &rs), 0);
	if (rx_user)
		kssl_ctx_set_offload(cctx, KSSL_OFFLOAD_TX);
	c = h_conn(cctx, cfd);
	ck_assert_msg(h_handshake(c) == 0, "%s", kssl_last_error());
	ck_assert_int_eq(kssl_conn_version(c), KSSL_TLS1_3);
	if (rx_user)
		h_assert_user(c, KSSL_DIR_RX, "turned off by the application");
	else
		h_assert_default_offload(c);
	r = h_read_n(c, 2 * half, sha, &got);
	if (h_ktls() && !rx_user) {
		/* Everything before the KeyUpdate, then a clear stop. */
		ck_assert_msg(r == KSSL_E_REKEY, "got %s after %zu bytes: %s",
			      kssl_error_name(r), got, kssl_last_error());
		h_assert_has(kssl_last_error(), "KeyUpdate");
		ck_assert_uint_eq(got, half);
		h_sha256(data, half, want);
		ck_assert_msg(memcmp(sha, want, 32) == 0, "bytes before the KeyUpdate differ");
		ck_assert_int_eq(kssl_read(c, &b, 1), KSSL_E_CLOSED);
		h_assert_has(kssl_last_error(), "KeyUpdate");
	} else {
		/*
		 * OpenSSL follows the new keys: all bytes, in order. (With TX
		 * in the kernel, our own KeyUpdate reply is dropped: the peer
		 * keeps accepting the old key, as RFC 8446 4.6.3 allows.)
		 */
		ck_assert_msg(r == 0, "read %zu: %s", got, kssl_last_error());
		h_sha256(data, 2 * half, want);
		ck_assert_int_eq(memcmp(sha, want, 32), 0);
		ck_assert_msg(h_close(c, NULL) == 0, "close: %s", kssl_last_error());
	}
	shutdown(cfd, SHUT_RDWR);
	ck_assert_int_eq(pthread_join(rs.thread, NULL), 0);
	ck_assert_msg(rs.stage >= (h_ktls() ? 2 : 3), "raw OpenSSL server stopped at stage %d",
		      rs.stage);
	SSL_free(rs.ssl);
	kssl_conn_free(c);
	kssl_ctx_free(cctx);
	h_close_pair(cfd, sfd);
	free(data);
}

START_TEST(tls13_key_update_never_yields_wrong_data)
{
	key_update(SSL_KEY_UPDATE_NOT_REQUESTED, 0);
}
END_TEST

START_TEST(tls13_key_update_requested_never_yields_wrong_data)
{
	key_update(SSL_KEY_UPDATE_REQUESTED, 0);
}
END_TEST

START_TEST(tls13_key_update_with_rx_in_openssl_keeps_data_flowing)
{
	key_update(SSL_KEY_UPDATE_REQUESTED, 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("session");
	TCase *tc = h_tcase("session");

	tcase_add_test(tc, close_notify_both_ways);
	tcase_add_test(tc, write_after_peer_closed_never_returns_zero);
	tcase_add_test(tc, eof_ends_receive_direction_only);
	tcase_add_test(tc, peer_fatal_alert_unknown_ca_fails_handshake_with_alert_name);
	tcase_add_test(tc, tls12_peer_fatal_alert_after_data_names_the_alert);
	tcase_add_test(tc, tls13_resumption_with_tickets_read_before_rx_switch);
	tcase_add_test(tc, tls12_resumption);
	tcase_add_test(tc, tls13_resumption_with_client_certificate);
	tcase_add_test(tc, tls12_resumption_with_client_certificate);
	tcase_add_test(tc, tickets_after_rx_offload_leave_data_intact);
	tcase_add_test(tc, one_byte_reads_reassemble_tickets_data_and_close_notify);
	tcase_add_test(tc, tls13_key_update_never_yields_wrong_data);
	tcase_add_test(tc, tls13_key_update_requested_never_yields_wrong_data);
	tcase_add_test(tc, tls13_key_update_with_rx_in_openssl_keeps_data_flowing);
	suite_add_tcase(s, tc);
	return h_run(s);
}
