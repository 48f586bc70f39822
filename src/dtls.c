/*
 * DTLS 1.2 sessions over UDP sockets, entirely in OpenSSL (see
 * include/kssl/kssl_dtls.h for the model). Linux has no kernel DTLS, so
 * unlike kssl_conn nothing here ever moves to the kernel.
 *
 * A DTLS context is a kssl_ctx whose SSL_CTX uses a DTLS method; it carries
 * an ex_data record (struct dtls_ctx_data) with the server's cookie secret,
 * which is also how kssl_ctx_is_dtls recognises it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "kssl/kssl_dtls.h"
#include "internal.h"

#define COOKIE_SECRET_MAX 64

struct dtls_ctx_data {
	kssl_ctx *owner; /* back pointer, no reference: the ctx owns us */
	unsigned char secret[COOKIE_SECRET_MAX];
	size_t secret_len;
};

/*
 * A DTLS session: the session core it shares with TLS connections (the
 * SSL, the context, the fd, failure and close_notify state, host name and
 * what the handshake gave; src/internal.h) and the datagram peer. No kernel
 * TLS state: there is none for DTLS.
 */
struct kssl_dtls {
	struct ks_core core;
	int listened; /* server: cookie exchange done, fd connected */
	struct sockaddr_storage peer;
	socklen_t peer_len;
};

const struct ks_kind ks_kind_dtls = {
	.noun = "DTLS session",
	.set_hostname = "kssl_dtls_set_hostname",
	.shutdown = "kssl_dtls_shutdown",
};

static const char no_kernel_dtls[] =
	"DTLS runs in userspace: Linux kernel TLS offloads TLS over TCP only "
	"(there is no kernel DTLS)";

/* ---- context data and cookies ------------------------------------------ */

static int dtls_ctx_index = -1;
static pthread_once_t dtls_index_once = PTHREAD_ONCE_INIT;

static void ctx_data_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad,
			  int idx, long argl, void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	OPENSSL_clear_free(ptr, sizeof(struct dtls_ctx_data));
}

static void make_index(void)
{
	dtls_ctx_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL,
						  ctx_data_free);
}

static struct dtls_ctx_data *ctx_data(const SSL_CTX *sc)
{
	if (dtls_ctx_index < 0)
		return NULL;
	return SSL_CTX_get_ex_data(sc, dtls_ctx_index);
}

/*
 * The cookie is HMAC-SHA256(secret, family || port || address) of the
 * datagram's source: a client that can receive at that address can echo
 * it, a spoofer cannot, and the server keeps no state until it does
 * (RFC 6347, 4.2.1).
 */
static int cookie_of(SSL *ssl, unsigned char *out, unsigned int *out_len)
{
	struct dtls_ctx_data *cd = ctx_data(SSL_get_SSL_CTX(ssl));
	struct sockaddr_storage ss;
	unsigned char msg[2 + 2 + 16 + 4];
	size_t n = 0;

	memset(&ss, 0, sizeof(ss));
	if (!cd || BIO_dgram_get_peer(SSL_get_rbio(ssl), &ss) <= 0)
		return 0;
	memcpy(msg, &ss.ss_family, 2);
	n = 2;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;

		memcpy(msg + n, &in->sin_port, 2);
		memcpy(msg + n + 2, &in->sin_addr, 4);
		n += 6;
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;

		memcpy(msg + n, &in6->sin6_port, 2);
		memcpy(msg + n + 2, &in6->sin6_addr, 16);
		memcpy(msg + n + 18, &in6->sin6_scope_id, 4);
		n += 22;
	} else {
		return 0;
	}
	return HMAC(EVP_sha256(), cd->secret, (int)cd->secret_len, msg, n,
		    out, out_len) != NULL;
}

static int cookie_generate(SSL *ssl, unsigned char *cookie,
			   unsigned int *len)
{
	return cookie_of(ssl, cookie, len);
}

static int cookie_verify(SSL *ssl, const unsigned char *cookie,
			 unsigned int len)
{
	unsigned char want[EVP_MAX_MD_SIZE];
	unsigned int want_len = 0;

	return cookie_of(ssl, want, &want_len) && len == want_len &&
	       CRYPTO_memcmp(cookie, want, len) == 0;
}

/* TLS contexts log from ks_keylog_cb (which needs a kssl_conn); DTLS
 * sessions only need the file. */
static void dtls_keylog(const SSL *ssl, const char *line)
{
	struct dtls_ctx_data *cd = ctx_data(SSL_get_SSL_CTX(ssl));

	if (cd)
		ks_keylog_write(cd->owner, line);
}

int kssl_dtls_ctx_set_cookie_secret(kssl_ctx *ctx, const void *secret,
				    size_t len)
{
	struct dtls_ctx_data *cd = ctx ? ctx_data(ctx->ssl_ctx) : NULL;

	if (!cd || ctx->role != KSSL_SERVER)
		return ks_err(KSSL_E_INVAL, "kssl_dtls_ctx_set_cookie_secret: needs a DTLS server context");
	if (!secret || len < 16 || len > COOKIE_SECRET_MAX)
		return ks_err(KSSL_E_INVAL, "kssl_dtls_ctx_set_cookie_secret: secret must be 16..%d bytes",
			      COOKIE_SECRET_MAX);
	memcpy(cd->secret, secret, len);
	cd->secret_len = len;
	return 0;
}

int kssl_ctx_is_dtls(const kssl_ctx *ctx)
{
	return ctx && ctx_data(ctx->ssl_ctx) != NULL;
}

/* Settings of a DTLS SSL_CTX that kssl_ctx_new made for its TLS one. */
static int setup_dtls_ctx(SSL_CTX *sc, struct dtls_ctx_data *cd,
			  enum kssl_role role)
{
	if (!SSL_CTX_set_ex_data(sc, dtls_ctx_index, cd) ||
	    !SSL_CTX_set_min_proto_version(sc, DTLS1_2_VERSION))
		return -1;
	SSL_CTX_set_options(sc, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
			    SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_keylog_callback(sc, dtls_keylog);
	if (role == KSSL_CLIENT)
		return 0;
	if (RAND_bytes(cd->secret, 32) != 1)
		return -1;
	cd->secret_len = 32;
	SSL_CTX_set_cookie_generate_cb(sc, cookie_generate);
	SSL_CTX_set_cookie_verify_cb(sc, cookie_verify);
	SSL_CTX_set_options(sc, SSL_OP_COOKIE_EXCHANGE);
	/* DHE suites need a group; OpenSSL picks one by the key's strength. */
	SSL_CTX_set_dh_auto(sc, 1);
	return 0;
}

kssl_ctx *kssl_dtls_ctx_new(enum kssl_role role)
{
	kssl_ctx *ctx = kssl_ctx_new(role); /* validates role, reads SSLKEYLOGFILE */
	struct dtls_ctx_data *cd;
	SSL_CTX *sc;

	if (!ctx)
		return NULL;
	pthread_once(&dtls_index_once, make_index);
	sc = SSL_CTX_new(role == KSSL_CLIENT ? DTLS_client_method()
					     : DTLS_server_method());
	cd = OPENSSL_zalloc(sizeof(*cd));
	if (dtls_ctx_index < 0 || !sc || !cd) {
		OPENSSL_free(cd);
		goto fail;
	}
	cd->owner = ctx;
	if (setup_dtls_ctx(sc, cd, role) < 0) {
		if (ctx_data(sc) != cd)
			OPENSSL_free(cd);
		goto fail;
	}
	SSL_CTX_free(ctx->ssl_ctx);
	ctx->ssl_ctx = sc;
	/* Re-apply kssl_ctx_new's verification defaults to the new SSL_CTX. */
	kssl_ctx_set_verify(ctx, kssl_ctx_get_verify(ctx));
	if (role == KSSL_CLIENT && !SSL_CTX_set_default_verify_paths(sc))
		ERR_clear_error(); /* as kssl_ctx_new: the caller may add CAs */
	return ctx;
fail:
	ks_err_ssl(KSSL_E_NOMEM, "kssl_dtls_ctx_new: cannot make the DTLS SSL_CTX");
	SSL_CTX_free(sc);
	kssl_ctx_free(ctx);
	return NULL;
}

/* ---- sessions ---------------------------------------------------------- */

static int is_udp(int fd)
{
	int type = 0;
	socklen_t len = sizeof(type);

	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
	       type == SOCK_DGRAM;
}

kssl_dtls *kssl_dtls_new(kssl_ctx *ctx, int fd)
{
	kssl_dtls *d;
	BIO *bio;

	if (!kssl_ctx_is_dtls(ctx) || fd < 0) {
		ks_err(KSSL_E_INVAL, "kssl_dtls_new: need a DTLS context (kssl_dtls_ctx_new) and a socket");
		return NULL;
	}
	if (!is_udp(fd)) {
		ks_err(KSSL_E_INVAL, "kssl_dtls_new: fd %d is not a UDP (SOCK_DGRAM) socket", fd);
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		ks_err(KSSL_E_NOMEM, "kssl_dtls_new: out of memory");
		return NULL;
	}
	d->peer_len = sizeof(d->peer);
	if (ctx->role == KSSL_CLIENT &&
	    getpeername(fd, (struct sockaddr *)&d->peer, &d->peer_len) < 0) {
		ks_err_errno(KSSL_E_INVAL, errno,
			     "kssl_dtls_new: a DTLS client socket must be connected to the server (connect(2))");
		free(d);
		return NULL;
	}
	bio = BIO_new_dgram(fd, BIO_NOCLOSE);
	/* BIO_ADDR is a union led by struct sockaddr: a sockaddr_storage
	 * holding the peer is what the datagram BIO reads through it. */
	if (ctx->role != KSSL_CLIENT)
		d->peer_len = 0;
	else if (bio)
		BIO_ctrl(bio, BIO_CTRL_DGRAM_SET_CONNECTED, 0, &d->peer);
	if (ks_core_init(&d->core, &ks_kind_dtls, ctx, fd, bio, "kssl_dtls_new") < 0) {
		free(d);
		return NULL;
	}
	return d;
}

void kssl_dtls_free(kssl_dtls *d)
{
	if (!d)
		return;
	ks_core_free(&d->core);
	OPENSSL_cleanse(d, sizeof(*d));
	free(d);
}

int kssl_dtls_set_hostname(kssl_dtls *d, const char *name)
{
	return ks_hostname_set(&d->core, name);
}

/* ---- the I/O loop ------------------------------------------------------ */

typedef ssize_t (*dtls_step)(kssl_dtls *d, void *buf, size_t len);

static int is_blocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl >= 0 && !(fl & O_NONBLOCK);
}

/* Blocking sockets: wait for the socket or the retransmission timer. */
static int wait_io(kssl_dtls *d, ssize_t want)
{
	struct pollfd p = { .fd = d->core.fd,
			    .events = want == KSSL_E_WANT_WRITE ? POLLOUT : POLLIN };
	int r = poll(&p, 1, kssl_dtls_timeout_ms(d));

	if (r < 0) {
		int e = errno;

		/* EINTR: KSSL_E_INTR as for TLS; the caller may call again. */
		return ks_err_errno(e == EINTR ? KSSL_E_INTR : KSSL_E_SYSCALL, e,
				    "DTLS: waiting for the socket");
	}
	if (r == 0) {
		r = kssl_dtls_handle_timeout(d);
		return r < 0 ? r : 0;
	}
	return 0;
}

/*
 * Run one step until it completes. Non-blocking sockets get WANT_* back.
 * read_first: on a blocking socket, wait until a datagram is there before
 * the first step, so that the wait happens in poll() (where signals and the
 * timer are seen) rather than in OpenSSL's recvfrom().
 */
static ssize_t drive(kssl_dtls *d, dtls_step step, void *buf, size_t len,
		     int read_first)
{
	int blocking = is_blocking(d->core.fd);
	ssize_t r;

	if (blocking && read_first && !SSL_has_pending(d->core.ssl) &&
	    (r = wait_io(d, KSSL_E_WANT_READ)) < 0)
		return r;
	for (;;) {
		r = step(d, buf, len);
		if ((r != KSSL_E_WANT_READ && r != KSSL_E_WANT_WRITE) || !blocking)
			return r;
		if ((r = wait_io(d, r)) < 0)
			return r;
	}
}

/*
 * Server, before the handshake proper: DTLSv1_listen answers ClientHellos
 * without a valid cookie with HelloVerifyRequest and keeps no state. Once a
 * cookie comes back, the socket is connected to that client.
 */
static ssize_t listen_step(kssl_dtls *d)
{
	BIO *bio = SSL_get_rbio(d->core.ssl);
	BIO_ADDR *client = BIO_ADDR_new();
	long n;
	int r;

	if (!client)
		return ks_err(KSSL_E_NOMEM, "DTLS listen: out of memory");
	ERR_clear_error();
	errno = 0;
	r = DTLSv1_listen(d->core.ssl, client);
	BIO_ADDR_free(client);
	if (r == 0) {
		/* Nothing yet, or a HelloVerifyRequest went out, or a stray
		 * datagram was dropped: all mean "wait for the next one". */
		ERR_clear_error();
		return KSSL_E_WANT_READ;
	}
	if (r < 0)
		return ks_fail(&d->core, ks_err_ssl(KSSL_E_TLS, "DTLS listen"));
	memset(&d->peer, 0, sizeof(d->peer));
	n = BIO_ctrl(bio, BIO_CTRL_DGRAM_GET_PEER, sizeof(d->peer), &d->peer);
	if (n <= 0 || connect(d->core.fd, (struct sockaddr *)&d->peer, (socklen_t)n) < 0)
		return ks_fail(&d->core, ks_err_errno(KSSL_E_SYSCALL, n <= 0 ? EINVAL : errno,
						       "DTLS: connect to the client"));
	d->peer_len = (socklen_t)n;
	BIO_ctrl(bio, BIO_CTRL_DGRAM_SET_CONNECTED, 0, &d->peer);
	d->listened = 1;
	return 0;
}

static ssize_t handshake_step(kssl_dtls *d, void *buf, size_t len)
{
	ssize_t r;

	(void)buf;
	(void)len;
	if (d->core.ctx->role == KSSL_SERVER && !d->listened &&
	    (r = listen_step(d)) != 0)
		return r;
	return ks_core_handshake_step(&d->core, "DTLS handshake");
}

int kssl_dtls_handshake(kssl_dtls *d)
{
	int r = ks_core_handshake_start(&d->core);

	if (r <= 0)
		return r;
	return (int)drive(d, handshake_step, NULL, 0,
			  d->core.ctx->role == KSSL_SERVER && !d->listened);
}

static ssize_t send_step(kssl_dtls *d, void *buf, size_t len)
{
	return ks_core_write(&d->core, buf, len, "DTLS write");
}

ssize_t kssl_dtls_send(kssl_dtls *d, const void *buf, size_t len)
{
	int r = kssl_dtls_handshake(d);

	if (r < 0)
		return r;
	if (d->core.tx_closed)
		return ks_core_tx_closed(&d->core, "kssl_dtls_send");
	/* Checked here: OpenSSL's own refusal would fail the session. */
	if (len > SSL3_RT_MAX_PLAIN_LENGTH)
		return ks_err(KSSL_E_INVAL,
			      "kssl_dtls_send: %zu bytes do not fit one DTLS record (at most %d)",
			      len, SSL3_RT_MAX_PLAIN_LENGTH);
	if (len == 0)
		return 0;
	return drive(d, send_step, (void *)buf, len, 0);
}

static ssize_t recv_step(kssl_dtls *d, void *buf, size_t len)
{
	return ks_core_read(&d->core, buf, len, "DTLS read");
}

ssize_t kssl_dtls_recv(kssl_dtls *d, void *buf, size_t len)
{
	int r = kssl_dtls_handshake(d);

	if (r < 0)
		return r;
	if (d->core.rx_closed || len == 0)
		return 0;
	return drive(d, recv_step, buf, len > INT_MAX ? INT_MAX : len, 1);
}

int kssl_dtls_shutdown(kssl_dtls *d)
{
	return ks_core_shutdown(&d->core, "DTLS shutdown");
}

int kssl_dtls_timeout_ms(kssl_dtls *d)
{
	struct timeval tv;
	long long ms;

	if (!d->core.ssl || !DTLSv1_get_timeout(d->core.ssl, &tv))
		return -1;
	ms = (long long)tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

int kssl_dtls_handle_timeout(kssl_dtls *d)
{
	int r;

	if (d->core.failed)
		return ks_failed_earlier(&d->core);
	ERR_clear_error();
	r = (int)DTLSv1_handle_timeout(d->core.ssl);
	if (r < 0)
		return ks_fail(&d->core, ks_err_ssl(KSSL_E_TLS, "DTLS retransmission"));
	return r > 0;
}

/* ---- session state ----------------------------------------------------- */

size_t kssl_dtls_pending(const kssl_dtls *d)
{
	return ks_core_pending(&d->core);
}

int kssl_dtls_peer(const kssl_dtls *d, struct sockaddr_storage *addr,
		   socklen_t *len)
{
	if (d->peer_len == 0)
		return ks_err(KSSL_E_INVAL, "kssl_dtls_peer: no client yet (cookie exchange not done)");
	memcpy(addr, &d->peer, d->peer_len);
	*len = d->peer_len;
	return 0;
}

int kssl_dtls_version(const kssl_dtls *d)
{
	return ks_core_version(&d->core);
}

const char *kssl_dtls_cipher(const kssl_dtls *d)
{
	return ks_core_cipher(&d->core, 0);
}

const char *kssl_dtls_cipher_openssl(const kssl_dtls *d)
{
	return ks_core_cipher(&d->core, 1);
}

int kssl_dtls_cipher_desc(const kssl_dtls *d, struct kssl_cipher_desc *out)
{
	return ks_core_cipher_desc(&d->core, out);
}

size_t kssl_dtls_peer_cert_der(const kssl_dtls *d, const uint8_t **der)
{
	return ks_core_peer_cert_der(&d->core, der);
}

long kssl_dtls_verify_result(const kssl_dtls *d)
{
	return ks_core_verify_result(&d->core);
}

enum kssl_offload_state kssl_dtls_offload(const kssl_dtls *d,
					  enum kssl_dir dir,
					  const char **reason)
{
	(void)d;
	(void)dir;
	if (reason)
		*reason = no_kernel_dtls;
	return KSSL_STATE_USER;
}

int kssl_dtls_fd(const kssl_dtls *d)
{
	return d->core.fd;
}

void *kssl_dtls_ssl(kssl_dtls *d)
{
	return d->core.ssl;
}
