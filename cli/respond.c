/* Building responses: files, ranges, 304, listings, errors. */
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsroot.h"
#include "serve.h"

/* Appends s (NUL-terminated). */
static void add(struct http_buf *b, const char *s)
{
	http_buf_add(b, s, strlen(s));
}

static void add_num(struct http_buf *b, unsigned long long v)
{
	char d[24];
	size_t i = sizeof(d);

	do
		d[--i] = (char)('0' + v % 10);
	while ((v /= 10) && i);
	http_buf_add(b, d + i, sizeof(d) - i);
}

/*
 * The Date header's value, formatted once per second (strftime per
 * response showed in profiles; workers are single-threaded).
 */
static const char *date_now(void)
{
	static time_t at = (time_t)-1;
	static char s[64];
	time_t t = time(NULL);

	if (t != at) {
		http_date(t, s, sizeof(s));
		at = t;
	}
	return s;
}

/* A file's Last-Modified value; the last one is kept (the same file is
 * usually asked for again). */
static const char *date_of(time_t t)
{
	static time_t at = (time_t)-1;
	static char s[64];

	if (t != at) {
		http_date(t, s, sizeof(s));
		at = t;
	}
	return s;
}

/* Status line and headers; built by appending (no printf per response). */
static void head(struct hconn *hc, int status, const char *type,
		 size_t length, const char *extra)
{
	struct http_buf *b = &hc->out;

	hc->status = status;
	add(b, "HTTP/1.1 ");
	add_num(b, (unsigned)status);
	add(b, " ");
	add(b, http_reason(status));
	add(b, "\r\nServer: kssl/" KSSL_VERSION_STRING "\r\nDate: ");
	add(b, date_now());
	add(b, "\r\n");
	http_buf_add(b, hc->srv->o->headers, hc->srv->o->headers_len);
	if (type) {
		add(b, "Content-Type: ");
		add(b, type);
		add(b, "\r\n");
	}
	if (status != 304) {
		add(b, "Content-Length: ");
		add_num(b, length);
		add(b, "\r\n");
	}
	if (extra)
		add(b, extra);
	add(b, hc->keepalive ? "Connection: keep-alive\r\n\r\n"
			     : "Connection: close\r\n\r\n");
}

void respond_error(struct hconn *hc, int status)
{
	char body[96];
	int n = snprintf(body, sizeof(body), "%d %s\n", status,
			 http_reason(status));
	const char *extra = status == 405 ? "Allow: GET, HEAD\r\n" : NULL;

	/* After a malformed request the stream position is unknown. */
	if (status >= 400 && status != 404 && status != 403)
		hc->keepalive = 0;
	hc->out.len = 0;
	hc->file_fd = -1;
	hc->body_len = 0;
	head(hc, status, "text/plain; charset=utf-8", (size_t)n, extra);
	if (!hc->req->head)
		http_buf_add(&hc->out, body, (size_t)n);
}

static void redirect_dir(struct hconn *hc)
{
	struct http_buf loc = { 0 };

	const char *path = hc->req->path;

	/* One leading slash: "//host/" would be a protocol-relative URL,
	 * a redirect to another site (an open redirect). */
	while (path[0] == '/' && path[1] == '/')
		path++;
	http_buf_printf(&loc, "Location: ");
	http_buf_url(&loc, path);
	http_buf_printf(&loc, "/\r\n");
	hc->out.len = 0;
	head(hc, 301, NULL, 0, loc.p);
	free(loc.p);
}

static void listing(struct hconn *hc, int dir_fd)
{
	struct http_buf body = { 0 };

	if (fsroot_listing(dir_fd, hc->req->path, hc->srv->o->dotfiles,
			   &body) < 0) {
		free(body.p);
		return respond_error(hc, 500);
	}
	head(hc, 200, "text/html; charset=utf-8", body.len, NULL);
	if (!hc->req->head)
		http_buf_add(&hc->out, body.p, body.len);
	free(body.p);
}

static void file(struct hconn *hc, int fd, const struct stat *st,
		 const char *name)
{
	char extra[256];
	const char *lm = date_of(st->st_mtime);
	off_t start = 0;
	size_t count = (size_t)st->st_size;
	int status = 200;

	if (hc->req->has_range)
		status = http_range(hc->req->range, st->st_size, &start, &count);
	if (status == 416) {
		snprintf(extra, sizeof(extra),
			 "Content-Range: bytes */%lld\r\n", (long long)st->st_size);
		head(hc, 416, "text/plain; charset=utf-8", 0, extra);
		close(fd);
		return;
	}
	/* A date later than now is invalid (RFC 9110 §13.1.3): ignored. */
	if (status == 200 && hc->req->if_modified_since &&
	    hc->req->if_modified_since <= time(NULL) &&
	    st->st_mtime <= hc->req->if_modified_since) {
		snprintf(extra, sizeof(extra), "Last-Modified: %s\r\n", lm);
		head(hc, 304, NULL, 0, extra);
		close(fd);
		return;
	}
	if (status == 206)
		snprintf(extra, sizeof(extra),
			 "Last-Modified: %s\r\nAccept-Ranges: bytes\r\n"
			 "Content-Range: bytes %lld-%lld/%lld\r\n", lm,
			 (long long)start, (long long)(start + (off_t)count - 1),
			 (long long)st->st_size);
	else /* the common case: no printf */
		strcat(strcat(strcpy(extra, "Last-Modified: "), lm),
		       "\r\nAccept-Ranges: bytes\r\n");
	head(hc, status, http_mime(name), count, extra);
	if (hc->req->head || count == 0) {
		close(fd);
		return;
	}
	hc->file_fd = fd;
	hc->body_off = start;
	hc->body_len = count;
}

/* A segment naming a dot-file or dot-directory (".git", ".env", ...). */
static int has_dot_segment(const char *path)
{
	for (const char *p = path; (p = strchr(p, '/')); p++)
		if (p[1] == '.')
			return 1;
	return path[0] == '.';
}

void respond(struct hconn *hc)
{
	struct server *srv = hc->srv;
	const char *path = hc->req->path;
	size_t plen = strlen(path);
	struct stat st;
	int fd;

	hc->out.len = 0;
	hc->file_fd = -1;
	hc->body_len = 0;
	if (!srv->o->dotfiles && has_dot_segment(path))
		return respond_error(hc, 404);
	fd = fsroot_open(srv->root_fd, path, &st);
	if (fd < 0)
		return respond_error(hc, -fd);
	if (S_ISDIR(st.st_mode)) {
		char index[4200];
		int ifd;
		struct stat ist;

		if (plen == 0 || path[plen - 1] != '/') {
			close(fd);
			return redirect_dir(hc);
		}
		snprintf(index, sizeof(index), "%sindex.html", path);
		ifd = fsroot_open(srv->root_fd, index, &ist);
		if (ifd >= 0 && S_ISREG(ist.st_mode)) {
			close(fd);
			return file(hc, ifd, &ist, index);
		}
		if (ifd >= 0)
			close(ifd);
		listing(hc, fd);
		close(fd);
		return;
	}
	file(hc, fd, &st, path);
}
