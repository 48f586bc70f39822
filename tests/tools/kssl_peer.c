/*
 * kssl-peer: one end of a test connection, for interop tests against
 * openssl s_client/s_server, gnutls-cli/gnutls-serv and Python's ssl.
 *
 *   kssl-peer server|client [options]
 *     --host H --port P      address (server: bind; client: connect); port 0
 *                            for a server prints "listening PORT" first
 *     --name N               client: SNI / host name to verify
 *     --cert F --key F       certificate chain and key (PEM)
 *     --ca F                 trust anchors; --noverify turns checking off
 *     --tls 1.2|1.3          pin the version
 *     --ciphers S            TLS 1.2 cipher list; --suites S TLS 1.3 suites
 *     --offload both|tx|rx|none
 *     --tickets N            server: TLS 1.3 tickets per handshake
 *     --sessions             client: keep sessions (defers RX for tickets)
 *     --request TEXT         write TEXT first (\r, \n, \\ escapes), e.g. an
 *                            HTTP request for gnutls-serv --http
 *     --send FILE            send FILE (sendfile) after the handshake
 *     --send-write FILE      send FILE with kssl_write instead
 *     --echo FILE            for an echo server: send FILE in 64 KiB chunks
 *                            (sendfile), reading each chunk back before the
 *                            next; prints "echo N SHA256 END"
 *     --recv                 read until close_notify/EOF, print sha256
 *     --recv-len N           with --recv: stop after N bytes (END "limit")
 *     --out FILE             also write what --recv/--echo read to FILE
 *     --expect-offload DIRS  fail (exit 3) unless DIRS (tx,rx) are kernel
 *     --no-shutdown          do not send close_notify
 *
 * Prints "handshake ...", "offload tx=... rx=...", "sent N",
 * "recv N SHA256 END" lines on stdout; errors on stderr; exit 0 on success.
 * END is close_notify, limit, complete (--echo) or the KSSL_E_* name of the
 * read error (then the exit status is 1; the digest covers the bytes read
 * before it).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "kssl/kssl.h"

struct opts {
	int server;
	const char *host, *port, *name, *cert, *key, *ca, *ciphers, *suites;
	const char *send, *expect, *request, *echo, *out;
	int tls, noverify, recv, use_write, tickets, sessions, no_shutdown;
	size_t recv_len; /* 0: no limit */
	enum kssl_offload_mode offload;
};

static void die(const char *what, int code)
{
	fprintf(stderr, "kssl-peer: %s: %s (%s)\n", what, kssl_last_error(),
		kssl_error_name(code));
	exit(1);
}

static int tcp_socket(const struct opts *o)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	int fd, one = 1, r;

	hints.ai_flags = o->server ? AI_PASSIVE : 0;
	r = getaddrinfo(o->host, o->port, &hints, &ai);
	if (r) {
		fprintf(stderr, "kssl-peer: %s: %s\n", o->host, gai_strerror(r));
		exit(1);
	}
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (o->server) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int cfd;

		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 4)) {
			perror("kssl-peer: bind/listen");
			exit(1);
		}
		getsockname(fd, (struct sockaddr *)&ss, &len);
		printf("listening %d\n", ntohs(((struct sockaddr_in *)&ss)->sin_port));
		fflush(stdout);
		cfd = accept(fd, NULL, NULL);
		close(fd);
		fd = cfd;
	} else if (connect(fd, ai->ai_addr, ai->ai_addrlen)) {
		perror("kssl-peer: connect");
		exit(1);
	}
	freeaddrinfo(ai);
	if (fd < 0) {
		perror("kssl-peer: accept");
		exit(1);
	}
	return fd;
}

static kssl_ctx *make_ctx(const struct opts *o)
{
	kssl_ctx *ctx = kssl_ctx_new(o->server ? KSSL_SERVER : KSSL_CLIENT);
	int r;

	if (!ctx)
		die("kssl_ctx_new", KSSL_E_NOMEM);
	if (o->cert && (r = kssl_ctx_use_cert_file(ctx, o->cert, o->key)) < 0)
		die("certificate", r);
	if (o->ca && (r = kssl_ctx_load_ca_file(ctx, o->ca)) < 0)
		die("CA", r);
	if (o->ca && o->server)
		kssl_ctx_set_verify(ctx, KSSL_VERIFY_REQUIRED);
	if (o->noverify)
		kssl_ctx_set_verify(ctx, KSSL_VERIFY_NONE);
	if (o->tls && (r = kssl_ctx_set_versions(ctx, o->tls, o->tls)) < 0)
		die("version", r);
	if (o->ciphers && (r = kssl_ctx_set_ciphers(ctx, o->ciphers)) < 0)
		die("ciphers", r);
	if (o->suites && (r = kssl_ctx_set_ciphersuites(ctx, o->suites)) < 0)
		die("ciphersuites", r);
	if (o->tickets >= 0 && (r = kssl_ctx_set_num_tickets(ctx, (size_t)o->tickets)) < 0)
		die("tickets", r);
	kssl_ctx_set_client_sessions(ctx, o->sessions);
	kssl_ctx_set_offload(ctx, o->offload);
	return ctx;
}

static const char *state_name(enum kssl_offload_state s)
{
	return s == KSSL_OFFLOAD_KERNEL ? "kernel" :
	       s == KSSL_OFFLOAD_USER ? "user" : "pending";
}

static void print_offload(kssl_conn *c)
{
	const char *tr, *rr;
	enum kssl_offload_state t = kssl_conn_offload(c, KSSL_DIR_TX, &tr);
	enum kssl_offload_state r = kssl_conn_offload(c, KSSL_DIR_RX, &rr);

	printf("offload tx=%s rx=%s\n", state_name(t), state_name(r));
	if (tr)
		printf("reason tx: %s\n", tr);
	if (rr)
		printf("reason rx: %s\n", rr);
	fflush(stdout);
}

static int check_offload(kssl_conn *c, const char *expect)
{
	int bad = 0;

	if (!expect)
		return 0;
	if (strstr(expect, "tx") && kssl_conn_offload(c, KSSL_DIR_TX, NULL) != KSSL_OFFLOAD_KERNEL)
		bad = 1;
	if (strstr(expect, "rx") && kssl_conn_offload(c, KSSL_DIR_RX, NULL) != KSSL_OFFLOAD_KERNEL)
		bad = 1;
	if (bad) {
		fprintf(stderr, "kssl-peer: expected offload of %s\n", expect);
		print_offload(c);
	}
	return bad;
}

static void send_file(kssl_conn *c, const char *path, int use_write)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	size_t sent = 0;
	int r;

	if (fd < 0 || fstat(fd, &st) < 0) {
		perror(path);
		exit(1);
	}
	if (use_write) {
		char buf[65536];
		ssize_t n;

		while ((n = read(fd, buf, sizeof(buf))) > 0) {
			for (ssize_t off = 0; off < n;) {
				ssize_t w = kssl_write(c, buf + off, (size_t)(n - off));

				if (w < 0)
					die("kssl_write", (int)w);
				off += w;
			}
			sent += (size_t)n;
		}
	} else if ((r = kssl_sendfile(c, fd, 0, (size_t)st.st_size, &sent)) < 0) {
		die("kssl_sendfile", r);
	}
	close(fd);
	printf("sent %zu\n", sent);
	fflush(stdout);
}

/*
 * Reads into the running digest (and out_fd if >= 0) until close_notify, a
 * read error or `limit` bytes (0: no limit). Adds the bytes read to *total
 * and sets *end to why it stopped; returns 1 on a read error, else 0.
 */
static int recv_into(kssl_conn *c, EVP_MD_CTX *md, int out_fd, size_t limit,
		     size_t *total, const char **end)
{
	unsigned char buf[65536];
	size_t got = 0;

	for (;;) {
		size_t want = sizeof(buf);
		ssize_t n;

		if (limit && got == limit) {
			*end = "limit";
			return 0;
		}
		if (limit && limit - got < want)
			want = limit - got;
		n = kssl_read(c, buf, want);
		if (n == 0) {
			*end = "close_notify";
			return 0;
		}
		if (n < 0) {
			fprintf(stderr, "kssl-peer: kssl_read: %s (%s)\n",
				kssl_last_error(), kssl_error_name((int)n));
			*end = kssl_error_name((int)n);
			return 1;
		}
		EVP_DigestUpdate(md, buf, (size_t)n);
		if (out_fd >= 0 && write(out_fd, buf, (size_t)n) != n) {
			perror("kssl-peer: --out");
			exit(1);
		}
		got += (size_t)n;
		*total += (size_t)n;
	}
}

static EVP_MD_CTX *digest_new(void)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
		fprintf(stderr, "kssl-peer: EVP_DigestInit_ex failed\n");
		exit(1);
	}
	return md;
}

/* Prints "LABEL N SHA256HEX END" and frees md. */
static void digest_print(const char *label, EVP_MD_CTX *md, size_t total,
			 const char *end)
{
	unsigned char digest[32];
	unsigned int dlen;

	EVP_DigestFinal_ex(md, digest, &dlen);
	EVP_MD_CTX_free(md);
	printf("%s %zu ", label, total);
	for (unsigned int i = 0; i < dlen; i++)
		printf("%02x", digest[i]);
	printf(" %s\n", end);
	fflush(stdout);
}

static int recv_all(kssl_conn *c, size_t limit, int out_fd)
{
	EVP_MD_CTX *md = digest_new();
	size_t total = 0;
	const char *end;
	int rc = recv_into(c, md, out_fd, limit, &total, &end);

	digest_print("recv", md, total, end);
	return rc;
}

#define ECHO_CHUNK 65536 /* small enough to fit the socket buffers both ways */

/* Sends path chunk by chunk and reads each chunk back from an echo peer. */
static int echo_file(kssl_conn *c, const char *path, int out_fd)
{
	EVP_MD_CTX *md = digest_new();
	int fd = open(path, O_RDONLY);
	const char *end = "complete";
	size_t total = 0;
	struct stat st;
	int rc = 0;

	if (fd < 0 || fstat(fd, &st) < 0) {
		perror(path);
		exit(1);
	}
	for (off_t off = 0; off < st.st_size;) {
		size_t n = (size_t)(st.st_size - off), sent, before = total;
		int r;

		if (n > ECHO_CHUNK)
			n = ECHO_CHUNK;
		if ((r = kssl_sendfile(c, fd, off, n, &sent)) < 0)
			die("kssl_sendfile", r);
		rc = recv_into(c, md, out_fd, n, &total, &end);
		if (rc || total - before < n)
			break; /* error, or close_notify before the echo */
		end = "complete";
		off += (off_t)n;
	}
	close(fd);
	digest_print("echo", md, total, end);
	return rc || strcmp(end, "complete") != 0;
}

/* Writes text with \r, \n and \\ decoded (for HTTP requests). */
static void send_request(kssl_conn *c, const char *text)
{
	char buf[4096];
	size_t n = 0;

	for (const char *p = text; *p && n < sizeof(buf); p++) {
		if (*p == '\\' && p[1]) {
			p++;
			buf[n++] = *p == 'r' ? '\r' : *p == 'n' ? '\n' : *p;
		} else {
			buf[n++] = *p;
		}
	}
	for (size_t off = 0; off < n;) {
		ssize_t w = kssl_write(c, buf + off, n - off);

		if (w < 0)
			die("kssl_write (--request)", (int)w);
		off += (size_t)w;
	}
}

static int parse(int argc, char **argv, struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->host = "127.0.0.1";
	o->port = "0";
	o->tickets = -1;
	if (argc < 2)
		return -1;
	o->server = strcmp(argv[1], "server") == 0;
	if (!o->server && strcmp(argv[1], "client") != 0)
		return -1;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int takes = 1;

		if (!strcmp(a, "--host") && v) o->host = v;
		else if (!strcmp(a, "--port") && v) o->port = v;
		else if (!strcmp(a, "--name") && v) o->name = v;
		else if (!strcmp(a, "--cert") && v) o->cert = v;
		else if (!strcmp(a, "--key") && v) o->key = v;
		else if (!strcmp(a, "--ca") && v) o->ca = v;
		else if (!strcmp(a, "--ciphers") && v) o->ciphers = v;
		else if (!strcmp(a, "--suites") && v) o->suites = v;
		else if (!strcmp(a, "--send") && v) o->send = v;
		else if (!strcmp(a, "--send-write") && v) o->send = v, o->use_write = 1;
		else if (!strcmp(a, "--request") && v) o->request = v;
		else if (!strcmp(a, "--echo") && v) o->echo = v;
		else if (!strcmp(a, "--out") && v) o->out = v;
		else if (!strcmp(a, "--recv-len") && v) o->recv_len = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--expect-offload") && v) o->expect = v;
		else if (!strcmp(a, "--tickets") && v) o->tickets = atoi(v);
		else if (!strcmp(a, "--tls") && v) o->tls = !strcmp(v, "1.3") ? KSSL_TLS1_3 : KSSL_TLS1_2;
		else if (!strcmp(a, "--offload") && v)
			o->offload = !strcmp(v, "tx") ? KSSL_OFFLOAD_TX :
				     !strcmp(v, "rx") ? KSSL_OFFLOAD_RX :
				     !strcmp(v, "none") ? KSSL_OFFLOAD_NONE : KSSL_OFFLOAD_BOTH;
		else {
			takes = 0;
			if (!strcmp(a, "--noverify")) o->noverify = 1;
			else if (!strcmp(a, "--recv")) o->recv = 1;
			else if (!strcmp(a, "--sessions")) o->sessions = 1;
			else if (!strcmp(a, "--no-shutdown")) o->no_shutdown = 1;
			else return -1;
		}
		i += takes;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;
	kssl_ctx *ctx;
	kssl_conn *c;
	int fd, r = 0, rc = 0, out_fd = -1;

	if (parse(argc, argv, &o) < 0) {
		fprintf(stderr, "usage: kssl-peer server|client [options] (see source header)\n");
		return 2;
	}
	if (o.out && (out_fd = open(o.out, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0) {
		perror(o.out);
		return 1;
	}
	ctx = make_ctx(&o);
	fd = tcp_socket(&o);
	c = kssl_conn_new(ctx, fd);
	if (!c)
		die("kssl_conn_new", KSSL_E_NOMEM);
	if (o.name && (r = kssl_conn_set_hostname(c, o.name)) < 0)
		die("hostname", r);
	if ((r = kssl_handshake(c)) < 0)
		die("handshake", r);
	printf("handshake %s %s\n",
	       kssl_conn_version(c) == KSSL_TLS1_3 ? "TLSv1.3" : "TLSv1.2",
	       kssl_conn_cipher(c));
	print_offload(c);
	if (o.request)
		send_request(c, o.request);
	if (o.send)
		send_file(c, o.send, o.use_write);
	if (o.echo)
		rc |= echo_file(c, o.echo, out_fd);
	if (o.recv)
		rc |= recv_all(c, o.recv_len, out_fd);
	print_offload(c);
	if (check_offload(c, o.expect))
		rc = 3;
	/* The peer may be gone already once both sides are done: not fatal. */
	if (!o.no_shutdown && rc == 0 && (r = kssl_shutdown(c)) < 0)
		fprintf(stderr, "kssl-peer: kssl_shutdown: %s\n", kssl_last_error());
	/*
	 * Wait for the peer's close_notify (or EOF) before close(2): closing
	 * with unread bytes (e.g. TLS 1.3 tickets) makes the kernel send a
	 * RST, which can destroy data the peer has not read yet.
	 */
	if (!o.no_shutdown && rc == 0 && r == 0) {
		char sink[4096];

		while (kssl_read(c, sink, sizeof(sink)) > 0)
			;
	}
	kssl_conn_free(c);
	kssl_ctx_free(ctx);
	close(fd);
	if (out_fd >= 0 && close(out_fd) < 0) {
		perror(o.out);
		rc = 1;
	}
	return rc;
}
