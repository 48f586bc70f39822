/* Request heads, ranges, dates, MIME types for `kssl serve`. */
#include "http.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/*
 * Decode the target into a path relative to the root. Rejected (400):
 * not origin-form, %00 or bad escapes, and any ".." segment: a request that
 * climbs is an attack, not a typo, and the file opener refuses it again.
 */
static int decode_path(const char *target, char *out, size_t outlen)
{
	size_t o = 0;
	const char *p = target, *seg;

	if (*p != '/')
		return 400;
	for (; *p && *p != '?' && *p != '#'; p++) {
		int c = (unsigned char)*p;

		if (c == '%') {
			int h = hexval(p[1]), l = h < 0 ? -1 : hexval(p[2]);

			if (h < 0 || l < 0)
				return 400;
			c = h * 16 + l;
			p += 2;
		}
		if (c == 0 || c == '\\' || o + 1 >= outlen)
			return 400;
		out[o++] = (char)c;
	}
	out[o] = 0;
	for (seg = out; seg; seg = strchr(seg, '/')) {
		seg++;
		if (!strncmp(seg, "..", 2) && (seg[2] == '/' || seg[2] == 0))
			return 400;
	}
	return 0;
}

static int header_is(const char *line, size_t nlen, const char *name)
{
	return strlen(name) == nlen && !strncasecmp(line, name, nlen);
}

static void copy_value(char *dst, size_t dlen, const char *v, size_t vlen)
{
	while (vlen && (*v == ' ' || *v == '\t'))
		v++, vlen--;
	while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	if (vlen >= dlen)
		vlen = dlen - 1;
	memcpy(dst, v, vlen);
	dst[vlen] = 0;
}

static int parse_request_line(const char *line, size_t len,
			      struct http_req *req)
{
	const char *sp1 = memchr(line, ' ', len), *sp2;
	size_t mlen, tlen;

	if (!sp1)
		return 400;
	sp2 = memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - line));
	if (!sp2)
		return 400;
	mlen = (size_t)(sp1 - line);
	tlen = (size_t)(sp2 - sp1 - 1);
	if (!tlen || tlen >= sizeof(req->target))
		return tlen ? 414 : 400;
	if (len - (size_t)(sp2 + 1 - line) != 8 ||
	    strncmp(sp2 + 1, "HTTP/1.", 7) || !isdigit((unsigned char)sp2[8]))
		return strncmp(sp2 + 1, "HTTP/", 5) ? 400 : 505;
	req->minor = sp2[8] - '0';
	if (mlen >= sizeof(req->method))
		return 501;
	memcpy(req->method, line, mlen);
	req->method[mlen] = 0;
	memcpy(req->target, sp1 + 1, tlen);
	req->target[tlen] = 0;
	if (strcmp(req->method, "GET") && strcmp(req->method, "HEAD"))
		return 405;
	req->head = !strcmp(req->method, "HEAD");
	return decode_path(req->target, req->path, sizeof(req->path));
}

static int parse_header(const char *line, size_t len, struct http_req *req)
{
	const char *colon = memchr(line, ':', len);
	size_t nlen, vlen;
	const char *v;
	char val[256];

	if (!colon || colon == line || line[0] == ' ' || line[0] == '\t')
		return 400; /* no obsolete line folding */
	nlen = (size_t)(colon - line);
	if (memchr(line, ' ', nlen) || memchr(line, '\t', nlen))
		return 400;
	v = colon + 1;
	vlen = len - nlen - 1;
	copy_value(val, sizeof(val), v, vlen);
	if (header_is(line, nlen, "Host")) {
		req->hosts++;
	} else if (header_is(line, nlen, "Connection")) {
		if (strcasestr(val, "close"))
			req->keepalive = 0;
		else if (strcasestr(val, "keep-alive"))
			req->keepalive = 1;
	} else if (header_is(line, nlen, "Range")) {
		req->has_range = 1;
		copy_value(req->range, sizeof(req->range), v, vlen);
	} else if (header_is(line, nlen, "Referer")) {
		copy_value(req->referer, sizeof(req->referer), v, vlen);
	} else if (header_is(line, nlen, "User-Agent")) {
		copy_value(req->agent, sizeof(req->agent), v, vlen);
	} else if (header_is(line, nlen, "If-Modified-Since")) {
		req->if_modified_since = http_parse_date(val);
	} else if (header_is(line, nlen, "Transfer-Encoding")) {
		return 501; /* no request bodies here */
	} else if (header_is(line, nlen, "Content-Length")) {
		if (strcmp(val, "0"))
			return 400;
	}
	return 0;
}

/*
 * The end of the head: the first empty line. Lines end in CRLF or, as RFC
 * 9112 §2.2 lets a recipient accept, a bare LF. Returns the length of the
 * head including that empty line, or 0 if it is not complete yet.
 */
static size_t head_length(const char *buf, size_t len)
{
	const char *p = buf, *nl;

	while ((nl = memchr(p, '\n', len - (size_t)(p - buf)))) {
		if (nl == p || (nl == p + 1 && *p == '\r'))
			return (size_t)(nl + 1 - buf);
		p = nl + 1;
	}
	return 0;
}

/* The next line of the head at *p (without its CR LF or LF); advances *p.
 * A CR anywhere else in a line (bare CR) or a NUL is refused (-1). */
static long next_line(const char **p, const char **line)
{
	const char *nl = strchr(*p, '\n');
	size_t n = (size_t)(nl - *p);

	*line = *p;
	*p = nl + 1;
	if (n && (*line)[n - 1] == '\r')
		n--;
	if (memchr(*line, '\r', n))
		return -1;
	return (long)n;
}

void http_req_reset(struct http_req *req)
{
	req->method[0] = req->target[0] = req->path[0] = 0;
	req->range[0] = req->referer[0] = req->agent[0] = 0;
	req->minor = req->keepalive = req->head = req->has_range = 0;
	req->hosts = 0;
	req->if_modified_since = 0;
	req->header_bytes = 0;
}

int http_parse(const char *buf, size_t len, struct http_req *req)
{
	char head[HTTP_MAX_HEADER_BYTES + 1];
	const char *p = head, *line;
	size_t hlen = head_length(buf, len);
	int nheaders = 0, r;
	long n;

	if (!hlen)
		return len >= HTTP_MAX_HEADER_BYTES ? 431 : 1;
	if (hlen > HTTP_MAX_HEADER_BYTES)
		return 431;
	if (memchr(buf, 0, hlen))
		return 400; /* NUL anywhere in the head */
	memcpy(head, buf, hlen);
	head[hlen] = 0;
	http_req_reset(req);
	req->header_bytes = hlen;
	n = next_line(&p, &line);
	if (n < 0)
		return 400;
	r = parse_request_line(line, (size_t)n, req);
	if (r)
		return r;
	req->keepalive = req->minor >= 1;
	while ((n = next_line(&p, &line)) != 0) {
		if (n < 0)
			return 400;
		if (++nheaders > HTTP_MAX_HEADERS)
			return 431;
		r = parse_header(line, (size_t)n, req);
		if (r)
			return r;
	}
	/* RFC 9112 §3.2: exactly one Host in HTTP/1.1, at most one before. */
	if (req->hosts > 1 || (req->minor >= 1 && req->hosts == 0))
		return 400;
	return 0;
}

static int parse_num(const char *s, const char *e, off_t *out)
{
	off_t v = 0;

	if (s == e)
		return -1;
	for (; s < e; s++) {
		if (!isdigit((unsigned char)*s) || v > (off_t)1 << 52)
			return -1;
		v = v * 10 + (*s - '0');
	}
	*out = v;
	return 0;
}

int http_range(const char *spec, off_t size, off_t *start, size_t *count)
{
	const char *dash, *end;
	off_t a, b;

	if (strncmp(spec, "bytes=", 6) || strchr(spec, ','))
		return 200;
	spec += 6;
	end = spec + strlen(spec);
	dash = strchr(spec, '-');
	if (!dash)
		return 200;
	if (dash == spec) { /* suffix: the last N bytes */
		if (parse_num(dash + 1, end, &b) < 0)
			return 200;
		if (b == 0 || size == 0)
			return 416;
		a = b > size ? 0 : size - b;
		b = size - 1;
	} else {
		if (parse_num(spec, dash, &a) < 0)
			return 200;
		if (dash + 1 == end)
			b = size - 1;
		else if (parse_num(dash + 1, end, &b) < 0 || b < a)
			return 200;
		if (a >= size)
			return 416;
		if (b >= size)
			b = size - 1;
	}
	*start = a;
	*count = (size_t)(b - a + 1);
	return 206;
}

const char *http_mime(const char *name)
{
	static const char *const map[][2] = {
		{ "html", "text/html; charset=utf-8" },
		{ "htm", "text/html; charset=utf-8" },
		{ "txt", "text/plain; charset=utf-8" },
		{ "md", "text/markdown; charset=utf-8" },
		{ "css", "text/css" },
		{ "js", "text/javascript" },
		{ "mjs", "text/javascript" },
		{ "json", "application/json" },
		{ "xml", "application/xml" },
		{ "svg", "image/svg+xml" },
		{ "png", "image/png" },
		{ "jpg", "image/jpeg" },
		{ "jpeg", "image/jpeg" },
		{ "gif", "image/gif" },
		{ "webp", "image/webp" },
		{ "ico", "image/x-icon" },
		{ "pdf", "application/pdf" },
		{ "wasm", "application/wasm" },
		{ "mp4", "video/mp4" },
		{ "webm", "video/webm" },
		{ "mp3", "audio/mpeg" },
		{ "woff2", "font/woff2" },
		{ "gz", "application/gzip" },
		{ "zip", "application/zip" },
		{ "tar", "application/x-tar" },
	};
	const char *dot = strrchr(name, '.');

	if (dot && !strchr(dot, '/'))
		for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
			if (!strcasecmp(dot + 1, map[i][0]))
				return map[i][1];
	return "application/octet-stream";
}

const char *http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 414: return "URI Too Long";
	case 416: return "Range Not Satisfiable";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

int http_buf_reserve(struct http_buf *b, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p)
			return -1;
		b->p = p;
		b->cap = cap;
	}
	return 0;
}

int http_buf_add(struct http_buf *b, const char *s, size_t n)
{
	if (http_buf_reserve(b, n) < 0)
		return -1;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
	return 0;
}

int http_buf_printf(struct http_buf *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	return http_buf_add(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n
							 : sizeof(tmp) - 1);
}

int http_buf_html(struct http_buf *b, const char *s)
{
	for (; *s; s++) {
		const char *e = NULL;

		switch (*s) {
		case '&': e = "&amp;"; break;
		case '<': e = "&lt;"; break;
		case '>': e = "&gt;"; break;
		case '"': e = "&quot;"; break;
		case '\'': e = "&#39;"; break;
		}
		if (http_buf_add(b, e ? e : s, e ? strlen(e) : 1) < 0)
			return -1;
	}
	return 0;
}

int http_buf_url(struct http_buf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (isalnum(c) || strchr("-._~/", c)) {
			if (http_buf_add(b, (const char *)&c, 1) < 0)
				return -1;
		} else if (http_buf_printf(b, "%%%02X", c) < 0) {
			return -1;
		}
	}
	return 0;
}
