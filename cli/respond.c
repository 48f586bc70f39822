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

static void head(struct hconn *hc, int status, const char *type,
		 size_t length, const char *extra)
{
	char date[64];

	hc->status = status;
	http_date(time(NULL), date, sizeof(date));
	http_buf_printf(&hc->out,
		"HTTP/1.1 %d %s\r\nServer: kssl/" KSSL_VERSION_STRING
		"\r\nDate: %s\r\n", status, http_reason(status), date);
	if (type)
		http_buf_printf(&hc->out, "Content-Type: %s\r\n", type);
	if (status != 304)
		http_buf_printf(&hc->out, "Content-Length: %zu\r\n", length);
	if (extra)
		http_buf_add(&hc->out, extra, strlen(extra));
	http_buf_printf(&hc->out, "Connection: %s\r\n\r\n",
			hc->keepalive ? "keep-alive" : "close");
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

	http_buf_printf(&loc, "Location: ");
	http_buf_url(&loc, hc->req->path);
	http_buf_printf(&loc, "/\r\n");
	hc->out.len = 0;
	head(hc, 301, NULL, 0, loc.p);
	free(loc.p);
}

static void listing(struct hconn *hc, int dir_fd)
{
	struct http_buf body = { 0 };

	if (fsroot_listing(dir_fd, hc->req->path, &body) < 0) {
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
	char lm[64], extra[256];
	off_t start = 0;
	size_t count = (size_t)st->st_size;
	int status = 200;

	http_date(st->st_mtime, lm, sizeof(lm));
	if (hc->req->has_range)
		status = http_range(hc->req->range, st->st_size, &start, &count);
	if (status == 416) {
		snprintf(extra, sizeof(extra),
			 "Content-Range: bytes */%lld\r\n", (long long)st->st_size);
		head(hc, 416, "text/plain; charset=utf-8", 0, extra);
		close(fd);
		return;
	}
	if (status == 200 && hc->req->if_modified_since &&
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
	else
		snprintf(extra, sizeof(extra),
			 "Last-Modified: %s\r\nAccept-Ranges: bytes\r\n", lm);
	head(hc, status, http_mime(name), count, extra);
	if (hc->req->head || count == 0) {
		close(fd);
		return;
	}
	hc->file_fd = fd;
	hc->body_off = start;
	hc->body_len = count;
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
	fd = fsroot_open(srv->root_fd, srv->root_real, path);
	if (fd < 0)
		return respond_error(hc, -fd);
	if (fstat(fd, &st) < 0) {
		close(fd);
		return respond_error(hc, 500);
	}
	if (S_ISDIR(st.st_mode)) {
		char index[4200];
		int ifd;
		struct stat ist;

		if (plen == 0 || path[plen - 1] != '/') {
			close(fd);
			return redirect_dir(hc);
		}
		snprintf(index, sizeof(index), "%sindex.html", path);
		ifd = fsroot_open(srv->root_fd, srv->root_real, index);
		if (ifd >= 0 && fstat(ifd, &ist) == 0 && S_ISREG(ist.st_mode)) {
			close(fd);
			return file(hc, ifd, &ist, index);
		}
		if (ifd >= 0)
			close(ifd);
		listing(hc, fd);
		close(fd);
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return respond_error(hc, 403);
	}
	file(hc, fd, &st, path);
}
