/*
 * TLS connections driven by the loop: non-blocking handshake, a header
 * written with kssl_lconn_write, then a file range. On a kernel with kTLS
 * (the VM) TX must be offloaded and the file must go out by splice (or
 * sendfile(2) on epoll); elsewhere through OpenSSL ("tls-user").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "uharness.h"

static void tls_transfer(unsigned flags, int nconn)
{
	struct kssl_loop_config cfg = { .flags = flags | KSSL_LOOP_QUIET };
	kssl_loop *loop = kssl_loop_new(&cfg);
	kssl_ctx *ctx = kssl_ctx_new(KSSL_SERVER);
	int ktls = kssl_kernel_has_tls();
	size_t size = ktls ? (1u << 20) : (4u << 20);
	int file = u_temp_file(size, 11);
	static const char hdr[] = "HEADER\r\n";
	struct u_reader r[8] = { 0 };
	struct u_done d[8] = { 0 };
	kssl_lconn *lc[8];
	char want[65];
	const char *want_path;
	int all = 0;

	ck_assert_int_le(nconn, 8);
	ck_assert_int_eq(kssl_ctx_use_cert_file(ctx, u_cert("server.pem"),
						u_cert("server.key")), 0);
	for (int i = 0; i < nconn; i++) {
		int cfd, sfd;

		u_tcp_pair(&cfd, &sfd);
		lc[i] = kssl_lconn_new(loop, sfd, kssl_conn_new(ctx, sfd));
		r[i].fd = cfd;
		r[i].tls = 1;
		u_reader_start(&r[i]);
		ck_assert_int_eq(kssl_lconn_handshake(lc[i], u_done_cb, &d[i]), 0);
	}
	while (!all) {
		ck_assert_int_ge(kssl_loop_run(loop, 100), 0);
		all = 1;
		for (int i = 0; i < nconn; i++)
			all &= d[i].done;
	}
	for (int i = 0; i < nconn; i++) {
		ck_assert_msg(d[i].result == 0, "handshake: %s", d[i].err);
		memset(&d[i], 0, sizeof(d[i]));
		ck_assert_int_eq(kssl_lconn_write(lc[i], hdr, 8, u_done_cb, &d[i]), 0);
		u_run_until(loop, &d[i].done);
		ck_assert_int_eq(d[i].result, 8);
		memset(&d[i], 0, sizeof(d[i]));
		ck_assert_int_eq(kssl_lconn_sendfile(lc[i], file, 0, size,
						     u_done_cb, &d[i]), 0);
	}
	all = 0;
	while (!all) {
		ck_assert_int_ge(kssl_loop_run(loop, 100), 0);
		all = 1;
		for (int i = 0; i < nconn; i++)
			all &= d[i].done;
	}
	if (!ktls)
		want_path = "tls-user";
	else if (flags & (KSSL_LOOP_FORCE_EPOLL | KSSL_LOOP_NO_SPLICE))
		want_path = "sendfile";
	else
		want_path = kssl_loop_uses_splice(loop) ? "splice" : "sendfile";
	for (int i = 0; i < nconn; i++) {
		kssl_conn *c = kssl_lconn_tls(lc[i]);
		const char *why = NULL;
		enum kssl_offload_state tx = kssl_conn_offload(c, KSSL_DIR_TX, &why);

		ck_assert_msg(d[i].result == (ssize_t)size, "%zd: %s", d[i].result,
			      d[i].err);
		ck_assert_str_eq(d[i].path, want_path);
		if (ktls)
			ck_assert_int_eq(tx, KSSL_OFFLOAD_KERNEL);
		else
			ck_assert_msg(tx == KSSL_OFFLOAD_USER && why, "tx state %d", tx);
		/* close_notify; the socket is non-blocking, the peer reads. */
		for (int k = 0; k < 1000 && kssl_shutdown(c) == KSSL_E_WANT_WRITE; k++)
			usleep(1000);
		kssl_lconn_close(lc[i]);
	}
	ck_assert_int_ge(kssl_loop_run(loop, 0), 0);
	u_file_sha(file, 0, size, want);
	for (int i = 0; i < nconn; i++) {
		EVP_MD_CTX *c = EVP_MD_CTX_new();
		unsigned char md[32];
		char hex[65];

		u_reader_join(&r[i]);
		ck_assert_uint_eq(r[i].got, size + 8);
		/* The reader hashed header + file. */
		EVP_DigestInit_ex(c, EVP_sha256(), NULL);
		EVP_DigestUpdate(c, hdr, 8);
		{
			unsigned char *buf = malloc(size);

			ck_assert_int_eq(pread(file, buf, size, 0), (ssize_t)size);
			EVP_DigestUpdate(c, buf, size);
			free(buf);
		}
		EVP_DigestFinal_ex(c, md, NULL);
		EVP_MD_CTX_free(c);
		for (int k = 0; k < 32; k++)
			sprintf(hex + 2 * k, "%02x", md[k]);
		ck_assert_str_eq(r[i].hex, hex);
	}
	(void)want;
	kssl_loop_free(loop);
	kssl_ctx_free(ctx);
	close(file);
}

START_TEST(tls_uring)
{
	tls_transfer(0, 1);
}
END_TEST

START_TEST(tls_uring_many)
{
	tls_transfer(0, 8);
}
END_TEST

START_TEST(tls_epoll)
{
	tls_transfer(KSSL_LOOP_FORCE_EPOLL, 2);
}
END_TEST

START_TEST(tls_no_splice)
{
	tls_transfer(KSSL_LOOP_NO_SPLICE, 1);
}
END_TEST

/* A failed handshake completes with the error and names it. */
START_TEST(tls_handshake_failure)
{
	kssl_loop *loop = kssl_loop_new(NULL);
	kssl_ctx *ctx = kssl_ctx_new(KSSL_SERVER);
	struct u_done d = { 0 };
	int cfd, sfd;
	kssl_lconn *lc;

	ck_assert_int_eq(kssl_ctx_use_cert_file(ctx, u_cert("server.pem"),
						u_cert("server.key")), 0);
	u_tcp_pair(&cfd, &sfd);
	lc = kssl_lconn_new(loop, sfd, kssl_conn_new(ctx, sfd));
	ck_assert_int_eq(kssl_lconn_handshake(lc, u_done_cb, &d), 0);
	ck_assert_int_eq(write(cfd, "GET / HTTP/1.0\r\n\r\n", 18), 18);
	u_run_until(loop, &d.done);
	ck_assert_int_lt(d.result, 0);
	ck_assert_msg(d.err[0] != 0, "no error message");
	kssl_loop_free(loop);
	kssl_ctx_free(ctx);
	close(cfd);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("uring_tls");
	TCase *tc = tcase_create("tls");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, tls_uring);
	tcase_add_test(tc, tls_uring_many);
	tcase_add_test(tc, tls_epoll);
	tcase_add_test(tc, tls_no_splice);
	tcase_add_test(tc, tls_handshake_failure);
	suite_add_tcase(s, tc);
	return u_run(s);
}
