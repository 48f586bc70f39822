/* `kssl bench ARGS`: runs the benchmark script (bench/run) with ARGS. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cmd_bench(int argc, char **argv);

/*
 * The script is $KSSL_BENCH_SCRIPT, else DIR/../KSSL_BENCH_RELDIR/run where
 * DIR holds this binary: PREFIX/bin/kssl finds PREFIX/share/kssl/bench/run
 * once installed, and build/cli/kssl finds the build tree's link to bench/.
 */
int cmd_bench(int argc, char **argv)
{
	const char *script = getenv("KSSL_BENCH_SCRIPT");
	char self[PATH_MAX], found[PATH_MAX + sizeof(KSSL_BENCH_RELDIR) + 16];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char **args;

	if (n > 0) { /* the script runs this very binary for `kssl serve` */
		self[n] = 0;
		setenv("KSSL_BIN", self, 0);
		if (!script) {
			snprintf(found, sizeof(found), "%s/../%s/run", dirname(self),
				 KSSL_BENCH_RELDIR);
			script = found;
		}
	}
	if (!script) {
		fprintf(stderr, "kssl bench: cannot locate bench/run; set KSSL_BENCH_SCRIPT\n");
		return 1;
	}
	args = calloc((size_t)argc + 2, sizeof(*args));
	if (!args) {
		fprintf(stderr, "kssl bench: out of memory\n");
		return 1;
	}
	args[0] = (char *)script;
	for (int i = 1; i < argc; i++)
		args[i] = argv[i];
	execv(script, args); /* the script's #! names its interpreter */
	fprintf(stderr, "kssl bench: %s: %s\n", script, strerror(errno));
	free(args);
	return 1;
}
