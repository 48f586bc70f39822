/*
 * File ranges to a socket whose TX is kernel TLS (or plain TCP) as io_uring
 * splice chains: file -> pipe linked (IOSQE_IO_LINK) to pipe -> socket.
 *
 * Why the bookkeeping: a short file -> pipe splice breaks the link, so the
 * pipe -> socket SQE completes -ECANCELED and the bytes stay in the pipe;
 * a short pipe -> socket splice also leaves bytes in the pipe. Either way the
 * next chain first drains the pipe (one SQE), and only an empty pipe is
 * refilled from the file. Splice runs on io-wq workers, and on a
 * non-blocking socket with a full send buffer it returns -EAGAIN: wait for
 * POLLOUT, then resubmit.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>

#include "internal.h"

static void fail_chain(kssl_lconn *lc, int err, const char *what)
{
	ku_fail(lc, KSSL_E_SYSCALL, err, what);
}

/* Prepare one leg, or a NOP carrying the result the test table injects. */
static void prep_leg(kssl_lconn *lc, struct io_uring_sqe *sqe,
		     enum ku_splice_leg leg, int inject, unsigned len,
		     unsigned flags)
{
	off_t file_off = lc->off + (off_t)(lc->done + lc->in_pipe);

	if (inject)
		io_uring_prep_nop(sqe);
	else if (leg == KU_LEG_IN)
		io_uring_prep_splice(sqe, lc->file_fd, file_off, lc->pipe->wfd,
				     -1, len, 0);
	else
		io_uring_prep_splice(sqe, lc->pipe->rfd, -1, lc->fd, -1, len,
				     flags);
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)lc |
			(leg == KU_LEG_IN ? KU_TAG_SPLICE_IN : KU_TAG_SPLICE_OUT));
	lc->inflight++;
	lc->chain_pending++;
}

static void submit_chain(kssl_lconn *lc)
{
	size_t unread = lc->count - lc->done - lc->in_pipe;
	struct io_uring_sqe *sqe;
	unsigned in_len = 0, out_len, more;
	int inj;

	lc->res_in = lc->res_out = 0;
	lc->want_in = 0;
	lc->inj_in = lc->inj_out = 0;
	if (lc->in_pipe == 0) {
		size_t want = unread < lc->pipe->size ? unread : lc->pipe->size;

		in_len = (unsigned)want;
		inj = ku_sys->splice_hook(KU_LEG_IN, &in_len);
		if (in_len > unread) /* the hook may not send past the range */
			in_len = (unsigned)unread;
		sqe = ku_get_sqe(lc->loop, 2);
		if (!sqe)
			return fail_chain(lc, EBUSY, "io_uring_get_sqe");
		lc->want_in = in_len;
		lc->inj_in = inj;
		prep_leg(lc, sqe, KU_LEG_IN, inj, in_len, 0);
		if (inj) /* an injected failure: the linked leg never runs */
			return;
		sqe->flags |= IOSQE_IO_LINK;
		out_len = in_len;
	} else {
		out_len = (unsigned)lc->in_pipe;
	}
	inj = ku_sys->splice_hook(KU_LEG_OUT, &out_len);
	/* More data follows this splice: let kernel TLS fill whole records. */
	more = lc->done + out_len < lc->count ? SPLICE_F_MORE : 0;
	sqe = ku_get_sqe(lc->loop, 1);
	if (!sqe)
		return fail_chain(lc, EBUSY, "io_uring_get_sqe");
	lc->want_out = out_len;
	lc->inj_out = inj;
	prep_leg(lc, sqe, KU_LEG_OUT, inj, out_len, more);
	io_uring_submit(&lc->loop->ring);
}

void ku_splice_start(kssl_lconn *lc)
{
	if (!lc->pipe) {
		lc->pipe = ku_pipe_get(lc->loop);
		if (!lc->pipe)
			return fail_chain(lc, errno, "pipe for splice");
	}
	lc->in_pipe = 0;
	submit_chain(lc);
}

void ku_splice_ready(kssl_lconn *lc)
{
	submit_chain(lc);
}

static void chain_done(kssl_lconn *lc)
{
	int in = lc->res_in, out = lc->res_out;

	if (lc->want_in && in == 0) {
		char msg[96];

		snprintf(msg, sizeof(msg), "file ended after %zu of %zu bytes",
			 lc->done, lc->count);
		ku_fail(lc, KSSL_E_SHORT_FILE, 0, msg);
		return;
	}
	if (in < 0 && in != -EAGAIN && in != -EINTR)
		return fail_chain(lc, -in, "splice file->pipe");
	if (out < 0 && out != -EAGAIN && out != -ECANCELED && out != -EINTR)
		return fail_chain(lc, -out, "splice pipe->socket");
	if (lc->done == lc->count) {
		ku_pipe_put(lc->loop, lc->pipe, 1);
		lc->pipe = NULL;
		ku_complete(lc, (ssize_t)lc->done);
		return;
	}
	if (out == -EAGAIN) {
		if (ku_arm(lc, POLLOUT) < 0)
			fail_chain(lc, EBUSY, "arming a poll");
		return;
	}
	submit_chain(lc);
}

void ku_splice_cqe(kssl_lconn *lc, enum ku_tag tag, int res)
{
	if (lc->op != KU_OP_SENDFILE)
		return;
	if (tag == KU_TAG_SPLICE_IN) {
		if (lc->inj_in)
			res = lc->inj_in;
		lc->res_in = res;
		if (res > 0)
			lc->in_pipe += (size_t)res;
	} else {
		if (lc->inj_out)
			res = lc->inj_out;
		lc->res_out = res;
		if (res > 0) {
			lc->in_pipe -= (size_t)res;
			lc->done += (size_t)res;
		}
	}
	if (--lc->chain_pending == 0)
		chain_done(lc);
}
