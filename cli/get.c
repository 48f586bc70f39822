/*
 * `kssl get URL...`: an HTTPS download client on libkssl.
 *
 * Options, the worker threads and the progress display; one download is
 * get_job.c, the body path get_body.c, trust and connect get_tls.c.
 *
 * Why threads and not the kssl_uring loop: the loop's receive operation
 * (kssl_lconn_read) copies plaintext into a user buffer, and it has no
 * socket -> pipe -> file operation; using it would pull every body byte
 * through this process, which is what kernel RX + splice avoids. Each
 * download is a blocking thread doing splice(2), so the body stays in the
 * kernel; the number of downloads is the command line's, so a few
 * threads (at most --parallel) cost little.
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "get.h"

#define MAX_URLS 1024

static void usage(FILE *f)
{
	fprintf(f,
"usage: kssl get [options] URL...\n"
"Download https:// URLs. The server is verified against the system CAs\n"
"unless --cacert or --pin-sha256 says otherwise.\n"
"  -o, --output FILE     write the next URL to FILE (\"-\": stdout); repeat\n"
"                        once per URL, in order\n"
"  -O, --remote-name     name the file after the URL's last path segment\n"
"  -C, --continue        resume a partial file with a Range request\n"
"  -L, --location        follow redirects (https only)\n"
"      --max-redirs N    at most N redirects with -L (default 10)\n"
"      --cacert FILE     trust only the CA certificates in FILE (PEM), not\n"
"                        the system's\n"
"      --pin-sha256 HEX  accept exactly the certificate with this SHA-256\n"
"                        fingerprint (as `kssl serve` prints it); with\n"
"                        --cacert the chain is verified as well\n"
"  -k, --insecure        do NOT verify the server (warns on stderr)\n"
"  -P, --parallel N      downloads at the same time (default 4)\n"
"      --timeout SEC     connect and stall timeout (default 30)\n"
"      --no-offload      keep TLS in OpenSSL (no kernel TLS)\n"
"      --no-splice       read path even when RX is in the kernel\n"
"  -q, --quiet           no progress bar (it is shown on a terminal only)\n"
"  -v, --verbose         one line per download: status, size, TLS, and the\n"
"                        body path (rx: kernel|user, splice|read)\n"
"  -h, --help            this help\n"
"Exit status: 0 ok, 1 local error, 2 usage, 3 connection, 4 TLS,\n"
"5 verification, 6 HTTP status >= 400 or bad response, 7 short body,\n"
"8 redirect not followed or too many (docs/get.md).\n");
}

struct pool {
	struct job *jobs;
	size_t n;
	_Atomic size_t next, finished;
	const struct get_opts *o;
};

static void *worker(void *arg)
{
	struct pool *p = arg;
	size_t i;

	while ((i = atomic_fetch_add(&p->next, 1)) < p->n) {
		job_run(&p->jobs[i], p->o);
		atomic_store(&p->jobs[i].prog.finished, 1);
		atomic_fetch_add(&p->finished, 1);
	}
	return NULL;
}

static void snapshot(struct pool *p, struct progress_item *items)
{
	for (size_t i = 0; i < p->n; i++) {
		items[i].name = p->jobs[i].url;
		atomic_store(&items[i].done, atomic_load(&p->jobs[i].prog.done));
		atomic_store(&items[i].total, atomic_load(&p->jobs[i].prog.total));
		atomic_store(&items[i].finished,
			     atomic_load(&p->jobs[i].prog.finished));
	}
}

static void run_all(struct pool *p, int show_progress)
{
	size_t nthreads = (size_t)p->o->parallel < p->n ? (size_t)p->o->parallel : p->n;
	pthread_t th[64];
	struct progress_item *items = show_progress ? calloc(p->n, sizeof(*items)) : NULL;
	int64_t start = now_ms();
	size_t started = 0;

	for (; started < nthreads; started++)
		if (pthread_create(&th[started], NULL, worker, p))
			break;
	if (started == 0)
		worker(p); /* no thread at all: do it here */
	while (items && atomic_load(&p->finished) < p->n) {
		struct timespec ts = { 0, 200 * 1000 * 1000 };

		snapshot(p, items);
		progress_draw(items, p->n, start, 0);
		nanosleep(&ts, NULL);
	}
	for (size_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	if (items) {
		snapshot(p, items);
		progress_draw(items, p->n, start, 1);
	}
	free(items);
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (!*s || *end || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

static int bad_usage(const char *what, const char *arg)
{
	fprintf(stderr, "kssl get: %s%s%s\n", what, arg ? ": " : "", arg ? arg : "");
	fprintf(stderr, "Try 'kssl get --help'.\n");
	return GET_E_USAGE;
}

enum { OPT_CACERT = 256, OPT_PIN, OPT_MAXREDIR, OPT_TIMEOUT, OPT_NOOFF,
       OPT_NOSPLICE };

static const struct option longopts[] = {
	{ "output", required_argument, NULL, 'o' },
	{ "remote-name", no_argument, NULL, 'O' },
	{ "continue", no_argument, NULL, 'C' },
	{ "location", no_argument, NULL, 'L' },
	{ "max-redirs", required_argument, NULL, OPT_MAXREDIR },
	{ "cacert", required_argument, NULL, OPT_CACERT },
	{ "pin-sha256", required_argument, NULL, OPT_PIN },
	{ "insecure", no_argument, NULL, 'k' },
	{ "parallel", required_argument, NULL, 'P' },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "no-offload", no_argument, NULL, OPT_NOOFF },
	{ "no-splice", no_argument, NULL, OPT_NOSPLICE },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* Fills o and jobs from argv; returns GET_OK, GET_E_USAGE, or -1 for --help. */
static int parse_args(int argc, char **argv, struct get_opts *o,
		      struct job *jobs, size_t *njobs)
{
	const char *outs[MAX_URLS];
	size_t nouts = 0, n = 0;
	int c, remote = 0;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "o:OCLkP:qvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			if (nouts == MAX_URLS)
				return bad_usage("too many -o", NULL);
			outs[nouts++] = optarg;
			break;
		case 'O': remote = 1; break;
		case 'C': o->resume = 1; break;
		case 'L': o->follow = 1; break;
		case 'k': o->insecure = 1; break;
		case 'q': o->quiet = 1; break;
		case 'v': o->verbose = 1; break;
		case 'h': return -1;
		case OPT_CACERT: o->cacert = optarg; break;
		case OPT_NOOFF: o->offload = KSSL_OFFLOAD_NONE; break;
		case OPT_NOSPLICE: o->no_splice = 1; break;
		case OPT_PIN:
			if (get_pin_parse(optarg, o->pin) < 0)
				return bad_usage("--pin-sha256 wants 64 hex digits (':' between bytes allowed)", optarg);
			o->has_pin = 1;
			break;
		case OPT_MAXREDIR:
			if (parse_int(optarg, 0, 100, &o->max_redirs))
				return bad_usage("--max-redirs wants 0..100", optarg);
			break;
		case OPT_TIMEOUT:
			if (parse_int(optarg, 1, 86400, &o->timeout))
				return bad_usage("--timeout wants 1..86400 seconds", optarg);
			break;
		case 'P':
			if (parse_int(optarg, 1, 64, &o->parallel))
				return bad_usage("--parallel wants 1..64", optarg);
			break;
		default:
			return bad_usage("unknown option or missing argument",
					 argv[optind - 1]);
		}
	}
	for (int i = optind; i < argc; i++) {
		if (!strcmp(argv[i], "-"))
			continue; /* "-C -" as curl spells it */
		if (n == MAX_URLS)
			return bad_usage("too many URLs", NULL);
		jobs[n].url = argv[i];
		jobs[n].out = n < nouts ? outs[n] : NULL;
		jobs[n].remote_name = remote;
		n++;
	}
	if (!n)
		return bad_usage("no URL given", NULL);
	if (nouts > n)
		return bad_usage("more -o than URLs", NULL);
	if (o->insecure && (o->has_pin || o->cacert))
		return bad_usage("-k/--insecure contradicts --pin-sha256 and --cacert", NULL);
	for (size_t i = 0, to_stdout = 0; i < n; i++) {
		const char *out = jobs[i].out;
		int std = out ? !strcmp(out, "-") : !jobs[i].remote_name;

		if (std && o->resume)
			return bad_usage("-C needs a file (-o FILE or -O)", jobs[i].url);
		if (std && ++to_stdout > 1)
			return bad_usage("several URLs to stdout: give -o FILE per URL or -O", NULL);
		for (size_t k = 0; k < i && out && !std; k++)
			if (jobs[k].out && !strcmp(jobs[k].out, out))
				return bad_usage("two URLs write the same file", out);
	}
	*njobs = n;
	return GET_OK;
}

int cmd_get(int argc, char **argv)
{
	struct get_opts o = { .max_redirs = 10, .timeout = 30, .parallel = 4,
			      .offload = KSSL_OFFLOAD_BOTH };
	struct job *jobs = calloc(MAX_URLS, sizeof(*jobs));
	struct pool p = { 0 };
	char err[512];
	size_t n = 0;
	int rc;

	if (!jobs) {
		fprintf(stderr, "kssl get: out of memory\n");
		return GET_E_LOCAL;
	}
	rc = parse_args(argc, argv, &o, jobs, &n);
	if (rc != GET_OK) {
		if (rc < 0)
			usage(stdout);
		free(jobs);
		return rc < 0 ? 0 : rc;
	}
	signal(SIGPIPE, SIG_IGN);
	if (o.insecure)
		fprintf(stderr,
			"kssl get: WARNING: --insecure: the server's certificate is NOT verified;\n"
			"kssl get: WARNING: anyone on the network path can read and change this download.\n");
	o.ctx = get_ctx_new(&o, err, sizeof(err));
	if (!o.ctx) {
		fprintf(stderr, "kssl get: %s\n", err);
		free(jobs);
		return GET_E_LOCAL;
	}
	p.jobs = jobs;
	p.n = n;
	p.o = &o;
	run_all(&p, !o.quiet && isatty(STDERR_FILENO));
	rc = GET_OK;
	for (size_t i = 0; i < n; i++) {
		if (o.verbose && jobs[i].info[0])
			fprintf(stderr, "kssl get: %s: %s\n", jobs[i].url, jobs[i].info);
		if (jobs[i].rc != GET_OK) {
			fprintf(stderr, "kssl get: %s: %s\n", jobs[i].url, jobs[i].msg);
			if (rc == GET_OK)
				rc = jobs[i].rc;
		}
	}
	kssl_ctx_free(o.ctx);
	free(jobs);
	return rc;
}
