/* `kssl get`: shared declarations of the download client. */
#ifndef KSSL_CLI_GET_H
#define KSSL_CLI_GET_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kssl/kssl.h"

/*
 * Exit statuses of `kssl get` (documented in docs/get.md). With several
 * URLs the status is that of the first URL, in command-line order, that
 * failed.
 */
enum get_exit {
	GET_OK = 0,
	GET_E_LOCAL = 1,    /* output file, memory, other local failure */
	GET_E_USAGE = 2,    /* bad option or URL */
	GET_E_CONNECT = 3,  /* name lookup, connect, reset, timeout */
	GET_E_TLS = 4,      /* TLS handshake or record error */
	GET_E_VERIFY = 5,   /* certificate, host name or pin mismatch */
	GET_E_HTTP = 6,     /* HTTP status >= 400 or a malformed response */
	GET_E_SHORT = 7,    /* body ended before its length: partial file kept */
	GET_E_REDIRECT = 8, /* redirect not followed (no -L) or too many */
};

/* ---- url.c ---- */

#define URL_HOST_MAX 256
#define URL_PATH_MAX 4096

/* An https URL split into the parts a request needs. */
struct url {
	char host[URL_HOST_MAX]; /* without brackets for IPv6 literals */
	char port[8];
	char target[URL_PATH_MAX]; /* path + query, starts with '/' */
	int ipv6;                  /* host is an IPv6 literal */
};

/*
 * url_parse parses an absolute "https://host[:port][/path][?query]" URL
 * (fragment dropped). Returns 0, or -1 with a reason in err.
 */
int url_parse(const char *s, struct url *u, char *err, size_t errlen);

/*
 * url_resolve makes the absolute URL that `location` (a Location header:
 * absolute, scheme-relative, absolute-path or relative-path) names when
 * seen from base. Returns 0 or -1 (too long, or not https).
 */
int url_resolve(const struct url *base, const char *location, char *out,
		size_t outlen);

/*
 * url_filename puts the file name for -O into out: the last path segment,
 * percent-decoded. Returns 0, or -1 when there is no safe name (empty,
 * ".", "..", or it would contain '/' or a NUL byte).
 */
int url_filename(const struct url *u, char *out, size_t outlen);

/* ---- get_http.c: response heads and chunked bodies ---- */

#define RESP_HEAD_MAX 65536

/* What `kssl get` needs from a response head. */
struct resp {
	int status;           /* e.g. 200 */
	int minor;            /* HTTP/1.<minor> */
	int64_t length;       /* Content-Length, -1 if absent */
	int chunked;          /* Transfer-Encoding ends in chunked */
	int has_range;        /* Content-Range present */
	int64_t range_start, range_end, range_total; /* -1 where "*" */
	char reason[64];      /* reason phrase, may be empty */
	char location[URL_PATH_MAX + URL_HOST_MAX];
	size_t head_bytes;    /* bytes of the head incl. the blank line */
};

/*
 * resp_parse parses a response head in buf[0..len). Returns 0 when a full
 * head was parsed, 1 when more bytes are needed, -1 when it is malformed
 * (reason in err).
 */
int resp_parse(const char *buf, size_t len, struct resp *r, char *err,
	       size_t errlen);

/* Incremental decoder of a chunked body (RFC 9112, section 7.1). */
struct chunked {
	int state;
	uint64_t left;  /* data bytes left in the current chunk */
	size_t line;    /* bytes of the current size/trailer line */
	int digits;
};

/*
 * chunked_feed decodes in[0..len): data bytes are moved to the front of
 * `in` (in place, never more than they were) and their count stored in
 * *out_len. Returns 1 when the last chunk and trailers were seen (bytes
 * after them are ignored), 0 when more input is needed, -1 on bad syntax.
 */
int chunked_feed(struct chunked *c, char *in, size_t len, size_t *out_len);

/* ---- progress.c ---- */

/* Per-download counters shared with the progress display. */
struct progress_item {
	const char *name;
	_Atomic int64_t done;  /* bytes written to the output so far */
	_Atomic int64_t total; /* expected total, -1 unknown */
	_Atomic int finished;
};

/*
 * progress_draw renders one line for all items on stderr (a terminal):
 * bytes, percentage, rate since `start_ms`. final: end the line.
 */
void progress_draw(struct progress_item *items, size_t n, int64_t start_ms,
		   int final);

/* Milliseconds of CLOCK_MONOTONIC (defined in conn.c). */
int64_t now_ms(void);

/* ---- get_tls.c: trust settings, TCP connect, TLS handshake ---- */

/* Options of one `kssl get` run (read-only while downloads run). */
struct get_opts {
	const char *cacert;    /* --cacert FILE, or NULL: system CAs */
	uint8_t pin[32];       /* --pin-sha256 */
	int has_pin;
	int insecure;          /* -k */
	int quiet, verbose;
	int resume;            /* -C */
	int follow, max_redirs;
	int timeout;           /* seconds, connect and stalls */
	int parallel;
	int no_splice;         /* --no-splice: read path even with kernel RX */
	enum kssl_offload_mode offload;
	kssl_ctx *ctx;
};

/*
 * get_pin_parse reads a SHA-256 fingerprint: 64 hex digits, with or
 * without ':' between bytes (as `kssl serve` prints it), any case.
 */
int get_pin_parse(const char *s, uint8_t out[32]);

/* get_ctx_new makes the client context for o; NULL + message on failure. */
kssl_ctx *get_ctx_new(const struct get_opts *o, char *err, size_t errlen);

/*
 * get_open connects to u (every address of the name in turn), runs the
 * handshake with SNI and host name checking and checks the pin. Returns
 * GET_OK with *fd and *tls set, or a GET_E_* code with a message in err.
 */
int get_open(const struct get_opts *o, const struct url *u, int *fd,
	     kssl_conn **tls, char *err, size_t errlen);

/* ---- get_body.c: moving the body from the socket to the output ---- */

/* One body transfer. */
struct xfer {
	kssl_conn *tls;
	int sock, out;
	int seekable;       /* out is our file: pwrite/splice at `off` */
	int can_splice;     /* out accepts splice(2) */
	off_t off;          /* where the next body byte goes (seekable) */
	int64_t left;       /* body bytes still expected, -1: until close */
	int chunked;
	struct progress_item *prog;
	/* results */
	int64_t spliced, copied; /* body bytes moved by splice / by read */
	char err[512];
};

/*
 * xfer_body writes the leftover head bytes lead[0..n) and the rest of the
 * body to x->out. Returns GET_OK or a GET_E_* code with x->err set.
 */
int xfer_body(struct xfer *x, const char *lead, size_t n,
	      const struct get_opts *o);

/* ---- get_job.c: one download, with its redirects ---- */

/* One URL of the command line and its outcome. */
struct job {
	const char *url;     /* as given */
	const char *out;     /* -o FILE ("-": stdout), or NULL */
	int remote_name;     /* -O: file name from the URL */
	struct progress_item prog;
	int rc;              /* GET_OK or GET_E_* */
	char msg[1024];      /* why it failed */
	char info[1024];     /* --verbose summary */
};

/* job_run downloads j->url as o says and fills j->rc, msg and info. */
void job_run(struct job *j, const struct get_opts *o);

/* Maps a kssl error code from the transfer or handshake to a GET_E_*. */
int get_exit_for(int kssl_code);

#endif
