/*
 * kssl-churn: a connection churner for the soak test (tests/soak/). It
 * opens N TLS connections to an HTTPS server (kssl serve) from T threads,
 * each connection one scenario picked by its number: full handshakes with
 * keep-alive requests, ranges, errors, and aborts at every phase (before
 * the ClientHello, inside it, mid-handshake, mid-request, mid-body,
 * close_notify with no request). Every response body is compared with the
 * file under ROOT it came from; S more connections are slow readers of the
 * big file. It uses OpenSSL directly (not libkssl): an independent client.
 *
 *   kssl-churn -p PORT -r ROOT [-n 10000] [-t 8] [-s 4] [-d DELAY_US]
 *
 * ROOT must hold small.txt, mid.bin and big.bin (what the server serves).
 * Prints one line of counts per scenario; exits 1 if any response was
 * wrong or a connection that should have completed did not.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

enum scen { KEEPALIVE, RANGE, ERRORS, ABORT_TCP, ABORT_IN_HELLO,
	    ABORT_HANDSHAKE, ABORT_REQUEST, ABORT_BODY, CLOSE_NOTIFY,
	    SLOW_READER, NSCEN };
static const char *const scen_name[NSCEN] = {
	"keepalive", "range", "errors", "abort-tcp", "abort-in-hello",
	"abort-handshake", "abort-request", "abort-body", "close-notify",
	"slow-reader",
};

struct file {
	const char *name;
	unsigned char *data;
	size_t len;
};

static struct {
	int port, conns, threads, slow;
	long delay_us;
	SSL_CTX *ctx;
	struct file small, mid, big;
	pthread_mutex_t lock;
	long done[NSCEN], bad[NSCEN];
	int reported;
} G;

static void load(struct file *f, const char *root, const char *name)
{
	char path[4096];
	struct stat st;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", root, name);
	fp = fopen(path, "rb");
	if (!fp || fstat(fileno(fp), &st)) {
		perror(path);
		exit(2);
	}
	f->name = name;
	f->len = (size_t)st.st_size;
	f->data = malloc(f->len ? f->len : 1);
	if (!f->data || fread(f->data, 1, f->len, fp) != f->len) {
		perror(path);
		exit(2);
	}
	fclose(fp);
}

static void bad(enum scen s, long i, const char *what)
{
	pthread_mutex_lock(&G.lock);
	G.bad[s]++;
	if (G.reported++ < 20)
		fprintf(stderr, "kssl-churn: connection %ld (%s): %s\n", i,
			scen_name[s], what);
	pthread_mutex_unlock(&G.lock);
}

static int tcp_connect(int rcvbuf)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)G.port) };
	struct timeval tv = { .tv_sec = 30 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (rcvbuf)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Close with an RST instead of a FIN. */
static void reset_close(int fd)
{
	struct linger l = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

static SSL *tls_connect(int fd)
{
	SSL *ssl = SSL_new(G.ctx);

	if (!ssl)
		return NULL;
	SSL_set_fd(ssl, fd);
	SSL_set_tlsext_host_name(ssl, "localhost");
	if (SSL_connect(ssl) != 1) {
		SSL_free(ssl);
		ERR_clear_error();
		return NULL;
	}
	return ssl;
}

static int write_all(SSL *ssl, const char *s)
{
	return SSL_write(ssl, s, (int)strlen(s)) == (int)strlen(s) ? 0 : -1;
}

/* Read exactly n bytes (a body), optionally slowly. */
static int read_n(SSL *ssl, unsigned char *out, size_t n, int slow)
{
	size_t got = 0;

	while (got < n) {
		size_t want = n - got;
		int r;

		if (slow && want > 16384)
			want = 16384;
		r = SSL_read(ssl, out + got, want > INT32_MAX ? INT32_MAX : (int)want);
		if (r <= 0)
			return -1;
		got += (size_t)r;
		if (slow)
			usleep(3000);
	}
	return 0;
}

/*
 * Read one response head into head[] (up to CRLFCRLF; bytes after it are
 * returned in *extra). Returns the status, or -1.
 */
static int read_head(SSL *ssl, char *head, size_t cap, size_t *clen,
		     unsigned char *extra, size_t *extra_len)
{
	size_t len = 0;
	char *end, *cl;

	*extra_len = 0;
	for (;;) {
		int r = SSL_read(ssl, head + len, (int)(cap - 1 - len));

		if (r <= 0)
			return -1;
		len += (size_t)r;
		head[len] = 0;
		end = strstr(head, "\r\n\r\n");
		if (end)
			break;
		if (len >= cap - 1)
			return -1;
	}
	end += 4;
	*extra_len = len - (size_t)(end - head);
	memcpy(extra, end, *extra_len);
	*end = 0;
	cl = strcasestr(head, "\r\nContent-Length:");
	*clen = cl ? strtoul(cl + 17, NULL, 10) : 0;
	return strncmp(head, "HTTP/1.1 ", 9) ? -1 : atoi(head + 9);
}

/*
 * One request on an open connection: expect `status` and, for GET, the
 * bytes want[0..want_len). Returns 0 if all matched.
 */
static int request(SSL *ssl, const char *req, int status, int is_head,
		   const unsigned char *want, size_t want_len, int slow)
{
	char head[16384];
	unsigned char extra[16384];
	size_t clen, extra_len;
	unsigned char *body;
	int st, r = 0;

	if (write_all(ssl, req))
		return -1;
	st = read_head(ssl, head, sizeof(head), &clen, extra, &extra_len);
	if (st != status)
		return -1;
	if (is_head)
		return extra_len == 0 && (!want || clen == want_len) ? 0 : -1;
	if (want && clen != want_len)
		return -1;
	if (extra_len > clen)
		return -1;
	body = malloc(clen ? clen : 1);
	if (!body)
		return -1;
	memcpy(body, extra, extra_len);
	if (read_n(ssl, body + extra_len, clen - extra_len, slow))
		r = -1;
	else if (want && memcmp(body, want, want_len))
		r = -1;
	free(body);
	return r;
}

static void finish(SSL *ssl, int fd)
{
	if (ssl) {
		SSL_shutdown(ssl);
		SSL_free(ssl);
	}
	close(fd);
}

static enum scen pick(long i)
{
	static const enum scen mix[20] = {
		KEEPALIVE, KEEPALIVE, KEEPALIVE, KEEPALIVE, KEEPALIVE, KEEPALIVE,
		RANGE, RANGE, RANGE, ERRORS, ERRORS, ABORT_TCP, ABORT_TCP,
		ABORT_IN_HELLO, ABORT_HANDSHAKE, ABORT_HANDSHAKE, ABORT_REQUEST,
		ABORT_BODY, ABORT_BODY, CLOSE_NOTIFY,
	};
	return mix[i % 20];
}

static int run_one(long i, enum scen s, unsigned *seed)
{
	static const unsigned char partial_hello[] = {
		0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
	};
	char req[256];
	int fd = tcp_connect(s == SLOW_READER ? 32768 : 0);
	SSL *ssl = NULL;
	int ok = 0;

	if (fd < 0)
		return -1;
	switch (s) {
	case ABORT_TCP:
		if (i & 1)
			reset_close(fd);
		else
			close(fd);
		return 0;
	case ABORT_IN_HELLO:
		ok = write(fd, partial_hello, sizeof(partial_hello)) ==
		     (ssize_t)sizeof(partial_hello) ? 0 : -1;
		close(fd);
		return ok;
	case ABORT_HANDSHAKE: { /* ClientHello out, then gone */
		SSL *h = SSL_new(G.ctx);

		fcntl(fd, F_SETFL, O_NONBLOCK);
		SSL_set_fd(h, fd);
		SSL_connect(h); /* WANT_READ after sending the hello */
		if (i & 1)
			usleep(1000); /* let the server answer into a closed socket */
		SSL_free(h);
		ERR_clear_error();
		reset_close(fd);
		return 0;
	}
	default:
		break;
	}
	ssl = tls_connect(fd);
	if (!ssl) {
		close(fd);
		return -1;
	}
	switch (s) {
	case KEEPALIVE:
		ok = request(ssl, "GET /small.txt HTTP/1.1\r\nHost: l\r\n\r\n", 200, 0,
			     G.small.data, G.small.len, 0) ||
		     request(ssl, "GET /mid.bin HTTP/1.1\r\nHost: l\r\n\r\n", 200, 0,
			     G.mid.data, G.mid.len, 0) ||
		     request(ssl, "HEAD /mid.bin HTTP/1.1\r\nHost: l\r\n\r\n", 200, 1,
			     G.mid.data, G.mid.len, 0) ||
		     request(ssl, "GET /small.txt HTTP/1.1\r\nHost: l\r\nConnection: close\r\n\r\n",
			     200, 0, G.small.data, G.small.len, 0);
		break;
	case RANGE: {
		size_t a = (size_t)rand_r(seed) % G.mid.len;
		size_t b = a + (size_t)rand_r(seed) % (G.mid.len - a);
		size_t k = 1 + (size_t)rand_r(seed) % 1000;

		snprintf(req, sizeof(req), "GET /mid.bin HTTP/1.1\r\nHost: l\r\nRange: bytes=%zu-%zu\r\n\r\n", a, b);
		ok = request(ssl, req, 206, 0, G.mid.data + a, b - a + 1, 0);
		snprintf(req, sizeof(req), "GET /mid.bin HTTP/1.1\r\nHost: l\r\nRange: bytes=-%zu\r\n\r\n", k);
		ok = ok || request(ssl, req, 206, 0, G.mid.data + G.mid.len - k, k, 0);
		snprintf(req, sizeof(req), "GET /mid.bin HTTP/1.1\r\nHost: l\r\nRange: bytes=%zu-\r\n\r\n", G.mid.len);
		ok = ok || request(ssl, req, 416, 0, NULL, 0, 0);
		break;
	}
	case ERRORS:
		ok = request(ssl, "GET /missing HTTP/1.1\r\nHost: l\r\n\r\n", 404, 0, NULL, 0, 0) ||
		     request(ssl, "GET /../etc/passwd HTTP/1.1\r\nHost: l\r\n\r\n", 400, 0, NULL, 0, 0);
		break;
	case ABORT_REQUEST:
		write_all(ssl, "GET /small.txt HTTP/1.1\r\nHo");
		SSL_free(ssl);
		if (i & 1)
			reset_close(fd);
		else
			close(fd);
		return 0;
	case ABORT_BODY: {
		unsigned char buf[32768];

		write_all(ssl, "GET /big.bin HTTP/1.1\r\nHost: l\r\n\r\n");
		SSL_read(ssl, buf, sizeof(buf));
		SSL_free(ssl);
		ERR_clear_error();
		if (i & 1)
			reset_close(fd);
		else
			close(fd);
		return 0;
	}
	case CLOSE_NOTIFY:
		break;
	case SLOW_READER:
		ok = request(ssl, "GET /big.bin HTTP/1.1\r\nHost: l\r\nConnection: close\r\n\r\n",
			     200, 0, G.big.data, G.big.len, 1);
		break;
	default:
		break;
	}
	finish(ssl, fd);
	ERR_clear_error();
	return ok;
}

static void *worker(void *arg)
{
	long t = (long)arg;
	unsigned seed = (unsigned)t * 2654435761u;

	for (long i = t; i < G.conns; i += G.threads) {
		enum scen s = pick(i);

		if (run_one(i, s, &seed))
			bad(s, i, "failed or wrong response");
		pthread_mutex_lock(&G.lock);
		G.done[s]++;
		pthread_mutex_unlock(&G.lock);
		if (G.delay_us)
			usleep((useconds_t)G.delay_us);
	}
	return NULL;
}

static void *slow_worker(void *arg)
{
	long i = (long)arg;
	unsigned seed = 1;

	if (run_one(i, SLOW_READER, &seed))
		bad(SLOW_READER, i, "slow reader did not get the whole file");
	pthread_mutex_lock(&G.lock);
	G.done[SLOW_READER]++;
	pthread_mutex_unlock(&G.lock);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *root = NULL;
	pthread_t *th;
	long total_bad = 0;
	int opt, nth;

	G.conns = 10000;
	G.threads = 8;
	G.slow = 4;
	while ((opt = getopt(argc, argv, "p:r:n:t:s:d:")) != -1) {
		switch (opt) {
		case 'p': G.port = atoi(optarg); break;
		case 'r': root = optarg; break;
		case 'n': G.conns = atoi(optarg); break;
		case 't': G.threads = atoi(optarg); break;
		case 's': G.slow = atoi(optarg); break;
		case 'd': G.delay_us = atol(optarg); break;
		default:
			fprintf(stderr, "usage: kssl-churn -p PORT -r ROOT [-n N] [-t T] [-s S] [-d US]\n");
			return 2;
		}
	}
	if (!G.port || !root || G.threads < 1 || G.conns < 0 || G.slow < 0) {
		fprintf(stderr, "kssl-churn: -p PORT and -r ROOT are required\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN); /* a server that closes first is a test case */
	load(&G.small, root, "small.txt");
	load(&G.mid, root, "mid.bin");
	load(&G.big, root, "big.bin");
	pthread_mutex_init(&G.lock, NULL);
	G.ctx = SSL_CTX_new(TLS_client_method());
	if (!G.ctx)
		return 2;
	SSL_CTX_set_verify(G.ctx, SSL_VERIFY_NONE, NULL);
	/* Full handshakes only: no session reuse. */
	SSL_CTX_set_session_cache_mode(G.ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(G.ctx, SSL_OP_NO_TICKET);
	nth = G.threads + G.slow;
	th = calloc((size_t)nth, sizeof(*th));
	for (long t = 0; t < G.threads; t++)
		pthread_create(&th[t], NULL, worker, (void *)t);
	for (long t = 0; t < G.slow; t++)
		pthread_create(&th[G.threads + t], NULL, slow_worker,
			       (void *)(G.conns + t));
	for (int t = 0; t < nth; t++)
		pthread_join(th[t], NULL);
	for (int s = 0; s < NSCEN; s++) {
		printf("%-16s %6ld done %4ld bad\n", scen_name[s], G.done[s], G.bad[s]);
		total_bad += G.bad[s];
	}
	printf("total %d connections, %ld bad\n", G.conns + G.slow, total_bad);
	SSL_CTX_free(G.ctx);
	free(th);
	return total_bad ? 1 : 0;
}
