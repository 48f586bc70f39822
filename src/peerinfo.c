/*
 * What a connection learnt in its handshake, for bindings that must answer
 * after kssl freed the SSL (both directions in the kernel): the negotiated
 * suite as a descriptor, the peer's certificate chains and the cipher
 * lists (struct ks_kept, only when kssl_conn_set_keep_info asked for them),
 * and the table of every suite OpenSSL can negotiate.
 *
 * The chains and lists are read from OpenSSL while the SSL lives and
 * copied only when kssl frees it (ks_conn_release_ssl): a connection that
 * stays in userspace, the only kind on a kernel without kTLS, copies
 * nothing. Kept compactly: the chains as up-ref'd STACK_OF(X509) (no DER copies;
 * DER is encoded when asked for), the cipher lists as arrays of
 * `const SSL_CIPHER *`, which point into libssl's static tables.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "internal.h"

static void describe(const SSL_CIPHER *c, struct kssl_cipher_desc *out)
{
	out->name = SSL_CIPHER_get_name(c);
	out->iana_name = SSL_CIPHER_standard_name(c);
	out->version = SSL_CIPHER_get_version(c);
	out->bits = SSL_CIPHER_get_bits(c, &out->alg_bits);
	out->id = (uint32_t)SSL_CIPHER_get_id(c);
	out->protocol_id = SSL_CIPHER_get_protocol_id(c);
}

int ks_core_cipher_desc(const struct ks_core *c, struct kssl_cipher_desc *out)
{
	if (!c->handshake_done || !c->info.suite)
		return ks_why(ks_err(KSSL_E_INVAL, "cipher: the handshake has not finished"),
			      KSSL_R_WRONG_STATE, 0);
	describe(c->info.suite, out);
	return 0;
}

void kssl_conn_set_keep_info(kssl_conn *conn, unsigned what)
{
	conn->core.keep = what & (KSSL_KEEP_CHAINS | KSSL_KEEP_CIPHER_LISTS);
}

/* ---- capture when the SSL is freed ---------------------------------------- */

/*
 * As CPython's _ssl: a server's unverified chain starts with the client's
 * certificate, which OpenSSL leaves out of SSL_get_peer_cert_chain there.
 */
static void keep_chains(struct ks_kept *k, SSL *ssl, int server)
{
	STACK_OF(X509) *verified = SSL_get0_verified_chain(ssl);
	STACK_OF(X509) *sent = SSL_get_peer_cert_chain(ssl);
	X509 *leaf = SSL_get0_peer_certificate(ssl);

	if (verified)
		k->chain[KSSL_CHAIN_VERIFIED] = X509_chain_up_ref(verified);
	if (sent)
		k->chain[KSSL_CHAIN_SENT] = X509_chain_up_ref(sent);
	if (server && leaf && k->chain[KSSL_CHAIN_SENT] && X509_up_ref(leaf) &&
	    !sk_X509_insert(k->chain[KSSL_CHAIN_SENT], leaf, 0))
		X509_free(leaf);
}

static void keep_list(struct ks_kept *k, int which, STACK_OF(SSL_CIPHER) *sk)
{
	int n = sk ? sk_SSL_CIPHER_num(sk) : -1;

	k->n_ciphers[which] = -1;
	if (n < 0)
		return;
	/* calloc(0) may give NULL: one slot more keeps "empty" apart from
	 * "out of memory". */
	k->ciphers[which] = calloc((size_t)n + 1, sizeof(*k->ciphers[which]));
	if (!k->ciphers[which])
		return;
	for (int i = 0; i < n; i++)
		k->ciphers[which][i] = sk_SSL_CIPHER_value(sk, i);
	k->n_ciphers[which] = n;
}

void ks_kept_capture(struct ks_core *c)
{
	struct ks_kept *k;
	int server = c->ctx->role == KSSL_SERVER;

	if (!c->keep || c->kept || !c->ssl || !c->handshake_done)
		return;
	/* Best effort, as the accessors it feeds: without memory they say
	 * "not available", the handshake itself is not failed for it. */
	k = calloc(1, sizeof(*k));
	if (!k)
		return;
	k->n_ciphers[0] = k->n_ciphers[1] = -1;
	if (c->keep & KSSL_KEEP_CHAINS)
		keep_chains(k, c->ssl, server);
	if (c->keep & KSSL_KEEP_CIPHER_LISTS) {
		keep_list(k, KSSL_CIPHERS_OWN, SSL_get_ciphers(c->ssl));
		if (server)
			keep_list(k, KSSL_CIPHERS_CLIENT, SSL_get_client_ciphers(c->ssl));
	}
	c->kept = k;
}

void ks_kept_free(struct ks_core *c)
{
	struct ks_kept *k = c->kept;

	if (!k)
		return;
	for (int i = 0; i < 2; i++) {
		sk_X509_pop_free(k->chain[i], X509_free);
		free(k->ciphers[i]);
	}
	free(k);
	c->kept = NULL;
}

/* ---- chains ---------------------------------------------------------------- */

/*
 * A chain as an optional first certificate and a stack: the kept copy, or
 * OpenSSL's while the SSL lives (a server's sent chain then starts with
 * the leaf, which OpenSSL keeps apart: see keep_chains).
 */
struct chain_view {
	X509 *first;
	STACK_OF(X509) *rest;
};

static int chain_of(const kssl_conn *conn, enum kssl_chain which,
		    struct chain_view *v)
{
	const struct ks_kept *k = conn->core.kept;
	SSL *ssl = conn->core.ssl;

	v->first = NULL;
	v->rest = NULL;
	if (which != KSSL_CHAIN_VERIFIED && which != KSSL_CHAIN_SENT)
		return 0;
	if (k) {
		v->rest = k->chain[which];
	} else if (ssl && conn->core.handshake_done &&
		   (conn->core.keep & KSSL_KEEP_CHAINS)) {
		if (which == KSSL_CHAIN_VERIFIED) {
			v->rest = SSL_get0_verified_chain(ssl);
		} else {
			v->rest = SSL_get_peer_cert_chain(ssl);
			if (v->rest && conn->core.ctx->role == KSSL_SERVER)
				v->first = SSL_get0_peer_certificate(ssl);
		}
	}
	return v->rest != NULL;
}

static int view_count(const struct chain_view *v)
{
	return (v->first ? 1 : 0) + sk_X509_num(v->rest);
}

static X509 *view_at(const struct chain_view *v, int i)
{
	if (v->first)
		return i == 0 ? v->first : sk_X509_value(v->rest, i - 1);
	return sk_X509_value(v->rest, i);
}

static int no_chain(void)
{
	return ks_why(ks_err(KSSL_E_INVAL, "kssl_conn_chain: no such chain (not kept, handshake not finished, or none sent)"),
		      KSSL_R_WRONG_STATE, 0);
}

int kssl_conn_chain_count(const kssl_conn *conn, enum kssl_chain which)
{
	struct chain_view v;

	return chain_of(conn, which, &v) ? view_count(&v) : no_chain();
}

int kssl_conn_chain_der(const kssl_conn *conn, enum kssl_chain which,
			size_t i, uint8_t **out, size_t *len)
{
	struct chain_view v;
	unsigned char *der = NULL;
	int n;

	*out = NULL;
	*len = 0;
	if (!chain_of(conn, which, &v))
		return no_chain();
	if (i >= (size_t)view_count(&v))
		return ks_why(ks_err(KSSL_E_INVAL, "kssl_conn_chain_der: index %zu out of range", i),
			      KSSL_R_BAD_ARGUMENT, 0);
	n = i2d_X509(view_at(&v, (int)i), &der);
	if (n <= 0)
		return ks_err_ssl(KSSL_E_NOMEM, "kssl_conn_chain_der: i2d_X509");
	/* OPENSSL_malloc'd: the caller frees with free(), so copy. */
	*out = malloc((size_t)n);
	if (*out) {
		memcpy(*out, der, (size_t)n);
		*len = (size_t)n;
	}
	OPENSSL_free(der);
	return *out ? 0 : ks_err(KSSL_E_NOMEM, "kssl_conn_chain_der: out of memory");
}

/* ---- cipher lists ---------------------------------------------------------- */

/* The list as a count and an element getter: kept copy, else OpenSSL's. */
struct cipher_list {
	int n;
	const SSL_CIPHER *const *kept;
	STACK_OF(SSL_CIPHER) *live;
};

static int list_of(const kssl_conn *conn, enum kssl_cipher_list which,
		   struct cipher_list *l)
{
	const struct ks_kept *k = conn->core.kept;
	SSL *ssl = conn->core.ssl;

	memset(l, 0, sizeof(*l));
	l->n = -1;
	if (which != KSSL_CIPHERS_OWN && which != KSSL_CIPHERS_CLIENT)
		return ks_err(KSSL_E_INVAL, "kssl_conn_cipher: no such list");
	if (k && k->n_ciphers[which] >= 0) {
		l->n = k->n_ciphers[which];
		l->kept = k->ciphers[which];
	} else if (ssl && (which == KSSL_CIPHERS_OWN ||
			   conn->core.ctx->role == KSSL_SERVER)) {
		l->live = which == KSSL_CIPHERS_OWN ? SSL_get_ciphers(ssl)
						    : SSL_get_client_ciphers(ssl);
		l->n = l->live ? sk_SSL_CIPHER_num(l->live) : -1;
	}
	if (l->n < 0)
		return ks_why(ks_err(KSSL_E_INVAL, "kssl_conn_cipher: list not available"),
			      KSSL_R_WRONG_STATE, 0);
	return l->n;
}

int kssl_conn_cipher_count(const kssl_conn *conn, enum kssl_cipher_list which)
{
	struct cipher_list l;

	return list_of(conn, which, &l);
}

int kssl_conn_cipher_at(const kssl_conn *conn, enum kssl_cipher_list which,
			size_t i, struct kssl_cipher_desc *out)
{
	struct cipher_list l;
	int r = list_of(conn, which, &l);

	if (r < 0)
		return r;
	if (i >= (size_t)l.n)
		return ks_why(ks_err(KSSL_E_INVAL, "kssl_conn_cipher_at: index %zu out of range", i),
			      KSSL_R_BAD_ARGUMENT, 0);
	describe(l.kept ? l.kept[i] : sk_SSL_CIPHER_value(l.live, (int)i), out);
	return 0;
}

/* ---- every suite ------------------------------------------------------------ */

static const char all_tls12[] = "ALL:COMPLEMENTOFALL:@SECLEVEL=0";
static const char all_tls13[] =
	"TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:"
	"TLS_AES_128_GCM_SHA256:TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256";

/*
 * Suites whose algorithms the loaded providers lack (RC4, DES, SEED, ...
 * without the legacy provider) are not in an SSL_CTX's list, so the table
 * holds only what OpenSSL could negotiate.
 */
int kssl_cipher_table(struct kssl_cipher_desc **out, size_t *n)
{
	SSL_CTX *sc = SSL_CTX_new(TLS_method());
	STACK_OF(SSL_CIPHER) *sk;
	size_t k = 0;

	*out = NULL;
	*n = 0;
	if (!sc || !SSL_CTX_set_cipher_list(sc, all_tls12) ||
	    !SSL_CTX_set_ciphersuites(sc, all_tls13)) {
		SSL_CTX_free(sc);
		return ks_err_ssl(KSSL_E_TLS, "kssl_cipher_table: cannot build the all-ciphers context");
	}
	sk = SSL_CTX_get_ciphers(sc);
	*out = calloc((size_t)sk_SSL_CIPHER_num(sk) + 1, sizeof(**out));
	if (!*out) {
		SSL_CTX_free(sc);
		return ks_err(KSSL_E_NOMEM, "kssl_cipher_table: out of memory");
	}
	for (int i = 0; i < sk_SSL_CIPHER_num(sk); i++) {
		const SSL_CIPHER *c = sk_SSL_CIPHER_value(sk, i);

		if (SSL_CIPHER_standard_name(c))
			describe(c, &(*out)[k++]);
	}
	*n = k;
	/* The descriptors point into libssl's static tables, not into sc. */
	SSL_CTX_free(sc);
	return 0;
}
