/*
 * `kssl serve [DIR]`: an HTTPS file server on the kssl_uring engine.
 * Options parsing, the listening socket(s), worker processes and signals;
 * connections are in conn.c, responses in respond.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "serve.h"

static volatile sig_atomic_t stop_signal, reload_signal;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		reload_signal = 1;
	else
		stop_signal = sig;
}

static void usage(void)
{
	fprintf(stderr,
"usage: kssl serve [DIR] [options]\n"
"  --port N            TCP port (default 8443; 0 picks a free one)\n"
"  --bind ADDR         address (default 127.0.0.1; 0.0.0.0 or :: to expose,\n"
"                      :: is dual-stack); repeatable for several addresses.\n"
"                      Sockets passed by systemd (LISTEN_FDS) replace\n"
"                      --bind/--port\n"
"  --cert FILE --key FILE  certificate chain and key (PEM), loaded again on\n"
"                      SIGHUP; without them an in-memory self-signed\n"
"                      certificate for localhost\n"
"  --workers N         worker processes sharing the port (SO_REUSEPORT)\n"
"  --max-conns N       connections per worker (default 1024, fewer if\n"
"                      RLIMIT_NOFILE allows less: (limit - 64) / 4)\n"
"  --max-conns-per-addr N  connections per client address and worker\n"
"                      (default 64)\n"
"  --idle-timeout S    keep-alive idle limit (default 30)\n"
"  --header-timeout S  handshake / request head limit (default 10)\n"
"  --send-timeout S    limit without send progress (default 60)\n"
"  --offload MODE      both|tx|rx|none (kernel TLS directions, default both)\n"
"  --no-uring          epoll + sendfile(2) instead of io_uring\n"
"  --no-splice         io_uring loop, but sendfile(2) for file bodies\n"
"  --quiet             no access log\n"
"  --log-format F      kssl (default: common + TLS and send path), common\n"
"                      or combined (NCSA / Apache formats)\n"
"  --dotfiles          serve and list dot-files (default: 404, hidden)\n"
"  --ciphers LIST      TLS 1.2 cipher string (default: ECDHE with AES-GCM or\n"
"                      ChaCha20-Poly1305 only; TLS 1.3 suites: all)\n"
"  --ocsp-response FILE  staple this DER OCSP response (needs --cert; read\n"
"                      again on SIGHUP)\n"
"  --header NAME:VALUE extra response header (repeatable)\n"
"  --hsts[=SECONDS]    Strict-Transport-Security: max-age (default 1 year)\n"
"  --hsts-include-subdomains  add includeSubDomains to it\n"
"  --user NAME         drop root for this account once the port is bound and\n"
"                      the key loaded\n");
}

/* The --workers bound: more processes than cores only add memory. */
static int max_workers(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (cpus < 1)
		cpus = 1;
	return cpus * 4 < SERVE_MAX_WORKERS ? (int)cpus * 4 : SERVE_MAX_WORKERS;
}

static int parse_opts(int argc, char **argv, struct serve_opts *o)
{
	const char *hsts = NULL;
	int hsts_on = 0, hsts_sub = 0;

	*o = (struct serve_opts){ .dir = ".",
		.port = "8443", .workers = 1,
		.idle_timeout = 30, .header_timeout = 10, .send_timeout = 60,
		.grace = 30, .offload = KSSL_OFFLOAD_BOTH, .access_log = 1,
		.ciphers = SERVE_DEFAULT_CIPHERS };
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int used = 1;

		if (!strcmp(a, "--port") && v) o->port = v;
		else if (!strcmp(a, "--bind") && v) {
			if (o->nbinds == SERVE_MAX_BINDS) {
				fprintf(stderr, "kssl serve: at most %d --bind\n",
					SERVE_MAX_BINDS);
				return -2;
			}
			o->binds[o->nbinds++] = v;
		}
		else if (!strcmp(a, "--cert") && v) o->cert = v;
		else if (!strcmp(a, "--key") && v) o->key = v;
		else if (!strcmp(a, "--workers") && v) o->workers = atoi(v);
		else if (!strcmp(a, "--max-conns") && v) o->max_conns = atoi(v);
		else if (!strcmp(a, "--max-conns-per-addr") && v)
			o->max_conns_per_addr = atoi(v);
		else if (!strcmp(a, "--idle-timeout") && v) o->idle_timeout = atoi(v);
		else if (!strcmp(a, "--header-timeout") && v) o->header_timeout = atoi(v);
		else if (!strcmp(a, "--send-timeout") && v) o->send_timeout = atoi(v);
		else if (!strcmp(a, "--user") && v) o->user = v;
		else if (!strcmp(a, "--ciphers") && v) o->ciphers = v;
		else if (!strcmp(a, "--ocsp-response") && v) o->ocsp = v;
		else if (!strcmp(a, "--log-format") && v) {
			if (!strcmp(v, "kssl")) o->log_format = LOG_KSSL;
			else if (!strcmp(v, "common")) o->log_format = LOG_COMMON;
			else if (!strcmp(v, "combined")) o->log_format = LOG_COMBINED;
			else return -1;
		}
		else if (!strcmp(a, "--header") && v) {
			if (headers_add(o, v) < 0)
				return -2;
		}
		else if (!strcmp(a, "--offload") && v) {
			if (!strcmp(v, "none")) o->offload = KSSL_OFFLOAD_NONE;
			else if (!strcmp(v, "tx")) o->offload = KSSL_OFFLOAD_TX;
			else if (!strcmp(v, "rx")) o->offload = KSSL_OFFLOAD_RX;
			else if (!strcmp(v, "both")) o->offload = KSSL_OFFLOAD_BOTH;
			else return -1;
		} else {
			used = 0;
			if (!strcmp(a, "--no-uring")) o->loop_flags |= KSSL_LOOP_FORCE_EPOLL;
			else if (!strcmp(a, "--no-splice")) o->loop_flags |= KSSL_LOOP_NO_SPLICE;
			else if (!strcmp(a, "--quiet")) o->access_log = 0;
			else if (!strcmp(a, "--dotfiles")) o->dotfiles = 1;
			else if (!strcmp(a, "--hsts")) hsts_on = 1, hsts = NULL;
			else if (!strncmp(a, "--hsts=", 7)) hsts_on = 1, hsts = a + 7;
			else if (!strcmp(a, "--hsts-include-subdomains"))
				hsts_sub = 1;
			else if (a[0] != '-') o->dir = a;
			else return -1;
		}
		i += used;
	}
	if (!o->nbinds)
		o->binds[o->nbinds++] = "127.0.0.1";
	if (hsts_sub && !hsts_on) {
		fprintf(stderr, "kssl serve: --hsts-include-subdomains needs "
			"--hsts\n");
		return -2;
	}
	if (hsts_on && headers_hsts(o, hsts, hsts_sub) < 0)
		return -2;
	if (o->workers > max_workers()) {
		fprintf(stderr, "kssl serve: --workers %d: at most %d (4 per "
			"CPU, %d in all)\n", o->workers, max_workers(),
			SERVE_MAX_WORKERS);
		return -2;
	}
	if (o->workers < 1 || o->max_conns < 0 || o->max_conns_per_addr < 0 ||
	    o->idle_timeout < 1 ||
	    o->header_timeout < 1 || o->send_timeout < 1 || !o->cert != !o->key ||
	    (o->ocsp && !o->cert))
		return -1;
	return 0;
}

static void install_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL); /* no SA_RESTART: wake the loop */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/*
 * glibc keeps freed heap memory: after a burst of connections the worker
 * would stay at its high-water mark. Give it back once fewer than half of
 * the peak are open (the loop's count includes those still closing), at
 * most every 30 s, and at once when a burst of at least
 * SERVE_TRIM_BURST connections has all closed. malloc_trim walks the
 * whole heap: trimming whenever the last connection closed was one trim
 * per connection on a server taking them one at a time.
 */
#define SERVE_TRIM_INTERVAL_MS 30000
#define SERVE_TRIM_BURST 32

static void trim_memory(struct server *srv)
{
	size_t n = kssl_loop_conn_count(srv->loop);
	int64_t now;

	if (n > srv->conns_peak)
		srv->conns_peak = n;
	if (!srv->conns_peak || (n && n >= srv->conns_peak / 2))
		return;
	now = now_ms();
	if (now < srv->next_trim && (n || srv->conns_peak < SERVE_TRIM_BURST))
		return;
	malloc_trim(0);
	srv->conns_peak = n;
	srv->next_trim = now + SERVE_TRIM_INTERVAL_MS;
}

/*
 * Every request allocates its buffers (request state, OpenSSL's record
 * buffers, the userspace sendfile chunk) and frees them when the
 * connection goes idle. With glibc's default trim threshold (128 KiB)
 * those frees shrink the heap with brk, and the next requests grow it
 * again: a TLB flush and fresh page faults per request or so (measured:
 * ~10 % of kssl serve's CPU at 16 KiB files over 16 connections). Freed
 * memory stays in the heap instead; trim_memory gives it back when the
 * connections are gone.
 */
#define SERVE_TRIM_THRESHOLD (64 << 20)

static int run_worker(struct server *srv, int lfd)
{
	/*
	 * Bodies under 64 KiB (one default pipe's worth, a single chain) go
	 * by sendfile(2): a splice chain costs two io-wq handoffs per file,
	 * and in the kTLS VM the 16 KiB rows spent 2.4x the sender CPU of
	 * sendfile(2) that way (docs/bench.md). Larger files keep the chains,
	 * which never block the loop on a disk read.
	 */
	struct kssl_loop_config cfg = { .flags = srv->o->loop_flags |
						 KSSL_LOOP_VERBOSE,
					.splice_min = 64 << 10 };
	int64_t give_up = 0;

	mallopt(M_TRIM_THRESHOLD, SERVE_TRIM_THRESHOLD);

	srv->loop = kssl_loop_new(&cfg);
	if (!srv->loop) {
		fprintf(stderr, "kssl serve: cannot create the event loop\n");
		return 1;
	}
	fprintf(stderr, "kssl serve: worker %d: %s%s\n", (int)getpid(),
		kssl_loop_backend(srv->loop),
		kssl_loop_uses_splice(srv->loop) ? " (splice for kernel TX)"
						 : " (sendfile for kernel TX)");
	srv->listen_fd = lfd;
	/*
	 * Responses are written as they are ready (head, then body): without
	 * TCP_NODELAY a small keep-alive response waits for the client's
	 * delayed ACK (~40 ms per request, measured by the benchmark). Set
	 * once here: Linux copies it to every accepted socket.
	 */
	setsockopt(lfd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	if (kssl_loop_listen(srv->loop, lfd, conn_accept, srv) < 0)
		return 1;
	for (;;) {
		if (kssl_loop_run(srv->loop, 250) < 0 && errno != EINTR)
			break;
		if (reload_signal) {
			reload_signal = 0;
			tlsctx_reload(srv);
		}
		conn_timers(srv);
		admit_resume(srv);
		trim_memory(srv);
		if (stop_signal && !srv->stopping) {
			conn_begin_stop(srv);
			give_up = now_ms() + (int64_t)srv->o->grace * 1000;
		}
		if (srv->stopping && (!srv->nconns || now_ms() > give_up))
			break;
	}
	while (srv->conns)
		conn_close(srv->conns);
	kssl_loop_free(srv->loop);
	fflush(stdout);
	return 0;
}

static void on_child(int sig)
{
	(void)sig; /* only wakes sigsuspend */
}

/* Reap exited workers; forward SIGHUP and the stop signal to the others. */
static int supervise(pid_t *pids, int n, const sigset_t *wait_mask)
{
	int status, rc = 0, left = n, stop_sent = 0;
	pid_t p;

	while (left > 0) {
		while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
			left--;
			for (int i = 0; i < n; i++)
				if (pids[i] == p)
					pids[i] = 0;
			if (!WIFEXITED(status) || WEXITSTATUS(status))
				rc = 1;
		}
		if (p < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++) {
			if (pids[i] > 0 && reload_signal)
				kill(pids[i], SIGHUP);
			if (pids[i] > 0 && stop_signal && !stop_sent)
				kill(pids[i], (int)stop_signal);
		}
		reload_signal = 0;
		stop_sent |= stop_signal != 0;
		if (left > 0)
			sigsuspend(wait_mask);
	}
	return rc;
}

/*
 * One worker process per listening socket (listen.c); the parent waits
 * and forwards SIGTERM/SIGINT and SIGHUP to them. The signals stay
 * blocked in the parent but for sigsuspend, so none is lost between a
 * check and the wait.
 */
static int run_workers(struct server *srv, const struct listeners *l)
{
	struct sigaction sa = { .sa_handler = on_child };
	pid_t *pids = calloc((size_t)l->nfds, sizeof(*pids));
	pid_t parent = getpid();
	sigset_t block, old;
	int rc;

	if (!pids)
		return 1;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGCHLD);
	sigprocmask(SIG_BLOCK, &block, &old);
	fflush(stdout);
	for (int i = 0; i < l->nfds; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			signal(SIGCHLD, SIG_DFL);
			sigprocmask(SIG_SETMASK, &old, NULL);
			/* A worker must not outlive the parent (killed with
			 * SIGKILL, say): SIGTERM stops it gracefully. */
			if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 ||
			    getppid() != parent)
				_exit(1);
			for (int j = 0; j < l->nfds; j++)
				if (j != i)
					close(l->fds[j]);
			_exit(run_worker(srv, l->fds[i]));
		}
	}
	for (int i = 0; i < l->nfds; i++)
		close(l->fds[i]);
	rc = supervise(pids, l->nfds, &old);
	sigprocmask(SIG_SETMASK, &old, NULL);
	free(pids);
	return rc;
}

int cmd_serve(int argc, char **argv)
{
	struct serve_opts o;
	struct server srv = { .o = &o };
	struct listeners l;
	int rc;

	rc = parse_opts(argc, argv, &o);
	if (rc < 0) {
		if (rc == -1)
			usage();
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!realpath(o.dir, srv.root_real) ||
	    (srv.root_fd = open(srv.root_real, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "kssl serve: %s: %s\n", o.dir, strerror(errno));
		return 1;
	}
	admit_init_limits(&o);
	install_signals();
	srv.ctx = tlsctx_new(&o);
	if (!srv.ctx)
		return 1;
	if (listeners_open(&o, srv.root_real, &l) < 0 ||
	    (o.user && drop_privileges(o.user) < 0)) {
		kssl_ctx_free(srv.ctx);
		return 1;
	}
	if (!kssl_kernel_has_tls())
		printf("kssl serve: kernel has no TLS ULP: records are encrypted by OpenSSL (fallback)\n");
	if (l.nfds > 1)
		rc = run_workers(&srv, &l);
	else
		rc = run_worker(&srv, l.fds[0]);
	free(l.fds);
	kssl_ctx_free(srv.ctx);
	close(srv.root_fd);
	return rc;
}
