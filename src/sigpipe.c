/*
 * sendfile(2) has no MSG_NOSIGNAL: writing to a socket whose peer is gone
 * raises SIGPIPE, which would kill a process that did not ignore it. A
 * library must not do that, so the signal is blocked around the call and a
 * SIGPIPE it caused is consumed before unblocking (the EPIPE return carries
 * the information).
 */
#include <errno.h>
#include <signal.h>
#include <time.h>

#include "internal.h"

void ks_sigpipe_block(struct ks_sigpipe *g)
{
	sigset_t pipe_set, pending, old;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigpending(&pending);
	g->was_pending = sigismember(&pending, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	g->blocked = !sigismember(&old, SIGPIPE);
}

void ks_sigpipe_restore(struct ks_sigpipe *g)
{
	sigset_t pipe_set, pending;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	if (!g->was_pending) {
		sigpending(&pending);
		if (sigismember(&pending, SIGPIPE)) {
			struct timespec zero = { 0, 0 };
			int saved = errno;

			while (sigtimedwait(&pipe_set, NULL, &zero) < 0 &&
			       errno == EINTR)
				;
			errno = saved;
		}
	}
	if (g->blocked)
		pthread_sigmask(SIG_UNBLOCK, &pipe_set, NULL);
}

int ks_sigpipe_raised(const struct ks_sigpipe *g)
{
	sigset_t pending;

	if (g->was_pending)
		return 0;
	sigpending(&pending);
	return sigismember(&pending, SIGPIPE);
}
