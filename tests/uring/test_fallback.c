/*
 * Without io_uring (init fails with -EPERM/-ENOSYS, or it is turned off) the
 * loop runs on epoll and sends files with sendfile(2); with
 * KSSL_LOOP_NO_SPLICE io_uring polls but sends with sendfile(2).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ku_sys.h"
#include "uharness.h"

static int init_err;

static int failing_init(unsigned entries, struct io_uring *ring, unsigned fl)
{
	(void)entries;
	(void)ring;
	(void)fl;
	return init_err;
}

static int sf_calls, sf_eagain;

static ssize_t flaky_sendfile(int out, int in, off_t *off, size_t count)
{
	if (sf_calls++ % 2 == 0) {
		sf_eagain++;
		errno = EAGAIN;
		return -1;
	}
	return ku_sys_real.sendfile(out, in, off, count > 50000 ? 50000 : count);
}

static struct ku_sys table;

static void transfer(kssl_loop *loop, size_t size, const char *want_path)
{
	struct u_reader r = { 0 };
	struct u_done d = { 0 };
	int cfd, sfd, file = u_temp_file(size, 77);
	kssl_lconn *lc;
	char want[65];

	u_tcp_pair(&cfd, &sfd);
	lc = kssl_lconn_new(loop, sfd, NULL);
	ck_assert_ptr_nonnull(lc);
	r.fd = cfd;
	u_reader_start(&r);
	ck_assert_int_eq(kssl_lconn_sendfile(lc, file, 100, size - 100, u_done_cb, &d), 0);
	u_run_until(loop, &d.done);
	ck_assert_msg(d.result == (ssize_t)(size - 100), "%zd %s", d.result, d.err);
	ck_assert_str_eq(d.path, want_path);
	kssl_lconn_close(lc);
	ck_assert_int_ge(kssl_loop_run(loop, 0), 0);
	u_reader_join(&r);
	u_file_sha(file, 100, size - 100, want);
	ck_assert_str_eq(r.hex, want);
	close(file);
}

static void init_fails_with(int err, const char *text)
{
	struct kssl_loop_config cfg = { .flags = KSSL_LOOP_QUIET };
	kssl_loop *loop;

	init_err = err;
	table = ku_sys_real;
	table.queue_init = failing_init;
	ku_sys_set(&table);
	loop = kssl_loop_new(&cfg);
	ck_assert_ptr_nonnull(loop);
	ck_assert_str_eq(kssl_loop_backend(loop), "epoll");
	ck_assert_int_eq(kssl_loop_uses_splice(loop), 0);
	ck_assert_msg(strstr(kssl_loop_fallback_reason(loop), text) != NULL,
		      "%s", kssl_loop_fallback_reason(loop));
	transfer(loop, 3u << 20, "sendfile");
	kssl_loop_free(loop);
}

START_TEST(uring_init_eperm)
{
	init_fails_with(-EPERM, "Operation not permitted");
}
END_TEST

START_TEST(uring_init_enosys)
{
	init_fails_with(-ENOSYS, "not implemented");
}
END_TEST

START_TEST(epoll_sendfile_eagain)
{
	struct kssl_loop_config cfg = { .flags = KSSL_LOOP_FORCE_EPOLL };
	kssl_loop *loop = kssl_loop_new(&cfg);

	table = ku_sys_real;
	table.sendfile = flaky_sendfile;
	ku_sys_set(&table);
	ck_assert_str_eq(kssl_loop_backend(loop), "epoll");
	transfer(loop, 1u << 20, "sendfile");
	ck_assert_int_gt(sf_eagain, 5);
	kssl_loop_free(loop);
}
END_TEST

START_TEST(uring_no_splice)
{
	struct kssl_loop_config cfg = { .flags = KSSL_LOOP_NO_SPLICE };
	kssl_loop *loop = kssl_loop_new(&cfg);

	if (strcmp(kssl_loop_backend(loop), "io_uring") != 0) {
		kssl_loop_free(loop);
		return;
	}
	ck_assert_int_eq(kssl_loop_uses_splice(loop), 0);
	transfer(loop, 2u << 20, "sendfile");
	kssl_loop_free(loop);
}
END_TEST

/* Starting a second operation while one is in flight is refused. */
START_TEST(one_operation_at_a_time)
{
	kssl_loop *loop = kssl_loop_new(NULL);
	struct u_done d = { 0 };
	char buf[16];
	int cfd, sfd;
	kssl_lconn *lc;

	u_tcp_pair(&cfd, &sfd);
	lc = kssl_lconn_new(loop, sfd, NULL);
	ck_assert_int_eq(kssl_lconn_read(lc, buf, sizeof(buf), u_done_cb, &d), 0);
	ck_assert_int_eq(kssl_lconn_write(lc, "x", 1, u_done_cb, &d), KSSL_E_INVAL);
	ck_assert_int_eq(write(cfd, "ping", 4), 4);
	u_run_until(loop, &d.done);
	ck_assert_int_eq(d.result, 4);
	ck_assert_int_eq(memcmp(buf, "ping", 4), 0);
	kssl_loop_free(loop); /* closes lc */
	close(cfd);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("uring_fallback");
	TCase *tc = tcase_create("fallback");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, uring_init_eperm);
	tcase_add_test(tc, uring_init_enosys);
	tcase_add_test(tc, epoll_sendfile_eagain);
	tcase_add_test(tc, uring_no_splice);
	tcase_add_test(tc, one_operation_at_a_time);
	suite_add_tcase(s, tc);
	return u_run(s);
}
