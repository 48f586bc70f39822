/*
 * One HTTPS connection of `kssl serve`: handshake, read a request head,
 * write the response head, send the file range, then keep-alive or close.
 * Deadlines: header_timeout from accept (handshake + first request) and
 * from the first byte of each later request, so a client trickling bytes
 * (slowloris) is cut off; idle_timeout between requests; send_timeout
 * without progress while sending.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	char *p = calloc(1, sizeof(struct http_req) + HTTP_MAX_HEADER_BYTES);

	if (!p)
		return -1;
	hc->req = (struct http_req *)(void *)p;
	hc->in = p + sizeof(struct http_req);
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
	if (hc->file_fd >= 0)
		close(hc->file_fd);
	kssl_lconn_close(hc->lc); /* frees the kssl_conn, closes the socket */
	request_release(hc);
	free(hc);
}

/* close_notify is best effort: the socket is non-blocking. */
static void close_gracefully(struct hconn *hc)
{
	kssl_conn *c = kssl_lconn_tls(hc->lc);

	if (c && hc->state != HC_HANDSHAKE)
		kssl_shutdown(c);
	conn_close(hc);
}

static void access_log(struct hconn *hc)
{
	kssl_conn *c = kssl_lconn_tls(hc->lc);
	char date[64];
	time_t t = time(NULL);
	struct tm tm;
	const char *path = kssl_lconn_send_path(hc->lc);

	if (!hc->srv->o->access_log)
		return;
	localtime_r(&t, &tm);
	strftime(date, sizeof(date), "%d/%b/%Y:%H:%M:%S %z", &tm);
	printf("%s - - [%s] \"%s %s HTTP/1.%d\" %d %zu tls=%s tx=%s%s%s\n",
	       hc->peer, date, hc->req->method[0] ? hc->req->method : "-",
	       hc->req->target[0] ? hc->req->target : "-", hc->req->minor,
	       hc->status, hc->body_len,
	       kssl_conn_version(c) == KSSL_TLS1_3 ? "1.3" : "1.2",
	       kssl_conn_offload(c, KSSL_DIR_TX, NULL) == KSSL_OFFLOAD_KERNEL ?
		       "kernel" : "user",
	       hc->body_len ? " send=" : "", hc->body_len ? path : "");
}

static void finish(struct hconn *hc)
{
	struct server *srv = hc->srv;

	access_log(hc);
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
		fprintf(stderr, "kssl serve: %s: sending %s: %s\n", hc->peer,
			hc->req->path, kssl_lconn_error(hc->lc));
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
	hc->deadline = now_ms() + (int64_t)hc->srv->o->send_timeout * 1000;
	if (kssl_lconn_sendfile(lc, hc->file_fd, hc->body_off, hc->body_len,
				on_body, hc) < 0)
		conn_close(hc);
}

static void send_response(struct hconn *hc)
{
	hc->state = HC_HEAD;
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
	memset(hc->req, 0, sizeof(*hc->req));
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

static void peer_name(int fd, char *out, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	snprintf(out, len, "-");
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
		return;
	if (ss.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out,
			  (socklen_t)len);
	else if (ss.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr,
			  out, (socklen_t)len);
}

void conn_accept(kssl_loop *loop, int fd, void *arg)
{
	struct server *srv = arg;
	struct hconn *hc;
	kssl_conn *c;

	if (srv->nconns >= (size_t)srv->o->max_conns) {
		close(fd); /* over the cap: refuse before any TLS work */
		return;
	}
	/*
	 * Responses are written as they are ready (head, then body): without
	 * TCP_NODELAY a small keep-alive response waits for the client's
	 * delayed ACK (~40 ms per request, measured by the benchmark).
	 */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
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
	peer_name(fd, hc->peer, sizeof(hc->peer));
	hc->deadline = now_ms() + (int64_t)srv->o->header_timeout * 1000;
	hc->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = hc;
	srv->conns = hc;
	srv->nconns++;
	if (kssl_lconn_handshake(hc->lc, on_handshake, hc) < 0)
		conn_close(hc);
}

void conn_timers(struct server *srv)
{
	int64_t now = now_ms();
	struct hconn *hc = srv->conns, *next;

	for (; hc; hc = next) {
		next = hc->next;
		if (hc->state == HC_BODY) {
			size_t sent = kssl_lconn_sent(hc->lc);

			if (sent != hc->last_sent) { /* progress: extend */
				hc->last_sent = sent;
				hc->deadline = now + (int64_t)srv->o->send_timeout * 1000;
			}
		}
		if (hc->deadline && now >= hc->deadline)
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
