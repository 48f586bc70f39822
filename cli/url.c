/* `kssl get`: https URLs: parsing, redirect targets, -O file names. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "get.h"

static int fail(char *err, size_t errlen, const char *msg)
{
	snprintf(err, errlen, "%s", msg);
	return -1;
}

int url_parse(const char *s, struct url *u, char *err, size_t errlen)
{
	const char *p, *auth_end, *host_end, *port = NULL;
	size_t hl, tl;

	memset(u, 0, sizeof(*u));
	if (!strncasecmp(s, "http://", 7))
		return fail(err, errlen, "plain http:// is not supported (kssl get speaks https only)");
	if (strncasecmp(s, "https://", 8))
		return fail(err, errlen, "not an https:// URL");
	p = s + 8;
	auth_end = p + strcspn(p, "/?#");
	if (memchr(p, '@', (size_t)(auth_end - p)))
		return fail(err, errlen, "user names in URLs are not supported");
	if (*p == '[') {
		host_end = memchr(p, ']', (size_t)(auth_end - p));
		if (!host_end)
			return fail(err, errlen, "unterminated IPv6 literal");
		hl = (size_t)(host_end - p - 1);
		if (hl == 0 || hl >= sizeof(u->host))
			return fail(err, errlen, "bad IPv6 literal");
		memcpy(u->host, p + 1, hl);
		u->ipv6 = 1;
		host_end++;
		if (host_end < auth_end && *host_end != ':')
			return fail(err, errlen, "junk after IPv6 literal");
	} else {
		host_end = memchr(p, ':', (size_t)(auth_end - p));
		if (!host_end)
			host_end = auth_end;
		hl = (size_t)(host_end - p);
		if (hl == 0 || hl >= sizeof(u->host))
			return fail(err, errlen, "missing or too long host name");
		memcpy(u->host, p, hl);
		for (size_t i = 0; i < hl; i++)
			if (!isalnum((unsigned char)u->host[i]) &&
			    !strchr("-._", u->host[i]))
				return fail(err, errlen, "bad character in host name");
	}
	if (host_end < auth_end && *host_end == ':')
		port = host_end + 1;
	if (port && port < auth_end) {
		size_t pl = (size_t)(auth_end - port);
		long v;

		if (pl >= sizeof(u->port))
			return fail(err, errlen, "bad port");
		memcpy(u->port, port, pl);
		for (size_t i = 0; i < pl; i++)
			if (!isdigit((unsigned char)u->port[i]))
				return fail(err, errlen, "bad port");
		v = strtol(u->port, NULL, 10);
		if (v < 1 || v > 65535)
			return fail(err, errlen, "port out of range");
	} else {
		strcpy(u->port, "443");
	}
	p = auth_end;
	tl = strcspn(p, "#");
	if (tl == 0 || *p != '/') {
		/* "https://h" or "https://h?q": the path is "/". */
		if (tl + 2 > sizeof(u->target))
			return fail(err, errlen, "URL too long");
		u->target[0] = '/';
		memcpy(u->target + 1, p, tl);
		u->target[tl + 1] = 0;
	} else {
		if (tl + 1 > sizeof(u->target))
			return fail(err, errlen, "URL too long");
		memcpy(u->target, p, tl);
		u->target[tl] = 0;
	}
	for (const char *c = u->target; *c; c++)
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
			return fail(err, errlen, "spaces or control characters in URL path (percent-encode them)");
	return 0;
}

int url_resolve(const struct url *base, const char *loc, char *out,
		size_t outlen)
{
	char origin[URL_HOST_MAX + 16];
	int n;
	size_t scheme = 0;

	while (isalnum((unsigned char)loc[scheme]) ||
	       (loc[scheme] && strchr("+-.", loc[scheme])))
		scheme++;
	if (scheme > 0 && isalpha((unsigned char)loc[0]) && loc[scheme] == ':') {
		/* Absolute: only https (http:// would be a downgrade). */
		if (strncasecmp(loc, "https://", 8))
			return -1;
		n = snprintf(out, outlen, "%s", loc);
	} else {
		snprintf(origin, sizeof(origin), base->ipv6 ? "https://[%s]:%s" :
			 "https://%s:%s", base->host, base->port);
		if (loc[0] == '/' && loc[1] == '/')
			n = snprintf(out, outlen, "https:%s", loc);
		else if (loc[0] == '/')
			n = snprintf(out, outlen, "%s%s", origin, loc);
		else {
			/* Relative path: replace the last segment of the path. */
			size_t dir = strcspn(base->target, "?");

			while (dir > 0 && base->target[dir - 1] != '/')
				dir--;
			n = snprintf(out, outlen, "%s%.*s%s", origin, (int)dir,
				     base->target, loc);
		}
	}
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int url_filename(const struct url *u, char *out, size_t outlen)
{
	size_t end = strcspn(u->target, "?"), start = end, o = 0;

	while (start > 0 && u->target[start - 1] != '/')
		start--;
	for (size_t i = start; i < end; i++) {
		int c = (unsigned char)u->target[i];

		if (c == '%' && i + 2 < end && hexval(u->target[i + 1]) >= 0 &&
		    hexval(u->target[i + 2]) >= 0) {
			c = hexval(u->target[i + 1]) * 16 + hexval(u->target[i + 2]);
			i += 2;
		}
		if (c == 0 || c == '/' || o + 1 >= outlen)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = 0;
	if (o == 0 || !strcmp(out, ".") || !strcmp(out, ".."))
		return -1;
	return 0;
}
