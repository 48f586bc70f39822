/* `kssl serve`: shared state of one worker. */
#ifndef KSSL_CLI_SERVE_H
#define KSSL_CLI_SERVE_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "http.h"
#include "kssl/kssl.h"
#include "kssl/kssl_uring.h"

struct serve_opts {
	const char *dir, *bind, *port, *cert, *key;
	int workers;
	int max_conns;
	int idle_timeout, header_timeout, send_timeout, grace; /* seconds */
	unsigned loop_flags;
	enum kssl_offload_mode offload;
	int access_log;
};

enum hc_state {
	HC_HANDSHAKE,
	HC_READ,
	HC_HEAD,  /* writing the response head (and small bodies) */
	HC_BODY,  /* sending the file */
};

struct hconn {
	struct server *srv;
	kssl_lconn *lc;
	struct hconn *prev, *next;
	enum hc_state state;
	/*
	 * The request being read or answered: req and in (HTTP_MAX_HEADER_BYTES)
	 * are one allocation made when a request's first bytes arrive and freed
	 * when the connection goes idle with nothing pipelined, so an idle
	 * keep-alive connection holds neither (both NULL; see conn.c).
	 */
	struct http_req *req;
	char *in;
	size_t in_len;
	struct http_buf out;
	int file_fd;
	off_t body_off;
	size_t body_len;
	int status;
	int keepalive;
	int64_t deadline;  /* ms, CLOCK_MONOTONIC; 0 = none */
	size_t last_sent;
	char peer[64];
};

struct server {
	struct serve_opts *o;
	kssl_loop *loop;
	kssl_ctx *ctx;
	int root_fd;
	char root_real[PATH_MAX];
	struct hconn *conns;
	size_t nconns;
	int stopping;
};

int64_t now_ms(void);

/* conn.c */
void conn_accept(kssl_loop *loop, int fd, void *arg);
void conn_timers(struct server *srv);
void conn_begin_stop(struct server *srv);
void conn_close(struct hconn *hc);

/* respond.c: fills hc->out, hc->file_fd/body_* and hc->status. */
void respond(struct hconn *hc);
void respond_error(struct hconn *hc, int status);

/* serve.c */
int cmd_serve(int argc, char **argv);
/* probe.c */
int cmd_probe(int argc, char **argv);

#endif
