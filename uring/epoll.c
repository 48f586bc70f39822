/* The epoll backend, used when io_uring is unavailable or turned off. */
#include <errno.h>
#include <sys/epoll.h>

#include "internal.h"

#define KU_EPOLL_BATCH 64

int ku_epoll_arm(kssl_loop *loop, int fd, int *added, void *ptr,
		 unsigned events)
{
	struct epoll_event ev = {
		.events = events | EPOLLONESHOT,
		.data.ptr = ptr,
	};

	/* One-shot registrations mirror io_uring's one-shot POLL_ADD, so the
	 * rest of the engine does not care which backend it runs on. */
	if (epoll_ctl(loop->epfd, *added ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd,
		      &ev) < 0)
		return -1;
	*added = 1;
	return 0;
}

int ku_epoll_run(kssl_loop *loop, int timeout_ms)
{
	struct epoll_event ev[KU_EPOLL_BATCH];
	int n, i;

	n = epoll_wait(loop->epfd, ev, KU_EPOLL_BATCH, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : kssl_set_error(KSSL_E_SYSCALL,
				KSSL_R_ERRNO, errno, errno, "kssl_loop_run: epoll_wait");
	for (i = 0; i < n; i++)
		ku_event(loop, (uint64_t)(uintptr_t)ev[i].data.ptr,
			 (int)ev[i].events);
	return n;
}
