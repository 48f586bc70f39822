/*
 * `kssl get`: who we trust and how we connect: the client context (system
 * CAs, --cacert, --pin-sha256, --insecure), TCP connect with a timeout,
 * the handshake with SNI and host name checking, and the pin check.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "get.h"

int get_exit_for(int code)
{
	switch (code) {
	case KSSL_E_CERT:
		return GET_E_VERIFY;
	case KSSL_E_SYSCALL:
	case KSSL_E_WANT_READ: /* SO_RCVTIMEO expired */
	case KSSL_E_WANT_WRITE:
		return GET_E_CONNECT;
	case KSSL_E_NOMEM:
	case KSSL_E_FILE:
		return GET_E_LOCAL;
	default:
		return GET_E_TLS;
	}
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int get_pin_parse(const char *s, uint8_t out[32])
{
	size_t n = 0;

	while (*s && n < 32) {
		int hi = hexval(s[0]), lo = hi < 0 ? -1 : hexval(s[1]);

		if (lo < 0)
			return -1;
		out[n++] = (uint8_t)(hi * 16 + lo);
		s += 2;
		if (*s == ':' && n < 32 && s[1])
			s++;
	}
	return n == 32 && !*s ? 0 : -1;
}

kssl_ctx *get_ctx_new(const struct get_opts *o, char *err, size_t errlen)
{
	static const char *const alpn[] = { "http/1.1" };
	kssl_ctx *ctx = kssl_ctx_new(KSSL_CLIENT);

	if (!ctx) {
		snprintf(err, errlen, "%s", kssl_last_error());
		return NULL;
	}
	/*
	 * No kssl_ctx_set_client_sessions: a download never resumes, so RX
	 * moves into the kernel right after the handshake (docs/design.md,
	 * "Session tickets"); tickets that follow are dropped by kssl_read.
	 */
	kssl_ctx_set_offload(ctx, o->offload);
	if (kssl_ctx_set_alpn(ctx, alpn, 1) < 0) {
		snprintf(err, errlen, "%s", kssl_last_error());
		kssl_ctx_free(ctx);
		return NULL;
	}
	/*
	 * --cacert replaces the system CAs (as curl's does): a private CA is
	 * then the only anchor. kssl_ctx_new loaded the defaults into the
	 * SSL_CTX's store; swap in an empty one first.
	 */
	if (o->cacert) {
		X509_STORE *empty = X509_STORE_new();

		if (!empty) {
			snprintf(err, errlen, "out of memory");
			kssl_ctx_free(ctx);
			return NULL;
		}
		SSL_CTX_set_cert_store(kssl_ctx_ssl_ctx(ctx), empty);
	}
	if (o->cacert && kssl_ctx_load_ca_file(ctx, o->cacert) < 0) {
		snprintf(err, errlen, "--cacert %s: %s", o->cacert,
			 kssl_last_error());
		kssl_ctx_free(ctx);
		return NULL;
	}
	if (o->insecure || (o->has_pin && !o->cacert)) {
		/* -k: nothing checked; a pin alone: the pin is the check. */
		kssl_ctx_set_verify(ctx, KSSL_VERIFY_NONE);
		kssl_ctx_set_check_hostname(ctx, 0);
	}
	return ctx;
}

static void set_timeouts(int fd, int seconds)
{
	struct timeval tv = { .tv_sec = seconds };

	/* SO_SNDTIMEO also bounds connect(2) on Linux. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int tcp_connect(const struct url *u, int timeout, char *err,
		       size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_ADDRCONFIG };
	struct addrinfo *res, *ai;
	int fd = -1, rc, saved = 0;

	rc = getaddrinfo(u->host, u->port, &hints, &res);
	if (rc == EAI_ADDRFAMILY || rc == EAI_NONAME) {
		hints.ai_flags = 0; /* loopback-only hosts: AI_ADDRCONFIG hides ::1 */
		rc = getaddrinfo(u->host, u->port, &hints, &res);
	}
	if (rc) {
		snprintf(err, errlen, "cannot resolve %s: %s", u->host,
			 gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		set_timeouts(fd, timeout);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		saved = errno == EINPROGRESS ? ETIMEDOUT : errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		snprintf(err, errlen, "cannot connect to %s port %s: %s",
			 u->host, u->port, strerror(saved));
	return fd;
}

static void hex_fp(const uint8_t *md, char *out, size_t len)
{
	out[0] = 0;
	for (unsigned i = 0, o = 0; i < 32 && o + 4 < len; i++)
		o += (unsigned)snprintf(out + o, len - o, "%s%02X",
					i ? ":" : "", md[i]);
}

static int check_pin(const struct get_opts *o, kssl_conn *tls, char *err,
		     size_t errlen)
{
	const uint8_t *der;
	size_t n = kssl_conn_peer_cert_der(tls, &der);
	uint8_t md[32];
	unsigned mdlen = 0;
	char got[100];

	if (!n) {
		snprintf(err, errlen, "certificate pin: the server sent no certificate");
		return GET_E_VERIFY;
	}
	if (!EVP_Digest(der, n, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) {
		snprintf(err, errlen, "certificate pin: SHA-256 failed");
		return GET_E_LOCAL;
	}
	if (memcmp(md, o->pin, 32)) {
		hex_fp(md, got, sizeof(got));
		snprintf(err, errlen,
			 "certificate pin mismatch: the server's certificate has SHA-256 fingerprint %s",
			 got);
		return GET_E_VERIFY;
	}
	return GET_OK;
}

int get_open(const struct get_opts *o, const struct url *u, int *fdp,
	     kssl_conn **tlsp, char *err, size_t errlen)
{
	int fd = tcp_connect(u, o->timeout, err, errlen), rc;
	kssl_conn *tls;

	if (fd < 0)
		return GET_E_CONNECT;
	tls = kssl_conn_new(o->ctx, fd);
	if (!tls || kssl_conn_set_hostname(tls, u->host) < 0) {
		snprintf(err, errlen, "%s", kssl_last_error());
		kssl_conn_free(tls);
		close(fd);
		return GET_E_LOCAL;
	}
	rc = kssl_handshake(tls);
	if (rc < 0) {
		int code = get_exit_for(rc);

		if (rc == KSSL_E_WANT_READ || rc == KSSL_E_WANT_WRITE)
			snprintf(err, errlen, "TLS handshake timed out after %d s",
				 o->timeout);
		else
			snprintf(err, errlen, "%s", kssl_last_error());
		kssl_conn_free(tls);
		close(fd);
		return code;
	}
	if (o->has_pin && (rc = check_pin(o, tls, err, errlen)) != GET_OK) {
		kssl_conn_free(tls);
		close(fd);
		return rc;
	}
	*fdp = fd;
	*tlsp = tls;
	return GET_OK;
}
