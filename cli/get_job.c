/*
 * `kssl get`: one download: request, response head, redirects, resume
 * (-C with Range: 206 appends, 200 starts over, 416 means complete), the
 * output file, then the body (get_body.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "get.h"

#define HEAD_READ 4096 /* small reads: little of the body lands in the head buffer */

struct dl {
	struct job *j;
	const struct get_opts *o;
	struct url u;
	char path[URL_PATH_MAX]; /* output file, "" for stdout */
	off_t have;              /* -C: bytes already in the file */
	int fd;
	kssl_conn *tls;
	char head[RESP_HEAD_MAX + 1];
	size_t head_len;
	struct resp r;
};

__attribute__((format(printf, 3, 4)))
static int failf(struct dl *d, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->j->msg, sizeof(d->j->msg), fmt, ap);
	va_end(ap);
	return rc;
}

static void close_conn(struct dl *d)
{
	if (d->tls) {
		(void)!kssl_shutdown(d->tls); /* best effort close_notify */
		kssl_conn_free(d->tls);
		d->tls = NULL;
	}
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}

static int send_request(struct dl *d)
{
	char req[URL_PATH_MAX + 1024], range[64] = "", host[URL_HOST_MAX + 16];
	size_t off = 0;
	int n;

	n = d->u.ipv6 ? snprintf(host, sizeof(host), "[%s]", d->u.host)
		      : snprintf(host, sizeof(host), "%s", d->u.host);
	if (strcmp(d->u.port, "443"))
		snprintf(host + n, sizeof(host) - (size_t)n, ":%s", d->u.port);
	if (d->have > 0)
		snprintf(range, sizeof(range), "Range: bytes=%lld-\r\n",
			 (long long)d->have);
	n = snprintf(req, sizeof(req),
		     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: kssl/" KSSL_VERSION_STRING
		     "\r\nAccept: */*\r\nAccept-Encoding: identity\r\n"
		     "Connection: close\r\n%s\r\n", d->u.target, host, range);
	while (off < (size_t)n) {
		ssize_t w = kssl_write(d->tls, req + off, (size_t)n - off);

		if (w == KSSL_E_INTR)
			continue;
		if (w < 0)
			return failf(d, get_exit_for((int)w),
				     "sending the request: %s", kssl_last_error());
		off += (size_t)w;
	}
	return GET_OK;
}

static int read_head(struct dl *d)
{
	char err[256];

	d->head_len = 0;
	for (;;) {
		int pr = d->head_len ? resp_parse(d->head, d->head_len, &d->r,
						  err, sizeof(err)) : 1;
		ssize_t n;

		if (pr < 0)
			return failf(d, GET_E_HTTP, "%s", err);
		if (pr == 0 && d->r.status >= 100 && d->r.status < 200 &&
		    d->r.status != 101) {
			/* 1xx interim response: drop it, read the real one. */
			d->head_len -= d->r.head_bytes;
			memmove(d->head, d->head + d->r.head_bytes, d->head_len);
			continue;
		}
		if (pr == 0)
			return GET_OK;
		n = kssl_read(d->tls, d->head + d->head_len,
			      RESP_HEAD_MAX - d->head_len < HEAD_READ
			      ? RESP_HEAD_MAX - d->head_len : HEAD_READ);
		if (n == KSSL_E_INTR)
			continue;
		if (n == 0 || n == KSSL_E_EOF)
			return failf(d, GET_E_HTTP, "%s",
				     "the server closed the connection before a complete response head");
		if (n == KSSL_E_WANT_READ)
			return failf(d, GET_E_CONNECT, "%s", "no response: timed out");
		if (n < 0)
			return failf(d, get_exit_for((int)n),
				     "reading the response: %s", kssl_last_error());
		d->head_len += (size_t)n;
	}
}

/* Returns GET_OK to go on with the (new) d->u, or a final code. */
static int redirect(struct dl *d, int hops, char *next, size_t nextlen)
{
	char err[256];

	if (!d->r.location[0])
		return GET_E_HTTP;
	if (!d->o->follow) {
		snprintf(d->j->msg, sizeof(d->j->msg),
			 "HTTP %d redirect to %.900s (use -L to follow)",
			 d->r.status, d->r.location);
		return GET_E_REDIRECT;
	}
	if (hops >= d->o->max_redirs) {
		snprintf(d->j->msg, sizeof(d->j->msg),
			 "too many redirects (%d, see --max-redirs)", hops);
		return GET_E_REDIRECT;
	}
	if (url_resolve(&d->u, d->r.location, next, nextlen) < 0)
		return failf(d, GET_E_REDIRECT,
			     "redirect to %.900s refused: only https:// is followed",
			     d->r.location);
	if (url_parse(next, &d->u, err, sizeof(err)) < 0)
		return failf(d, GET_E_REDIRECT, "bad redirect target: %s", err);
	return GET_OK;
}

static int open_output(struct dl *d, struct xfer *x, int truncate)
{
	struct stat st;
	int fl;

	if (!d->path[0]) {
		x->out = STDOUT_FILENO;
		x->seekable = 0;
		fl = fcntl(x->out, F_GETFL);
		x->can_splice = fstat(x->out, &st) == 0 && fl >= 0 &&
				!(fl & O_APPEND) &&
				(S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode));
		return GET_OK;
	}
	x->out = open(d->path, O_WRONLY | O_CREAT | O_CLOEXEC |
		      (truncate ? O_TRUNC : 0), 0666);
	if (x->out < 0) {
		snprintf(d->j->msg, sizeof(d->j->msg), "%.900s: %s", d->path,
			 strerror(errno));
		return GET_E_LOCAL;
	}
	x->seekable = fstat(x->out, &st) == 0 && S_ISREG(st.st_mode);
	x->can_splice = x->seekable || S_ISFIFO(st.st_mode);
	return GET_OK;
}

/* Decides what the status means for the output; fills x. */
static int plan(struct dl *d, struct xfer *x, int *skip)
{
	struct resp *r = &d->r;
	int rc;

	*skip = 0;
	if (r->status == 416 && d->have > 0 && r->has_range &&
	    r->range_total == d->have) {
		*skip = 1; /* the file is complete already */
		atomic_store(&d->j->prog.total, d->have);
		atomic_store(&d->j->prog.done, d->have);
		return GET_OK;
	}
	if (r->status >= 400 || r->status < 200 || r->status >= 300) {
		snprintf(d->j->msg, sizeof(d->j->msg), "HTTP %d%s%s", r->status,
			 r->reason[0] ? " " : "", r->reason);
		return GET_E_HTTP;
	}
	if (r->status == 206) {
		if (d->have <= 0 || !r->has_range || r->range_start != d->have ||
		    (r->length >= 0 && r->range_end - r->range_start + 1 != r->length)) {
			snprintf(d->j->msg, sizeof(d->j->msg),
				 "HTTP 206 with a Content-Range that does not continue the file at byte %lld",
				 (long long)d->have);
			return GET_E_HTTP;
		}
		if ((rc = open_output(d, x, 0)) != GET_OK)
			return rc;
		x->off = d->have;
		atomic_store(&d->j->prog.done, d->have);
		atomic_store(&d->j->prog.total, r->range_total >= 0 ? r->range_total
				: r->length >= 0 ? d->have + r->length : -1);
	} else {
		d->have = 0; /* 200 to a Range request: the server starts over */
		if ((rc = open_output(d, x, 1)) != GET_OK)
			return rc;
		x->off = 0;
		atomic_store(&d->j->prog.total, r->length);
	}
	x->left = r->length;
	x->chunked = r->chunked;
	return GET_OK;
}

static void summary(struct dl *d, struct xfer *x, int skip)
{
	const char *why = NULL;
	int rx = kssl_conn_offload(d->tls, KSSL_DIR_RX, &why);
	int v = kssl_conn_version(d->tls);

	if (skip) {
		snprintf(d->j->info, sizeof(d->j->info),
			 "HTTP 416: %.900s is complete already (%lld bytes)",
			 d->path, (long long)d->have);
		return;
	}
	snprintf(d->j->info, sizeof(d->j->info),
		 "HTTP %d, %lld bytes -> %.700s; TLS 1.%d %s; rx: %s%s%s%s, %s (%lld bytes spliced, %lld copied)",
		 d->r.status, (long long)(x->spliced + x->copied),
		 d->path[0] ? d->path : "stdout", v == KSSL_TLS1_3 ? 3 : 2,
		 kssl_conn_cipher(d->tls) ? kssl_conn_cipher(d->tls) : "?",
		 rx == KSSL_OFFLOAD_KERNEL ? "kernel" : "user",
		 rx != KSSL_OFFLOAD_KERNEL && why ? " (" : "",
		 rx != KSSL_OFFLOAD_KERNEL && why ? why : "",
		 rx != KSSL_OFFLOAD_KERNEL && why ? ")" : "",
		 x->spliced ? "splice" : "read", (long long)x->spliced,
		 (long long)x->copied);
}

static int download(struct dl *d)
{
	char next[sizeof(d->r.location) + URL_HOST_MAX + 16];
	struct xfer x = { .out = -1, .prog = &d->j->prog };
	int rc, skip = 0;

	for (int hops = 0;; hops++) {
		char err[512] = "";

		rc = get_open(d->o, &d->u, &d->fd, &d->tls, err, sizeof(err));
		if (rc != GET_OK) {
			snprintf(d->j->msg, sizeof(d->j->msg), "%s", err);
			return rc;
		}
		if ((rc = send_request(d)) != GET_OK || (rc = read_head(d)) != GET_OK)
			return rc;
		if (d->r.status < 300 || d->r.status >= 400 || d->r.status == 304)
			break;
		if (!d->r.location[0])
			break; /* a 3xx without Location: reported as HTTP error */
		if ((rc = redirect(d, hops, next, sizeof(next))) != GET_OK)
			return rc;
		close_conn(d);
	}
	if ((rc = plan(d, &x, &skip)) != GET_OK)
		return rc;
	if (!skip) {
		x.tls = d->tls;
		x.sock = d->fd;
		rc = xfer_body(&x, d->head + d->r.head_bytes,
			       d->head_len - d->r.head_bytes, d->o);
		if (rc != GET_OK)
			snprintf(d->j->msg, sizeof(d->j->msg), "%s", x.err);
	}
	if (x.out >= 0 && x.out != STDOUT_FILENO && close(x.out) < 0 &&
	    rc == GET_OK)
		rc = failf(d, GET_E_LOCAL, "closing the output: %s", strerror(errno));
	summary(d, &x, skip);
	return rc;
}

void job_run(struct job *j, const struct get_opts *o)
{
	struct dl *d = calloc(1, sizeof(*d));
	char err[256];
	struct stat st;

	atomic_store(&j->prog.total, -1);
	if (!d) {
		j->rc = GET_E_LOCAL;
		snprintf(j->msg, sizeof(j->msg), "out of memory");
		return;
	}
	d->j = j;
	d->o = o;
	d->fd = -1;
	if (url_parse(j->url, &d->u, err, sizeof(err)) < 0) {
		j->rc = failf(d, GET_E_USAGE, "%s", err);
		goto out;
	}
	if (j->out && strcmp(j->out, "-"))
		snprintf(d->path, sizeof(d->path), "%s", j->out);
	else if (!j->out && j->remote_name &&
		 url_filename(&d->u, d->path, sizeof(d->path)) < 0) {
		j->rc = failf(d, GET_E_USAGE, "%s",
			      "-O: the URL has no usable file name (use -o FILE)");
		goto out;
	}
	if (o->resume && d->path[0] && stat(d->path, &st) == 0 &&
	    S_ISREG(st.st_mode))
		d->have = st.st_size;
	j->prog.name = j->url;
	j->rc = download(d);
out:
	close_conn(d);
	free(d);
}
