/*
 * Fuzz target: the DTLS server's stateless cookie exchange (src/dtls.c,
 * DTLSv1_listen with kssl's HMAC cookie callbacks). Each input is one
 * datagram sent over loopback UDP to a fresh non-blocking kssl DTLS server
 * socket, which then takes one handshake step.
 * When the first input byte is odd and the datagram is a ClientHello with a
 * 32-byte cookie field, the harness writes the cookie the server expects
 * for this client address there, so the fuzzer also gets past the cookie
 * check into the handshake proper; otherwise the cookie is what the input
 * says and must be refused.
 * Invariants: the step returns WANT_READ/WANT_WRITE or a negative
 * KSSL_E_* code, never success on one datagram; without the harness's
 * valid cookie the server never connects to the client (kssl_dtls_peer
 * keeps failing).
 */
#include "fuzz.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "kssl/kssl_dtls.h"

static kssl_ctx *ctx;
static const unsigned char secret[32] = "kssl fuzz dtls cookie secret...";

static int udp_socket(struct sockaddr_in *addr)
{
	socklen_t alen = sizeof(*addr);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	memset(addr, 0, sizeof(*addr));
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)addr, sizeof(*addr)) ||
	    getsockname(fd, (struct sockaddr *)addr, &alen))
		abort();
	return fd;
}

/* What src/dtls.c computes: HMAC-SHA256(secret, family||port||addr). */
static void expected_cookie(const struct sockaddr_in *a, unsigned char *out)
{
	unsigned char msg[8];
	unsigned int n = 0;
	uint16_t fam = AF_INET;

	memcpy(msg, &fam, 2);
	memcpy(msg + 2, &a->sin_port, 2);
	memcpy(msg + 4, &a->sin_addr, 4);
	HMAC(EVP_sha256(), secret, sizeof(secret), msg, sizeof(msg), out, &n);
}

/*
 * Offset of a ClientHello's cookie bytes if it has a 32-byte cookie:
 * record header (13) + handshake header (12) + version (2) + random (32),
 * then session id <len,bytes>, then cookie <len,bytes>.
 */
static size_t cookie_offset(const uint8_t *d, size_t n)
{
	size_t off = 13 + 12 + 2 + 32;

	if (n < off + 1 || d[0] != 22 || d[13] != 1)
		return 0;
	off += 1 + d[off];
	if (n < off + 1 + 32 || d[off] != 32)
		return 0;
	return off + 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_in srv_addr, cli_addr;
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	uint8_t *dgram;
	size_t coff;
	int srv, cli, r, forged = 0;
	kssl_dtls *d;

	if (size < 1)
		return 0;
	if (!ctx) {
		ctx = kssl_dtls_ctx_new(KSSL_SERVER);
		FUZZ_CHECK(ctx && kssl_dtls_ctx_set_cookie_secret(ctx, secret, sizeof(secret)) == 0);
	}
	srv = udp_socket(&srv_addr);
	cli = udp_socket(&cli_addr);
	dgram = malloc(size);
	FUZZ_CHECK(dgram);
	memcpy(dgram, data + 1, size - 1);
	if ((data[0] & 1) && (coff = cookie_offset(dgram, size - 1))) {
		expected_cookie(&cli_addr, dgram + coff);
		forged = 1;
	}
	if (sendto(cli, dgram, size - 1, 0, (struct sockaddr *)&srv_addr,
		   sizeof(srv_addr)) != (ssize_t)(size - 1))
		abort();
	d = kssl_dtls_new(ctx, srv);
	FUZZ_CHECK(d);
	r = kssl_dtls_handshake(d);
	FUZZ_CHECK(r < 0 && r >= -99);
	if (!forged)
		FUZZ_CHECK(kssl_dtls_peer(d, &peer, &plen) < 0);
	kssl_dtls_free(d);
	free(dgram);
	close(srv);
	close(cli);
	ERR_clear_error();
	return 0;
}
