/* HTTP/1.1 request parsing and response pieces for `kssl serve`. */
#ifndef KSSL_CLI_HTTP_H
#define KSSL_CLI_HTTP_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#define HTTP_MAX_HEADER_BYTES 16384 /* request line + headers */
#define HTTP_MAX_HEADERS 100

struct http_req {
	char method[8];
	char target[4096];   /* as sent (for the log) */
	char path[4096];     /* percent-decoded path, no query */
	int minor;           /* HTTP/1.<minor> */
	int keepalive;
	int head;
	int has_range;
	char range[128];
	time_t if_modified_since; /* 0 if absent or unparsable */
	int hosts;           /* Host header lines seen */
	char referer[256];   /* for the combined log format (truncated) */
	char agent[256];     /* User-Agent, idem */
	size_t header_bytes; /* length of the request head incl. CRLFCRLF */
};

/*
 * http_parse parses the request head in buf[0..len). Lines end in CRLF or
 * a bare LF. Returns 0 when a full head was parsed into *req, 1 when more
 * bytes are needed, or an HTTP status for a bad request (400: also a NUL or
 * bare CR in the head, HTTP/1.1 without exactly one Host; 405, 431, 501,
 * 505).
 */
int http_parse(const char *buf, size_t len, struct http_req *req);

/* http_req_reset empties *req as a parse starts: the numbers zero, every
 * string "" (cheaper than zeroing its ~9 KiB). */
void http_req_reset(struct http_req *req);

/*
 * http_range resolves a "bytes=..." header against size. Returns 206 with
 * [*start, *start + *count) set, 416 when unsatisfiable, or 200 to ignore
 * it (syntax we do not serve, e.g. several ranges).
 */
int http_range(const char *spec, off_t size, off_t *start, size_t *count);

/*
 * RFC 9110 IMF-fixdate of t into out (at least 30 bytes); a time outside
 * 1970..9999 prints as the nearest end of that range.
 */
void http_date(time_t t, char *out, size_t len);
/*
 * Parse an HTTP-date in any of RFC 9110's three forms (IMF-fixdate, RFC 850,
 * asctime). Returns 0 for anything else, including impossible dates
 * ("31 Feb") and times outside 1970..9999, which http_date cannot print.
 */
time_t http_parse_date(const char *s);

/* Content-Type for a file name by extension. */
const char *http_mime(const char *name);

/* Reason phrase for a status code. */
const char *http_reason(int status);

/* Append src HTML-escaped (& < > " ') to a growing buffer. */
struct http_buf {
	char *p;
	size_t len, cap;
};
/* Room for n more bytes and a NUL after len; 0 or -1 (out of memory). */
int http_buf_reserve(struct http_buf *b, size_t n);
int http_buf_add(struct http_buf *b, const char *s, size_t n);
int http_buf_printf(struct http_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int http_buf_html(struct http_buf *b, const char *s);
int http_buf_url(struct http_buf *b, const char *s);

#endif
