/*
 * Loopback matrix: TLS 1.2 and 1.3 x AES-128-GCM, AES-256-GCM,
 * ChaCha20-Poly1305, AES-128-CCM, kssl on both ends. Each case moves data
 * both ways (client -> server with kssl_write, server -> client with
 * kssl_sendfile), compares SHA-256 digests, checks the negotiated version and
 * IANA cipher name, and checks where the records were processed: in the
 * kernel (and /proc/net/tls_stat moved) where kTLS exists, in OpenSSL with
 * the "no tls ULP" reason where it does not. The offload-mode cases check
 * that the application can keep either direction in userspace.
 */
#include "harness.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "ktls/sys.h"
#include "src/internal.h" /* ks_capture_secrets_always */

struct run {
	const struct h_suite *sc;
	size_t size;
	enum kssl_offload_mode ctx_mode;  /* client context */
	int conn_mode;                    /* client conn override, or -1 */
};

static int wants(enum kssl_offload_mode m, enum kssl_dir dir)
{
	return m == KSSL_OFFLOAD_BOTH ||
	       (m == KSSL_OFFLOAD_TX && dir == KSSL_DIR_TX) ||
	       (m == KSSL_OFFLOAD_RX && dir == KSSL_DIR_RX);
}

static void assert_dir(kssl_conn *c, enum kssl_offload_mode m, enum kssl_dir dir)
{
	if (!wants(m, dir))
		h_assert_user(c, dir, dir == KSSL_DIR_TX ?
			      "transmit offload turned off by the application" :
			      "receive offload turned off by the application");
	else if (h_ktls())
		h_assert_kernel(c, dir);
	else
		h_assert_user(c, dir, "no tls ULP");
}

static void assert_session(kssl_conn *c, const struct h_suite *sc)
{
	ck_assert_int_eq(kssl_conn_version(c), sc->version);
	ck_assert_str_eq(kssl_conn_cipher(c), sc->iana);
}

static void run(const struct run *rn)
{
	const struct h_suite *sc = rn->sc;
	enum kssl_offload_mode mode = rn->conn_mode >= 0 ?
		(enum kssl_offload_mode)rn->conn_mode : rn->ctx_mode;
	kssl_ctx *sctx = h_server_ctx(sc->cert), *cctx = h_client_ctx();
	unsigned char sent_sha[32], got_sha[32], file_sha[32];
	int file = h_temp_file(rn->size, 0x1234 + rn->size);
	struct h_tls_stat before, after;
	struct h_peer srv;
	kssl_conn *c;
	size_t got = 0;
	int cfd, sfd, r;

	h_use_suite(sctx, sc);
	h_use_suite(cctx, sc);
	kssl_ctx_set_offload(cctx, rn->ctx_mode);
	h_tls_stat(&before);
	h_tcp_pair(&cfd, &sfd);
	h_peer_init(&srv, sctx, sfd);
	srv.recv_len = rn->size;
	srv.send_fd = file;
	srv.send_len = rn->size;
	srv.close = 1;
	h_peer_start(&srv);

	c = h_conn(cctx, cfd);
	if (rn->conn_mode >= 0)
		kssl_conn_set_offload(c, mode);
	r = h_handshake(c);
	h_check_peer(r == 0, &srv, cfd, "client handshake: %s", kssl_last_error());
	assert_session(c, sc);
	assert_dir(c, mode, KSSL_DIR_TX);
	assert_dir(c, mode, KSSL_DIR_RX);
	/* kssl drops the SSL once both directions are the kernel's. */
	if (h_ktls() && mode == KSSL_OFFLOAD_BOTH)
		ck_assert_ptr_null(kssl_conn_ssl(c));
	else
		ck_assert_ptr_nonnull(kssl_conn_ssl(c));

	r = h_write_stream(c, rn->size, 42 + rn->size, sent_sha);
	h_check_peer(r == 0, &srv, cfd, "client write: %s", kssl_last_error());
	r = h_read_n(c, rn->size, got_sha, &got);
	h_check_peer(r == 0, &srv, cfd, "client read (%zu of %zu): %s (%s)", got,
		     rn->size, kssl_error_name(r), kssl_last_error());
	r = h_close(c, NULL);
	h_check_peer(r == 0, &srv, cfd, "client close: %s", kssl_last_error());
	h_peer_join_ok(&srv);

	ck_assert_uint_eq(srv.got, rn->size);
	ck_assert_msg(memcmp(srv.sha, sent_sha, 32) == 0,
		      "client->server bytes differ (kssl_write)");
	h_sha256_file(file, 0, rn->size, file_sha);
	ck_assert_msg(memcmp(got_sha, file_sha, 32) == 0,
		      "server->client bytes differ (kssl_sendfile)");
	assert_session(srv.conn, sc);
	h_assert_default_offload(srv.conn);
	if (h_ktls()) {
		/* Server both ways, plus what the client moved. */
		long tx = 1 + wants(mode, KSSL_DIR_TX), rx = 1 + wants(mode, KSSL_DIR_RX);

		h_tls_stat(&after);
		ck_assert_msg(after.tx_sw - before.tx_sw >= tx,
			      "TlsTxSw %ld -> %ld, want +%ld", before.tx_sw, after.tx_sw, tx);
		ck_assert_msg(after.rx_sw - before.rx_sw >= rx,
			      "TlsRxSw %ld -> %ld, want +%ld", before.rx_sw, after.rx_sw, rx);
	}
	kssl_conn_free(c);
	kssl_conn_free(srv.conn);
	kssl_ctx_free(cctx);
	kssl_ctx_free(sctx);
	h_close_pair(cfd, sfd);
	close(file);
}

static void run_matrix(const struct h_suite *sc)
{
	/* 64 MiB each way on the host; the VM runs TLS at ~10 MB/s. */
	struct run rn = { sc, h_size(64 * H_MiB, 2 * H_MiB), KSSL_OFFLOAD_BOTH, -1 };

	run(&rn);
}

static void run_mode(const struct h_suite *sc, enum kssl_offload_mode ctx_mode,
		     int conn_mode)
{
	struct run rn = { sc, h_size(8 * H_MiB, H_MiB) + 3, ctx_mode, conn_mode };

	run(&rn);
}

#define MATRIX(name, id) \
	START_TEST(name) { run_matrix(&h_suites[id]); } END_TEST
MATRIX(tls13_aes128gcm_both_ways_byte_exact, H_TLS13_AES128GCM)
MATRIX(tls13_aes256gcm_both_ways_byte_exact, H_TLS13_AES256GCM)
MATRIX(tls13_chacha20poly1305_both_ways_byte_exact, H_TLS13_CHACHA)
MATRIX(tls13_aes128ccm_both_ways_byte_exact, H_TLS13_AES128CCM)
MATRIX(tls12_aes128gcm_both_ways_byte_exact, H_TLS12_AES128GCM)
MATRIX(tls12_aes256gcm_both_ways_byte_exact, H_TLS12_AES256GCM)
MATRIX(tls12_chacha20poly1305_both_ways_byte_exact, H_TLS12_CHACHA)
MATRIX(tls12_ecdsa_aes128ccm_both_ways_byte_exact, H_TLS12_AES128CCM)

START_TEST(offload_tx_only_keeps_rx_in_userspace)
{
	run_mode(&h_suites[H_TLS13_AES128GCM], KSSL_OFFLOAD_TX, -1);
	run_mode(&h_suites[H_TLS12_AES256GCM], KSSL_OFFLOAD_TX, -1);
}
END_TEST

START_TEST(offload_rx_only_keeps_tx_in_userspace)
{
	run_mode(&h_suites[H_TLS13_CHACHA], KSSL_OFFLOAD_RX, -1);
	run_mode(&h_suites[H_TLS12_AES128GCM], KSSL_OFFLOAD_RX, -1);
}
END_TEST

START_TEST(offload_none_keeps_both_in_userspace)
{
	run_mode(&h_suites[H_TLS13_AES128GCM], KSSL_OFFLOAD_NONE, -1);
	run_mode(&h_suites[H_TLS12_CHACHA], KSSL_OFFLOAD_NONE, -1);
}
END_TEST

START_TEST(conn_offload_mode_overrides_ctx_mode)
{
	run_mode(&h_suites[H_TLS13_AES256GCM], KSSL_OFFLOAD_NONE, KSSL_OFFLOAD_RX);
	run_mode(&h_suites[H_TLS13_AES128GCM], KSSL_OFFLOAD_BOTH, KSSL_OFFLOAD_NONE);
}
END_TEST

/*
 * kssl_ctx_set_read_ahead: the server writes three 100-byte records, the
 * client reads 100 bytes. Without read-ahead OpenSSL took exactly one
 * record and the other two wait in the socket; with it, where RX stays in
 * userspace, one recv took all three: the socket is empty and
 * kssl_conn_rx_buffered() says where they are. Where RX may move to the
 * kernel (offload BOTH and a kernel that has, or on the host is faked to
 * have, the tls ULP) the option must not apply. Returns the bytes left in
 * the socket after the first read, or -1 with RX in the kernel.
 */
static int read_ahead_case(int on, enum kssl_offload_mode mode)
{
	kssl_ctx *sctx = h_server_ctx("server"), *cctx = h_client_ctx();
	char buf[300], want[300];
	struct h_pair p;
	size_t got = 0;
	int left = -1, i;

	kssl_ctx_set_read_ahead(cctx, on);
	kssl_ctx_set_offload(cctx, mode);
	h_peer_init(&p.srv, sctx, -1);
	h_pair_open(&p, cctx);
	ck_assert_int_eq(h_handshake(p.c), 0);
	h_peer_join_ok(&p.srv);
	for (i = 0; i < 3; i++) {
		memset(want + 100 * i, 'A' + i, 100);
		ck_assert_int_eq(kssl_write(p.srv.conn, want + 100 * i, 100), 100);
	}
	ck_assert_int_eq(kssl_read(p.c, buf, 100), 100);
	if (kssl_conn_offload(p.c, KSSL_DIR_RX, NULL) != KSSL_STATE_KERNEL) {
		ck_assert_int_eq(ioctl(p.cfd, FIONREAD, &left), 0);
		ck_assert_int_eq(kssl_conn_rx_buffered(p.c), left == 0);
	}
	for (got = 100; got < sizeof(buf);) {
		ssize_t n = kssl_read(p.c, buf + got, sizeof(buf) - got);

		ck_assert_int_gt(n, 0);
		got += (size_t)n;
	}
	ck_assert(!memcmp(buf, want, sizeof(want)));
	h_pair_free(&p);
	kssl_ctx_free(sctx);
	kssl_ctx_free(cctx);
	return left;
}

START_TEST(read_ahead_only_where_rx_stays_in_userspace)
{
	/* Two 100-byte TLS 1.3 records: 5 + 100 + 1 + 16 bytes each. */
	ck_assert_int_eq(read_ahead_case(0, KSSL_OFFLOAD_NONE), 2 * 122);
	ck_assert_int_eq(read_ahead_case(1, KSSL_OFFLOAD_NONE), 0);
	ck_assert_int_eq(read_ahead_case(1, KSSL_OFFLOAD_TX), 0);
	/* RX may move: exact record reads (or RX in the kernel, -1). */
	ck_assert_int_ne(read_ahead_case(1, KSSL_OFFLOAD_BOTH), 0);
	ck_assert_int_ne(read_ahead_case(1, KSSL_OFFLOAD_RX), 0);
}
END_TEST

/* What a message callback saw: counts by (direction, type). */
struct trace {
	int calls;
	int client_hello_sent, server_hello_read, finished_read, finished_sent;
	int headers[2];
	kssl_conn *conn;
	int wrong_conn;
};

static void trace_cb(kssl_conn *conn, int write_p, int version, int content_type,
		     const void *buf, size_t len, void *arg)
{
	struct trace *t = arg;
	const unsigned char *p = buf;

	(void)version;
	t->calls++;
	if (t->conn && conn != t->conn)
		t->wrong_conn++;
	if (content_type == 256) /* SSL3_RT_HEADER */
		t->headers[write_p]++;
	if (content_type != 22 || len < 1) /* handshake messages */
		return;
	t->client_hello_sent += write_p && p[0] == 1;
	t->server_hello_read += !write_p && p[0] == 2;
	t->finished_read += !write_p && p[0] == 20;
	t->finished_sent += write_p && p[0] == 20;
}

/*
 * kssl_ctx_set_msg_cb: a client traces its handshake (ClientHello out,
 * ServerHello and Finished in, record headers both ways) whatever the
 * offload mode, including NONE where libkssl itself needs no callback;
 * NULL turns it off.
 */
static void trace_case(enum kssl_offload_mode mode, int on, struct trace *t)
{
	kssl_ctx *sctx = h_server_ctx("server"), *cctx = h_client_ctx();
	struct h_pair p;

	memset(t, 0, sizeof(*t));
	kssl_ctx_set_offload(cctx, mode);
	kssl_ctx_set_msg_cb(cctx, trace_cb, t);
	if (!on)
		kssl_ctx_set_msg_cb(cctx, NULL, NULL);
	h_peer_init(&p.srv, sctx, -1);
	h_pair_open(&p, cctx);
	t->conn = p.c;
	ck_assert_int_eq(h_handshake(p.c), 0);
	h_peer_join_ok(&p.srv);
	h_pair_free(&p);
	kssl_ctx_free(sctx);
	kssl_ctx_free(cctx);
}

START_TEST(msg_cb_traces_the_handshake)
{
	enum kssl_offload_mode modes[] = { KSSL_OFFLOAD_NONE, KSSL_OFFLOAD_BOTH };
	struct trace t;

	for (size_t i = 0; i < 2; i++) {
		trace_case(modes[i], 1, &t);
		ck_assert_int_eq(t.client_hello_sent, 1);
		ck_assert_int_eq(t.server_hello_read, 1);
		ck_assert_int_eq(t.finished_read, 1);
		ck_assert_int_eq(t.finished_sent, 1);
		ck_assert_int_ge(t.headers[0], 2);
		ck_assert_int_ge(t.headers[1], 2);
		ck_assert_int_eq(t.wrong_conn, 0);
		trace_case(modes[i], 0, &t);
		ck_assert_int_eq(t.calls, 0);
	}
}
END_TEST

static int ulp_calls;

static int counting_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	if (level == IPPROTO_TCP && name == TCP_ULP)
		ulp_calls++;
	return ks_sys_real.setsockopt(fd, level, name, val, len);
}

/*
 * On a kernel without the tls ULP (the host), a connection does not ask
 * for it again at every handshake once the process's probe said no: no
 * TCP_ULP setsockopt, and the same reason as if it had asked. (The
 * harness otherwise pretends the kernel could offload.)
 */
START_TEST(no_ulp_request_per_connection_without_ktls)
{
	static struct ks_sys table;
	kssl_ctx *sctx, *cctx;
	const char *reason = NULL;
	struct h_pair p;

	if (h_ktls())
		return; /* the VM: the ULP is there, nothing to show */
	ks_capture_secrets_always = 0;
	table = ks_sys_real;
	table.setsockopt = counting_setsockopt;
	ks_sys_set(&table);
	sctx = h_server_ctx("server");
	cctx = h_client_ctx();
	h_peer_init(&p.srv, sctx, -1);
	h_pair_open(&p, cctx);
	ck_assert_int_eq(h_handshake(p.c), 0);
	h_peer_join_ok(&p.srv);
	ck_assert_int_eq(kssl_conn_offload(p.c, KSSL_DIR_TX, &reason), KSSL_STATE_USER);
	ck_assert_str_eq(reason, "kernel has no tls ULP (CONFIG_TLS): "
				 "setsockopt TCP_ULP: No such file or directory");
	ck_assert_int_eq(kssl_conn_offload(p.c, KSSL_DIR_RX, &reason), KSSL_STATE_USER);
	ck_assert_int_eq(ulp_calls, 0);
	h_pair_free(&p);
	kssl_ctx_free(sctx);
	kssl_ctx_free(cctx);
	ks_sys_set(&ks_sys_real);
	ks_capture_secrets_always = 1;
}
END_TEST

int main(void)
{
	Suite *s = suite_create("loopback");
	TCase *m = h_tcase("matrix"), *o = h_tcase("offload_modes");

	tcase_add_test(m, tls13_aes128gcm_both_ways_byte_exact);
	tcase_add_test(m, tls13_aes256gcm_both_ways_byte_exact);
	tcase_add_test(m, tls13_chacha20poly1305_both_ways_byte_exact);
	tcase_add_test(m, tls13_aes128ccm_both_ways_byte_exact);
	tcase_add_test(m, tls12_aes128gcm_both_ways_byte_exact);
	tcase_add_test(m, tls12_aes256gcm_both_ways_byte_exact);
	tcase_add_test(m, tls12_chacha20poly1305_both_ways_byte_exact);
	tcase_add_test(m, tls12_ecdsa_aes128ccm_both_ways_byte_exact);
	suite_add_tcase(s, m);
	tcase_add_test(o, offload_tx_only_keeps_rx_in_userspace);
	tcase_add_test(o, offload_rx_only_keeps_tx_in_userspace);
	tcase_add_test(o, offload_none_keeps_both_in_userspace);
	tcase_add_test(o, conn_offload_mode_overrides_ctx_mode);
	tcase_add_test(o, read_ahead_only_where_rx_stays_in_userspace);
	tcase_add_test(o, msg_cb_traces_the_handshake);
	tcase_add_test(o, no_ulp_request_per_connection_without_ktls);
	suite_add_tcase(s, o);
	return h_run(s);
}
