/*
 * `kssl serve`: the listening sockets.
 *
 * - systemd socket activation: when LISTEN_PID is our pid, LISTEN_FDS
 *   sockets start at fd 3 (the sd_listen_fds(3) protocol, without
 *   libsystemd); the variables are removed so that nothing we start
 *   inherits them. --bind and --port are then ignored.
 * - else one socket per --bind address (default 127.0.0.1): "::" is
 *   dual-stack (IPV6_V6ONLY off: IPv4 clients too, as ::ffff:a.b.c.d),
 *   any other IPv6 address IPv6 only.
 *
 * The event loop takes one listener, so each (socket, worker) pair is one
 * worker process: --workers N gives each address its own socket per worker
 * on the same port (SO_REUSEPORT), and each systemd socket N workers
 * sharing it (a dup each).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "serve.h"

#define SD_LISTEN_FDS_START 3

/* Sockets passed by systemd: their count (0: none for us), or -1. */
static int systemd_fds(void)
{
	const char *spid = getenv("LISTEN_PID"), *sfds = getenv("LISTEN_FDS");
	char *end;
	long pid, n;

	if (!spid || !sfds)
		return 0;
	errno = 0;
	pid = strtol(spid, &end, 10);
	if (errno || *end || pid != (long)getpid())
		return 0; /* meant for another process */
	n = strtol(sfds, &end, 10);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (errno || *end || n < 0 || n > SERVE_MAX_BINDS) {
		fprintf(stderr, "kssl serve: LISTEN_FDS=%s: not a count of "
			"1 to %d sockets\n", sfds, SERVE_MAX_BINDS);
		return -1;
	}
	for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + n; fd++) {
		int listening = 0, type = 0;
		socklen_t sl = sizeof(int);

		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &sl) < 0 ||
		    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type,
			       &(socklen_t){ sizeof(int) }) < 0 ||
		    !listening || type != SOCK_STREAM) {
			fprintf(stderr, "kssl serve: LISTEN_FDS: fd %d is not a "
				"listening stream socket (ListenStream= in the "
				".socket unit)\n", fd);
			return -1;
		}
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	return (int)n;
}

static int listen_socket(const char *addr, const char *port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICHOST }, *ai;
	int fd, one = 1, r;

	r = getaddrinfo(addr, port, &hints, &ai);
	if (r) {
		fprintf(stderr, "kssl serve: --bind %s: %s\n", addr,
			gai_strerror(r));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
		if (ai->ai_family == AF_INET6) {
			const struct sockaddr_in6 *s6 = (void *)ai->ai_addr;
			int v6only = !IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr);

			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only,
				   sizeof(v6only));
		}
		/*
		 * The kernel's maximum (net.core.somaxconn, 4096 on current
		 * kernels): with 1024, a burst of 1024 connects while the loop
		 * runs handshakes overflowed the queue and clients waited
		 * for SYN retransmits (1 s, 3 s, 7 s; bench/run at 1024).
		 */
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
		    listen(fd, SOMAXCONN) < 0) {
			fprintf(stderr, "kssl serve: %s port %s: %s\n", addr,
				port, strerror(errno));
			close(fd);
			fd = -1;
		}
	} else {
		fprintf(stderr, "kssl serve: --bind %s: %s\n", addr,
			strerror(errno));
	}
	freeaddrinfo(ai);
	return fd;
}

/* "https://ADDR:PORT/" of a bound socket, IPv6 addresses in brackets. */
static void socket_url(int fd, char *out, size_t outlen)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0, v6 = 0;

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *s6 = (void *)&ss;

			inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
			port = ntohs(s6->sin6_port);
			v6 = 1;
		} else if (ss.ss_family == AF_INET) {
			struct sockaddr_in *s4 = (void *)&ss;

			inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
			port = ntohs(s4->sin_port);
		}
	}
	snprintf(out, outlen, "https://%s%s%s:%d/", v6 ? "[" : "", host,
		 v6 ? "]" : "", port);
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

static void close_all(struct listeners *l)
{
	for (int i = 0; i < l->nfds; i++)
		close(l->fds[i]);
	free(l->fds);
	l->fds = NULL;
	l->nfds = 0;
}

/* One socket per worker and address: the first on --port, the others on
 * the port it got (--port 0). */
static int open_bound(const struct serve_opts *o, struct listeners *l)
{
	char port[16];

	snprintf(port, sizeof(port), "%s", o->port);
	for (int a = 0; a < o->nbinds; a++)
		for (int w = 0; w < o->workers; w++) {
			int fd = listen_socket(o->binds[a], port);

			if (fd < 0)
				return -1;
			l->fds[l->nfds++] = fd;
			snprintf(port, sizeof(port), "%d", bound_port(fd));
		}
	return 0;
}

/* Each systemd socket shared by --workers processes. */
static int open_systemd(const struct serve_opts *o, int n,
			struct listeners *l)
{
	for (int s = 0; s < n; s++)
		for (int w = 0; w < o->workers; w++) {
			int fd = w ? fcntl(SD_LISTEN_FDS_START + s,
					   F_DUPFD_CLOEXEC, 0)
				   : SD_LISTEN_FDS_START + s;

			if (fd < 0) {
				fprintf(stderr, "kssl serve: dup: %s\n",
					strerror(errno));
				return -1;
			}
			l->fds[l->nfds++] = fd;
		}
	return 0;
}

int listeners_open(const struct serve_opts *o, const char *root,
		   struct listeners *l)
{
	int nsd = systemd_fds(), n, step;
	char url[96];

	if (nsd < 0)
		return -1;
	n = nsd ? nsd : o->nbinds;
	if (n * o->workers > SERVE_MAX_WORKERS) {
		fprintf(stderr, "kssl serve: %d sockets x %d workers: at most "
			"%d worker processes in all\n", n, o->workers,
			SERVE_MAX_WORKERS);
		return -1;
	}
	l->nfds = 0;
	l->fds = calloc((size_t)n * (size_t)o->workers, sizeof(*l->fds));
	if (!l->fds)
		return -1;
	if ((nsd ? open_systemd(o, nsd, l) : open_bound(o, l)) < 0) {
		close_all(l);
		return -1;
	}
	step = o->workers;
	for (int i = 0; i < l->nfds; i += step) {
		socket_url(l->fds[i], url, sizeof(url));
		printf("kssl serve: serving %s on %s (%d worker%s%s)\n", root,
		       url, o->workers, o->workers > 1 ? "s" : "",
		       nsd ? ", socket from systemd" : "");
	}
	return 0;
}
