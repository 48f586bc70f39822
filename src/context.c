/* kssl_ctx: configuration shared by connections. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "kssl/kssl_dtls.h"
#include "internal.h"

static int ks_ctx_verify_apply(kssl_ctx *ctx)
{
	int mode = SSL_VERIFY_NONE;

	if (ctx->verify == KSSL_VERIFY_OPTIONAL)
		mode = SSL_VERIFY_PEER;
	else if (ctx->verify == KSSL_VERIFY_REQUIRED)
		mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
	/* TLS 1.3 servers then ask only on kssl_conn_verify_client_post_handshake. */
	if (ctx->pha && ctx->role == KSSL_SERVER && mode != SSL_VERIFY_NONE)
		mode |= SSL_VERIFY_POST_HANDSHAKE;
	SSL_CTX_set_verify(ctx->ssl_ctx, mode, NULL);
	if (ctx->role == KSSL_SERVER && !kssl_ctx_is_dtls(ctx))
		SSL_CTX_set_client_hello_cb(ctx->ssl_ctx, mode != SSL_VERIFY_NONE ?
					    ks_pha_hello_cb : NULL, NULL);
	return 0;
}

static int alpn_select(SSL *ssl, const unsigned char **out,
		       unsigned char *outlen, const unsigned char *in,
		       unsigned int inlen, void *arg)
{
	kssl_ctx *ctx = arg;
	unsigned char *sel;

	(void)ssl;
	if (ctx->alpn_len == 0)
		return SSL_TLSEXT_ERR_NOACK;
	/* Server preference: the first of our protocols the client offers. */
	if (SSL_select_next_proto(&sel, outlen, ctx->alpn,
				  (unsigned int)ctx->alpn_len, in,
				  inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

kssl_ctx *kssl_ctx_new(enum kssl_role role)
{
	return kssl_ctx_new_ex(role, 0);
}

kssl_ctx *kssl_ctx_new_ex(enum kssl_role role, unsigned flags)
{
	kssl_ctx *ctx;
	const char *keylog;

	if (role != KSSL_CLIENT && role != KSSL_SERVER) {
		ks_err(KSSL_E_INVAL, "kssl_ctx_new: role must be KSSL_CLIENT or KSSL_SERVER");
		return NULL;
	}
	ctx = ks_zalloc(sizeof(*ctx), "kssl_ctx_new");
	if (!ctx)
		return NULL;
	ctx->ssl_ctx = SSL_CTX_new(role == KSSL_CLIENT ? TLS_client_method()
						       : TLS_server_method());
	if (!ctx->ssl_ctx) {
		ks_err_ssl(KSSL_E_NOMEM, "SSL_CTX_new");
		free(ctx);
		return NULL;
	}
	ctx->role = role;
	ctx->refs = 1;
	pthread_mutex_init(&ctx->keylog_lock, NULL);
	SSL_CTX_set_min_proto_version(ctx->ssl_ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx->ssl_ctx, SSL_OP_NO_COMPRESSION |
				  SSL_OP_NO_RENEGOTIATION |
				  SSL_OP_CIPHER_SERVER_PREFERENCE);
	/*
	 * Buffers are allocated per record and dropped when empty: a
	 * connection whose records are all in the kernel holds none.
	 */
	SSL_CTX_set_mode(ctx->ssl_ctx, SSL_MODE_RELEASE_BUFFERS |
			 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_alpn_select_cb(ctx->ssl_ctx, alpn_select, ctx);
	if (role == KSSL_CLIENT) {
		ctx->verify = KSSL_VERIFY_REQUIRED;
		ctx->check_hostname = 1;
		/* No system store is not fatal: the caller may add CAs. */
		if (!(flags & KSSL_CTX_NO_SYSTEM_CAS) &&
		    !SSL_CTX_set_default_verify_paths(ctx->ssl_ctx))
			ERR_clear_error();
	} else {
		ctx->verify = KSSL_VERIFY_NONE;
		/* DHE suites need a group: OpenSSL's built-in one sized to the key. */
		if (!(flags & KSSL_CTX_NO_DH_AUTO))
			SSL_CTX_set_dh_auto(ctx->ssl_ctx, 1);
		/*
		 * With client certificates verified, OpenSSL refuses to resume
		 * sessions of an unnamed context (internal_error). One name for
		 * all kssl servers, as CPython does with "Python".
		 */
		SSL_CTX_set_session_id_context(ctx->ssl_ctx,
					       (const unsigned char *)"kssl", 4);
	}
	ks_ctx_verify_apply(ctx);
	/* Not for setuid programs: the caller must not pick where secrets go. */
	keylog = flags & KSSL_CTX_NO_ENV ? NULL : secure_getenv("SSLKEYLOGFILE");
	if (keylog && *keylog && kssl_ctx_set_keylog_file(ctx, keylog) < 0) {
		kssl_ctx_free(ctx);
		return NULL;
	}
	ks_ctx_update_keylog(ctx);
	return ctx;
}

int ks_capture_secrets_always;

/* kssl_kernel_has_tls() once per process: a kernel does not gain the ULP. */
static int kernel_has_tls_cached(void)
{
	static int known = -1; /* -1 unknown, else the answer */
	int v = __atomic_load_n(&known, __ATOMIC_RELAXED);

	if (v < 0) {
		v = kssl_kernel_has_tls();
		__atomic_store_n(&known, v, __ATOMIC_RELAXED);
	}
	return v;
}

int ks_kernel_can_offload(void)
{
	return ks_capture_secrets_always || kernel_has_tls_cached();
}

/*
 * The key log callback is how TLS 1.3 traffic secrets reach kssl (OpenSSL
 * 3.0 has no other way), and OpenSSL formats every key log line with one
 * sprintf per byte before calling it: ~300k instructions per handshake,
 * 6 % of a client's TLS 1.3 handshake (docs/bench.md). So it is installed
 * only where a secret can be used: a kernel with the tls ULP and a
 * direction allowed to move there (by the context, or by a connection's
 * own mode: OpenSSL reads the callback from the SSL_CTX), or a key log
 * file.
 */
void ks_ctx_update_keylog(kssl_ctx *ctx)
{
	int need = ctx->keylog ||
		   ((ctx->offload != KSSL_OFFLOAD_NONE ||
		     __atomic_load_n(&ctx->conn_offload, __ATOMIC_RELAXED)) &&
		    ks_kernel_can_offload());

	if (kssl_ctx_is_dtls(ctx))
		return; /* DTLS contexts have their own (src/dtls.c) */
	SSL_CTX_set_keylog_callback(ctx->ssl_ctx, need ? ks_keylog_cb : NULL);
}

void ks_keylog_write(kssl_ctx *ctx, const char *line)
{
	if (!ctx->keylog)
		return;
	pthread_mutex_lock(&ctx->keylog_lock);
	if (ctx->keylog) /* again: set_keylog_file(NULL) closes it */
		fprintf(ctx->keylog, "%s\n", line);
	pthread_mutex_unlock(&ctx->keylog_lock);
}

void kssl_ctx_up_ref(kssl_ctx *ctx)
{
	__atomic_add_fetch(&ctx->refs, 1, __ATOMIC_RELAXED);
}

void kssl_ctx_free(kssl_ctx *ctx)
{
	if (!ctx || __atomic_sub_fetch(&ctx->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	SSL_CTX_free(ctx->ssl_ctx);
	if (ctx->keylog)
		fclose(ctx->keylog);
	pthread_mutex_destroy(&ctx->keylog_lock);
	free(ctx->ocsp);
	free(ctx);
}

enum kssl_role kssl_ctx_role(const kssl_ctx *ctx)
{
	return ctx->role;
}

void kssl_ctx_set_verify(kssl_ctx *ctx, enum kssl_verify mode)
{
	ctx->verify = mode;
	ks_ctx_verify_apply(ctx);
}

enum kssl_verify kssl_ctx_get_verify(const kssl_ctx *ctx)
{
	return ctx->verify;
}

void kssl_ctx_set_check_hostname(kssl_ctx *ctx, int on)
{
	ctx->check_hostname = !!on;
}

int kssl_ctx_get_check_hostname(const kssl_ctx *ctx)
{
	return ctx->check_hostname;
}

static int version_ok(int v)
{
	return v == 0 || (v >= SSL3_VERSION && v <= KSSL_TLS1_3);
}

int kssl_ctx_set_versions(kssl_ctx *ctx, int min_version, int max_version)
{
	if (!version_ok(min_version) || !version_ok(max_version))
		return ks_err(KSSL_E_INVAL,
			      "kssl_ctx_set_versions: not a TLS version (0x0300 to 0x0304, or 0)");
	/* 0 as minimum keeps the TLS 1.2 floor: nothing older is offered. */
	if (!SSL_CTX_set_min_proto_version(ctx->ssl_ctx,
					   min_version ? min_version : TLS1_2_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx->ssl_ctx, max_version))
		return ks_err_ssl(KSSL_E_INVAL, "kssl_ctx_set_versions");
	return 0;
}

/*
 * OpenSSL's version-specific methods are deprecated since 1.1.0, but they
 * are what CPython's PROTOCOL_TLSv1* contexts run on, and they differ from
 * TLS_method() pinned to one version in what a peer of another version
 * gets (WRONG_SSL_VERSION, NO_SHARED_CIPHER instead of a version alert).
 * SSL_CTX_set_ssl_version, deprecated in 3.0, is the one way to put an
 * existing context on one.
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static const SSL_METHOD *fixed_method(int version)
{
	switch (version) {
	case KSSL_TLS1_0: return TLSv1_method();
	case KSSL_TLS1_1: return TLSv1_1_method();
	case KSSL_TLS1_2: return TLSv1_2_method();
	default: return NULL;
	}
}

int kssl_ctx_set_fixed_version(kssl_ctx *ctx, int version)
{
	const SSL_METHOD *m = fixed_method(version);

	if (!m)
		return ks_err(KSSL_E_INVAL,
			      "kssl_ctx_set_fixed_version: 0x%04x is not TLS 1.0, 1.1 or 1.2",
			      (unsigned)version);
	/* Also resets both cipher lists to OpenSSL's defaults. */
	if (!SSL_CTX_set_ssl_version(ctx->ssl_ctx, m))
		return ks_err_ssl(KSSL_E_INVAL, "kssl_ctx_set_fixed_version");
	return 0;
}
#pragma GCC diagnostic pop

int kssl_ctx_load_dh_params(kssl_ctx *ctx, const char *path)
{
	EVP_PKEY *dh = NULL;
	BIO *bio;

	if (!path)
		return ks_err(KSSL_E_INVAL, "kssl_ctx_load_dh_params: no path");
	ERR_clear_error();
	bio = BIO_new_file(path, "r");
	if (!bio)
		return ks_err_ssl(KSSL_E_FILE, "kssl_ctx_load_dh_params(\"%s\")", path);
	dh = PEM_read_bio_Parameters(bio, NULL);
	BIO_free(bio);
	if (!dh || EVP_PKEY_get_base_id(dh) != EVP_PKEY_DH) {
		EVP_PKEY_free(dh);
		return ks_err_ssl(KSSL_E_FILE,
				  "kssl_ctx_load_dh_params(\"%s\"): no PEM DH PARAMETERS", path);
	}
	/* Takes dh on success; refuses groups below the security level. */
	if (!SSL_CTX_set0_tmp_dh_pkey(ctx->ssl_ctx, dh)) {
		EVP_PKEY_free(dh);
		return ks_err_ssl(KSSL_E_FILE, "kssl_ctx_load_dh_params(\"%s\")", path);
	}
	SSL_CTX_set_dh_auto(ctx->ssl_ctx, 0); /* else the built-in group wins */
	return 0;
}

int kssl_ctx_set_ciphers(kssl_ctx *ctx, const char *list)
{
	if (!list || !SSL_CTX_set_cipher_list(ctx->ssl_ctx, list))
		return ks_err_ssl(KSSL_E_INVAL, "kssl_ctx_set_ciphers(\"%s\")",
				  list ? list : "(null)");
	return 0;
}

int kssl_ctx_set_ciphersuites(kssl_ctx *ctx, const char *list)
{
	if (!list || !SSL_CTX_set_ciphersuites(ctx->ssl_ctx, list))
		return ks_err_ssl(KSSL_E_INVAL,
				  "kssl_ctx_set_ciphersuites(\"%s\")",
				  list ? list : "(null)");
	return 0;
}

void kssl_ctx_set_security_level(kssl_ctx *ctx, int level)
{
	SSL_CTX_set_security_level(ctx->ssl_ctx, level);
}

int kssl_ctx_set_groups(kssl_ctx *ctx, const char *list)
{
	if (!list || !SSL_CTX_set1_groups_list(ctx->ssl_ctx, list))
		return ks_err_ssl(KSSL_E_INVAL, "kssl_ctx_set_groups(\"%s\")",
				  list ? list : "(null)");
	return 0;
}

int kssl_ctx_set_alpn(kssl_ctx *ctx, const char *const *protos, size_t n)
{
	unsigned char wire[KS_MAX_ALPN];
	size_t len = 0;

	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(protos[i]);

		if (l == 0 || l > 255)
			return ks_err(KSSL_E_INVAL,
				      "kssl_ctx_set_alpn: protocol name length must be 1..255");
		if (len + 1 + l > sizeof(wire))
			return ks_err(KSSL_E_INVAL,
				      "kssl_ctx_set_alpn: list longer than %zu bytes",
				      sizeof(wire));
		wire[len++] = (unsigned char)l;
		memcpy(wire + len, protos[i], l);
		len += l;
	}
	memcpy(ctx->alpn, wire, len);
	ctx->alpn_len = len;
	/* SSL_CTX_set_alpn_protos returns 0 on success (sic). */
	if (ctx->role == KSSL_CLIENT &&
	    SSL_CTX_set_alpn_protos(ctx->ssl_ctx, len ? wire : NULL,
				    (unsigned int)len) != 0)
		return ks_err_ssl(KSSL_E_NOMEM, "kssl_ctx_set_alpn");
	return 0;
}

static int sni_thunk(SSL *ssl, int *al, void *arg)
{
	kssl_ctx *ctx = arg;
	kssl_conn *conn = SSL_get_app_data(ssl);
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	int r;

	if (!ctx->sni_cb || !conn)
		return SSL_TLSEXT_ERR_OK;
	r = ctx->sni_cb(conn, name, ctx->sni_arg);
	if (r == 0)
		return SSL_TLSEXT_ERR_OK;
	*al = r;
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

void kssl_ctx_set_sni_cb(kssl_ctx *ctx, kssl_sni_cb cb, void *arg)
{
	ctx->sni_cb = cb;
	ctx->sni_arg = arg;
	SSL_CTX_set_tlsext_servername_callback(ctx->ssl_ctx, sni_thunk);
	SSL_CTX_set_tlsext_servername_arg(ctx->ssl_ctx, ctx);
}

void kssl_ctx_set_msg_cb(kssl_ctx *ctx, kssl_msg_cb cb, void *arg)
{
	ctx->msg_cb = cb;
	ctx->msg_arg = arg;
}

int kssl_ctx_set_num_tickets(kssl_ctx *ctx, size_t n)
{
	if (!SSL_CTX_set_num_tickets(ctx->ssl_ctx, n))
		return ks_err_ssl(KSSL_E_INVAL, "kssl_ctx_set_num_tickets");
	if (n == 0)
		SSL_CTX_set_options(ctx->ssl_ctx, SSL_OP_NO_TICKET);
	else
		SSL_CTX_clear_options(ctx->ssl_ctx, SSL_OP_NO_TICKET);
	return 0;
}

void kssl_ctx_set_client_sessions(kssl_ctx *ctx, int on)
{
	ctx->client_sessions = !!on;
	SSL_CTX_set_session_cache_mode(ctx->ssl_ctx,
				       on ? SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL
					  : SSL_SESS_CACHE_OFF);
}

void kssl_ctx_set_offload(kssl_ctx *ctx, enum kssl_offload_mode mode)
{
	ctx->offload = mode;
	ks_ctx_update_keylog(ctx);
}

void kssl_ctx_set_read_ahead(kssl_ctx *ctx, int on)
{
	ctx->read_ahead = !!on;
}

void *kssl_ctx_ssl_ctx(kssl_ctx *ctx)
{
	return ctx->ssl_ctx;
}

int kssl_ctx_set_keylog_file(kssl_ctx *ctx, const char *path)
{
	FILE *f = NULL;

	if (path) {
		f = fopen(path, "ae"); /* close-on-exec: no secrets for children */
		if (!f)
			return ks_err_errno(KSSL_E_FILE, errno,
					    "cannot open key log file %s", path);
		setvbuf(f, NULL, _IOLBF, 0);
	}
	pthread_mutex_lock(&ctx->keylog_lock);
	if (ctx->keylog)
		fclose(ctx->keylog);
	ctx->keylog = f;
	pthread_mutex_unlock(&ctx->keylog_lock);
	ks_ctx_update_keylog(ctx);
	return 0;
}
