/* `kssl get`: a one-line progress display on stderr (terminals only). */
#include <stdio.h>

#include "get.h"

static void human(char *out, size_t len, double v)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(out, len, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
}

void progress_draw(struct progress_item *items, size_t n, int64_t start_ms,
		   int final)
{
	int64_t done = 0, total = 0, ms = now_ms() - start_ms;
	size_t finished = 0;
	int known = 1;
	char d[32], t[32], r[32];

	for (size_t i = 0; i < n; i++) {
		int64_t tt = atomic_load(&items[i].total);

		done += atomic_load(&items[i].done);
		finished += (size_t)atomic_load(&items[i].finished);
		if (tt < 0)
			known = 0;
		else
			total += tt;
	}
	human(d, sizeof(d), (double)done);
	human(t, sizeof(t), (double)total);
	human(r, sizeof(r), ms > 0 ? (double)done * 1000.0 / (double)ms : 0);
	if (known && total > 0) {
		int pct = (int)(done * 100 / total), bar = pct * 30 / 100;

		fprintf(stderr, "\r[%.*s%*s] %3d%% %s / %s  %s/s", bar,
			"##############################", 30 - bar, "", pct, d,
			t, r);
	} else {
		fprintf(stderr, "\r%s  %s/s", d, r);
	}
	if (n > 1)
		fprintf(stderr, "  (%zu/%zu done)", finished, n);
	fprintf(stderr, "\033[K%s", final ? "\n" : "");
	fflush(stderr);
}
