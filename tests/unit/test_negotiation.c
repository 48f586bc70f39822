/*
 * Negotiation edge cases around the switch to the kernel: a peer's
 * max_fragment_length (TX must stay in OpenSSL), close_notify in place of a
 * ServerHello, an SNI switch to a context with other verify and offload
 * settings, and TLS 1.3 tickets larger than a record.
 */
#include "harness.h"
#include "ktls/wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

/*
 * max_fragment_length: a plain OpenSSL client asks for 512-byte records.
 * The kernel always fills records up to 16 KiB, so the server's TX must stay
 * in OpenSSL (decided before the ULP attach: the reason shows on every
 * kernel), while RX may still move. The client's OpenSSL rejects any record
 * over 512 bytes (record_overflow), so byte-exact delivery of kssl_write and
 * kssl_sendfile data is the proof; the record sizes it saw are checked too.
 */
struct mfl_client {
	SSL *ssl;
	const unsigned char *send;
	size_t send_len, recv_len, got;
	unsigned char sha[32];
	int counting;    /* set once connected: only data-phase records */
	int max_record;  /* largest record body received */
	int stage;       /* 1 connected, 2 sent, 3 all read, 4 closed */
	pthread_t thread;
};

static void mfl_msg_cb(int write_p, int version, int type, const void *buf,
		       size_t len, SSL *ssl, void *arg)
{
	struct mfl_client *mc = arg;
	const unsigned char *p = buf;

	(void)version;
	(void)ssl;
	if (!write_p && type == SSL3_RT_HEADER && len >= 5 && mc->counting) {
		int n = p[3] << 8 | p[4];

		if (n > mc->max_record)
			mc->max_record = n;
	}
}

static void *mfl_client_main(void *arg)
{
	struct mfl_client *mc = arg;
	unsigned char buf[4096];
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int dl = 32;
	int n;

	h_block_sigpipe();
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	if (SSL_connect(mc->ssl) != 1)
		goto out;
	mc->stage = 1;
	mc->counting = 1;
	if (SSL_write(mc->ssl, mc->send, (int)mc->send_len) != (int)mc->send_len)
		goto out;
	mc->stage = 2;
	while (mc->got < mc->recv_len) {
		size_t want = mc->recv_len - mc->got;

		n = SSL_read(mc->ssl, buf, want < sizeof(buf) ? (int)want : (int)sizeof(buf));
		if (n <= 0)
			goto out;
		EVP_DigestUpdate(md, buf, (size_t)n);
		mc->got += (size_t)n;
	}
	mc->stage = 3;
	n = SSL_read(mc->ssl, buf, 1); /* the server's close_notify */
	if (n <= 0 && SSL_get_error(mc->ssl, n) == SSL_ERROR_ZERO_RETURN &&
	    SSL_shutdown(mc->ssl) >= 0)
		mc->stage = 4;
out:
	EVP_DigestFinal_ex(md, mc->sha, &dl);
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	return NULL;
}

START_TEST(max_fragment_length_keeps_tx_in_openssl_with_small_records)
{
	static const int versions[] = { KSSL_TLS1_3, KSSL_TLS1_2 };
	size_t len = 100 * 1024, got = 0;
	unsigned char *data = malloc(2 * len), hello[3000], sha[32], want[32];

	ck_assert_ptr_nonnull(data);
	for (size_t i = 0; i < 2; i++) {
		kssl_ctx *sctx = h_server_ctx("server");
		struct mfl_client mc = { 0 };
		uint64_t seed = 50 + i;
		int cfd, sfd, file, r;
		kssl_conn *s;

		h_fill(hello, sizeof(hello), &seed);
		h_fill(data, len, &seed);
		file = h_temp_file(len, 60 + i);
		ck_assert_int_eq(pread(file, data + len, len, 0), (ssize_t)len);
		ck_assert_int_eq(kssl_ctx_set_versions(sctx, versions[i], versions[i]), 0);
		h_tcp_pair(&cfd, &sfd);
		mc.ssl = h_raw_ssl(0, cfd, h_cert("ca.pem"), versions[i]);
		ck_assert_int_eq(SSL_set_tlsext_max_fragment_length(mc.ssl,
					TLSEXT_max_fragment_length_512), 1);
		SSL_set_msg_callback(mc.ssl, mfl_msg_cb);
		SSL_set_msg_callback_arg(mc.ssl, &mc);
		mc.send = hello;
		mc.send_len = sizeof(hello);
		mc.recv_len = 2 * len;
		ck_assert_int_eq(pthread_create(&mc.thread, NULL, mfl_client_main, &mc), 0);
		s = h_conn(sctx, sfd);
		r = h_handshake(s);
		ck_assert_msg(r == 0, "TLS %x: %s", versions[i], kssl_last_error());
		h_assert_user(s, KSSL_DIR_TX, "max_fragment_length (512 bytes)");
		if (h_ktls())
			h_assert_kernel(s, KSSL_DIR_RX);
		else
			h_assert_user(s, KSSL_DIR_RX, "no tls ULP");
		r = h_read_n(s, sizeof(hello), sha, &got);
		ck_assert_msg(r == 0, "read %zu: %s", got, kssl_last_error());
		h_sha256(hello, sizeof(hello), want);
		ck_assert_msg(memcmp(sha, want, 32) == 0, "client->server bytes differ");
		r = h_write_all(s, data, len);
		ck_assert_msg(r == 0, "write: %s", kssl_last_error());
		r = h_sendfile_all(s, file, 0, len);
		ck_assert_msg(r == 0, "sendfile: %s", kssl_last_error());
		r = h_close(s, NULL);
		ck_assert_msg(r == 0, "close: %s (%s)", kssl_error_name(r), kssl_last_error());
		shutdown(sfd, SHUT_RDWR);
		ck_assert_int_eq(pthread_join(mc.thread, NULL), 0);
		ck_assert_msg(mc.stage == 4, "TLS %x: raw client stopped at stage %d after %zu bytes",
			      versions[i], mc.stage, mc.got);
		ck_assert_uint_eq(mc.got, 2 * len);
		h_sha256(data, 2 * len, want);
		ck_assert_msg(memcmp(mc.sha, want, 32) == 0, "server->client bytes differ");
		/* 512 bytes of plaintext + type, nonce, tag: far below 16 KiB. */
		ck_assert_int_gt(mc.max_record, 0);
		ck_assert_int_le(mc.max_record, 512 + 64);
		SSL_free(mc.ssl);
		kssl_conn_free(s);
		kssl_ctx_free(sctx);
		h_close_pair(cfd, sfd);
		close(file);
	}
	free(data);
}
END_TEST

/*
 * A "server" that reads the ClientHello record and answers with a plaintext
 * close_notify alert: the handshake did not finish, whatever OpenSSL's
 * SSL_ERROR_ZERO_RETURN suggests.
 */
struct hello_closer {
	int fd;
	unsigned char head[5];
	size_t hello_len;
	int answered;
	pthread_t thread;
};

static int read_full(int fd, unsigned char *p, size_t len)
{
	while (len) {
		ssize_t n = read(fd, p, len);

		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void *hello_closer_main(void *arg)
{
	static const unsigned char close_notify[7] = {
		KTLS_CT_ALERT, 0x03, 0x03, 0x00, 0x02, KTLS_AL_WARNING,
		KTLS_AD_CLOSE_NOTIFY };
	struct hello_closer *hc = arg;
	unsigned char body[16384 + 256];

	h_block_sigpipe();
	if (read_full(hc->fd, hc->head, 5) < 0)
		return NULL;
	hc->hello_len = (size_t)hc->head[3] << 8 | hc->head[4];
	if (hc->hello_len > sizeof(body) || read_full(hc->fd, body, hc->hello_len) < 0)
		return NULL;
	hc->answered = write(hc->fd, close_notify, sizeof(close_notify)) == sizeof(close_notify);
	return NULL;
}

START_TEST(close_notify_during_handshake_is_eof_not_success)
{
	kssl_ctx *cctx = h_client_ctx();
	struct hello_closer hc = { 0 };
	unsigned char buf[16];
	kssl_conn *c;
	int cfd, sfd, r;

	h_tcp_pair(&cfd, &sfd);
	hc.fd = sfd;
	ck_assert_int_eq(pthread_create(&hc.thread, NULL, hello_closer_main, &hc), 0);
	c = h_conn(cctx, cfd);
	r = kssl_handshake(c);
	ck_assert_msg(r == KSSL_E_EOF, "got %s: %s", kssl_error_name(r), kssl_last_error());
	h_assert_has(kssl_last_error(), "before the handshake finished");
	ck_assert_int_eq(kssl_conn_version(c), 0);
	ck_assert_ptr_null(kssl_conn_cipher(c));
	r = (int)kssl_read(c, buf, sizeof(buf));
	ck_assert_msg(r == KSSL_E_CLOSED, "read after: %s: %s", kssl_error_name(r),
		      kssl_last_error());
	h_assert_has(kssl_last_error(), "before the handshake finished");
	ck_assert_int_eq(kssl_handshake(c), KSSL_E_CLOSED);
	ck_assert_int_eq(pthread_join(hc.thread, NULL), 0);
	/* It really was a ClientHello, and the alert went out. */
	ck_assert_int_eq(hc.head[0], 0x16);
	ck_assert_uint_gt(hc.hello_len, 0);
	ck_assert_int_eq(hc.answered, 1);
	kssl_conn_free(c);
	kssl_ctx_free(cctx);
	h_close_pair(cfd, sfd);
}
END_TEST

/*
 * SNI: the callback switches to a context that requires client certificates
 * and keeps everything in OpenSSL. Both settings must apply to this
 * connection, and the application may drop its reference to the first
 * context right after the switch (the conn keeps it alive for OpenSSL).
 */
struct sni_switch {
	kssl_ctx *to;
	kssl_ctx *drop; /* the application's reference to the first ctx */
	int calls, set_rc;
	char name[64];
};

static int sni_switch_cb(kssl_conn *conn, const char *name, void *arg)
{
	struct sni_switch *sw = arg;

	sw->calls++;
	snprintf(sw->name, sizeof(sw->name), "%s", name ? name : "(none)");
	sw->set_rc = kssl_conn_set_ctx(conn, sw->to);
	if (sw->set_rc == 0 && sw->drop) {
		kssl_ctx_free(sw->drop);
		sw->drop = NULL;
	}
	return 0;
}

/*
 * with_cert: the client sends client.pem. hrr: the first context accepts
 * only P-256 while the client's key share is X25519, so a TLS 1.3 server
 * asks again (HelloRetryRequest) and OpenSSL runs the first context's SNI
 * callback a second time, after the switch: that context must still exist.
 */
static void sni_switch_round(int version, int with_cert, int hrr)
{
	kssl_ctx *first = h_server_ctx("server"), *second = h_server_ctx("server");
	kssl_ctx *cctx = h_client_ctx();
	struct sni_switch sw = { 0 };
	struct h_peer cli;
	const uint8_t *der = NULL;
	size_t n = 50000;
	unsigned char sha[32], want[32];
	kssl_conn *s;
	int cfd, sfd, r;

	kssl_ctx_set_verify(second, KSSL_VERIFY_REQUIRED);
	ck_assert_msg(kssl_ctx_load_ca_file(second, h_cert("ca.pem")) == 0, "%s",
		      kssl_last_error());
	kssl_ctx_set_offload(second, KSSL_OFFLOAD_NONE);
	sw.to = second;
	sw.drop = first;
	kssl_ctx_set_sni_cb(first, sni_switch_cb, &sw);
	if (hrr)
		ck_assert_int_eq(SSL_CTX_set1_groups_list(kssl_ctx_ssl_ctx(first), "P-256"), 1);
	ck_assert_int_eq(kssl_ctx_set_versions(cctx, version, version), 0);
	if (with_cert) {
		char cert[4200];

		snprintf(cert, sizeof(cert), "%s", h_cert("client.pem"));
		ck_assert_msg(kssl_ctx_use_cert_file(cctx, cert, h_cert("client.key")) == 0,
			      "%s", kssl_last_error());
	}
	h_tcp_pair(&cfd, &sfd);
	h_peer_init(&cli, cctx, cfd);
	cli.conn = h_conn(cctx, cfd); /* with the host name, for SNI */
	cli.recv_len = with_cert ? n : 1;
	cli.write_len = with_cert ? n : 0;
	cli.write_seed = 71;
	cli.close = with_cert;
	h_peer_start(&cli);
	s = h_conn(first, sfd);
	r = h_handshake(s);
	ck_assert_int_eq(sw.calls, hrr ? 2 : 1);
	ck_assert_msg(sw.set_rc == 0, "kssl_conn_set_ctx failed");
	ck_assert_str_eq(sw.name, "localhost");
	ck_assert_ptr_null(sw.drop);
	if (!with_cert) {
		/* The second context's verify mode: a certificate is required. */
		h_check_peer(r < 0, &cli, sfd, "TLS %x: handshake without a client certificate succeeded",
			     version);
		h_check_peer(r == KSSL_E_TLS, &cli, sfd, "TLS %x: server handshake: %s (%s)",
			     version, kssl_error_name(r), kssl_last_error());
		h_assert_has(kssl_last_error(), "peer did not return a certificate");
		h_peer_join(&cli);
		/* TLS 1.3: the client finished first and reads the alert. */
		ck_assert_msg(cli.rc == KSSL_E_ALERT, "client: %s", cli.err);
		h_assert_has(cli.err, version == KSSL_TLS1_3 ? "certificate_required"
							      : "handshake_failure");
	} else {
		h_check_peer(r == 0, &cli, sfd, "TLS %x: server handshake: %s", version,
			     kssl_last_error());
		ck_assert_uint_gt(kssl_conn_peer_cert_der(s, &der), 0);
		ck_assert_int_eq(kssl_conn_verify_result(s), 0);
		ck_assert_str_eq(kssl_conn_server_name(s), "localhost");
		/* The second context's offload mode. */
		h_assert_user(s, KSSL_DIR_TX, "turned off by the application");
		h_assert_user(s, KSSL_DIR_RX, "turned off by the application");
		r = h_write_stream(s, n, 72, want);
		h_check_peer(r == 0, &cli, sfd, "server write: %s", kssl_last_error());
		r = h_read_n(s, n, sha, NULL);
		h_check_peer(r == 0, &cli, sfd, "server read: %s", kssl_last_error());
		h_stream_sha(n, 71, want);
		ck_assert_msg(memcmp(sha, want, 32) == 0, "client->server bytes differ");
		r = h_close(s, NULL);
		h_check_peer(r == 0, &cli, sfd, "server close: %s", kssl_last_error());
		h_peer_join_ok(&cli);
		h_stream_sha(n, 72, want);
		ck_assert_msg(memcmp(cli.sha, want, 32) == 0, "server->client bytes differ");
		h_assert_default_offload(cli.conn);
	}
	kssl_conn_free(cli.conn);
	kssl_conn_free(s); /* drops the last reference to `first` */
	kssl_ctx_free(second);
	kssl_ctx_free(cctx);
	h_close_pair(cfd, sfd);
}

START_TEST(sni_switch_applies_verify_mode_and_offload_mode)
{
	static const int versions[] = { KSSL_TLS1_3, KSSL_TLS1_2 };

	for (size_t i = 0; i < 2; i++) {
		sni_switch_round(versions[i], 0, 0);
		sni_switch_round(versions[i], 1, 0);
	}
	sni_switch_round(KSSL_TLS1_3, 1, 1);
}
END_TEST

/*
 * NewSessionTickets larger than a record (20 KB of ticket app data, so each
 * ticket spans two records): the kernel RX path skips ticket bodies instead
 * of buffering them, so their size never fails the connection. First a
 * client keeping sessions proves the tickets really are that large (the
 * session holds the ticket); then clients without sessions, whose RX goes to
 * the kernel at once, read through them with large and with tiny reads.
 */
#define BIG_TICKET_APPDATA 20000

static int big_ticket_gen_cb(SSL *ssl, void *arg)
{
	static unsigned char blob[BIG_TICKET_APPDATA];
	uint64_t seed = 99;

	(void)arg;
	h_fill(blob, sizeof(blob), &seed); /* incompressible */
	return SSL_SESSION_set1_ticket_appdata(SSL_get_session(ssl), blob, sizeof(blob));
}

static int big_ticket_dec_cb(SSL *ssl, SSL_SESSION *ss, const unsigned char *keyname,
			     size_t keyname_len, SSL_TICKET_STATUS status, void *arg)
{
	(void)ssl;
	(void)ss;
	(void)keyname;
	(void)keyname_len;
	(void)arg;
	return status == SSL_TICKET_SUCCESS || status == SSL_TICKET_SUCCESS_RENEW ?
	       SSL_TICKET_RETURN_USE : SSL_TICKET_RETURN_IGNORE;
}

START_TEST(tls13_tickets_larger_than_a_record_leave_data_intact)
{
	static const size_t read_sizes[] = { 0, 65536, 7 }; /* 0: keep sessions */
	kssl_ctx *sctx = h_server_ctx("server");
	size_t len = 20000;
	unsigned char *got = malloc(len), *want = malloc(len);

	ck_assert_ptr_nonnull(got);
	ck_assert_ptr_nonnull(want);
	ck_assert_int_eq(kssl_ctx_set_versions(sctx, KSSL_TLS1_3, KSSL_TLS1_3), 0);
	ck_assert_int_eq(kssl_ctx_set_num_tickets(sctx, 2), 0);
	ck_assert_int_eq(SSL_CTX_set_session_ticket_cb(kssl_ctx_ssl_ctx(sctx), big_ticket_gen_cb,
						       big_ticket_dec_cb, NULL), 1);
	for (size_t i = 0; i < 3; i++) {
		kssl_ctx *cctx = h_client_ctx();
		uint64_t seed = 80 + i;
		size_t n = 0;
		ssize_t r = 0;
		struct h_pair p;

		if (!read_sizes[i])
			kssl_ctx_set_client_sessions(cctx, 1);
		h_peer_init(&p.srv, sctx, -1);
		p.srv.write_len = len;
		p.srv.write_seed = seed;
		p.srv.close = 1;
		h_pair_open(&p, cctx);
		ck_assert_msg(h_handshake(p.c) == 0, "%s", kssl_last_error());
		if (read_sizes[i])
			h_assert_default_offload(p.c); /* tickets land in the kernel */
		while (n < len) {
			size_t want_n = read_sizes[i] ? read_sizes[i] : 65536;

			r = kssl_read(p.c, got + n, len - n < want_n ? len - n : want_n);
			if (r <= 0)
				break;
			n += (size_t)r;
		}
		h_check_peer(n == len, &p.srv, p.cfd, "reads of %zu: %zu bytes, then %zd: %s",
			     read_sizes[i], n, r, kssl_last_error());
		h_fill(want, len, &seed);
		ck_assert_msg(memcmp(got, want, len) == 0, "reads of %zu: bytes differ",
			      read_sizes[i]);
		if (!read_sizes[i]) {
			uint8_t *sess = NULL;
			size_t sess_len = 0;

			ck_assert_msg(kssl_conn_get_session(p.c, &sess, &sess_len) == 0, "%s",
				      kssl_last_error());
			/*
			 * The session carries the ticket, which carries the
			 * app data: without it a session is ~1-2 KB, so this
			 * means a ticket well over one record (16 KiB).
			 */
			ck_assert_uint_gt(sess_len, BIG_TICKET_APPDATA);
			free(sess);
		}
		ck_assert_msg(h_close(p.c, NULL) == 0, "close: %s", kssl_last_error());
		h_pair_end(&p);
		kssl_ctx_free(cctx);
	}
	kssl_ctx_free(sctx);
	free(got);
	free(want);
}
END_TEST

/* kssl_ctx_set_ocsp_response checks what it is given (stapling itself is
 * tested end to end with openssl s_client -status in serve_prod). */
START_TEST(ocsp_response_is_validated)
{
	/* OCSPResponse { responseStatus malformedRequest(1) } */
	static const unsigned char malformed[] = { 0x30, 0x03, 0x0a, 0x01, 0x01 };
	static const unsigned char junk[] = "not DER";
	kssl_ctx *sctx = h_server_ctx("server"), *cctx = kssl_ctx_new(KSSL_CLIENT);

	ck_assert_ptr_nonnull(sctx);
	ck_assert_ptr_nonnull(cctx);
	ck_assert_int_eq(kssl_ctx_set_ocsp_response(cctx, malformed,
						    sizeof(malformed)),
			 KSSL_E_INVAL);
	ck_assert_int_eq(kssl_ctx_set_ocsp_response(sctx, junk, sizeof(junk)),
			 KSSL_E_FILE);
	ck_assert_int_eq(kssl_ctx_set_ocsp_response(sctx, malformed,
						    sizeof(malformed)),
			 KSSL_E_FILE);
	ck_assert_ptr_nonnull(strstr(kssl_last_error(), "not successful"));
	/* A truncated encoding is refused too. */
	ck_assert_int_eq(kssl_ctx_set_ocsp_response(sctx, malformed,
						    sizeof(malformed) - 1),
			 KSSL_E_FILE);
	ck_assert_int_eq(kssl_ctx_set_ocsp_response(sctx, NULL, 0), 0);
	kssl_ctx_free(cctx);
	kssl_ctx_free(sctx);
}
END_TEST

/* One handshake of cctx against a kssl server that logs no keys (not
 * even to SSLKEYLOGFILE); returns the client's rc. */
static int one_handshake(kssl_ctx *cctx)
{
	kssl_ctx *sctx = kssl_ctx_new_ex(KSSL_SERVER, KSSL_CTX_NO_ENV);
	char cert[4200];
	struct h_pair p;
	int r;

	snprintf(cert, sizeof(cert), "%s", h_cert("server.pem")); /* h_cert's buffer is reused */
	ck_assert_int_eq(kssl_ctx_use_cert_file(sctx, cert, h_cert("server.key")), 0);

	h_peer_init(&p.srv, sctx, -1);
	h_pair_open(&p, cctx);
	r = h_handshake(p.c);
	if (r == 0)
		h_peer_join_ok(&p.srv);
	else
		h_peer_join(&p.srv);
	h_pair_free(&p);
	kssl_ctx_free(sctx);
	return r;
}

static int store_size(kssl_ctx *ctx)
{
	X509_STORE *st = SSL_CTX_get_cert_store(kssl_ctx_ssl_ctx(ctx));

	return sk_X509_OBJECT_num(X509_STORE_get0_objects(st));
}

static long file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) < 0 ? -1 : (long)st.st_size;
}

/*
 * SSLKEYLOGFILE: kssl_ctx_new logs there, KSSL_CTX_NO_ENV does not (not
 * even creating the file), set_keylog_file(NULL) stops either.
 * KSSL_CTX_NO_SYSTEM_CAS: a client trusts nothing until told.
 */
START_TEST(ctx_new_ex_flags_and_keylog_off)
{
	char dir[] = "/tmp/kssl-keylog-XXXXXX", env_log[64], own_log[64];
	kssl_ctx *cctx;
	long size;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(env_log, sizeof(env_log), "%s/env.log", dir);
	snprintf(own_log, sizeof(own_log), "%s/own.log", dir);
	ck_assert_int_eq(setenv("SSLKEYLOGFILE", env_log, 1), 0);

	cctx = kssl_ctx_new_ex(KSSL_CLIENT, KSSL_CTX_NO_ENV);
	ck_assert_int_eq(kssl_ctx_load_ca_file(cctx, h_cert("ca.pem")), 0);
	ck_assert_int_eq(one_handshake(cctx), 0);
	ck_assert_int_eq(file_size(env_log), -1); /* never created */
	ck_assert_int_eq(kssl_ctx_set_keylog_file(cctx, own_log), 0);
	ck_assert_int_eq(one_handshake(cctx), 0);
	size = file_size(own_log);
	ck_assert_int_gt(size, 0);
	ck_assert_int_eq(kssl_ctx_set_keylog_file(cctx, NULL), 0);
	ck_assert_int_eq(one_handshake(cctx), 0);
	ck_assert_int_eq(file_size(own_log), size); /* nothing more */
	kssl_ctx_free(cctx);

	cctx = h_client_ctx(); /* kssl_ctx_new: the environment's file */
	ck_assert_int_eq(one_handshake(cctx), 0);
	size = file_size(env_log);
	ck_assert_int_gt(size, 0);
	ck_assert_int_eq(kssl_ctx_set_keylog_file(cctx, NULL), 0);
	ck_assert_int_eq(one_handshake(cctx), 0);
	ck_assert_int_eq(file_size(env_log), size);
	kssl_ctx_free(cctx);
	unsetenv("SSLKEYLOGFILE");

	/* No trust anchors: an empty store (kssl_ctx_new's has the system's,
	 * where the system has any), and the server is refused. */
	cctx = kssl_ctx_new_ex(KSSL_CLIENT, KSSL_CTX_NO_SYSTEM_CAS);
	ck_assert_int_eq(store_size(cctx), 0);
	ck_assert_int_eq(one_handshake(cctx), KSSL_E_CERT);
	kssl_ctx_free(cctx);
	cctx = kssl_ctx_new(KSSL_CLIENT);
	if (access("/etc/ssl/certs/ca-certificates.crt", R_OK) == 0)
		ck_assert_int_gt(store_size(cctx), 0);
	kssl_ctx_free(cctx);
	unlink(env_log);
	unlink(own_log);
	rmdir(dir);
}
END_TEST

/*
 * kssl_ctx_clear_cas empties the trust store (the server is then refused
 * until a CA is loaded again); kssl_ctx_set_groups takes OpenSSL's names
 * and refuses unknown ones; security level 5 (256-bit security) leaves
 * the client no group it may offer (P-384 gives 192 bits), 1 allows it.
 */
START_TEST(ctx_clear_cas_groups_and_security_level)
{
	kssl_ctx *cctx = h_client_ctx();

	ck_assert_int_gt(store_size(cctx), 0);
	ck_assert_int_eq(one_handshake(cctx), 0);
	ck_assert_int_eq(kssl_ctx_clear_cas(cctx), 0);
	ck_assert_int_eq(store_size(cctx), 0);
	ck_assert_int_eq(one_handshake(cctx), KSSL_E_CERT);
	ck_assert_int_eq(kssl_ctx_load_ca_file(cctx, h_cert("ca.pem")), 0);
	ck_assert_int_eq(one_handshake(cctx), 0);

	ck_assert_int_eq(kssl_ctx_set_groups(cctx, "no-such-group"), KSSL_E_INVAL);
	ck_assert_int_eq(kssl_ctx_set_groups(cctx, "P-384"), 0);
	ck_assert_int_eq(one_handshake(cctx), 0);

	kssl_ctx_set_security_level(cctx, 5);
	ck_assert_int_eq(SSL_CTX_get_security_level(kssl_ctx_ssl_ctx(cctx)), 5);
	ck_assert_int_eq(one_handshake(cctx), KSSL_E_TLS);
	ck_assert_int_eq(kssl_last_reason(), KSSL_R_OPENSSL);
	ck_assert_int_eq(ERR_GET_REASON(kssl_last_openssl_error()), SSL_R_NO_SUITABLE_GROUPS);
	kssl_ctx_set_security_level(cctx, 1);
	ck_assert_int_eq(one_handshake(cctx), 0);
	kssl_ctx_free(cctx);
}
END_TEST

/* A client pinned to version v (0: the default range) with ciphers list
 * against a kssl server pinned to sv with slist; both see rc. */
static int legacy_round(int v, const char *list, int sv, const char *slist,
			struct h_pair *p, kssl_ctx **sctx_out)
{
	kssl_ctx *cctx = h_client_ctx(), *sctx = h_server_ctx("server");

	if (v)
		ck_assert_int_eq(kssl_ctx_set_versions(cctx, v, v), 0);
	ck_assert_int_eq(kssl_ctx_set_ciphers(cctx, list), 0);
	ck_assert_int_eq(kssl_ctx_set_versions(sctx, sv, sv), 0);
	ck_assert_int_eq(kssl_ctx_set_ciphers(sctx, slist), 0);
	h_peer_init(&p->srv, sctx, -1);
	p->srv.recv_len = 5;
	h_pair_open(p, cctx);
	kssl_ctx_free(cctx);
	*sctx_out = sctx;
	return h_handshake(p->c);
}

/*
 * TLS 1.0/1.1 only where asked for by an explicit minimum: then OpenSSL
 * tries exactly that (and the security level decides, as for any OpenSSL
 * client), and a connection that gets it stays in userspace with a reason
 * naming the version. A default context never offers it.
 */
START_TEST(tls10_11_only_by_explicit_minimum_and_in_userspace)
{
	static const int old[] = { KSSL_TLS1_0, KSSL_TLS1_1 };
	static const char *const name[] = { "TLSv1 negotiated", "TLSv1.1 negotiated" };
	const char *low = "DEFAULT:@SECLEVEL=0";
	struct h_pair p;
	kssl_ctx *sctx;

	for (size_t i = 0; i < 2; i++) {
		ck_assert_int_eq(legacy_round(old[i], low, old[i], low, &p, &sctx), 0);
		ck_assert_int_eq(kssl_conn_version(p.c), old[i]);
		h_assert_user(p.c, KSSL_DIR_TX, name[i]);
		h_assert_user(p.c, KSSL_DIR_RX, name[i]);
		h_assert_user(p.c, KSSL_DIR_RX, "kernel TLS carries TLS 1.2 and 1.3 only");
		ck_assert_int_eq(h_write_all(p.c, "hello", 5), 0);
		h_peer_join_ok(&p.srv);
		ck_assert_int_eq(p.srv.got, 5);
		h_assert_user(p.srv.conn, KSSL_DIR_TX, name[i]);
		h_pair_free(&p);
		kssl_ctx_free(sctx);

		/* The default range (TLS >= 1.2) against a TLS 1.0/1.1 server:
		 * nothing in common, whatever the security level. */
		ck_assert_int_ne(legacy_round(0, low, old[i], low, &p, &sctx), 0);
		h_peer_join(&p.srv);
		ck_assert_int_ne(p.srv.rc, 0);
		h_pair_free(&p);
		kssl_ctx_free(sctx);

		/* At the default security level the TLS 1.0/1.1 handshake
		 * fails in OpenSSL (no SHA-1 signatures), as the stdlib's. */
		ck_assert_int_ne(legacy_round(old[i], "DEFAULT", old[i], low, &p, &sctx), 0);
		h_peer_join(&p.srv);
		h_pair_free(&p);
		kssl_ctx_free(sctx);
	}
	sctx = h_client_ctx();
	ck_assert_int_eq(kssl_ctx_set_versions(sctx, 0x0299, 0), KSSL_E_INVAL);
	ck_assert_int_eq(kssl_ctx_set_versions(sctx, 0, 0x0305), KSSL_E_INVAL);
	kssl_ctx_free(sctx);
	/* An empty range fails in OpenSSL's handshake, not at the setter. */
	sctx = h_client_ctx();
	ck_assert_int_eq(kssl_ctx_set_versions(sctx, KSSL_TLS1_3, KSSL_TLS1_2), 0);
	ck_assert_int_eq(one_handshake(sctx), KSSL_E_TLS);
	h_assert_has(kssl_last_error(), "no protocols available");
	kssl_ctx_free(sctx);
}
END_TEST

/*
 * kssl_ctx_set_fixed_version: OpenSSL's version-specific method, as
 * CPython's PROTOCOL_TLSv1_2: exactly that version (bounds and OP_NO_*
 * ignored), and its own errors for a peer of another version.
 */
START_TEST(fixed_version_method_as_cpython_protocol_constants)
{
	kssl_ctx *cctx = h_client_ctx(), *sctx = h_server_ctx("server");
	struct h_pair p;

	ck_assert_int_eq(kssl_ctx_set_fixed_version(cctx, KSSL_TLS1_3), KSSL_E_INVAL);
	ck_assert_int_eq(kssl_ctx_set_fixed_version(cctx, KSSL_TLS1_2), 0);
	SSL_CTX_set_options(kssl_ctx_ssl_ctx(cctx), SSL_OP_NO_TLSv1_2); /* ignored */
	h_peer_init(&p.srv, sctx, -1);
	h_pair_open(&p, cctx);
	ck_assert_int_eq(h_handshake(p.c), 0);
	ck_assert_int_eq(kssl_conn_version(p.c), KSSL_TLS1_2);
	h_assert_default_offload(p.c);
	h_pair_end(&p);

	kssl_ctx_free(cctx);

	/* A fixed TLS 1.2 server meeting a TLS 1.3-only client: the fixed
	 * method's NO_SHARED_CIPHER (TLS_method pinned to 1.2 would say
	 * UNSUPPORTED_PROTOCOL). */
	cctx = h_client_ctx();
	ck_assert_int_eq(kssl_ctx_set_versions(cctx, KSSL_TLS1_3, 0), 0);
	ck_assert_int_eq(kssl_ctx_set_fixed_version(sctx, KSSL_TLS1_2), 0);
	h_peer_init(&p.srv, sctx, -1);
	h_pair_open(&p, cctx);
	ck_assert_int_eq(h_handshake(p.c), KSSL_E_ALERT);
	h_peer_join(&p.srv);
	ck_assert_int_eq(p.srv.rc, KSSL_E_TLS);
	h_assert_has(p.srv.err, "no shared cipher");
	h_pair_free(&p);
	kssl_ctx_free(cctx);
	kssl_ctx_free(sctx);
}
END_TEST

/* A TLS 1.2 DHE-only handshake with server context sctx; the bits of the
 * server's DH group as the client saw it, or the client's error. */
static int dhe_bits(kssl_ctx *sctx)
{
	kssl_ctx *cctx = h_client_ctx();
	struct h_pair p;
	int r;

	ck_assert_int_eq(kssl_ctx_set_versions(cctx, KSSL_TLS1_2, KSSL_TLS1_2), 0);
	ck_assert_int_eq(kssl_ctx_set_ciphers(cctx, "DHE-RSA-AES128-GCM-SHA256"), 0);
	/* Userspace both ways: with kernel TLS the SSL would be freed. */
	kssl_ctx_set_offload(cctx, KSSL_OFFLOAD_NONE);
	h_peer_init(&p.srv, sctx, -1);
	h_pair_open(&p, cctx);
	r = h_handshake(p.c);
	if (r == 0) {
		EVP_PKEY *key = NULL;

		ck_assert_int_eq(SSL_get_peer_tmp_key(kssl_conn_ssl(p.c), &key), 1);
		r = EVP_PKEY_get_bits(key);
		EVP_PKEY_free(key);
		ck_assert_str_eq(kssl_conn_cipher_openssl(p.c), "DHE-RSA-AES128-GCM-SHA256");
		h_peer_join_ok(&p.srv);
	} else {
		h_peer_join(&p.srv);
	}
	h_pair_free(&p);
	kssl_ctx_free(cctx);
	return r;
}

/*
 * DHE groups: OpenSSL's built-in one by default, none with
 * KSSL_CTX_NO_DH_AUTO (CPython's rule: no DHE suite is chosen), the file's
 * after kssl_ctx_load_dh_params; bad files are KSSL_E_FILE.
 */
START_TEST(dh_params_file_sets_the_dhe_group)
{
	kssl_ctx *sctx = h_server_ctx("server");
	char dh3072[4200], cert[4200];

	snprintf(dh3072, sizeof(dh3072), "%s", h_cert("dh3072.pem"));
	ck_assert_int_eq(dhe_bits(sctx), 2048); /* auto: sized to the RSA key */
	ck_assert_int_eq(kssl_ctx_load_dh_params(sctx, dh3072), 0);
	ck_assert_int_eq(dhe_bits(sctx), 3072);
	kssl_ctx_free(sctx);

	sctx = kssl_ctx_new_ex(KSSL_SERVER, KSSL_CTX_NO_DH_AUTO);
	snprintf(cert, sizeof(cert), "%s", h_cert("server.pem"));
	ck_assert_int_eq(kssl_ctx_use_cert_file(sctx, cert, h_cert("server.key")), 0);
	ck_assert_int_eq(dhe_bits(sctx), KSSL_E_ALERT); /* no shared cipher */
	ck_assert_int_eq(kssl_ctx_load_dh_params(sctx, dh3072), 0);
	ck_assert_int_eq(dhe_bits(sctx), 3072);

	ck_assert_int_eq(kssl_ctx_load_dh_params(sctx, h_cert("dh512.pem")), KSSL_E_FILE);
	h_assert_has(kssl_last_error(), "dh key too small");
	ck_assert_int_eq(kssl_ctx_load_dh_params(sctx, h_cert("server.pem")), KSSL_E_FILE);
	h_assert_has(kssl_last_error(), "no PEM DH PARAMETERS");
	ck_assert_int_eq(kssl_ctx_load_dh_params(sctx, "/nonexistent/dh.pem"), KSSL_E_FILE);
	h_assert_has(kssl_last_error(), "No such file or directory");
	ck_assert_int_eq(dhe_bits(sctx), 3072); /* failures changed nothing */
	kssl_ctx_free(sctx);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("negotiation");
	TCase *tc = h_tcase("negotiation");

	tcase_add_test(tc, max_fragment_length_keeps_tx_in_openssl_with_small_records);
	tcase_add_test(tc, close_notify_during_handshake_is_eof_not_success);
	tcase_add_test(tc, sni_switch_applies_verify_mode_and_offload_mode);
	tcase_add_test(tc, tls13_tickets_larger_than_a_record_leave_data_intact);
	tcase_add_test(tc, ocsp_response_is_validated);
	tcase_add_test(tc, ctx_new_ex_flags_and_keylog_off);
	tcase_add_test(tc, ctx_clear_cas_groups_and_security_level);
	tcase_add_test(tc, tls10_11_only_by_explicit_minimum_and_in_userspace);
	tcase_add_test(tc, fixed_version_method_as_cpython_protocol_constants);
	tcase_add_test(tc, dh_params_file_sets_the_dhe_group);
	suite_add_tcase(s, tc);
	return h_run(s);
}
