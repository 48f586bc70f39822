/* Attaching the "tls" ULP and installing keys (Documentation/networking/tls.rst). */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>

#include <openssl/crypto.h>

#include "ktls/ktls.h"
#include "ktls/sys.h"


int ktls_attach_ulp(int fd)
{
	/* ENOENT: no CONFIG_TLS; ENOTCONN: not established; EEXIST: twice. */
	if (ks_sys->setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")) < 0)
		return -errno;
	return 0;
}

int ktls_install(int fd, int optname, struct ktls_crypto *ci)
{
	int rc = 0;

	if (ks_sys->setsockopt(fd, SOL_TLS, optname, &ci->u,
			       (socklen_t)ci->len) < 0)
		rc = -errno;
	/* The kernel has its copy (or refused it); ours must not linger. */
	OPENSSL_cleanse(ci, sizeof(*ci));
	return rc;
}

int ktls_rx_expect_no_pad(int fd)
{
	int one = 1;

	/*
	 * Linux >= 6.0, TLS 1.3 only: decrypt in place assuming no padding.
	 * If a peer does pad, the kernel notices and decrypts again (counted
	 * in TlsRxNoPadViolation), so this is always safe to ask for.
	 */
	if (ks_sys->setsockopt(fd, SOL_TLS, TLS_RX_EXPECT_NO_PAD, &one,
			       sizeof(one)) < 0)
		return -errno;
	return 0;
}
