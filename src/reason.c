/*
 * Offload reasons (struct ks_dir.reason): the text that says why a
 * direction stays in userspace. Most are string literals; the formatted
 * ones (an errno, a cipher name) repeat across connections: every
 * connection of a server on a kernel without the tls ULP says the same.
 * They are kept once per process instead of in a buffer per direction of
 * every connection (issue 9: 320 bytes of each idle connection).
 *
 * The set is small and bounded by what the kernel and OpenSSL can answer
 * (option x version x cipher x errno); a cap guards it anyway. Interned
 * text lives until the process ends, so a reason returned by
 * kssl_conn_offload stays valid for as long as the caller may hold it.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define REASON_BUCKETS 64
#define REASON_MAX 1024

struct reason {
	struct reason *next;
	char text[];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct reason *buckets[REASON_BUCKETS];
static unsigned count;

static unsigned hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % REASON_BUCKETS;
}

const char *ks_reason_intern(const char *text)
{
	struct reason **b = &buckets[hash(text)], *r;
	const char *out;
	size_t len = strlen(text);

	pthread_mutex_lock(&lock);
	for (r = *b; r; r = r->next)
		if (!strcmp(r->text, text))
			break;
	if (!r && count < REASON_MAX && (r = malloc(sizeof(*r) + len + 1))) {
		memcpy(r->text, text, len + 1);
		r->next = *b;
		*b = r;
		count++;
	}
	if (r)
		out = r->text;
	else if (count >= REASON_MAX)
		out = "userspace (reason not kept: too many distinct offload reasons)";
	else
		out = "userspace (reason not kept: out of memory)";
	pthread_mutex_unlock(&lock);
	return out;
}
