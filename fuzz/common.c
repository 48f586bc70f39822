/* Helpers shared by the fuzz targets (see fuzz.h). */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fuzz_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: invariant failed: %s\n", file, line, what);
	abort();
}

char *fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	if (size)
		memcpy(s, data, size);
	s[size] = 0;
	return s;
}

size_t fuzz_split(const uint8_t *data, size_t size, const uint8_t **ptr,
		  size_t *len, size_t max)
{
	size_t n = 0, start = 0;

	for (size_t i = 0; n + 1 < max && i + 4 <= size; i++) {
		if (memcmp(data + i, "@@@@", 4))
			continue;
		ptr[n] = data + start;
		len[n++] = i - start;
		start = i + 4;
		i += 3;
	}
	ptr[n] = data + start;
	len[n++] = size - start;
	return n;
}
