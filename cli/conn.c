/*
 * One HTTPS connection of `kssl serve`: handshake, read a request head,
 * write the response head, send the file range, then keep-alive or close.
 * Deadlines: header_timeout from accept (handshake + first request) and
 * from the first byte of each later request, so a client trickling bytes
 * (slowloris) is cut off; idle_timeout between requests; send_timeout
 * without progress while sending.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "serve.h"

int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void start_read(struct hconn *hc);

/*
 * Where an idle connection's next request lands. The loop runs the read
 * and its callback back to back (kssl_lconn_read: one step, then on_read),
 * so one buffer per process serves every idle connection: on_read moves
 * the bytes into the connection's own request buffer before any other
 * connection reads.
 */
static char idle_in[HTTP_MAX_HEADER_BYTES];

/* The request state (req + in) of a connection that has none. */
static int request_alloc(struct hconn *hc)
{
	/* Not calloc: zeroing ~25 KiB per request showed in profiles. The
	 * buffer is written before it is read; the request is reset. */
	char *p = malloc(sizeof(struct http_req) + HTTP_MAX_HEADER_BYTES);

	if (!p)
		return -1;
	hc->req = (struct http_req *)(void *)p;
	hc->in = p + sizeof(struct http_req);
	http_req_reset(hc->req);
	return 0;
}

/* Idle: drop the request state and the response head's buffer. */
static void request_release(struct hconn *hc)
{
	free(hc->req); /* hc->in is inside it */
	hc->req = NULL;
	hc->in = NULL;
	hc->in_len = 0;
	free(hc->out.p);
	hc->out = (struct http_buf){ 0 };
}

void conn_close(struct hconn *hc)
{
	struct server *srv = hc->srv;

	if (hc->prev)
		hc->prev->next = hc->next;
	else
		srv->conns = hc->next;
	if (hc->next)
		hc->next->prev = hc->prev;
	srv->nconns--;
	/* Frees the kssl_conn, closes the socket, and the file once no
	 * splice of it is left in the ring. */
	kssl_lconn_close_file(hc->lc, hc->file_fd);
	request_release(hc);
	free(hc);
}

/* close_notify is best effort: the socket is non-blocking. */
static void close_gracefully(struct hconn *hc)
{
	kssl_conn *c = kssl_lconn_tls(hc->lc);

	/* Best effort: the connection closes whether close_notify went out. */
	if (c && hc->state != HC_HANDSHAKE)
		(void)!kssl_shutdown(c);
	conn_close(hc);
}

static void finish(struct hconn *hc)
{
	struct server *srv = hc->srv;

	accesslog_write(hc);
	if (hc->file_fd >= 0)
		close(hc->file_fd);
	hc->file_fd = -1;
	if (!hc->keepalive || srv->stopping)
		return close_gracefully(hc);
	hc->deadline = now_ms() + (int64_t)srv->o->idle_timeout * 1000;
	start_read(hc);
}

static void on_body(kssl_lconn *lc, ssize_t r, void *arg)
{
	struct hconn *hc = arg;

	(void)lc;
	if (r < 0) {
		char path[4 * 1024], peer[PEER_NAME_LEN];

		fprintf(stderr, "kssl serve: %s: sending %s: %s\n",
			peer_name(&hc->peer, peer),
			log_escape(hc->req->path, path, sizeof(path)),
			kssl_lconn_error(hc->lc));
		return conn_close(hc);
	}
	finish(hc);
}

static void on_head(kssl_lconn *lc, ssize_t r, void *arg)
{
	struct hconn *hc = arg;

	if (r < 0)
		return conn_close(hc);
	if (hc->file_fd < 0)
		return finish(hc);
	hc->state = HC_BODY;
	hc->last_sent = 0;
	hc->last_outq = 0;
	hc->deadline = now_ms() + (int64_t)hc->srv->o->send_timeout * 1000;
	if (kssl_lconn_sendfile(lc, hc->file_fd, hc->body_off, hc->body_len,
				on_body, hc) < 0)
		conn_close(hc);
}

/*
 * A body that fits in one TLS record with the head goes out in the head's
 * buffer where TX is in userspace (SSL_write copies it anyway): one record
 * and one send instead of two. With TX in the kernel the body is spliced
 * as always. 1 if the body is in hc->out, 0 if it is sent after the head,
 * -1 if the file no longer holds it (shrunk since the stat: nothing was
 * sent).
 */
#define ONE_RECORD 16384 /* TLS's largest plaintext record */

static int inline_body(struct hconn *hc)
{
	kssl_conn *c = kssl_lconn_tls(hc->lc);
	ssize_t n;

	if (hc->file_fd < 0 || hc->body_len + hc->out.len > ONE_RECORD || !c ||
	    kssl_conn_offload(c, KSSL_DIR_TX, NULL) == KSSL_OFFLOAD_KERNEL ||
	    http_buf_reserve(&hc->out, hc->body_len) < 0)
		return 0;
	do
		n = pread(hc->file_fd, hc->out.p + hc->out.len, hc->body_len,
			  hc->body_off);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)hc->body_len) {
		char path[4 * 1024], peer[PEER_NAME_LEN];

		fprintf(stderr, "kssl serve: %s: sending %s: %s\n",
			peer_name(&hc->peer, peer),
			log_escape(hc->req->path, path, sizeof(path)),
			n < 0 ? strerror(errno) : "file shorter than its size");
		return -1;
	}
	hc->out.len += (size_t)n;
	hc->body_inline = 1;
	close(hc->file_fd);
	hc->file_fd = -1;
	return 1;
}

static void send_response(struct hconn *hc)
{
	hc->body_inline = 0;
	if (inline_body(hc) < 0)
		return conn_close(hc);
	hc->state = HC_HEAD;
	hc->last_sent = 0;
	hc->last_outq = 0;
	hc->deadline = now_ms() + (int64_t)hc->srv->o->send_timeout * 1000;
	if (kssl_lconn_write(hc->lc, hc->out.p, hc->out.len, on_head, hc) < 0)
		conn_close(hc);
}

/* A complete head, an error, or a need for more bytes. */
static void process(struct hconn *hc)
{
	int r = http_parse(hc->in, hc->in_len, hc->req);

	if (r == 1)
		return start_read(hc);
	hc->keepalive = r == 0 ? hc->req->keepalive : 0;
	if (r) {
		respond_error(hc, r);
	} else {
		respond(hc);
		/* Pipelined bytes stay for the next round. */
		memmove(hc->in, hc->in + hc->req->header_bytes,
			hc->in_len - hc->req->header_bytes);
		hc->in_len -= hc->req->header_bytes;
	}
	send_response(hc);
}

static void on_read(kssl_lconn *lc, ssize_t n, void *arg)
{
	struct hconn *hc = arg;

	(void)lc;
	if (n <= 0)
		return conn_close(hc); /* EOF, close_notify or error */
	if (!hc->req) { /* first bytes of a request, read into idle_in */
		if (request_alloc(hc) < 0)
			return conn_close(hc);
		memcpy(hc->in, idle_in, (size_t)n);
	}
	if (hc->in_len == 0) /* first byte of a request: header deadline */
		hc->deadline = now_ms() + (int64_t)hc->srv->o->header_timeout * 1000;
	hc->in_len += (size_t)n;
	process(hc);
}

static void start_read(struct hconn *hc)
{
	hc->state = HC_READ;
	if (hc->in_len == 0) { /* idle: no request state until bytes come */
		request_release(hc);
		if (kssl_lconn_read(hc->lc, idle_in, sizeof(idle_in), on_read,
				    hc) < 0)
			conn_close(hc);
		return;
	}
	http_req_reset(hc->req);
	if (http_parse(hc->in, hc->in_len, hc->req) != 1)
		return process(hc);
	if (hc->in_len >= HTTP_MAX_HEADER_BYTES) {
		hc->keepalive = 0;
		respond_error(hc, 431);
		return send_response(hc);
	}
	if (kssl_lconn_read(hc->lc, hc->in + hc->in_len,
			    HTTP_MAX_HEADER_BYTES - hc->in_len, on_read, hc) < 0)
		conn_close(hc);
}

static void on_handshake(kssl_lconn *lc, ssize_t r, void *arg)
{
	struct hconn *hc = arg;

	(void)lc;
	if (r < 0)
		return conn_close(hc);
	start_read(hc);
}

void conn_accept(kssl_loop *loop, int fd, void *arg)
{
	struct server *srv = arg;
	struct hconn_peer peer;
	struct hconn *hc;
	kssl_conn *c;

	if (fd < 0)
		return admit_accept_failed(srv, -fd);
	if (admit(srv, fd, kssl_loop_accept_addr(loop, NULL), &peer) < 0) {
		close(fd); /* over a cap: refuse before any TLS work */
		return;
	}
	/* TCP_NODELAY comes from the listening socket (serve.c). */
	hc = calloc(1, sizeof(*hc));
	c = hc ? kssl_conn_new(srv->ctx, fd) : NULL;
	if (!c || !(hc->lc = kssl_lconn_new(loop, fd, c))) {
		kssl_conn_free(c);
		free(hc);
		close(fd);
		return;
	}
	kssl_lconn_set_data(hc->lc, hc);
	hc->srv = srv;
	hc->file_fd = -1;
	hc->state = HC_HANDSHAKE;
	hc->peer = peer;
	hc->deadline = now_ms() + (int64_t)srv->o->header_timeout * 1000;
	hc->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = hc;
	srv->conns = hc;
	srv->nconns++;
	if (kssl_lconn_handshake(hc->lc, on_handshake, hc) < 0)
		conn_close(hc);
}

/*
 * Progress of a response as the client sees it: bytes handed to the socket
 * (kssl_lconn_sent) only move when the send buffer has room, and an
 * autotuned buffer of megabytes drained by a slow but steady reader opens
 * room only after minutes. The send queue (SIOCOUTQ: bytes not yet
 * acknowledged) shrinks with every ACK, so either counts as progress.
 * Sampled once per --send-timeout, at the deadline: no cost meanwhile.
 */
static int send_progressed(struct hconn *hc)
{
	size_t sent = kssl_lconn_sent(hc->lc);
	int outq = 0, moved;

	if (ioctl(kssl_lconn_fd(hc->lc), SIOCOUTQ, &outq) < 0)
		outq = hc->last_outq;
	moved = sent != hc->last_sent || outq < hc->last_outq;
	hc->last_sent = sent;
	hc->last_outq = outq;
	return moved;
}

/*
 * Walks every connection: with a thousand open and the loop turning
 * thousands of times a second under load, a walk per turn cost more than
 * the deadlines (whole seconds) need. At most one walk per
 * CONN_TIMER_MS; the loop wakes at least that often anyway.
 */
#define CONN_TIMER_MS 100

void conn_timers(struct server *srv)
{
	int64_t now = now_ms();
	struct hconn *hc = srv->conns, *next;
	char path[4 * 1024], peer[PEER_NAME_LEN];

	if (now < srv->timers_at)
		return;
	srv->timers_at = now + CONN_TIMER_MS;
	for (; hc; hc = next) {
		next = hc->next;
		if (!hc->deadline || now < hc->deadline)
			continue;
		if (hc->state != HC_HEAD && hc->state != HC_BODY) {
			conn_close(hc);
			continue;
		}
		if (send_progressed(hc)) {
			hc->deadline = now + (int64_t)srv->o->send_timeout * 1000;
			continue;
		}
		/* Every cut is logged: the client got a truncated response. */
		fprintf(stderr, "kssl serve: %s: %s: no send progress for %d s, "
			"cut after %zu of %zu body bytes\n", peer_name(&hc->peer, peer),
			hc->req->path[0] ? log_escape(hc->req->path, path,
						     sizeof(path)) : "-",
			srv->o->send_timeout,
			hc->state == HC_BODY ? hc->last_sent : 0, hc->body_len);
		conn_close(hc);
	}
}

/* SIGTERM: stop accepting, drop idle connections, let transfers finish. */
void conn_begin_stop(struct server *srv)
{
	struct hconn *hc = srv->conns, *next;

	srv->stopping = 1;
	kssl_loop_unlisten(srv->loop);
	for (; hc; hc = next) {
		next = hc->next;
		if (hc->state == HC_HANDSHAKE ||
		    (hc->state == HC_READ && hc->in_len == 0))
			conn_close(hc);
		else
			hc->keepalive = 0;
	}
}
