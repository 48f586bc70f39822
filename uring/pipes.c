/* A pool of pipes for splice chains, sized with F_SETPIPE_SZ. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "internal.h"

size_t ku_pipe_max_size(void)
{
	FILE *f = fopen("/proc/sys/fs/pipe-max-size", "r");
	unsigned long v = 0;

	if (f) {
		if (fscanf(f, "%lu", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v ? v : 1048576; /* the kernel default */
}

struct ku_pipe *ku_pipe_get(kssl_loop *loop)
{
	struct ku_pipe *p = loop->pool;
	int fds[2], sz;

	if (p) {
		loop->pool = p->next;
		loop->pool_len--;
		return p;
	}
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p) {
		close(fds[0]);
		close(fds[1]);
		return NULL;
	}
	p->rfd = fds[0];
	p->wfd = fds[1];
	/* Unprivileged processes over their pipe-user-pages quota get EPERM:
	 * a default-sized pipe still works, only with shorter splices. */
	sz = fcntl(p->wfd, F_SETPIPE_SZ, (int)loop->pipe_size);
	if (sz < 0)
		sz = fcntl(p->wfd, F_GETPIPE_SZ);
	p->size = sz > 0 ? (size_t)sz : 65536;
	return p;
}

void ku_pipe_put(kssl_loop *loop, struct ku_pipe *p, int clean)
{
	if (!p)
		return;
	/* A pipe that still holds bytes of a failed transfer would leak them
	 * into the next connection: never pool it. */
	if (clean && loop->pool_len < loop->pool_max) {
		p->next = loop->pool;
		loop->pool = p;
		loop->pool_len++;
		return;
	}
	close(p->rfd);
	close(p->wfd);
	free(p);
}

void ku_pipe_pool_free(kssl_loop *loop)
{
	while (loop->pool) {
		struct ku_pipe *p = loop->pool;

		loop->pool = p->next;
		close(p->rfd);
		close(p->wfd);
		free(p);
	}
	loop->pool_len = 0;
}
