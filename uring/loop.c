/* The loop: backend choice, completion dispatch, connection lifetime. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

#define KU_BATCH 64

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -1;
	return (fl & O_NONBLOCK) ? 0 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void report_fallback(const kssl_loop *loop)
{
	static int reported; /* once per process, as the brief of a server
				 log line wants: not once per worker loop */

	if (reported || !(loop->flags & KSSL_LOOP_VERBOSE))
		return;
	reported = 1;
	fprintf(stderr, "kssl: %s; using epoll + sendfile(2)\n", loop->reason);
}

static int init_uring(kssl_loop *loop, unsigned entries)
{
	int r;

	if (loop->flags & KSSL_LOOP_FORCE_EPOLL) {
		snprintf(loop->reason, sizeof(loop->reason),
			 "io_uring disabled by configuration");
		return -1;
	}
	r = ku_sys->queue_init(entries, &loop->ring, 0);
	if (r < 0) {
		snprintf(loop->reason, sizeof(loop->reason),
			 "io_uring unavailable (io_uring_queue_init: %s)",
			 strerror(-r));
		report_fallback(loop);
		return -1;
	}
	return 0;
}

kssl_loop *kssl_loop_new(const struct kssl_loop_config *cfg)
{
	struct kssl_loop_config def = { 0 };
	kssl_loop *loop = calloc(1, sizeof(*loop));
	size_t max;

	if (!loop) {
		(void)kssl_set_error(KSSL_E_NOMEM, KSSL_R_NONE, 0, 0,
				     "kssl_loop_new: out of memory");
		return NULL;
	}
	if (!cfg)
		cfg = &def;
	loop->flags = cfg->flags;
	loop->epfd = -1;
	loop->listen_fd = -1;
	loop->accepting_fd = -1;
	max = ku_pipe_max_size();
	loop->pipe_size = cfg->pipe_size ? cfg->pipe_size : 1048576;
	if (loop->pipe_size > max)
		loop->pipe_size = max;
	loop->pool_max = cfg->pipe_pool_max ? cfg->pipe_pool_max : 64;
	loop->splice_min = cfg->splice_min;
	if (init_uring(loop, cfg->ring_entries ? cfg->ring_entries : 256) == 0) {
		loop->use_uring = 1;
		return loop;
	}
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		(void)kssl_set_error(KSSL_E_SYSCALL, KSSL_R_ERRNO, errno, errno,
				     "kssl_loop_new: epoll_create1");
		free(loop);
		return NULL;
	}
	return loop;
}

const char *kssl_loop_backend(const kssl_loop *loop)
{
	return loop->use_uring ? "io_uring" : "epoll";
}

const char *kssl_loop_fallback_reason(const kssl_loop *loop)
{
	return loop->use_uring ? NULL : loop->reason;
}

int kssl_loop_uses_splice(const kssl_loop *loop)
{
	return loop->use_uring && !(loop->flags & KSSL_LOOP_NO_SPLICE);
}

size_t kssl_loop_conn_count(const kssl_loop *loop)
{
	return loop->nconns;
}

struct io_uring_sqe *ku_get_sqe(kssl_loop *loop, unsigned need)
{
	struct io_uring_sqe *sqe;

	/* A linked pair must sit in one submission: make room first. */
	if (io_uring_sq_space_left(&loop->ring) < need)
		io_uring_submit(&loop->ring);
	sqe = io_uring_get_sqe(&loop->ring);
	if (!sqe) {
		io_uring_submit(&loop->ring);
		sqe = io_uring_get_sqe(&loop->ring);
	}
	return sqe;
}

static uint64_t token(const void *p, enum ku_tag tag)
{
	return (uint64_t)(uintptr_t)p | tag;
}

int ku_arm(kssl_lconn *lc, unsigned events)
{
	kssl_loop *loop = lc->loop;
	struct io_uring_sqe *sqe;

	if (!loop->use_uring)
		return ku_epoll_arm(loop, lc->fd, &lc->epoll_added,
				    (void *)(uintptr_t)token(lc, KU_TAG_POLL),
				    events);
	sqe = ku_get_sqe(loop, 1);
	if (!sqe)
		return -1;
	io_uring_prep_poll_add(sqe, lc->fd, events);
	io_uring_sqe_set_data64(sqe, token(lc, KU_TAG_POLL));
	lc->inflight++;
	return 0;
}

/* ---- the ready queue: operations started, to be stepped by the loop ---- */

static void ready_push(kssl_lconn *lc)
{
	kssl_loop *loop = lc->loop;

	lc->ready = 1;
	lc->ready_next = NULL;
	if (loop->ready_tail)
		loop->ready_tail->ready_next = lc;
	else
		loop->ready = lc;
	loop->ready_tail = lc;
}

static int run_ready(kssl_loop *loop)
{
	kssl_lconn *lc = loop->ready;
	int n = 0;

	loop->ready = loop->ready_tail = NULL;
	while (lc) {
		kssl_lconn *next = lc->ready_next;

		lc->ready = 0;
		if (!lc->closing) {
			ku_step(lc);
			n++;
		}
		lc = next;
	}
	return n;
}

void ku_complete(kssl_lconn *lc, ssize_t result)
{
	kssl_lconn_cb cb = lc->cb;

	lc->op = KU_OP_NONE;
	lc->cb = NULL;
	if (cb)
		cb(lc, result, lc->cb_arg);
}

/* What kssl_lconn_error says when the message could not be kept. */
static char ku_err_nomem[] = "(message lost: out of memory)";

void ku_clear_error(kssl_lconn *lc)
{
	if (lc->err != ku_err_nomem)
		free(lc->err);
	lc->err = NULL;
}

/* Keep the thread's kssl message for kssl_lconn_error: allocated only on
 * failure, so connections that never fail carry no message buffer. */
static void keep_error(kssl_lconn *lc)
{
	ku_clear_error(lc);
	lc->err = strdup(kssl_last_error());
	if (!lc->err)
		lc->err = ku_err_nomem;
}

int ku_fail_kssl(kssl_lconn *lc, int code)
{
	/* kssl set the thread's error state; keep it, copy the message. */
	keep_error(lc);
	ku_complete(lc, code);
	return code;
}

int ku_fail(kssl_lconn *lc, int code, int err, const char *what)
{
	/* The thread's kssl error state too (kssl.h convention). */
	(void)kssl_set_error(code, err ? KSSL_R_ERRNO : KSSL_R_NONE, err, err,
			     "%s", what);
	keep_error(lc);
	ku_complete(lc, code);
	return code;
}

/* ---- dispatch ------------------------------------------------------------ */

static int arm_listener(kssl_loop *loop);

static void listen_event(kssl_loop *loop)
{
	loop->listen_armed = 0;
	if (!loop->accept_cb)
		return;
	for (;;) {
		socklen_t len = sizeof(loop->accept_addr);
		int fd = accept4(loop->listen_fd,
				 (struct sockaddr *)&loop->accept_addr, &len,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			int err = errno;

			if (err == EINTR || err == ECONNABORTED)
				continue;
			if (err == EMFILE || err == ENFILE || err == ENOBUFS ||
			    err == ENOMEM) {
				/* Paused: the caller re-arms (kssl_accept_cb). */
				loop->accept_cb(loop, -err, loop->accept_arg);
				return;
			}
			break; /* EAGAIN: wait for the next connection */
		}
		loop->accept_addr_len = len;
		loop->accepting_fd = fd;
		loop->accept_cb(loop, fd, loop->accept_arg);
		loop->accepting_fd = -1;
		if (!loop->accept_cb)
			return;
		/*
		 * io_uring: one connection per readiness event, as nginx takes
		 * them from epoll. The re-armed poll rides on the next submit
		 * (no system call of its own) and completes at once if another
		 * connection waits, so accepting until EAGAIN would only add a
		 * failing accept4 per connection.
		 */
		if (loop->use_uring)
			break;
	}
	/* Re-arming can fail (ring full, epoll_ctl): kssl_loop_run reports it
	 * rather than the listener going deaf silently. Not through
	 * kssl_loop_listen: the socket's flags are set already, and this runs
	 * after every batch of accepts. */
	if (loop->accept_cb && arm_listener(loop) < 0)
		loop->listen_failed = 1;
}

void ku_event(kssl_loop *loop, uint64_t data, int res)
{
	enum ku_tag tag = (enum ku_tag)(data & KU_TAG_MASK);
	kssl_lconn *lc = (kssl_lconn *)(uintptr_t)(data & ~(uint64_t)KU_TAG_MASK);

	if (tag == KU_TAG_IGNORE)
		return;
	if (tag == KU_TAG_LISTEN) {
		listen_event(loop);
		return;
	}
	if (lc->closing)
		return;
	if (tag == KU_TAG_POLL) {
		if (lc->op == KU_OP_SENDFILE && lc->path &&
		    !strcmp(lc->path, "splice"))
			ku_splice_ready(lc);
		else if (lc->op != KU_OP_NONE)
			ku_step(lc);
		return;
	}
	ku_splice_cqe(lc, tag, res);
}

static int uring_run(kssl_loop *loop, int timeout_ms)
{
	struct io_uring_cqe *cqes[KU_BATCH], *cqe;
	uint64_t data[KU_BATCH];
	int res[KU_BATCH];
	unsigned i, n;
	int r, total = 0;

	if (timeout_ms < 0) {
		r = io_uring_submit_and_wait(&loop->ring, 1);
	} else if (timeout_ms == 0) {
		r = io_uring_submit(&loop->ring);
	} else {
		struct __kernel_timespec ts = {
			.tv_sec = timeout_ms / 1000,
			.tv_nsec = (long long)(timeout_ms % 1000) * 1000000,
		};
		r = io_uring_submit_and_wait_timeout(&loop->ring, &cqe, 1,
						     &ts, NULL);
	}
	if (r < 0 && r != -ETIME && r != -EINTR && r != -EBUSY && r != -EAGAIN)
		return kssl_set_error(KSSL_E_SYSCALL, KSSL_R_ERRNO, -r, -r,
				      "kssl_loop_run: io_uring wait");
	/* Copy the batch out before running callbacks: they submit. */
	while ((n = io_uring_peek_batch_cqe(&loop->ring, cqes, KU_BATCH)) > 0) {
		for (i = 0; i < n; i++) {
			data[i] = io_uring_cqe_get_data64(cqes[i]);
			res[i] = cqes[i]->res;
		}
		io_uring_cq_advance(&loop->ring, n);
		for (i = 0; i < n; i++) {
			enum ku_tag tag = data[i] & KU_TAG_MASK;

			if (tag == KU_TAG_LISTEN)
				loop->listen_inflight = 0;
			else if (tag != KU_TAG_IGNORE)
				((kssl_lconn *)(uintptr_t)(data[i] &
				  ~(uint64_t)KU_TAG_MASK))->inflight--;
			ku_event(loop, data[i], res[i]);
		}
		total += (int)n;
	}
	return total;
}

static void sweep(kssl_loop *loop)
{
	kssl_lconn **pp = &loop->dying;

	while (*pp) {
		kssl_lconn *lc = *pp;

		if (lc->inflight > 0 || lc->ready) {
			pp = &lc->next;
			continue;
		}
		*pp = lc->next;
		ku_release(lc);
	}
}

int kssl_loop_run(kssl_loop *loop, int timeout_ms)
{
	int n, r;

	if (loop->listen_failed) {
		loop->listen_failed = 0;
		return kssl_set_error(KSSL_E_SYSCALL, KSSL_R_NONE, 0, 0,
				      "kssl_loop_run: re-arming the listening socket failed; call kssl_loop_listen again");
	}
	n = run_ready(loop);
	if (n || loop->ready)
		timeout_ms = 0;
	r = loop->use_uring ? uring_run(loop, timeout_ms)
			    : ku_epoll_run(loop, timeout_ms);
	if (r < 0)
		return r;
	n += r + run_ready(loop);
	/* What the callbacks queued goes out with the next call's wait, in
	 * the same io_uring_enter: a submit here was one more system call
	 * per loop turn (three per short connection). */
	sweep(loop);
	return n;
}

/* ---- listening ----------------------------------------------------------- */

/* Wait for the next connection on loop->listen_fd (a one-shot poll). */
static int arm_listener(kssl_loop *loop)
{
	struct io_uring_sqe *sqe;

	if (loop->listen_armed)
		return 0;
	if (!loop->use_uring) {
		int r = ku_epoll_arm(loop, loop->listen_fd, &loop->listen_added,
				     (void *)(uintptr_t)token(&loop->listen_token,
							      KU_TAG_LISTEN),
				     POLLIN);
		if (r < 0)
			return kssl_set_error(KSSL_E_SYSCALL, KSSL_R_ERRNO, errno,
					      errno, "kssl_loop_listen: epoll_ctl");
		loop->listen_armed = 1;
		return 0;
	}
	if (loop->listen_inflight) {
		loop->listen_armed = 1; /* the poll still pending will do */
		return 0;
	}
	sqe = ku_get_sqe(loop, 1);
	if (!sqe)
		return kssl_set_error(KSSL_E_SYSCALL, KSSL_R_ERRNO, EBUSY, EBUSY,
				      "kssl_loop_listen: io_uring queue full");
	io_uring_prep_poll_add(sqe, loop->listen_fd, POLLIN);
	io_uring_sqe_set_data64(sqe, token(&loop->listen_token, KU_TAG_LISTEN));
	loop->listen_armed = loop->listen_inflight = 1;
	return 0;
}

int kssl_loop_listen(kssl_loop *loop, int listen_fd, kssl_accept_cb cb,
		     void *arg)
{
	if (set_nonblock(listen_fd) < 0)
		return kssl_set_error(KSSL_E_SYSCALL, KSSL_R_ERRNO, errno, errno,
				      "kssl_loop_listen: fcntl O_NONBLOCK");
	loop->listen_fd = listen_fd;
	loop->accept_cb = cb;
	loop->accept_arg = arg;
	return arm_listener(loop);
}

const struct sockaddr *kssl_loop_accept_addr(const kssl_loop *loop, socklen_t *len)
{
	if (loop->accepting_fd < 0)
		return NULL;
	if (len)
		*len = loop->accept_addr_len;
	return (const struct sockaddr *)&loop->accept_addr;
}

void kssl_loop_unlisten(kssl_loop *loop)
{
	struct io_uring_sqe *sqe;

	loop->accept_cb = NULL;
	loop->listen_armed = 0;
	if (loop->listen_fd < 0)
		return;
	if (!loop->use_uring) {
		if (loop->listen_added)
			epoll_ctl(loop->epfd, EPOLL_CTL_DEL, loop->listen_fd,
				  NULL);
		loop->listen_added = 0;
		return;
	}
	if (loop->listen_inflight && (sqe = ku_get_sqe(loop, 1))) {
		io_uring_prep_poll_remove(sqe,
				token(&loop->listen_token, KU_TAG_LISTEN));
		io_uring_sqe_set_data64(sqe, KU_TAG_IGNORE);
		io_uring_submit(&loop->ring);
	}
}

/* ---- connections --------------------------------------------------------- */

kssl_lconn *kssl_lconn_new(kssl_loop *loop, int fd, kssl_conn *tls)
{
	kssl_lconn *lc;

	/* A socket this loop just accepted is non-blocking already. */
	if (fd != loop->accepting_fd && set_nonblock(fd) < 0) {
		(void)kssl_set_error(KSSL_E_SYSCALL, KSSL_R_ERRNO, errno, errno,
				     "kssl_lconn_new: fcntl O_NONBLOCK");
		return NULL;
	}
	lc = calloc(1, sizeof(*lc));
	if (!lc) {
		(void)kssl_set_error(KSSL_E_NOMEM, KSSL_R_NONE, 0, 0,
				     "kssl_lconn_new: out of memory");
		return NULL;
	}
	lc->loop = loop;
	lc->fd = fd;
	lc->tls = tls;
	lc->file_fd = -1;
	lc->owned_file = -1;
	lc->next = loop->conns;
	if (loop->conns)
		loop->conns->prev = lc;
	loop->conns = lc;
	loop->nconns++;
	return lc;
}

void ku_release(kssl_lconn *lc)
{
	ku_pipe_put(lc->loop, lc->pipe, lc->in_pipe == 0);
	lc->loop->nconns--;
	kssl_conn_free(lc->tls);
	close(lc->fd);
	if (lc->owned_file >= 0)
		close(lc->owned_file);
	ku_clear_error(lc);
	free(lc);
}

void kssl_lconn_close_file(kssl_lconn *lc, int file_fd)
{
	if (!lc || lc->closing) {
		if (file_fd >= 0)
			close(file_fd);
		return;
	}
	lc->owned_file = file_fd;
	kssl_lconn_close(lc);
}

void kssl_lconn_close(kssl_lconn *lc)
{
	kssl_loop *loop;

	if (!lc || lc->closing)
		return;
	loop = lc->loop;
	lc->closing = 1;
	if (lc->prev)
		lc->prev->next = lc->next;
	else
		loop->conns = lc->next;
	if (lc->next)
		lc->next->prev = lc->prev;
	lc->prev = NULL;
	lc->next = loop->dying;
	loop->dying = lc;
	if (lc->inflight > 0) {
		/* Polls fire and splices to the socket fail at once; the memory
		 * goes when their completions are in (sweep). */
		struct io_uring_sqe *sqe = ku_get_sqe(loop, 1);

		shutdown(lc->fd, SHUT_RDWR);
		if (sqe) {
			io_uring_prep_poll_remove(sqe, token(lc, KU_TAG_POLL));
			io_uring_sqe_set_data64(sqe, KU_TAG_IGNORE);
		}
	} else if (!loop->use_uring && lc->epoll_added) {
		epoll_ctl(loop->epfd, EPOLL_CTL_DEL, lc->fd, NULL);
	}
}

void kssl_loop_free(kssl_loop *loop)
{
	if (!loop)
		return;
	kssl_loop_unlisten(loop);
	while (loop->conns)
		kssl_lconn_close(loop->conns);
	loop->ready = loop->ready_tail = NULL;
	for (kssl_lconn *lc = loop->dying; lc; lc = lc->next)
		lc->ready = 0;
	while (loop->use_uring && (loop->dying || loop->listen_inflight)) {
		sweep(loop);
		if (!loop->dying && !loop->listen_inflight)
			break;
		if (uring_run(loop, 1000) < 0)
			break;
	}
	sweep(loop);
	ku_pipe_pool_free(loop);
	if (loop->use_uring)
		io_uring_queue_exit(&loop->ring);
	if (loop->epfd >= 0)
		close(loop->epfd);
	free(loop);
}

kssl_conn *kssl_lconn_tls(const kssl_lconn *lc)
{
	return lc->tls;
}

int kssl_lconn_fd(const kssl_lconn *lc)
{
	return lc->fd;
}

void kssl_lconn_set_data(kssl_lconn *lc, void *data)
{
	lc->data = data;
}

void *kssl_lconn_get_data(const kssl_lconn *lc)
{
	return lc->data;
}

const char *kssl_lconn_error(const kssl_lconn *lc)
{
	return lc->err ? lc->err : "";
}

size_t kssl_lconn_sent(const kssl_lconn *lc)
{
	return lc->done;
}

const char *kssl_lconn_send_path(const kssl_lconn *lc)
{
	return lc->path ? lc->path : "";
}

int ku_start(kssl_lconn *lc, enum ku_op op, kssl_lconn_cb cb, void *arg)
{
	if (lc->closing || lc->op != KU_OP_NONE)
		return kssl_set_error(KSSL_E_INVAL, KSSL_R_WRONG_STATE, 0, 0,
				      lc->closing ? "connection is closing"
						  : "an operation is already running");
	lc->op = op;
	lc->cb = cb;
	lc->cb_arg = arg;
	lc->done = 0;
	ku_clear_error(lc);
	ready_push(lc);
	return 0;
}
