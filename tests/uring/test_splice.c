/*
 * Splice chains (file -> pipe -> socket) on plain loopback TCP: the engine
 * splices the same way whether the socket is kernel TLS or not, so the
 * mechanics are tested on any kernel. Bytes are checked by SHA-256.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ku_sys.h"
#include "uharness.h"

static kssl_loop *new_loop(size_t pipe_size)
{
	struct kssl_loop_config cfg = { .pipe_size = pipe_size };
	kssl_loop *loop = kssl_loop_new(&cfg);

	ck_assert_ptr_nonnull(loop);
	if (strcmp(kssl_loop_backend(loop), "io_uring") != 0) {
		/* Not a failure of the engine: the kernel has no io_uring. */
		fprintf(stderr, "skip: %s\n", kssl_loop_fallback_reason(loop));
		exit(77);
	}
	return loop;
}

/* Send [off, off+len) of a size-byte file over one pair by want_path;
 * check the hash. */
static void send_range_by(kssl_loop *loop, size_t size, off_t off, size_t len,
			  unsigned delay_ms, int small_sndbuf, const char *want_path)
{
	struct u_reader r = { .delay_ms = delay_ms };
	struct u_done d = { 0 };
	int cfd, sfd, file = u_temp_file(size, 42 + size);
	char want[65];
	kssl_lconn *lc;

	u_tcp_pair(&cfd, &sfd);
	if (small_sndbuf) {
		int v = 4096;

		setsockopt(sfd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
		setsockopt(cfd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	}
	lc = kssl_lconn_new(loop, sfd, NULL);
	ck_assert_ptr_nonnull(lc);
	r.fd = cfd;
	u_reader_start(&r);
	ck_assert_int_eq(kssl_lconn_sendfile(lc, file, off, len, u_done_cb, &d), 0);
	u_run_until(loop, &d.done);
	ck_assert_msg(d.result == (ssize_t)len, "result %zd: %s", d.result, d.err);
	ck_assert_str_eq(d.path, want_path);
	kssl_lconn_close(lc);
	ck_assert_int_ge(kssl_loop_run(loop, 0), 0);
	u_reader_join(&r);
	u_file_sha(file, off, len, want);
	ck_assert_uint_eq(r.got, len);
	ck_assert_str_eq(r.hex, want);
	close(file);
}

static void send_range(kssl_loop *loop, size_t size, off_t off, size_t len,
		       unsigned delay_ms, int small_sndbuf)
{
	send_range_by(loop, size, off, len, delay_ms, small_sndbuf, "splice");
}

START_TEST(splice_whole_file)
{
	kssl_loop *loop = new_loop(0);

	send_range(loop, 8u << 20, 0, 8u << 20, 0, 0);
	kssl_loop_free(loop);
}
END_TEST

START_TEST(splice_range_and_small_pipe)
{
	kssl_loop *loop = new_loop(4096); /* many chains per transfer */

	send_range(loop, 1u << 20, 12345, (1u << 20) - 12345 - 999, 0, 0);
	kssl_loop_free(loop);
}
END_TEST

START_TEST(splice_zero_bytes)
{
	kssl_loop *loop = new_loop(0);

	send_range(loop, 4096, 0, 0, 0, 0);
	kssl_loop_free(loop);
}
END_TEST

/* splice_min: shorter sends go by sendfile(2), the rest by splice chains. */
START_TEST(sends_under_splice_min_use_sendfile)
{
	struct kssl_loop_config cfg = { .splice_min = 65536 };
	kssl_loop *loop = kssl_loop_new(&cfg);

	ck_assert_ptr_nonnull(loop);
	if (!kssl_loop_uses_splice(loop)) {
		kssl_loop_free(loop);
		return;
	}
	send_range_by(loop, 100000, 7, 65535, 0, 0, "sendfile");
	send_range_by(loop, 100000, 7, 65536, 0, 0, "splice");
	send_range_by(loop, 1000, 0, 1000, 0, 0, "sendfile");
	kssl_loop_free(loop);
}
END_TEST

/* A full send buffer: pipe -> socket really returns -EAGAIN. Tiny socket
 * buffers make each POLLOUT round slow, so the file stays small. */
START_TEST(splice_real_eagain)
{
	kssl_loop *loop = new_loop(65536);

	send_range(loop, 512u << 10, 0, 512u << 10, 300, 1);
	kssl_loop_free(loop);
}
END_TEST

/* ---- injected faults ---------------------------------------------------- */

static int calls[2], raised, lowered, injected;
static int inj_code;

/* Ask the in-leg for more than the pipe holds: a real short splice, so the
 * linked out-leg really completes -ECANCELED. */
static int hook_short_in(enum ku_splice_leg leg, unsigned *len)
{
	if (leg == KU_LEG_IN && calls[leg]++ % 2 == 0) {
		*len *= 4;
		raised++;
	}
	return 0;
}

static int hook_short_out(enum ku_splice_leg leg, unsigned *len)
{
	if (leg == KU_LEG_OUT && calls[leg]++ % 3 == 0 && *len > 1) {
		*len /= 3;
		lowered++;
	}
	return 0;
}

static int hook_inject_out(enum ku_splice_leg leg, unsigned *len)
{
	(void)len;
	if (leg == KU_LEG_OUT && calls[leg]++ % 2 == 0) {
		injected++;
		return inj_code;
	}
	return 0;
}

static void with_hook(int (*hook)(enum ku_splice_leg, unsigned *))
{
	static struct ku_sys t;

	t = ku_sys_real;
	t.splice_hook = hook;
	ku_sys_set(&t);
}

START_TEST(splice_short_in_leg_cancels_out_leg)
{
	kssl_loop *loop = new_loop(65536);

	with_hook(hook_short_in);
	send_range(loop, 2u << 20, 0, 2u << 20, 0, 0);
	ck_assert_int_gt(raised, 4);
	kssl_loop_free(loop);
}
END_TEST

START_TEST(splice_short_out_leg)
{
	kssl_loop *loop = new_loop(65536);

	with_hook(hook_short_out);
	send_range(loop, 2u << 20, 7, (2u << 20) - 7, 0, 0);
	ck_assert_int_gt(lowered, 4);
	kssl_loop_free(loop);
}
END_TEST

START_TEST(splice_injected_eagain)
{
	kssl_loop *loop = new_loop(65536);

	inj_code = -EAGAIN;
	with_hook(hook_inject_out);
	send_range(loop, 1u << 20, 0, 1u << 20, 0, 0);
	ck_assert_int_gt(injected, 4);
	kssl_loop_free(loop);
}
END_TEST

START_TEST(splice_injected_ecanceled)
{
	kssl_loop *loop = new_loop(65536);

	inj_code = -ECANCELED;
	with_hook(hook_inject_out);
	send_range(loop, 1u << 20, 0, 1u << 20, 0, 0);
	ck_assert_int_gt(injected, 4);
	kssl_loop_free(loop);
}
END_TEST

static int hook_epipe(enum ku_splice_leg leg, unsigned *len)
{
	(void)len;
	return leg == KU_LEG_OUT && calls[leg]++ == 3 ? -EPIPE : 0;
}

START_TEST(splice_error_reported)
{
	kssl_loop *loop = new_loop(65536);
	struct u_reader r = { 0 };
	struct u_done d = { 0 };
	int cfd, sfd, file = u_temp_file(1u << 20, 1);
	kssl_lconn *lc;

	with_hook(hook_epipe);
	u_tcp_pair(&cfd, &sfd);
	lc = kssl_lconn_new(loop, sfd, NULL);
	r.fd = cfd;
	u_reader_start(&r);
	ck_assert_int_eq(kssl_lconn_sendfile(lc, file, 0, 1u << 20, u_done_cb, &d), 0);
	u_run_until(loop, &d.done);
	ck_assert_int_eq(d.result, KSSL_E_SYSCALL);
	ck_assert_msg(strstr(d.err, "splice pipe->socket") != NULL, "%s", d.err);
	ck_assert_uint_eq(kssl_lconn_sent(lc), 3u * 65536);
	kssl_lconn_close(lc); /* the pipe holds bytes: it must not be pooled */
	ck_assert_int_ge(kssl_loop_run(loop, 0), 0);
	u_reader_join(&r);
	ck_assert_uint_eq(r.got, 3u * 65536);
	ck_assert_uint_eq(kssl_loop_conn_count(loop), 0);
	kssl_loop_free(loop);
	close(file);
}
END_TEST

START_TEST(splice_file_shorter_than_count)
{
	kssl_loop *loop = new_loop(65536);
	struct u_reader r = { 0 };
	struct u_done d = { 0 };
	int cfd, sfd, file = u_temp_file(100000, 3);
	kssl_lconn *lc;

	u_tcp_pair(&cfd, &sfd);
	lc = kssl_lconn_new(loop, sfd, NULL);
	r.fd = cfd;
	u_reader_start(&r);
	ck_assert_int_eq(kssl_lconn_sendfile(lc, file, 0, 200000, u_done_cb, &d), 0);
	u_run_until(loop, &d.done);
	ck_assert_int_eq(d.result, KSSL_E_SHORT_FILE);
	ck_assert_uint_eq(kssl_lconn_sent(lc), 100000);
	kssl_lconn_close(lc);
	ck_assert_int_ge(kssl_loop_run(loop, 0), 0);
	u_reader_join(&r);
	ck_assert_uint_eq(r.got, 100000);
	kssl_loop_free(loop);
	close(file);
}
END_TEST

/* Many connections in flight on one ring, each with its own range. */
START_TEST(splice_many_connections)
{
	enum { N = 32 };
	kssl_loop *loop = new_loop(65536);
	static struct u_reader r[N];
	static struct u_done d[N];
	size_t size = 3u << 20;
	int file = u_temp_file(size, 9), all = 0, cfd, sfd;
	kssl_lconn *lc[N];
	char want[65];

	for (int i = 0; i < N; i++) {
		u_tcp_pair(&cfd, &sfd);
		lc[i] = kssl_lconn_new(loop, sfd, NULL);
		r[i].fd = cfd;
		u_reader_start(&r[i]);
		ck_assert_int_eq(kssl_lconn_sendfile(lc[i], file, i * 1000,
				 size - i * 50000, u_done_cb, &d[i]), 0);
	}
	while (!all) {
		ck_assert_int_ge(kssl_loop_run(loop, 100), 0);
		all = 1;
		for (int i = 0; i < N; i++)
			all &= d[i].done;
	}
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(d[i].result, (ssize_t)(size - i * 50000));
		kssl_lconn_close(lc[i]);
	}
	ck_assert_int_ge(kssl_loop_run(loop, 0), 0);
	for (int i = 0; i < N; i++) {
		u_reader_join(&r[i]);
		u_file_sha(file, i * 1000, size - i * 50000, want);
		ck_assert_str_eq(r[i].hex, want);
	}
	kssl_loop_free(loop);
	close(file);
}
END_TEST

/* A connection whose 8 MiB splice stalls (the peer cfd never reads). */
static kssl_lconn *stalled_splice(kssl_loop *loop, int file, int *cfd,
				  struct u_done *d)
{
	int sfd;
	kssl_lconn *lc;

	u_tcp_pair(cfd, &sfd);
	lc = kssl_lconn_new(loop, sfd, NULL);
	ck_assert_ptr_nonnull(lc);
	ck_assert_int_eq(kssl_lconn_sendfile(lc, file, 0, 8u << 20, u_done_cb, d), 0);
	for (int i = 0; i < 5; i++)
		ck_assert_int_ge(kssl_loop_run(loop, 20), 0);
	ck_assert_int_eq(d->done, 0);
	return lc;
}

/* Closing a connection while its splice is in flight frees it cleanly. */
START_TEST(splice_close_in_flight)
{
	kssl_loop *loop = new_loop(65536);
	struct u_done d = { 0 };
	int cfd, file = u_temp_file(8u << 20, 5);
	kssl_lconn *lc = stalled_splice(loop, file, &cfd, &d);

	kssl_lconn_close(lc);
	for (int i = 0; i < 50 && kssl_loop_conn_count(loop); i++)
		ck_assert_int_ge(kssl_loop_run(loop, 100), 0);
	ck_assert_uint_eq(kssl_loop_conn_count(loop), 0);
	ck_assert_int_eq(d.done, 0); /* no callback after close */
	kssl_loop_free(loop);
	close(cfd);
	close(file);
}
END_TEST

/* The file of a splice in flight stays open until the ring is done. */
START_TEST(splice_close_file_after_ring)
{
	kssl_loop *loop = new_loop(65536);
	struct u_done d = { 0 };
	int cfd, file = u_temp_file(8u << 20, 6);
	kssl_lconn *lc = stalled_splice(loop, file, &cfd, &d);

	kssl_lconn_close_file(lc, file);
	ck_assert_int_ge(fcntl(file, F_GETFD), 0); /* the ring may use it */
	for (int i = 0; i < 50 && kssl_loop_conn_count(loop); i++)
		ck_assert_int_ge(kssl_loop_run(loop, 100), 0);
	ck_assert_uint_eq(kssl_loop_conn_count(loop), 0);
	errno = 0;
	ck_assert_int_eq(fcntl(file, F_GETFD), -1); /* closed on release */
	ck_assert_int_eq(errno, EBADF);
	ck_assert_int_eq(d.done, 0);
	kssl_loop_free(loop);
	close(cfd);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("uring_splice");
	TCase *tc = tcase_create("splice");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, splice_whole_file);
	tcase_add_test(tc, splice_range_and_small_pipe);
	tcase_add_test(tc, splice_zero_bytes);
	tcase_add_test(tc, sends_under_splice_min_use_sendfile);
	tcase_add_test(tc, splice_real_eagain);
	tcase_add_test(tc, splice_short_in_leg_cancels_out_leg);
	tcase_add_test(tc, splice_short_out_leg);
	tcase_add_test(tc, splice_injected_eagain);
	tcase_add_test(tc, splice_injected_ecanceled);
	tcase_add_test(tc, splice_error_reported);
	tcase_add_test(tc, splice_file_shorter_than_count);
	tcase_add_test(tc, splice_many_connections);
	tcase_add_test(tc, splice_close_in_flight);
	tcase_add_test(tc, splice_close_file_after_ring);
	suite_add_tcase(s, tc);
	return u_run(s);
}
