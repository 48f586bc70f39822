/*
 * The client's identity of its peer, shared by TLS connections and DTLS
 * sessions: the host name the application gives, and at the first
 * handshake step SNI (never for IP literals, RFC 6066) and the name or
 * address the certificate must match.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509v3.h>

#include "internal.h"

int ks_hostname_set(kssl_conn *conn, const char *name, const char *caller)
{
	char *copy;

	if (conn->ctx->role != KSSL_CLIENT)
		return ks_err(KSSL_E_INVAL, "%s: servers have no host name", caller);
	if (!name || !*name || strlen(name) > 253)
		return ks_err(KSSL_E_INVAL, "%s: empty or too long", caller);
	if (conn->handshake_done || !conn->ssl || !SSL_in_before(conn->ssl))
		return ks_why(ks_err(KSSL_E_INVAL, "%s: handshake already started",
				     caller), KSSL_R_WRONG_STATE, 0);
	copy = strdup(name);
	if (!copy)
		return ks_err(KSSL_E_NOMEM, "out of memory");
	free(conn->info.server_name);
	conn->info.server_name = copy;
	return 0;
}

static int is_ip_literal(const char *name)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, name, buf) == 1 ||
	       inet_pton(AF_INET6, name, buf) == 1;
}

int ks_hostname_apply(kssl_conn *conn, const char *setter)
{
	const kssl_ctx *ctx = conn->ctx;
	const char *name = conn->info.server_name;
	int check = ctx->check_hostname && ctx->verify != KSSL_VERIFY_NONE;

	if (ctx->role != KSSL_CLIENT)
		return 0;
	if (!name) {
		if (check)
			return ks_err(KSSL_E_INVAL,
				      "check_hostname is on but no host name was given (%s)",
				      setter);
		return 0;
	}
	if (is_ip_literal(name)) {
		if (check && !X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(conn->ssl), name))
			return ks_err_ssl(KSSL_E_INVAL, "invalid IP address %s", name);
		return 0;
	}
	if (!SSL_set_tlsext_host_name(conn->ssl, name))
		return ks_err_ssl(KSSL_E_INVAL, "invalid server name %s", name);
	if (check && !SSL_set1_host(conn->ssl, name))
		return ks_err_ssl(KSSL_E_INVAL, "invalid host name %s", name);
	return 0;
}
