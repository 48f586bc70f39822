/*
 * Fuzz target: Range headers and HTTP dates (cli/http.c http_range,
 * http_parse_date, http_date). Input: 8 bytes of file size (little endian,
 * folded to 0..2^40), then the header value; the same value is also parsed
 * as an If-Modified-Since date. Invariants: a 206 range is non-empty and
 * lies inside the file; a parsed date prints and parses back to itself.
 */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "cli/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t raw = 0;
	off_t fsize, start = -1;
	size_t count = 0;
	char *spec, out[64];
	time_t t;
	int r;

	if (size < 8)
		return 0;
	for (int i = 7; i >= 0; i--)
		raw = raw << 8 | data[i];
	fsize = (off_t)(raw % ((uint64_t)1 << 40));
	spec = fuzz_cstr(data + 8, size - 8);

	r = http_range(spec, fsize, &start, &count);
	FUZZ_CHECK(r == 200 || r == 206 || r == 416);
	if (r == 206) {
		FUZZ_CHECK(start >= 0 && start < fsize);
		FUZZ_CHECK(count >= 1 && (uint64_t)count <= (uint64_t)(fsize - start));
	}
	if (r == 416)
		FUZZ_CHECK(!strncmp(spec, "bytes=", 6));

	t = http_parse_date(spec);
	if (t > 0) {
		http_date(t, out, sizeof(out));
		FUZZ_CHECK(http_parse_date(out) == t);
	}
	free(spec);
	return 0;
}
