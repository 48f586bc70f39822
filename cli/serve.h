/* `kssl serve`: shared state of one worker. */
#ifndef KSSL_CLI_SERVE_H
#define KSSL_CLI_SERVE_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "http.h"
#include "kssl/kssl.h"
#include "kssl/kssl_uring.h"

/* Defaults of --max-conns (lowered to fit RLIMIT_NOFILE) and
 * --max-conns-per-addr. */
#define SERVE_DEFAULT_MAX_CONNS 1024
#define SERVE_DEFAULT_PER_ADDR 64
/* Upper bound of --workers (also at most 4 per online CPU). */
#define SERVE_MAX_WORKERS 256
/* TLS 1.2 suites by default: ECDHE key exchange with an AEAD, the ones
 * kernel TLS can carry (Mozilla's "intermediate" profile without DHE).
 * TLS 1.3 suites are all AEAD: OpenSSL's default list stays. */
#define SERVE_DEFAULT_CIPHERS \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

/* At most this many --bind addresses (and systemd sockets). */
#define SERVE_MAX_BINDS 16

struct serve_opts {
	const char *dir, *port, *cert, *key;
	const char *binds[SERVE_MAX_BINDS]; /* --bind, repeatable */
	int nbinds;
	int workers;
	int max_conns;          /* 0: from RLIMIT_NOFILE (admit_init_limits) */
	int max_conns_per_addr; /* 0: the default */
	int idle_timeout, header_timeout, send_timeout, grace; /* seconds */
	unsigned loop_flags;
	enum kssl_offload_mode offload;
	int access_log;
	enum log_format { LOG_KSSL, LOG_COMMON, LOG_COMBINED } log_format;
	const char *user;  /* --user: drop to this account after setup */
	int dotfiles;      /* --dotfiles: serve and list names starting '.' */
	const char *ciphers; /* --ciphers: TLS 1.2 cipher string */
	const char *ocsp;    /* --ocsp-response: DER file to staple */
	char headers[4096];  /* --header, --hsts: "Name: value\r\n"... */
	size_t headers_len;
};

enum hc_state {
	HC_HANDSHAKE,
	HC_READ,
	HC_HEAD,  /* writing the response head (and small bodies) */
	HC_BODY,  /* sending the file */
};

/* The client address: the key of the per-address cap, and for the log
 * (as text only when a line is written: peer_name). */
struct hconn_peer {
	int family;
	unsigned char addr[16];
};

/* admit.c: p's address as text into buf (at least PEER_NAME_LEN), "-"
 * if unknown; returns buf. */
#define PEER_NAME_LEN 64
const char *peer_name(const struct hconn_peer *p, char *buf);

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
	int body_inline;   /* the body went out with the head (conn.c) */
	int64_t deadline;  /* ms, CLOCK_MONOTONIC; 0 = none */
	size_t last_sent;  /* progress at the last send deadline (conn.c) */
	int last_outq;
	struct hconn_peer peer;
};

struct server {
	struct serve_opts *o;
	kssl_loop *loop;
	kssl_ctx *ctx;
	int root_fd;
	int listen_fd;
	int accept_paused;        /* after EMFILE & co. (admit.c) */
	int64_t accept_resume_at; /* ms */
	size_t nconns_at_pause;
	int64_t accept_logged_at; /* ms */
	unsigned long accept_failures; /* since the last report */
	size_t conns_peak;        /* since the last malloc_trim (serve.c) */
	int64_t next_trim;        /* ms */
	int64_t timers_at;        /* next walk of the deadlines (conn.c) */
	char root_real[PATH_MAX];
	struct hconn *conns;
	size_t nconns;
	int stopping;
};

int64_t now_ms(void);

/* headers.c: append a validated --header NAME:VALUE, or the HSTS header
 * (max_age NULL: one year). 0 or -1 (with a message on stderr). */
int headers_add(struct serve_opts *o, const char *arg);
int headers_hsts(struct serve_opts *o, const char *max_age, int subdomains);

/* tlsctx.c */
/* The server context from the options (certificate and key, or an
 * in-memory self-signed one); NULL with a message on stderr. */
kssl_ctx *tlsctx_new(const struct serve_opts *o);
/* SIGHUP: load the certificate and key again into a new context that new
 * connections get; open connections keep theirs (they hold a reference).
 * On failure the old context stays and the reason is logged. 0 or -1. */
int tlsctx_reload(struct server *srv);

/* listen.c: the listening sockets, one per process to run. */
struct listeners {
	int *fds;  /* nfds sockets: each worker process serves one */
	int nfds;
};
/* From systemd socket activation (LISTEN_FDS/LISTEN_PID) if present,
 * else one socket per --bind address and worker; prints the URLs.
 * 0 or -1 (with a message on stderr). */
int listeners_open(const struct serve_opts *o, const char *root,
		   struct listeners *l);

/* conn.c */
void conn_accept(kssl_loop *loop, int fd, void *arg);
void conn_timers(struct server *srv);
void conn_begin_stop(struct server *srv);
void conn_close(struct hconn *hc);

/* accesslog.c: the access log line of a finished response (stdout). */
void accesslog_write(struct hconn *hc);

/* log.c: in with bytes < 0x20, >= 0x7f, '"' and '\\' written as \xHH,
 * truncated to fit outlen (>= 6); returns out. */
const char *log_escape(const char *in, char *out, size_t outlen);

/* admit.c */
/* Raise the soft RLIMIT_NOFILE to the hard one; size the default caps. */
void admit_init_limits(struct serve_opts *o);
/* Whether the new socket fd, from peer sa (NULL: ask the socket), may
 * become a connection (fills *p), evicting the oldest pre-handshake
 * connection when the worker is full. 0 or -1. */
int admit(struct server *srv, int fd, const struct sockaddr *sa,
	  struct hconn_peer *p);
/* accept failed with err (EMFILE...): pause accepting, shed one. */
void admit_accept_failed(struct server *srv, int err);
/* Resume accepting once a connection closed or the back-off is over. */
void admit_resume(struct server *srv);

/* respond.c: fills hc->out, hc->file_fd/body_* and hc->status. */
void respond(struct hconn *hc);
void respond_error(struct hconn *hc, int status);

/* privs.c: initgroups, setgid, setuid to user, and check that root cannot
 * be regained. 0 or -1 (with a message on stderr). */
int drop_privileges(const char *user);

/* serve.c */
int cmd_serve(int argc, char **argv);
/* probe.c */
int cmd_probe(int argc, char **argv);

#endif
