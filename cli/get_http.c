/*
 * `kssl get`: HTTP/1.x response heads and chunked bodies (RFC 9112).
 * Only what a download needs: status, Content-Length, Transfer-Encoding,
 * Content-Range and Location; everything else is skipped.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "get.h"

static int bad(char *err, size_t errlen, const char *msg)
{
	snprintf(err, errlen, "malformed response: %s", msg);
	return -1;
}

/* Strict decimal: digits only, no sign, no overflow. */
static int parse_u63(const char *s, size_t n, int64_t *out)
{
	int64_t v = 0;

	if (n == 0 || n > 18)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Content-Range: "bytes A-B/TOTAL", "bytes STAR/TOTAL" (on 416), "bytes A-B/STAR"; STAR is an asterisk. */
static int parse_content_range(const char *v, size_t n, struct resp *r)
{
	const char *slash, *dash, *end = v + n;

	if (n < 6 || strncasecmp(v, "bytes ", 6))
		return -1;
	v += 6;
	slash = memchr(v, '/', (size_t)(end - v));
	if (!slash)
		return -1;
	r->range_start = r->range_end = r->range_total = -1;
	if (!(slash - v == 1 && *v == '*')) {
		dash = memchr(v, '-', (size_t)(slash - v));
		if (!dash || parse_u63(v, (size_t)(dash - v), &r->range_start) ||
		    parse_u63(dash + 1, (size_t)(slash - dash - 1), &r->range_end) ||
		    r->range_end < r->range_start)
			return -1;
	}
	if (!(end - slash - 1 == 1 && slash[1] == '*') &&
	    parse_u63(slash + 1, (size_t)(end - slash - 1), &r->range_total))
		return -1;
	r->has_range = 1;
	return 0;
}

/* Last element of a comma list is "chunked" (case-insensitive)? */
static int ends_chunked(const char *v, size_t n)
{
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	return n >= 7 && !strncasecmp(v + n - 7, "chunked", 7) &&
	       (n == 7 || v[n - 8] == ',' || v[n - 8] == ' ' || v[n - 8] == '\t');
}

static int header(struct resp *r, const char *name, size_t nl, const char *v,
		  size_t vl, char *err, size_t errlen)
{
	int64_t len;

	if (nl == 14 && !strncasecmp(name, "Content-Length", nl)) {
		if (parse_u63(v, vl, &len))
			return bad(err, errlen, "bad Content-Length");
		if (r->length >= 0 && r->length != len)
			return bad(err, errlen, "conflicting Content-Length headers");
		r->length = len;
	} else if (nl == 17 && !strncasecmp(name, "Transfer-Encoding", nl)) {
		if (!ends_chunked(v, vl))
			return bad(err, errlen, "Transfer-Encoding other than chunked");
		r->chunked = 1;
	} else if (nl == 13 && !strncasecmp(name, "Content-Range", nl)) {
		if (parse_content_range(v, vl, r))
			return bad(err, errlen, "bad Content-Range");
	} else if (nl == 8 && !strncasecmp(name, "Location", nl)) {
		if (vl >= sizeof(r->location))
			return bad(err, errlen, "Location too long");
		memcpy(r->location, v, vl);
		r->location[vl] = 0;
	}
	return 0;
}

int resp_parse(const char *buf, size_t len, struct resp *r, char *err,
	       size_t errlen)
{
	const char *end = NULL, *p, *line_end;

	for (size_t i = 0; i + 3 < len; i++)
		if (!memcmp(buf + i, "\r\n\r\n", 4)) {
			end = buf + i + 4;
			break;
		}
	if (!end)
		return len >= RESP_HEAD_MAX ? bad(err, errlen, "head too long") : 1;
	memset(r, 0, sizeof(*r));
	r->length = -1;
	r->range_start = r->range_end = r->range_total = -1;
	r->head_bytes = (size_t)(end - buf);
	/* Status line: HTTP/1.x SP 3DIGIT [SP reason] */
	if (len < 12 || memcmp(buf, "HTTP/1.", 7) || !isdigit((unsigned char)buf[7]) ||
	    buf[8] != ' ' || !isdigit((unsigned char)buf[9]) ||
	    !isdigit((unsigned char)buf[10]) || !isdigit((unsigned char)buf[11]) ||
	    (buf[12] != ' ' && buf[12] != '\r'))
		return bad(err, errlen, "bad status line");
	r->minor = buf[7] - '0';
	r->status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
	if (r->status < 100)
		return bad(err, errlen, "bad status code");
	p = buf + 12;
	while (p[0] != '\r' || p[1] != '\n')
		p++; /* stops at the head's end at the latest */
	if (p > buf + 13) {
		size_t rl = (size_t)(p - buf - 13);

		if (rl >= sizeof(r->reason))
			rl = sizeof(r->reason) - 1;
		for (size_t i = 0; i < rl; i++)
			r->reason[i] = isprint((unsigned char)buf[13 + i])
				? buf[13 + i] : '?';
	}
	p += 2;
	while (p < end - 2) {
		const char *colon, *v, *ve;

		line_end = p;
		while (line_end < end && line_end[0] != '\r')
			line_end++;
		if (line_end[1] != '\n')
			return bad(err, errlen, "bare CR in head");
		colon = memchr(p, ':', (size_t)(line_end - p));
		if (!colon || colon == p || colon[-1] == ' ' || colon[-1] == '\t')
			return bad(err, errlen, "bad header line");
		v = colon + 1;
		ve = line_end;
		while (v < ve && (*v == ' ' || *v == '\t'))
			v++;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		if (header(r, p, (size_t)(colon - p), v, (size_t)(ve - v), err,
			   errlen))
			return -1;
		p = line_end + 2;
	}
	if (r->chunked)
		r->length = -1; /* RFC 9112 6.3: Transfer-Encoding wins */
	return 0;
}

enum { CH_SIZE, CH_EXT, CH_SIZE_LF, CH_DATA, CH_DATA_CR, CH_DATA_LF,
       CH_TRAILER, CH_TRAILER_LF, CH_DONE };

int chunked_feed(struct chunked *c, char *in, size_t len, size_t *out_len)
{
	size_t o = 0;

	for (size_t i = 0; i < len && c->state != CH_DONE;) {
		char ch = in[i];

		switch (c->state) {
		case CH_SIZE:
			if (isxdigit((unsigned char)ch)) {
				int d = isdigit((unsigned char)ch) ? ch - '0'
					: tolower((unsigned char)ch) - 'a' + 10;

				if (++c->digits > 15)
					return -1;
				c->left = c->left * 16 + (uint64_t)d;
			} else if (c->digits && (ch == ';' || ch == ' ' || ch == '\t')) {
				c->state = CH_EXT;
			} else if (c->digits && ch == '\r') {
				c->state = CH_SIZE_LF;
			} else {
				return -1;
			}
			i++;
			break;
		case CH_EXT: /* chunk extensions are ignored */
			if (ch == '\r')
				c->state = CH_SIZE_LF;
			else if (ch == '\n')
				return -1;
			i++;
			break;
		case CH_SIZE_LF:
			if (ch != '\n')
				return -1;
			c->digits = 0;
			c->state = c->left ? CH_DATA : CH_TRAILER;
			c->line = 0;
			i++;
			break;
		case CH_DATA: {
			size_t n = len - i;

			if (n > c->left)
				n = (size_t)c->left;
			memmove(in + o, in + i, n);
			o += n;
			i += n;
			c->left -= n;
			if (!c->left)
				c->state = CH_DATA_CR;
			break;
		}
		case CH_DATA_CR:
			if (ch != '\r')
				return -1;
			c->state = CH_DATA_LF;
			i++;
			break;
		case CH_DATA_LF:
			if (ch != '\n')
				return -1;
			c->state = CH_SIZE;
			i++;
			break;
		case CH_TRAILER: /* trailer lines until an empty one */
			if (ch == '\r') {
				c->state = CH_TRAILER_LF;
			} else if (ch == '\n' || ++c->line > 8192) {
				return -1;
			}
			i++;
			break;
		case CH_TRAILER_LF:
			if (ch != '\n')
				return -1;
			c->state = c->line == 0 ? CH_DONE : CH_TRAILER;
			c->line = 0;
			i++;
			break;
		}
	}
	*out_len = o;
	return c->state == CH_DONE;
}
