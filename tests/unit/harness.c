/* Shared helpers for the Check unit tests (see harness.h). */
#include "harness.h"
#include "src/internal.h" /* ks_capture_secrets_always */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>

/* ---- environment ------------------------------------------------------- */

int h_ktls(void)
{
	static int cached = -1;

	if (cached < 0)
		cached = kssl_kernel_has_tls();
	return cached;
}

size_t h_size(size_t host_size, size_t vm_size)
{
	return h_ktls() ? vm_size : host_size;
}

const char *h_cert(const char *file)
{
	static char path[4096];
	const char *dir = getenv("KSSL_TEST_CERTS");

	ck_assert_msg(dir && *dir, "KSSL_TEST_CERTS is not set (run through ctest)");
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	ck_assert_msg(access(path, R_OK) == 0, "%s: %s", path, strerror(errno));
	return path;
}

/* ---- sockets ----------------------------------------------------------- */

static void set_timeouts(int fd)
{
	struct timeval tv = { .tv_sec = H_IO_TIMEOUT };

	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0);
}

void h_tcp_pair(int *client_fd, int *server_fd)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(lfd, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(lfd, 1), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
	*client_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(*client_fd, 0);
	ck_assert_msg(connect(*client_fd, (struct sockaddr *)&a, sizeof(a)) == 0,
		      "connect: %s", strerror(errno));
	*server_fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_msg(*server_fd >= 0, "accept: %s", strerror(errno));
	close(lfd);
	set_timeouts(*client_fd);
	set_timeouts(*server_fd);
}

void h_set_nonblock(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);

	ck_assert_int_ge(fl, 0);
	fl = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
	ck_assert_int_eq(fcntl(fd, F_SETFL, fl), 0);
}

void h_close_pair(int client_fd, int server_fd)
{
	if (client_fd >= 0)
		close(client_fd);
	if (server_fd >= 0)
		close(server_fd);
}

/* ---- kssl contexts ----------------------------------------------------- */

kssl_ctx *h_server_ctx(const char *name)
{
	char cert[4200], key[4200];
	kssl_ctx *ctx = kssl_ctx_new(KSSL_SERVER);
	int r;

	ck_assert_ptr_nonnull(ctx);
	snprintf(cert, sizeof(cert), "%s.pem", name);
	snprintf(cert, sizeof(cert), "%s", h_cert(cert));
	snprintf(key, sizeof(key), "%s.key", name);
	snprintf(key, sizeof(key), "%s", h_cert(key));
	r = kssl_ctx_use_cert_file(ctx, cert, key);
	ck_assert_msg(r == 0, "use_cert_file %s: %s", cert, kssl_last_error());
	return ctx;
}

kssl_ctx *h_client_ctx(void)
{
	kssl_ctx *ctx = kssl_ctx_new(KSSL_CLIENT);
	int r;

	ck_assert_ptr_nonnull(ctx);
	r = kssl_ctx_load_ca_file(ctx, h_cert("ca.pem"));
	ck_assert_msg(r == 0, "load_ca_file: %s", kssl_last_error());
	return ctx;
}

kssl_conn *h_conn(kssl_ctx *ctx, int fd)
{
	kssl_conn *c = kssl_conn_new(ctx, fd);

	ck_assert_msg(c != NULL, "kssl_conn_new: %s", kssl_last_error());
	if (kssl_ctx_role(ctx) == KSSL_CLIENT)
		ck_assert_int_eq(kssl_conn_set_hostname(c, "localhost"), 0);
	return c;
}

const struct h_suite h_suites[H_NSUITES] = {
	[H_TLS13_AES128GCM] = { KSSL_TLS1_3, "TLS_AES_128_GCM_SHA256", "server",
				"TLS_AES_128_GCM_SHA256" },
	[H_TLS13_AES256GCM] = { KSSL_TLS1_3, "TLS_AES_256_GCM_SHA384", "server",
				"TLS_AES_256_GCM_SHA384" },
	[H_TLS13_CHACHA] = { KSSL_TLS1_3, "TLS_CHACHA20_POLY1305_SHA256", "server",
			     "TLS_CHACHA20_POLY1305_SHA256" },
	[H_TLS13_AES128CCM] = { KSSL_TLS1_3, "TLS_AES_128_CCM_SHA256", "server",
				"TLS_AES_128_CCM_SHA256" },
	[H_TLS12_AES128GCM] = { KSSL_TLS1_2, "ECDHE-RSA-AES128-GCM-SHA256", "server",
				"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" },
	[H_TLS12_AES256GCM] = { KSSL_TLS1_2, "ECDHE-RSA-AES256-GCM-SHA384", "server",
				"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" },
	[H_TLS12_CHACHA] = { KSSL_TLS1_2, "ECDHE-RSA-CHACHA20-POLY1305", "server",
			     "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" },
	[H_TLS12_AES128CCM] = { KSSL_TLS1_2, "ECDHE-ECDSA-AES128-CCM", "server-ec",
				"TLS_ECDHE_ECDSA_WITH_AES_128_CCM" },
};

void h_use_suite(kssl_ctx *ctx, const struct h_suite *s)
{
	int r = kssl_ctx_set_versions(ctx, s->version, s->version);

	ck_assert_msg(r == 0, "set_versions: %s", kssl_last_error());
	r = s->version == KSSL_TLS1_3 ? kssl_ctx_set_ciphersuites(ctx, s->list)
				      : kssl_ctx_set_ciphers(ctx, s->list);
	ck_assert_msg(r == 0, "cipher list %s: %s", s->list, kssl_last_error());
}

/* ---- data -------------------------------------------------------------- */

void h_fill(void *buf, size_t len, uint64_t *state)
{
	unsigned char *p = buf;
	uint64_t x = *state ? *state : 0x9e3779b97f4a7c15ull;

	while (len) {
		uint64_t v;
		size_t n = len < 8 ? len : 8;

		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		v = x * 0x2545f4914f6cdd1dull;
		memcpy(p, &v, n);
		p += n;
		len -= n;
	}
	*state = x;
}

void h_sha256(const void *buf, size_t len, unsigned char out[32])
{
	unsigned int n = 32;

	ck_assert_int_eq(EVP_Digest(buf, len, out, &n, EVP_sha256(), NULL), 1);
}

void h_sha256_file(int fd, off_t off, size_t len, unsigned char out[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	static unsigned char buf[1 << 16];
	unsigned int n = 32;

	ck_assert_ptr_nonnull(md);
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	while (len) {
		ssize_t r = pread(fd, buf, len < sizeof(buf) ? len : sizeof(buf), off);

		ck_assert_msg(r > 0, "pread: %s", r < 0 ? strerror(errno) : "EOF");
		EVP_DigestUpdate(md, buf, (size_t)r);
		off += r;
		len -= (size_t)r;
	}
	EVP_DigestFinal_ex(md, out, &n);
	EVP_MD_CTX_free(md);
}

int h_temp_file(size_t len, uint64_t seed)
{
	static unsigned char buf[1 << 16];
	const char *dir = getenv("TMPDIR");
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/kssl-unit-XXXXXX", dir && *dir ? dir : "/tmp");
	fd = mkstemp(path);
	ck_assert_msg(fd >= 0, "mkstemp %s: %s", path, strerror(errno));
	unlink(path);
	while (len) {
		size_t n = len < sizeof(buf) ? len : sizeof(buf);

		h_fill(buf, n, &seed);
		ck_assert_int_eq(write(fd, buf, n), (ssize_t)n);
		len -= n;
	}
	return fd;
}

const char *h_hex(const unsigned char d[32])
{
	static char s[65];

	for (int i = 0; i < 32; i++)
		snprintf(s + 2 * i, 3, "%02x", d[i]);
	return s;
}

/* ---- kssl I/O ---------------------------------------------------------- */

/* Wait for what a WANT_* code asks; returns 0, or code on timeout. */
static int wait_for(kssl_conn *c, int code)
{
	struct pollfd p = { .fd = kssl_conn_fd(c) };

	p.events = code == KSSL_E_WANT_READ ? POLLIN : POLLOUT;
	return poll(&p, 1, H_IO_TIMEOUT * 1000) == 1 ? 0 : code;
}

static int is_want(long r)
{
	return r == KSSL_E_WANT_READ || r == KSSL_E_WANT_WRITE;
}

int h_handshake(kssl_conn *c)
{
	int r;

	while (is_want(r = kssl_handshake(c)))
		if (wait_for(c, r))
			return r;
	return r;
}

int h_write_all(kssl_conn *c, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	while (len) {
		ssize_t n = kssl_write(c, p, len);

		if (is_want(n)) {
			if (wait_for(c, (int)n))
				return (int)n;
			continue;
		}
		if (n < 0)
			return (int)n;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int h_write_stream(kssl_conn *c, size_t len, uint64_t seed,
		   unsigned char sha[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *buf = malloc(H_STREAM_CHUNK), dummy[32];
	unsigned int dl = 32;
	int r = buf && md ? 0 : KSSL_E_NOMEM;

	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	while (r == 0 && len) {
		size_t n = len < H_STREAM_CHUNK ? len : H_STREAM_CHUNK;

		h_fill(buf, n, &seed);
		EVP_DigestUpdate(md, buf, n);
		if (c)
			r = h_write_all(c, buf, n);
		len -= n;
	}
	EVP_DigestFinal_ex(md, sha ? sha : dummy, &dl);
	EVP_MD_CTX_free(md);
	free(buf);
	return r;
}

void h_stream_sha(size_t len, uint64_t seed, unsigned char sha[32])
{
	ck_assert_int_eq(h_write_stream(NULL, len, seed, sha), 0);
}

int h_read_n(kssl_conn *c, size_t len, unsigned char sha[32], size_t *got)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *buf = malloc(1 << 16), dummy[32];
	unsigned int dl = 32;
	size_t total = 0;
	int r = buf && md ? 0 : KSSL_E_NOMEM;

	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	while (r == 0 && total < len) {
		size_t want = len - total < (1 << 16) ? len - total : (1 << 16);
		ssize_t n = kssl_read(c, buf, want);

		if (is_want(n)) {
			r = wait_for(c, (int)n);
			continue;
		}
		if (n == 0)
			r = 1;
		else if (n < 0)
			r = (int)n;
		else {
			EVP_DigestUpdate(md, buf, (size_t)n);
			total += (size_t)n;
		}
	}
	EVP_DigestFinal_ex(md, sha ? sha : dummy, &dl);
	EVP_MD_CTX_free(md);
	free(buf);
	if (got)
		*got = total;
	return r;
}

int h_sendfile_all(kssl_conn *c, int file_fd, off_t off, size_t len)
{
	for (;;) {
		size_t sent = 0;
		int r = kssl_sendfile(c, file_fd, off, len, &sent);

		off += (off_t)sent;
		len -= sent;
		if (r != KSSL_E_WANT_WRITE)
			return r;
		if (wait_for(c, r))
			return r;
	}
}

int h_close(kssl_conn *c, int *shutdown_rc)
{
	int r;
	size_t got = 0;

	while (is_want(r = kssl_shutdown(c)))
		if (wait_for(c, r))
			return r;
	if (shutdown_rc)
		*shutdown_rc = r;
	if (r < 0 || r == 1)
		return r < 0 ? r : 0;
	r = h_read_n(c, SIZE_MAX, NULL, &got);
	if (r == 1 && got == 0)
		return 0;
	return r < 0 ? r : 2;
}

/* ---- peer thread ------------------------------------------------------- */

void h_peer_init(struct h_peer *p, kssl_ctx *ctx, int fd)
{
	memset(p, 0, sizeof(*p));
	p->ctx = ctx;
	p->fd = fd;
	p->send_fd = -1;
}

static void *peer_main(void *arg)
{
	struct h_peer *p = arg;
	const char *step = "kssl_conn_new";
	int r = KSSL_E_NOMEM;

	if (!p->conn)
		p->conn = kssl_conn_new(p->ctx, p->fd);
	if (!p->conn)
		goto out;
	step = "handshake";
	if ((r = h_handshake(p->conn)) < 0)
		goto out;
	step = "read";
	if (p->recv_len && (r = h_read_n(p->conn, p->recv_len, p->sha, &p->got)) < 0)
		goto out;
	if (r == 1 && p->recv_len != SIZE_MAX) {
		r = KSSL_E_EOF;
		goto out;
	}
	step = "write";
	if (p->write_len &&
	    (r = h_write_stream(p->conn, p->write_len, p->write_seed, NULL)) < 0)
		goto out;
	step = "sendfile";
	if (p->send_fd >= 0 &&
	    (r = h_sendfile_all(p->conn, p->send_fd, p->send_off, p->send_len)) < 0)
		goto out;
	step = "close";
	r = p->close ? h_close(p->conn, &p->shutdown_rc) : 0;
out:
	p->rc = r < 0 || r == 2 ? (r < 0 ? r : KSSL_E_TLS) : 0;
	if (p->rc)
		snprintf(p->err, sizeof(p->err), "peer %s: %s (%s)", step,
			 kssl_last_error(), kssl_error_name(p->rc));
	return NULL;
}

void h_peer_start(struct h_peer *p)
{
	ck_assert_int_eq(pthread_create(&p->thread, NULL, peer_main, p), 0);
}

void h_peer_join(struct h_peer *p)
{
	ck_assert_int_eq(pthread_join(p->thread, NULL), 0);
}

void h_peer_join_ok(struct h_peer *p)
{
	h_peer_join(p);
	ck_assert_msg(p->rc == 0, "%s", p->err);
}

void h_pair_open(struct h_pair *p, kssl_ctx *cctx)
{
	h_tcp_pair(&p->cfd, &p->sfd);
	p->srv.fd = p->sfd;
	h_peer_start(&p->srv);
	p->c = h_conn(cctx, p->cfd);
}

void h_pair_free(struct h_pair *p)
{
	kssl_conn_free(p->c);
	kssl_conn_free(p->srv.conn);
	h_close_pair(p->cfd, p->sfd);
}

void h_pair_end(struct h_pair *p)
{
	h_peer_join_ok(&p->srv);
	h_pair_free(p);
}

/* ---- assertions -------------------------------------------------------- */

void h_fail_peer_(struct h_peer *p, int fd, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	shutdown(fd, SHUT_RDWR);
	pthread_join(p->thread, NULL);
	ck_abort_msg("%s [%s]", msg, p->rc ? p->err : "peer: no error");
	abort(); /* not reached: ck_abort_msg does not return */
}

void h_assert_has_(const char *haystack, const char *needle, const char *file,
		   int line)
{
	ck_assert_msg(haystack && strstr(haystack, needle),
		      "%s:%d: expected \"%s\" in \"%s\"", file, line, needle,
		      haystack ? haystack : "(null)");
}

static const char *dir_name(enum kssl_dir dir)
{
	return dir == KSSL_DIR_TX ? "TX" : "RX";
}

void h_assert_kernel(kssl_conn *c, enum kssl_dir dir)
{
	const char *why = NULL;
	enum kssl_offload_state s = kssl_conn_offload(c, dir, &why);

	ck_assert_msg(s == KSSL_OFFLOAD_KERNEL, "%s: state %d, not kernel: %s",
		      dir_name(dir), s, why ? why : "(no reason)");
}

void h_assert_user(kssl_conn *c, enum kssl_dir dir, const char *want)
{
	const char *why = NULL;
	enum kssl_offload_state s = kssl_conn_offload(c, dir, &why);

	ck_assert_msg(s == KSSL_OFFLOAD_USER, "%s: state %d, not user (reason %s)",
		      dir_name(dir), s, why ? why : "(none)");
	h_assert_has(why, want);
}

void h_assert_default_offload(kssl_conn *c)
{
	if (h_ktls()) {
		h_assert_kernel(c, KSSL_DIR_TX);
		h_assert_kernel(c, KSSL_DIR_RX);
	} else {
		h_assert_user(c, KSSL_DIR_TX, "no tls ULP");
		h_assert_user(c, KSSL_DIR_RX, "no tls ULP");
	}
}

/* ---- /proc/net/tls_stat ------------------------------------------------ */

void h_tls_stat(struct h_tls_stat *s)
{
	static const struct { const char *name; size_t off; } f[] = {
		{ "TlsCurrTxSw", offsetof(struct h_tls_stat, curr_tx_sw) },
		{ "TlsCurrRxSw", offsetof(struct h_tls_stat, curr_rx_sw) },
		{ "TlsTxSw", offsetof(struct h_tls_stat, tx_sw) },
		{ "TlsRxSw", offsetof(struct h_tls_stat, rx_sw) },
		{ "TlsDecryptError", offsetof(struct h_tls_stat, decrypt_error) },
		{ "TlsRxRekeyOk", offsetof(struct h_tls_stat, rx_rekey_ok) },
		{ "TlsRxRekeyError", offsetof(struct h_tls_stat, rx_rekey_error) },
	};
	FILE *fp = fopen("/proc/net/tls_stat", "r");
	char name[64];
	long v;

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		*(long *)((char *)s + f[i].off) = -1;
	if (!fp)
		return;
	while (fscanf(fp, "%63s %ld", name, &v) == 2)
		for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
			if (strcmp(name, f[i].name) == 0)
				*(long *)((char *)s + f[i].off) = v;
	fclose(fp);
}

/* ---- raw OpenSSL peers ------------------------------------------------- */

SSL *h_raw_ssl(int is_server, int fd, const char *cafile, int version)
{
	SSL_CTX *ctx = SSL_CTX_new(is_server ? TLS_server_method() : TLS_client_method());
	SSL *ssl;

	ck_assert_ptr_nonnull(ctx);
	if (version) {
		SSL_CTX_set_min_proto_version(ctx, version);
		SSL_CTX_set_max_proto_version(ctx, version);
	}
	if (is_server) {
		ck_assert_int_eq(SSL_CTX_use_certificate_chain_file(ctx, h_cert("server.pem")), 1);
		ck_assert_int_eq(SSL_CTX_use_PrivateKey_file(ctx, h_cert("server.key"),
							     SSL_FILETYPE_PEM), 1);
	} else if (cafile) {
		ck_assert_int_eq(SSL_CTX_load_verify_locations(ctx, cafile, NULL), 1);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	ssl = SSL_new(ctx);
	SSL_CTX_free(ctx); /* the SSL holds its own reference */
	ck_assert_ptr_nonnull(ssl);
	ck_assert_int_eq(SSL_set_fd(ssl, fd), 1);
	return ssl;
}

void h_block_sigpipe(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

/* ---- running ----------------------------------------------------------- */

TCase *h_tcase(const char *name)
{
	TCase *tc = tcase_create(name);

	/* The VM runs TLS at ~10 MB/s under TCG; ASan slows the host too. */
	tcase_set_timeout(tc, 300);
	return tc;
}

int h_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	/* Tests fake the tls ULP on the host: capture secrets as with one. */
	ks_capture_secrets_always = 1;
	srunner_run_all(sr, CK_ENV); /* CK_VERBOSITY=verbose lists each test */
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
