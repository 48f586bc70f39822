/*
 * Offload proof, kTLS kernels only: for every version x AEAD, after
 * kssl_handshake the socket itself speaks TLS. The client writes with plain
 * write(2) and splice(2) and reads with plain read(2) — no kssl call moves a
 * byte — while the peer (kssl, also offloaded) checks what arrived. The
 * kernel's own counters must show both ends' sockets in kTLS and no
 * decryption errors.
 *
 * On a kernel without kTLS the program prints "skipped: kernel lacks tls"
 * and exits 77 (ctest reports it as skipped); the fallback path for the same
 * scenarios is covered by test_loopback.
 */
#include "harness.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PLAIN_LEN (256 * 1024 + 17)

static void write_plain(int fd, const unsigned char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		ck_assert_msg(n > 0, "write(2) on the kTLS socket: %m");
		p += n;
		len -= (size_t)n;
	}
}

/* Move len bytes through a pipe into the socket with splice(2). */
static void splice_plain(int fd, const unsigned char *p, size_t len)
{
	int pipefd[2];

	ck_assert_int_eq(pipe(pipefd), 0);
	while (len) {
		size_t chunk = len < 65536 ? len : 65536;
		ssize_t w = write(pipefd[1], p, chunk), s;

		ck_assert_int_gt(w, 0);
		for (ssize_t left = w; left > 0; left -= s) {
			s = splice(pipefd[0], NULL, fd, NULL, (size_t)left, 0);
			ck_assert_msg(s > 0, "splice(2) into the kTLS socket: %m");
		}
		p += w;
		len -= (size_t)w;
	}
	close(pipefd[0]);
	close(pipefd[1]);
}

static void read_plain(int fd, size_t len, unsigned char sha[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char buf[65536];

	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	while (len) {
		ssize_t n = read(fd, buf, len < sizeof(buf) ? len : sizeof(buf));

		ck_assert_msg(n > 0, "read(2) on the kTLS socket: %zd %m", n);
		EVP_DigestUpdate(md, buf, (size_t)n);
		len -= (size_t)n;
	}
	EVP_DigestFinal_ex(md, sha, NULL);
	EVP_MD_CTX_free(md);
}

static void prove(const struct h_suite *sc)
{
	kssl_ctx *sctx = h_server_ctx(sc->cert), *cctx = h_client_ctx();
	unsigned char *data = malloc(2 * PLAIN_LEN), sha[32], want[32];
	int file = h_temp_file(PLAIN_LEN, 99);
	struct h_tls_stat before, open_, after;
	struct h_peer srv;
	uint64_t seed = 7;
	kssl_conn *c;
	int cfd, sfd;

	h_fill(data, 2 * PLAIN_LEN, &seed);
	h_use_suite(sctx, sc);
	h_use_suite(cctx, sc);
	/*
	 * TLS 1.3 tickets would reach the client as control records, which a
	 * plain read(2) refuses with EIO (kssl_read handles them): no tickets
	 * here, so that read(2) meets data records only.
	 */
	ck_assert_int_eq(kssl_ctx_set_num_tickets(sctx, 0), 0);
	h_tls_stat(&before);
	h_tcp_pair(&cfd, &sfd);
	h_peer_init(&srv, sctx, sfd);
	srv.recv_len = 2 * PLAIN_LEN;
	srv.send_fd = file;
	srv.send_len = PLAIN_LEN;
	srv.close = 1;
	h_peer_start(&srv);

	c = h_conn(cctx, cfd);
	h_check_peer(h_handshake(c) == 0, &srv, cfd, "handshake: %s", kssl_last_error());
	h_assert_kernel(c, KSSL_DIR_TX);
	h_assert_kernel(c, KSSL_DIR_RX);
	ck_assert_ptr_null(kssl_conn_ssl(c)); /* OpenSSL state released */
	h_tls_stat(&open_);
	ck_assert_msg(open_.curr_tx_sw - before.curr_tx_sw >= 1 &&
		      open_.curr_rx_sw - before.curr_rx_sw >= 1,
		      "TlsCurrTxSw/RxSw did not count this socket");

	write_plain(cfd, data, PLAIN_LEN);
	splice_plain(cfd, data + PLAIN_LEN, PLAIN_LEN);
	read_plain(cfd, PLAIN_LEN, sha);
	h_sha256_file(file, 0, PLAIN_LEN, want);
	ck_assert_msg(memcmp(sha, want, 32) == 0,
		      "read(2) of the server's sendfile differs");
	h_check_peer(h_close(c, NULL) == 0, &srv, cfd, "close: %s", kssl_last_error());
	h_peer_join_ok(&srv);

	h_sha256(data, 2 * PLAIN_LEN, want);
	ck_assert_uint_eq(srv.got, 2 * PLAIN_LEN);
	ck_assert_msg(memcmp(srv.sha, want, 32) == 0,
		      "server got other bytes than write(2)+splice(2) sent");
	h_assert_kernel(srv.conn, KSSL_DIR_TX);
	h_assert_kernel(srv.conn, KSSL_DIR_RX);
	h_tls_stat(&after);
	ck_assert_msg(after.tx_sw - before.tx_sw >= 2 && after.rx_sw - before.rx_sw >= 2,
		      "TlsTxSw +%ld TlsRxSw +%ld, want +2 each (both ends)",
		      after.tx_sw - before.tx_sw, after.rx_sw - before.rx_sw);
	ck_assert_msg(after.decrypt_error == before.decrypt_error,
		      "TlsDecryptError moved: %ld -> %ld", before.decrypt_error,
		      after.decrypt_error);

	kssl_conn_free(c);
	kssl_conn_free(srv.conn);
	kssl_ctx_free(cctx);
	kssl_ctx_free(sctx);
	h_close_pair(cfd, sfd);
	close(file);
	free(data);
}

#define PROVE(name, id) \
	START_TEST(name) { prove(&h_suites[id]); } END_TEST
PROVE(tls13_aes128gcm_socket_speaks_tls, H_TLS13_AES128GCM)
PROVE(tls13_aes256gcm_socket_speaks_tls, H_TLS13_AES256GCM)
PROVE(tls13_chacha20poly1305_socket_speaks_tls, H_TLS13_CHACHA)
PROVE(tls13_aes128ccm_socket_speaks_tls, H_TLS13_AES128CCM)
PROVE(tls12_aes128gcm_socket_speaks_tls, H_TLS12_AES128GCM)
PROVE(tls12_aes256gcm_socket_speaks_tls, H_TLS12_AES256GCM)
PROVE(tls12_chacha20poly1305_socket_speaks_tls, H_TLS12_CHACHA)
PROVE(tls12_aes128ccm_socket_speaks_tls, H_TLS12_AES128CCM)

int main(void)
{
	Suite *s;
	TCase *tc;

	if (!kssl_kernel_has_tls()) {
		printf("skipped: kernel lacks tls\n");
		return 77;
	}
	s = suite_create("offload");
	tc = h_tcase("socket_speaks_tls");
	tcase_add_test(tc, tls13_aes128gcm_socket_speaks_tls);
	tcase_add_test(tc, tls13_aes256gcm_socket_speaks_tls);
	tcase_add_test(tc, tls13_chacha20poly1305_socket_speaks_tls);
	tcase_add_test(tc, tls13_aes128ccm_socket_speaks_tls);
	tcase_add_test(tc, tls12_aes128gcm_socket_speaks_tls);
	tcase_add_test(tc, tls12_aes256gcm_socket_speaks_tls);
	tcase_add_test(tc, tls12_chacha20poly1305_socket_speaks_tls);
	tcase_add_test(tc, tls12_aes128ccm_socket_speaks_tls);
	suite_add_tcase(s, tc);
	return h_run(s);
}
