/*
 * `kssl get`: the body, from the socket to the output.
 *
 * With RX in the kernel and a body that is not chunked (a known length, or
 * until close_notify), the body goes socket -> pipe -> file by splice(2):
 * kernel TLS decrypts, the pages move to the file, and no byte of it
 * enters this process. The bytes that arrived with the head
 * (read with kssl_read to find its end) are written normally first. A
 * control record (a late ticket, a KeyUpdate, an alert) makes splice fail
 * with EINVAL; then the rest goes through kssl_read, which handles it.
 * A body without length ends at a close_notify, which splice meets as a
 * control record: kssl_read then returns 0, the clean end. Chunked bodies,
 * RX in OpenSSL, and outputs that cannot take splice (a terminal) use the
 * read path.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "get.h"

#define READ_BUF (256 * 1024)
#define PIPE_SIZE (1024 * 1024)

static int out_write(struct xfer *x, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = x->seekable ? pwrite(x->out, p, n, x->off)
					: write(x->out, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			snprintf(x->err, sizeof(x->err), "writing the output: %s",
				 w < 0 ? strerror(errno) : "no progress");
			return GET_E_LOCAL;
		}
		p += w;
		n -= (size_t)w;
		x->off += w;
		x->copied += w;
		atomic_fetch_add(&x->prog->done, w);
	}
	return GET_OK;
}

static int short_body(struct xfer *x, const char *how)
{
	const char *kept = x->seekable ? " (partial file kept: -C resumes it)" : "";

	if (x->left < 0)
		snprintf(x->err, sizeof(x->err), "short body: %s%s%s", how,
			 x->chunked ? " before the last chunk"
				    : ": the body may be truncated", kept);
	else
		snprintf(x->err, sizeof(x->err),
			 "short body: %s with %lld byte%s still expected%s", how,
			 (long long)x->left, x->left == 1 ? "" : "s", kept);
	return GET_E_SHORT;
}

/* Pipe -> output, all n bytes. */
static int drain(struct xfer *x, int rd, size_t n)
{
	while (n > 0) {
		ssize_t m = splice(rd, NULL, x->out, x->seekable ? &x->off : NULL,
				   n, SPLICE_F_MOVE);

		if (m < 0 && errno == EINTR)
			continue;
		if (m <= 0) {
			snprintf(x->err, sizeof(x->err), "writing the output (splice): %s",
				 m < 0 ? strerror(errno) : "no progress");
			return GET_E_LOCAL;
		}
		n -= (size_t)m;
		if (!x->seekable)
			x->off += m;
		x->spliced += m;
		atomic_fetch_add(&x->prog->done, m);
	}
	return GET_OK;
}

/*
 * Splices while it can. Returns GET_OK when x->left reached 0 or when the
 * read path must take over (x->left != 0: a control record is next, e.g.
 * the close_notify that ends a body without length), else an error.
 */
static int splice_body(struct xfer *x, const struct get_opts *o)
{
	int p[2], rc = GET_OK;
	size_t psz;

	if (pipe2(p, O_CLOEXEC) < 0)
		return GET_OK; /* no pipe: the read path still works */
	fcntl(p[1], F_SETPIPE_SZ, PIPE_SIZE); /* may be capped: ask back */
	psz = (size_t)fcntl(p[1], F_GETPIPE_SZ);
	while (x->left != 0) {
		size_t want = x->left > 0 && (size_t)x->left < psz ? (size_t)x->left : psz;
		ssize_t n = splice(x->sock, NULL, p[1], NULL, want, SPLICE_F_MOVE);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EINVAL || errno == EIO))
			break; /* a control record is next: kssl_read takes it */
		if (n < 0 && errno == EAGAIN) {
			snprintf(x->err, sizeof(x->err),
				 "no data for %d s: timed out", o->timeout);
			rc = GET_E_CONNECT;
			break;
		}
		if (n < 0) {
			snprintf(x->err, sizeof(x->err), "receiving: %s",
				 strerror(errno));
			rc = errno == EBADMSG ? GET_E_TLS : GET_E_CONNECT;
			break;
		}
		if (n == 0) {
			rc = short_body(x, x->left < 0 ? "connection closed without close_notify"
							: "connection closed");
			break;
		}
		if (x->left > 0)
			x->left -= n;
		if ((rc = drain(x, p[0], (size_t)n)) != GET_OK)
			break;
	}
	close(p[0]);
	close(p[1]);
	return rc;
}

static int read_error(struct xfer *x, ssize_t n, const struct get_opts *o)
{
	if (n == KSSL_E_WANT_READ || n == KSSL_E_WANT_WRITE) {
		snprintf(x->err, sizeof(x->err), "no data for %d s: timed out",
			 o->timeout);
		return GET_E_CONNECT;
	}
	if (n == KSSL_E_EOF && x->left != 0)
		return short_body(x, "connection closed without close_notify");
	snprintf(x->err, sizeof(x->err), "receiving: %s", kssl_last_error());
	return get_exit_for((int)n);
}

/* Writes decoded bytes; for chunked bodies decodes buf[0..n) first. */
static int consume(struct xfer *x, struct chunked *ch, char *buf, size_t n,
		   int *done)
{
	if (x->chunked) {
		int r = chunked_feed(ch, buf, n, &n);

		if (r < 0) {
			snprintf(x->err, sizeof(x->err),
				 "malformed response: bad chunked encoding");
			return GET_E_HTTP;
		}
		*done = r;
	} else if (x->left >= 0) {
		if ((int64_t)n > x->left)
			n = (size_t)x->left; /* bytes past the length are ignored */
		x->left -= (int64_t)n;
		*done = x->left == 0;
	}
	return n ? out_write(x, buf, n) : GET_OK;
}

int xfer_body(struct xfer *x, const char *lead, size_t n,
	      const struct get_opts *o)
{
	struct chunked ch = { 0 };
	char *buf = malloc(READ_BUF);
	int rc, done = 0;

	if (!buf) {
		snprintf(x->err, sizeof(x->err), "out of memory");
		return GET_E_LOCAL;
	}
	memcpy(buf, lead, n);
	rc = consume(x, &ch, buf, n, &done);
	if (rc == GET_OK && !done && !x->chunked && x->left != 0 &&
	    x->can_splice && !o->no_splice && kssl_pending(x->tls) == 0 &&
	    kssl_conn_offload(x->tls, KSSL_DIR_RX, NULL) == KSSL_OFFLOAD_KERNEL) {
		rc = splice_body(x, o);
		done = x->left == 0;
	}
	while (rc == GET_OK && !done) {
		ssize_t r = kssl_read(x->tls, buf, READ_BUF);

		if (r == KSSL_E_INTR)
			continue;
		if (r < 0) {
			rc = read_error(x, r, o);
		} else if (r == 0) { /* close_notify */
			if (x->chunked)
				rc = short_body(x, "connection closed");
			else if (x->left > 0)
				rc = short_body(x, "connection closed");
			done = 1;
		} else {
			rc = consume(x, &ch, buf, (size_t)r, &done);
		}
	}
	free(buf);
	return rc;
}
