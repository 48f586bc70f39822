/*
 * Readiness-driven operations: handshake, read, write, and file sends that
 * do not use splice (userspace TLS via kssl_sendfile, or sendfile(2)). Each
 * step tries the call; KSSL_E_WANT_* / EAGAIN arms a one-shot poll and the
 * loop steps again when it fires.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "internal.h"

static void wait_for(kssl_lconn *lc, unsigned events)
{
	if (ku_arm(lc, events) < 0)
		ku_fail(lc, KSSL_E_SYSCALL, errno ? errno : EBUSY,
			"arming a poll");
}

/*
 * A failed kssl call: KSSL_E_WANT_* waits for the readiness it names (a
 * userspace write may need to read and a read to write); anything else
 * fails the op with kssl's error.
 */
static void tls_wait_or_fail(kssl_lconn *lc, int code)
{
	if (code == KSSL_E_WANT_READ)
		wait_for(lc, POLLIN);
	else if (code == KSSL_E_WANT_WRITE)
		wait_for(lc, POLLOUT);
	else
		ku_fail_kssl(lc, code);
}

static void step_handshake(kssl_lconn *lc)
{
	int r = lc->tls ? kssl_handshake(lc->tls) : 0;

	if (r == 0)
		ku_complete(lc, 0);
	else
		tls_wait_or_fail(lc, r);
}

/*
 * Userspace RX with nothing buffered: wait for readability before
 * SSL_read. On an empty socket SSL_read would allocate OpenSSL's ~17 KiB
 * record buffer before finding no data and keep it while the connection
 * idles (SSL_MODE_RELEASE_BUFFERS frees it only after a record); nginx
 * waits for idle keep-alive connections the same way. No MSG_PEEK first:
 * that was one more syscall per request, and a poll on a socket that
 * already has data completes at once. Records OpenSSL read ahead
 * (kssl_ctx_set_read_ahead) count as buffered: the socket may be empty.
 */
static int user_rx_idle(kssl_lconn *lc)
{
	return kssl_conn_offload(lc->tls, KSSL_DIR_RX, NULL) != KSSL_OFFLOAD_KERNEL &&
	       !kssl_conn_rx_buffered(lc->tls);
}

static void step_read(kssl_lconn *lc)
{
	ssize_t n;

	if (lc->tls) {
		if (!lc->done && user_rx_idle(lc)) {
			lc->done = 1; /* polled once: read when it fires */
			return wait_for(lc, POLLIN);
		}
		n = kssl_read(lc->tls, lc->buf, lc->len);
		if (n < 0)
			return tls_wait_or_fail(lc, (int)n);
		return ku_complete(lc, n);
	}
	do
		n = ku_sys->recv(lc->fd, lc->buf, lc->len, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return wait_for(lc, POLLIN);
	if (n < 0)
		return (void)ku_fail(lc, KSSL_E_SYSCALL, errno, "recv");
	ku_complete(lc, n);
}

static void step_write(kssl_lconn *lc)
{
	while (lc->done < lc->len) {
		const char *p = (const char *)lc->buf + lc->done;
		size_t left = lc->len - lc->done;
		ssize_t n;

		if (lc->tls) {
			/* Userspace TX after WANT_WRITE: same buffer and length
			 * again, as OpenSSL requires; done is unchanged then. */
			n = kssl_write(lc->tls, p, left);
			if (n < 0)
				return tls_wait_or_fail(lc, (int)n);
		} else {
			n = ku_sys->send(lc->fd, p, left, MSG_NOSIGNAL);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN)
				return wait_for(lc, POLLOUT);
			if (n < 0)
				return (void)ku_fail(lc, KSSL_E_SYSCALL, errno,
						     "send");
		}
		lc->done += (size_t)n;
	}
	ku_complete(lc, (ssize_t)lc->done);
}

static void short_file(kssl_lconn *lc)
{
	char msg[96];

	snprintf(msg, sizeof(msg), "file ended after %zu of %zu bytes",
		 lc->done, lc->count);
	ku_fail(lc, KSSL_E_SHORT_FILE, 0, msg);
}

static void step_plain_sendfile(kssl_lconn *lc)
{
	while (lc->done < lc->count) {
		off_t off = lc->off + (off_t)lc->done;
		ssize_t n = ku_sys->sendfile(lc->fd, lc->file_fd, &off,
					     lc->count - lc->done);

		if (n > 0) {
			lc->done += (size_t)n;
			continue;
		}
		if (n == 0)
			return short_file(lc);
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			return wait_for(lc, POLLOUT);
		return (void)ku_fail(lc, KSSL_E_SYSCALL, errno, "sendfile");
	}
	ku_complete(lc, (ssize_t)lc->done);
}

static void step_tls_sendfile(kssl_lconn *lc)
{
	size_t sent = 0;
	int r = kssl_sendfile(lc->tls, lc->file_fd, lc->off + (off_t)lc->done,
			      lc->count - lc->done, &sent);

	lc->done += sent;
	if (r == 0)
		return ku_complete(lc, (ssize_t)lc->done);
	if (r == KSSL_E_SHORT_FILE)
		return short_file(lc);
	tls_wait_or_fail(lc, r);
}

void ku_step(kssl_lconn *lc)
{
	switch (lc->op) {
	case KU_OP_HANDSHAKE:
		return step_handshake(lc);
	case KU_OP_READ:
		return step_read(lc);
	case KU_OP_WRITE:
		return step_write(lc);
	case KU_OP_SENDFILE:
		if (lc->done == lc->count)
			return ku_complete(lc, (ssize_t)lc->done);
		if (!strcmp(lc->path, "splice"))
			return ku_splice_start(lc);
		if (lc->tls)
			return step_tls_sendfile(lc);
		return step_plain_sendfile(lc);
	case KU_OP_NONE:
		return;
	}
}

int kssl_lconn_handshake(kssl_lconn *lc, kssl_lconn_cb cb, void *arg)
{
	return ku_start(lc, KU_OP_HANDSHAKE, cb, arg);
}

int kssl_lconn_read(kssl_lconn *lc, void *buf, size_t len, kssl_lconn_cb cb,
		    void *arg)
{
	if (lc->op != KU_OP_NONE)
		return ku_start(lc, KU_OP_NONE, NULL, NULL); /* refused: busy */
	if (!buf || !len)
		return kssl_set_error(KSSL_E_INVAL, KSSL_R_BAD_ARGUMENT, 0, 0,
				      "kssl_lconn_read: no buffer");
	lc->buf = buf;
	lc->len = len;
	return ku_start(lc, KU_OP_READ, cb, arg);
}

int kssl_lconn_write(kssl_lconn *lc, const void *buf, size_t len,
		     kssl_lconn_cb cb, void *arg)
{
	if (lc->op != KU_OP_NONE)
		return ku_start(lc, KU_OP_NONE, NULL, NULL); /* refused: busy */
	if (!buf && len)
		return kssl_set_error(KSSL_E_INVAL, KSSL_R_BAD_ARGUMENT, 0, 0,
				      "kssl_lconn_write: no buffer");
	lc->buf = (void *)buf;
	lc->len = len;
	return ku_start(lc, KU_OP_WRITE, cb, arg);
}

int kssl_lconn_sendfile(kssl_lconn *lc, int file_fd, off_t offset,
			size_t count, kssl_lconn_cb cb, void *arg)
{
	int kernel_tx;
	int r;

	if (file_fd < 0 || offset < 0)
		return kssl_set_error(KSSL_E_INVAL, KSSL_R_BAD_ARGUMENT, 0, 0,
				      "kssl_lconn_sendfile: bad file or offset");
	kernel_tx = !lc->tls || kssl_conn_offload(lc->tls, KSSL_DIR_TX, NULL) ==
					KSSL_STATE_KERNEL;
	r = ku_start(lc, KU_OP_SENDFILE, cb, arg);
	if (r < 0)
		return r;
	lc->file_fd = file_fd;
	lc->off = offset;
	lc->count = count;
	if (!kernel_tx)
		lc->path = "tls-user";
	else if (kssl_loop_uses_splice(lc->loop) && count >= lc->loop->splice_min)
		lc->path = "splice";
	else
		lc->path = "sendfile";
	return 0;
}
