/* `kssl`: command-line front end (serve, get, probe, bench). */
#include <stdio.h>
#include <string.h>

#include "serve.h"

int cmd_bench(int argc, char **argv);
int cmd_get(int argc, char **argv);

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "serve"))
		return cmd_serve(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "probe"))
		return cmd_probe(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "get"))
		return cmd_get(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "bench"))
		return cmd_bench(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "--version")) {
		printf("kssl " KSSL_VERSION_STRING "\n");
		return 0;
	}
	fprintf(stderr,
		"usage: kssl serve [DIR] [options]   HTTPS file server\n"
		"       kssl get [options] URL...    HTTPS download client\n"
		"       kssl probe [--json]          what this kernel offloads\n"
		"       kssl bench [args]            runs bench/run (see docs/bench.md)\n");
	return 2;
}
