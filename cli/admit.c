/*
 * Who gets a connection slot in a `kssl serve` worker: the file-descriptor
 * budget (RLIMIT_NOFILE), the per-worker and per-address caps, eviction of
 * idle pre-handshake sockets when full, and the accept back-off when the
 * process runs out of descriptors (EMFILE) or the system out of memory.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "serve.h"

/* Descriptors a connection may hold: socket, file, a splice pipe pair. */
#define FDS_PER_CONN 4
/* Kept for the listener, the ring, the log, directory listings. */
#define FDS_RESERVED 64
/* Accepting again after EMFILE: at once when a connection closed, else
 * after this pause (the loop also wakes every 250 ms). */
#define ACCEPT_BACKOFF_MS 200
#define ACCEPT_LOG_MS 10000

void admit_init_limits(struct serve_opts *o)
{
	struct rlimit rl;
	long budget;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) { /* the hard limit allows more */
		rlim_t old = rl.rlim_cur;

		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			rl.rlim_cur = old;
	}
	budget = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1 << 24)
		? 1 << 22 : ((long)rl.rlim_cur - FDS_RESERVED) / FDS_PER_CONN;
	if (budget < 1)
		budget = 1;
	if (o->max_conns == 0)
		o->max_conns = budget < SERVE_DEFAULT_MAX_CONNS
			? (int)budget : SERVE_DEFAULT_MAX_CONNS;
	else if (o->max_conns > budget)
		fprintf(stderr, "kssl serve: warning: --max-conns %d needs up to "
			"%d file descriptors, the limit is %llu: new connections "
			"wait when it is reached\n", o->max_conns,
			o->max_conns * FDS_PER_CONN + FDS_RESERVED,
			(unsigned long long)rl.rlim_cur);
	if (o->max_conns_per_addr == 0)
		o->max_conns_per_addr = o->max_conns < SERVE_DEFAULT_PER_ADDR
			? o->max_conns : SERVE_DEFAULT_PER_ADDR;
}

/* The peer of fd: from accept's address where the loop has it. */
static void peer_of(int fd, const struct sockaddr *sa, struct hconn_peer *p)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	memset(p, 0, sizeof(*p));
	if (!sa) {
		if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
			return;
		sa = (const struct sockaddr *)&ss;
	}
	p->family = sa->sa_family;
	if (sa->sa_family == AF_INET) {
		const struct in_addr *a = &((const struct sockaddr_in *)sa)->sin_addr;

		memcpy(p->addr, a, sizeof(*a));
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		memcpy(p->addr, a, sizeof(*a));
	}
}

const char *peer_name(const struct hconn_peer *p, char *buf)
{
	if ((p->family != AF_INET && p->family != AF_INET6) ||
	    !inet_ntop(p->family, p->addr, buf, PEER_NAME_LEN))
		snprintf(buf, PEER_NAME_LEN, "-");
	return buf;
}

static int same_peer(const struct hconn_peer *a, const struct hconn_peer *b)
{
	return a->family == b->family && !memcmp(a->addr, b->addr,
						 sizeof(a->addr));
}

/* The oldest connection still in its handshake (from peer p, if not
 * NULL): new ones are at the head of the list, so the last match. */
static struct hconn *oldest_handshake(struct server *srv,
				      const struct hconn_peer *p)
{
	struct hconn *hc, *found = NULL;

	for (hc = srv->conns; hc; hc = hc->next)
		if (hc->state == HC_HANDSHAKE && (!p || same_peer(&hc->peer, p)))
			found = hc;
	return found;
}

int admit(struct server *srv, int fd, const struct sockaddr *sa,
	  struct hconn_peer *p)
{
	struct hconn *hc;
	size_t same = 0;

	peer_of(fd, sa, p);
	if (p->family == AF_INET || p->family == AF_INET6)
		for (hc = srv->conns; hc; hc = hc->next)
			same += same_peer(&hc->peer, p);
	/* Full: a new handshake is worth more than a socket that has not
	 * finished one for the longest time (of the same address, when the
	 * address is at its cap: it only competes with itself). */
	if (same >= (size_t)srv->o->max_conns_per_addr) {
		hc = oldest_handshake(srv, p);
		if (!hc)
			return -1;
		conn_close(hc);
	}
	if (srv->nconns >= (size_t)srv->o->max_conns) {
		hc = oldest_handshake(srv, NULL);
		if (!hc)
			return -1;
		conn_close(hc);
	}
	return 0;
}

void admit_accept_failed(struct server *srv, int err)
{
	struct hconn *hc = oldest_handshake(srv, NULL);

	int64_t now = now_ms();

	/* At most one line per ACCEPT_LOG_MS, however hard the flood. */
	srv->accept_failures++;
	if (!srv->accept_logged_at ||
	    now >= srv->accept_logged_at + ACCEPT_LOG_MS) {
		fprintf(stderr, "kssl serve: accept: %s: pausing new "
			"connections (%zu open, %lu time%s since the last "
			"report)\n", strerror(err), srv->nconns,
			srv->accept_failures, srv->accept_failures > 1 ? "s" : "");
		srv->accept_logged_at = now;
		srv->accept_failures = 0;
	}
	srv->accept_paused = 1;
	srv->accept_resume_at = now + ACCEPT_BACKOFF_MS;
	if (hc) /* shed: frees a descriptor for a newcomer */
		conn_close(hc);
	srv->nconns_at_pause = srv->nconns;
}

void admit_resume(struct server *srv)
{
	if (!srv->accept_paused || srv->stopping)
		return;
	if (srv->nconns >= srv->nconns_at_pause &&
	    now_ms() < srv->accept_resume_at)
		return;
	srv->accept_paused = 0;
	if (kssl_loop_listen(srv->loop, srv->listen_fd, conn_accept, srv) < 0) {
		/* Still paused; the next tick tries again. */
		fprintf(stderr, "kssl serve: accept: %s: retrying\n",
			kssl_last_error());
		srv->accept_paused = 1;
		srv->accept_resume_at = now_ms() + 100;
	}
}
