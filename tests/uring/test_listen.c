/*
 * kssl_loop_listen on both backends: every pending connection is accepted
 * (io_uring takes one per readiness event, epoll drains the backlog), each
 * socket arrives non-blocking, and kssl_loop_accept_addr gives the peer
 * address accept(2) returned, inside the callback only.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "uharness.h"

#define NCLIENTS 5

struct accepted {
	int n;
	int fds[NCLIENTS];
	unsigned short ports[NCLIENTS]; /* peer ports, host order */
	int nonblocking;
	int all;
};

static void on_accept(kssl_loop *loop, int fd, void *arg)
{
	struct accepted *a = arg;
	const struct sockaddr *sa;
	socklen_t len = 0;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_lt(a->n, NCLIENTS);
	sa = kssl_loop_accept_addr(loop, &len);
	ck_assert_ptr_nonnull(sa);
	ck_assert_int_eq(sa->sa_family, AF_INET);
	ck_assert_int_eq(len, sizeof(struct sockaddr_in));
	a->ports[a->n] = ntohs(((const struct sockaddr_in *)sa)->sin_port);
	a->nonblocking += !!(fcntl(fd, F_GETFL) & O_NONBLOCK);
	a->fds[a->n++] = fd;
	a->all = a->n == NCLIENTS;
}

static void accepts_all_with_addresses(unsigned flags, const char *backend)
{
	struct kssl_loop_config cfg = { .flags = flags | KSSL_LOOP_QUIET };
	kssl_loop *loop = kssl_loop_new(&cfg);
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sin);
	struct accepted a = { 0 };
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int cfds[NCLIENTS], i, j;

	ck_assert_ptr_nonnull(loop);
	if (strcmp(kssl_loop_backend(loop), backend) != 0) {
		kssl_loop_free(loop); /* no io_uring here: epoll covers it */
		close(lfd);
		return;
	}
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(lfd, NCLIENTS), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sin, &sl), 0);
	ck_assert_ptr_null(kssl_loop_accept_addr(loop, NULL));
	/* All connections wait in the backlog before the loop first runs. */
	for (i = 0; i < NCLIENTS; i++) {
		cfds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ck_assert_int_eq(connect(cfds[i], (struct sockaddr *)&sin,
					 sizeof(sin)), 0);
	}
	ck_assert_int_eq(kssl_loop_listen(loop, lfd, on_accept, &a), 0);
	u_run_until(loop, &a.all);
	ck_assert_ptr_null(kssl_loop_accept_addr(loop, NULL));
	ck_assert_int_eq(a.nonblocking, NCLIENTS);
	for (i = 0; i < NCLIENTS; i++) {
		struct sockaddr_in me;
		socklen_t ml = sizeof(me);
		int found = 0;

		ck_assert_int_eq(getsockname(cfds[i], (struct sockaddr *)&me, &ml), 0);
		for (j = 0; j < NCLIENTS; j++)
			found += a.ports[j] == ntohs(me.sin_port);
		ck_assert_int_eq(found, 1);
		close(cfds[i]);
		close(a.fds[i]);
	}
	kssl_loop_unlisten(loop);
	kssl_loop_free(loop);
	close(lfd);
}

START_TEST(uring_accepts_all_with_addresses)
{
	accepts_all_with_addresses(0, "io_uring");
}
END_TEST

START_TEST(epoll_accepts_all_with_addresses)
{
	accepts_all_with_addresses(KSSL_LOOP_FORCE_EPOLL, "epoll");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("uring_listen");
	TCase *tc = tcase_create("listen");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, uring_accepts_all_with_addresses);
	tcase_add_test(tc, epoll_accepts_all_with_addresses);
	suite_add_tcase(s, tc);
	return u_run(s);
}
