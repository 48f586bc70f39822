/*
 * `kssl serve --header NAME:VALUE` and `--hsts[=MAX_AGE]`: extra response
 * header lines, validated once at start and kept as one CRLF-terminated
 * block that every response head carries (respond.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "serve.h"

/* Headers the server writes itself: a second copy would contradict the
 * framing (Content-Length, Connection...) or the response. */
static const char *const own[] = {
	"Server", "Date", "Content-Type", "Content-Length", "Content-Range",
	"Connection", "Transfer-Encoding", "Keep-Alive", "Upgrade", "Trailer",
	"Last-Modified", "Location", "Allow", "Accept-Ranges",
};

/* RFC 9110 §5.6.2 tchar. */
static int is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Whether the block already has a header line named name (len bytes).
 * --header may repeat a name (Link, say): HTTP allows lists. */
static int has_header(const struct serve_opts *o, const char *name,
		      size_t len)
{
	for (const char *l = o->headers; l < o->headers + o->headers_len;
	     l = strstr(l, "\r\n") + 2)
		if (!strncasecmp(l, name, len) && l[len] == ':')
			return 1;
	return 0;
}

static int append(struct serve_opts *o, const char *name, size_t nlen,
		  const char *value)
{
	int n = snprintf(o->headers + o->headers_len,
		     sizeof(o->headers) - o->headers_len, "%.*s: %s\r\n",
		     (int)nlen, name, value);
	if (n < 0 || (size_t)n >= sizeof(o->headers) - o->headers_len) {
		o->headers[o->headers_len] = '\0';
		fprintf(stderr, "kssl serve: --header: at most %zu bytes of "
			"extra headers in all\n", sizeof(o->headers) - 1);
		return -1;
	}
	o->headers_len += (size_t)n;
	return 0;
}

int headers_add(struct serve_opts *o, const char *arg)
{
	const char *colon = strchr(arg, ':'), *v;
	size_t nlen;

	if (!colon || colon == arg) {
		fprintf(stderr, "kssl serve: --header %s: expected NAME:VALUE\n",
			arg);
		return -1;
	}
	nlen = (size_t)(colon - arg);
	for (size_t i = 0; i < nlen; i++)
		if (!is_tchar((unsigned char)arg[i])) {
			fprintf(stderr, "kssl serve: --header: the name must be "
				"a token (letters, digits, !#$%%&'*+-.^_`|~)\n");
			return -1;
		}
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		if (strlen(own[i]) == nlen && !strncasecmp(arg, own[i], nlen)) {
			fprintf(stderr, "kssl serve: --header: %s is set by the "
				"server itself\n", own[i]);
			return -1;
		}
	v = colon + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f) {
			fprintf(stderr, "kssl serve: --header %.*s: control "
				"characters (CR, LF, ...) are not allowed in "
				"a value\n", (int)nlen, arg);
			return -1;
		}
	return append(o, arg, nlen, v);
}

int headers_hsts(struct serve_opts *o, const char *max_age, int subdomains)
{
	static const char name[] = "Strict-Transport-Security";
	char value[64], *end;
	unsigned long age = 31536000; /* one year */

	if (max_age) {
		age = strtoul(max_age, &end, 10);
		if (!*max_age || *end || *max_age == '-' || age > 0x7fffffffUL) {
			fprintf(stderr, "kssl serve: --hsts=%s: expected a "
				"number of seconds\n", max_age);
			return -1;
		}
	}
	if (has_header(o, name, sizeof(name) - 1)) {
		fprintf(stderr, "kssl serve: --hsts and --header %s: give "
			"one of them\n", name);
		return -1;
	}
	snprintf(value, sizeof(value), "max-age=%lu%s", age,
		 subdomains ? "; includeSubDomains" : "");
	return append(o, name, sizeof(name) - 1, value);
}
