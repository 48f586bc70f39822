#include "uharness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

void u_tcp_pair(int *client, int *server)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	struct timeval tv = { .tv_sec = 30 };
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	signal(SIGPIPE, SIG_IGN);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_ge(l, 0);
	ck_assert_int_eq(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(l, 4), 0);
	ck_assert_int_eq(getsockname(l, (struct sockaddr *)&a, &al), 0);
	*client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(connect(*client, (struct sockaddr *)&a, sizeof(a)), 0);
	*server = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(*server, 0);
	setsockopt(*client, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	close(l);
}

int u_temp_file(size_t len, uint64_t seed)
{
	char path[] = "/tmp/kssl-uring-XXXXXX";
	int fd = mkstemp(path);
	uint64_t s = seed | 1;
	char *buf = malloc(65536);

	ck_assert_int_ge(fd, 0);
	unlink(path);
	for (size_t done = 0; done < len;) {
		size_t n = len - done < 65536 ? len - done : 65536;

		for (size_t i = 0; i < n; i++) {
			s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
			buf[i] = (char)((s * 0x2545F4914F6CDD1DULL) >> 56);
		}
		ck_assert_int_eq(pwrite(fd, buf, n, (off_t)done), (ssize_t)n);
		done += n;
	}
	free(buf);
	return fd;
}

static void hexify(const unsigned char *md, char hex[65])
{
	for (int i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
}

void u_file_sha(int fd, off_t off, size_t len, char hex[65])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned char md[32], buf[65536];

	EVP_DigestInit_ex(c, EVP_sha256(), NULL);
	while (len) {
		ssize_t n = pread(fd, buf, len < sizeof(buf) ? len : sizeof(buf), off);

		ck_assert_int_gt(n, 0);
		EVP_DigestUpdate(c, buf, (size_t)n);
		off += n;
		len -= (size_t)n;
	}
	EVP_DigestFinal_ex(c, md, NULL);
	EVP_MD_CTX_free(c);
	hexify(md, hex);
}

const char *u_cert(const char *file)
{
	static char path[4][512]; /* several may appear in one call */
	static unsigned next;
	const char *dir = getenv("KSSL_TEST_CERTS");
	char *p = path[next++ % 4];

	snprintf(p, sizeof(path[0]), "%s/%s", dir ? dir : "certs", file);
	return p;
}

static void *reader_main(void *arg)
{
	struct u_reader *r = arg;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned char md[32], buf[65536];
	kssl_ctx *ctx = NULL;
	kssl_conn *conn = NULL;

	if (r->delay_ms) {
		struct timespec ts = { r->delay_ms / 1000,
				       (long)(r->delay_ms % 1000) * 1000000 };
		nanosleep(&ts, NULL);
	}
	if (r->tls) {
		ctx = kssl_ctx_new(KSSL_CLIENT);
		conn = ctx && kssl_ctx_load_ca_file(ctx, u_cert("ca.pem")) == 0
		       ? kssl_conn_new(ctx, r->fd) : NULL;
		if (!conn || kssl_conn_set_hostname(conn, "localhost") < 0) {
			snprintf(r->err, sizeof(r->err), "client setup: %s",
				 kssl_last_error());
			r->rc = -1;
			goto out;
		}
		if (kssl_handshake(conn) < 0) {
			snprintf(r->err, sizeof(r->err), "client handshake: %s",
				 kssl_last_error());
			r->rc = -1;
			goto out;
		}
	}
	EVP_DigestInit_ex(c, EVP_sha256(), NULL);
	for (;;) {
		size_t want = sizeof(buf);
		ssize_t n;

		if (r->limit && r->limit - r->got < want)
			want = r->limit - r->got;
		if (r->limit && !want)
			break;
		n = conn ? kssl_read(conn, buf, want) : recv(r->fd, buf, want, 0);
		if (n == 0 || (conn && n == KSSL_E_EOF))
			break;
		if (n < 0) {
			snprintf(r->err, sizeof(r->err), "read: %s",
				 conn ? kssl_last_error() : strerror(errno));
			r->rc = -1;
			break;
		}
		EVP_DigestUpdate(c, buf, (size_t)n);
		r->got += (size_t)n;
	}
	EVP_DigestFinal_ex(c, md, NULL);
	hexify(md, r->hex);
out:
	EVP_MD_CTX_free(c);
	kssl_conn_free(conn);
	kssl_ctx_free(ctx);
	return NULL;
}

void u_reader_start(struct u_reader *r)
{
	ck_assert_int_eq(pthread_create(&r->th, NULL, reader_main, r), 0);
}

void u_reader_join(struct u_reader *r)
{
	pthread_join(r->th, NULL);
	ck_assert_msg(r->rc == 0, "reader: %s", r->err);
}

void u_run_until(kssl_loop *loop, const int *flag)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!*flag) {
		ck_assert_int_ge(kssl_loop_run(loop, 100), 0);
		clock_gettime(CLOCK_MONOTONIC, &t);
		ck_assert_msg((t.tv_sec - t0.tv_sec) * 1000 <= U_TIMEOUT_MS,
			      "loop did not finish in time");
	}
}

void u_done_cb(kssl_lconn *lc, ssize_t result, void *arg)
{
	struct u_done *d = arg;

	d->result = result;
	snprintf(d->err, sizeof(d->err), "%s", kssl_lconn_error(lc));
	snprintf(d->path, sizeof(d->path), "%s", kssl_lconn_send_path(lc));
	d->done = 1;
}

int u_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
