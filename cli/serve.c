/*
 * `kssl serve [DIR]`: an HTTPS file server on the kssl_uring engine.
 * Options parsing, the listening socket(s), worker processes and signals;
 * connections are in conn.c, responses in respond.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "selfsigned.h"
#include "serve.h"

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static void usage(void)
{
	fprintf(stderr,
"usage: kssl serve [DIR] [options]\n"
"  --port N            TCP port (default 8443; 0 picks a free one)\n"
"  --bind ADDR         address (default 127.0.0.1; 0.0.0.0 or :: to expose)\n"
"  --cert FILE --key FILE  certificate chain and key (PEM); without them an\n"
"                      in-memory self-signed certificate for localhost\n"
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
"  --dotfiles          serve and list dot-files (default: 404, hidden)\n"
"  --ciphers LIST      TLS 1.2 cipher string (default: ECDHE with AES-GCM or\n"
"                      ChaCha20-Poly1305 only; TLS 1.3 suites: all)\n"
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
	*o = (struct serve_opts){ .dir = ".", .bind = "127.0.0.1",
		.port = "8443", .workers = 1,
		.idle_timeout = 30, .header_timeout = 10, .send_timeout = 60,
		.grace = 30, .offload = KSSL_OFFLOAD_BOTH, .access_log = 1,
		.ciphers = SERVE_DEFAULT_CIPHERS };
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int used = 1;

		if (!strcmp(a, "--port") && v) o->port = v;
		else if (!strcmp(a, "--bind") && v) o->bind = v;
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
			else if (a[0] != '-') o->dir = a;
			else return -1;
		}
		i += used;
	}
	if (o->workers > max_workers()) {
		fprintf(stderr, "kssl serve: --workers %d: at most %d (4 per "
			"CPU, %d in all)\n", o->workers, max_workers(),
			SERVE_MAX_WORKERS);
		return -2;
	}
	if (o->workers < 1 || o->max_conns < 0 || o->max_conns_per_addr < 0 ||
	    o->idle_timeout < 1 ||
	    o->header_timeout < 1 || o->send_timeout < 1 || !o->cert != !o->key)
		return -1;
	return 0;
}

static int listen_socket(const struct serve_opts *o, const char *port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICHOST }, *ai;
	int fd, one = 1, r;

	r = getaddrinfo(o->bind, port, &hints, &ai);
	if (r) {
		fprintf(stderr, "kssl serve: --bind %s: %s\n", o->bind,
			gai_strerror(r));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
		/*
		 * The kernel's maximum (net.core.somaxconn, 4096 on current
		 * kernels): with 1024, a burst of 1024 connects while the loop
		 * runs handshakes overflowed the queue and clients waited
		 * for SYN retransmits (1 s, 3 s, 7 s; bench/run at 1024).
		 */
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
		    listen(fd, SOMAXCONN) < 0) {
			fprintf(stderr, "kssl serve: %s port %s: %s\n", o->bind,
				port, strerror(errno));
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(ai);
	return fd;
}

static int bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return -1;
	return ss.ss_family == AF_INET6
		? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
		: ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static kssl_ctx *make_ctx(const struct serve_opts *o)
{
	static const char *const alpn[] = { "http/1.1" };
	kssl_ctx *ctx = kssl_ctx_new(KSSL_SERVER);
	char fp[128];

	if (!ctx) {
		fprintf(stderr, "kssl serve: TLS context: %s\n", kssl_last_error());
		return NULL;
	}
	kssl_ctx_set_offload(ctx, o->offload);
	kssl_ctx_set_alpn(ctx, alpn, 1);
	if (kssl_ctx_set_ciphers(ctx, o->ciphers) < 0) {
		fprintf(stderr, "kssl serve: --ciphers %s: %s\n", o->ciphers,
			kssl_last_error());
		kssl_ctx_free(ctx);
		return NULL;
	}
	/* libkssl honours SSLKEYLOGFILE (for debugging): on a server it
	 * writes the secrets of every client's session to that file. */
	if (secure_getenv("SSLKEYLOGFILE") && *secure_getenv("SSLKEYLOGFILE"))
		fprintf(stderr, "kssl serve: warning: SSLKEYLOGFILE is set: "
			"the TLS secrets of every connection are written to "
			"%s\n", secure_getenv("SSLKEYLOGFILE"));
	if (o->cert) {
		if (kssl_ctx_use_cert_file(ctx, o->cert, o->key) < 0) {
			fprintf(stderr, "kssl serve: %s\n", kssl_last_error());
			kssl_ctx_free(ctx);
			return NULL;
		}
		return ctx;
	}
	if (selfsigned_install(ctx, fp, sizeof(fp)) < 0) {
		fprintf(stderr, "kssl serve: generating a certificate failed\n");
		kssl_ctx_free(ctx);
		return NULL;
	}
	printf("kssl serve: self-signed certificate for localhost (in memory), "
	       "SHA-256 fingerprint %s\n", fp);
	return ctx;
}

static void install_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL); /* no SA_RESTART: wake the loop */
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/*
 * glibc keeps freed heap memory: after a burst of connections the worker
 * would stay at its high-water mark. Give it back once every connection
 * is released (the loop's count includes those still closing), or every
 * 30 s while fewer than half of the peak are open.
 */
static void trim_memory(struct server *srv)
{
	size_t n = kssl_loop_conn_count(srv->loop);
	int64_t now = now_ms();

	if (n > srv->conns_peak)
		srv->conns_peak = n;
	if (!srv->conns_peak)
		return;
	if (n == 0 || (n < srv->conns_peak / 2 && now >= srv->next_trim)) {
		malloc_trim(0);
		srv->conns_peak = n;
		srv->next_trim = now + 30000;
	}
}

static int run_worker(struct server *srv, int lfd)
{
	struct kssl_loop_config cfg = { .flags = srv->o->loop_flags };
	int64_t give_up = 0;

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
	if (kssl_loop_listen(srv->loop, lfd, conn_accept, srv) < 0)
		return 1;
	for (;;) {
		if (kssl_loop_run(srv->loop, 250) < 0 && errno != EINTR)
			break;
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

/* Each worker its own socket on the port, so the kernel spreads
 * connections (SO_REUSEPORT); all bound before privileges are dropped. */
static int run_workers(struct server *srv, int *lfds)
{
	pid_t *pids = calloc((size_t)srv->o->workers, sizeof(*pids));
	pid_t parent = getpid();
	int status, rc = 0;

	if (!pids)
		return 1;
	fflush(stdout);
	for (int i = 0; i < srv->o->workers; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			/* A worker must not outlive the parent (killed with
			 * SIGKILL, say): SIGTERM stops it gracefully. */
			if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 ||
			    getppid() != parent)
				_exit(1);
			for (int j = 0; j < srv->o->workers; j++)
				if (j != i)
					close(lfds[j]);
			_exit(run_worker(srv, lfds[i]));
		}
	}
	for (int i = 0; i < srv->o->workers; i++)
		close(lfds[i]);
	for (int left = srv->o->workers; left > 0;) {
		pid_t p = wait(&status);

		if (p < 0 && errno == EINTR) {
			for (int i = 0; i < srv->o->workers; i++)
				if (pids[i] > 0)
					kill(pids[i], (int)stop_signal);
			continue;
		}
		if (p < 0)
			break;
		left--;
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			rc = 1;
	}
	free(pids);
	return rc;
}

/* The listening sockets of all workers: the first on --port, the others
 * on the port it got. */
static int open_listeners(const struct serve_opts *o, int *lfds, int *port)
{
	char portstr[16];

	lfds[0] = listen_socket(o, o->port);
	if (lfds[0] < 0)
		return -1;
	*port = bound_port(lfds[0]);
	snprintf(portstr, sizeof(portstr), "%d", *port);
	for (int i = 1; i < o->workers; i++) {
		lfds[i] = listen_socket(o, portstr);
		if (lfds[i] < 0) {
			while (i-- > 0)
				close(lfds[i]);
			return -1;
		}
	}
	return 0;
}

int cmd_serve(int argc, char **argv)
{
	struct serve_opts o;
	struct server srv = { .o = &o };
	int *lfds, port, rc;

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
	srv.ctx = make_ctx(&o);
	if (!srv.ctx)
		return 1;
	lfds = calloc((size_t)o.workers, sizeof(*lfds));
	if (!lfds || open_listeners(&o, lfds, &port) < 0 ||
	    (o.user && drop_privileges(o.user) < 0)) {
		free(lfds);
		kssl_ctx_free(srv.ctx);
		return 1;
	}
	printf("kssl serve: serving %s on https://%s%s%s:%d/ (%d worker%s)\n",
	       srv.root_real, strchr(o.bind, ':') ? "[" : "", o.bind,
	       strchr(o.bind, ':') ? "]" : "", port, o.workers,
	       o.workers > 1 ? "s" : "");
	if (!kssl_kernel_has_tls())
		printf("kssl serve: kernel has no TLS ULP: records are encrypted by OpenSSL (fallback)\n");
	if (o.workers > 1)
		rc = run_workers(&srv, lfds);
	else
		rc = run_worker(&srv, lfds[0]);
	free(lfds);
	kssl_ctx_free(srv.ctx);
	close(srv.root_fd);
	return rc;
}
