/*
 * Fuzz target: HTTP/1.1 request heads (cli/http.c http_parse), as `kssl
 * serve` receives them. Invariants: a known outcome, a parsed head lies
 * within the input, every field is NUL-terminated inside its buffer, and a
 * path that reaches the file opener starts with '/' and never climbs.
 */
#include "fuzz.h"

#include <string.h>

#include "cli/http.h"

static void check_path(const char *path)
{
	const char *seg;

	FUZZ_CHECK(path[0] == '/');
	for (seg = path; seg; seg = strchr(seg + 1, '/'))
		FUZZ_CHECK(strncmp(seg, "/../", 4) && strcmp(seg, "/.."));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_req req;
	int r = http_parse((const char *)data, size, &req);

	FUZZ_CHECK(r == 0 || r == 1 || (r >= 400 && r <= 599));
	if (r == 1)
		FUZZ_CHECK(size < HTTP_MAX_HEADER_BYTES);
	if (r != 0)
		return 0;
	FUZZ_CHECK(req.header_bytes >= 2 && req.header_bytes <= size);
	FUZZ_CHECK(req.header_bytes <= HTTP_MAX_HEADER_BYTES);
	/* The head ends at an empty line: CRLF CRLF, or bare LF line ends
	 * (accepted as RFC 9112 section 2.2 allows). */
	FUZZ_CHECK(data[req.header_bytes - 1] == '\n');
	FUZZ_CHECK(data[req.header_bytes - 2] == '\n' ||
		   (req.header_bytes >= 3 && data[req.header_bytes - 2] == '\r' &&
		    data[req.header_bytes - 3] == '\n'));
	FUZZ_CHECK(memchr(req.method, 0, sizeof(req.method)));
	FUZZ_CHECK(memchr(req.target, 0, sizeof(req.target)));
	FUZZ_CHECK(memchr(req.path, 0, sizeof(req.path)));
	FUZZ_CHECK(memchr(req.range, 0, sizeof(req.range)));
	FUZZ_CHECK(!strcmp(req.method, "GET") || !strcmp(req.method, "HEAD"));
	FUZZ_CHECK(req.head == !strcmp(req.method, "HEAD"));
	FUZZ_CHECK(req.minor >= 0 && req.minor <= 9);
	check_path(req.path);
	return 0;
}
