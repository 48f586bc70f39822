/*
 * Shared pieces of the kssl fuzz targets (fuzz/). Every target defines
 * LLVMFuzzerTestOneInput; built with clang -fsanitize=fuzzer it is a
 * libFuzzer binary, built with runner.c it replays a corpus (ctest).
 */
#ifndef KSSL_FUZZ_H
#define KSSL_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* The libFuzzer entry point each target defines. Always returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * fuzz_cstr returns a malloc'd NUL-terminated copy of data[0..size) (an
 * embedded NUL simply ends the string early). Aborts on out of memory.
 */
char *fuzz_cstr(const uint8_t *data, size_t size);

/*
 * fuzz_split cuts data at each occurrence of the 4-byte separator "@@@@"
 * into at most max parts (the last part keeps any further separators).
 * Fills ptr[]/len[] and returns the number of parts (at least 1).
 */
size_t fuzz_split(const uint8_t *data, size_t size, const uint8_t **ptr,
		  size_t *len, size_t max);

/* Abort with a message when an invariant does not hold (any build type). */
#define FUZZ_CHECK(cond)                                                   \
	do {                                                               \
		if (!(cond))                                               \
			fuzz_fail(__FILE__, __LINE__, #cond);              \
	} while (0)

/* Report a broken invariant on stderr and abort(): libFuzzer keeps the
 * input as a crash, the corpus runner fails the ctest. */
_Noreturn void fuzz_fail(const char *file, int line, const char *what);

#endif
