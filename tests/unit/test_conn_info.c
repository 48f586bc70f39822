/*
 * What a connection keeps from its handshake for bindings (src/peerinfo.c):
 * the negotiated suite, the peer's certificate and chains, the cipher
 * lists. Checked against OpenSSL's own answers on a live SSL (offload
 * off), then again after kssl freed the SSL: a fake syscall table accepts
 * the tls ULP and both key installs on the host, so both directions "move
 * to the kernel" and kssl frees the SSL exactly as it does with real kTLS
 * (no data flows afterwards: the fake kernel encrypts nothing). Both
 * sides, TLS 1.3 and 1.2, with a client certificate.
 */
#include "harness.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/tls.h>
#include <openssl/x509.h>

#include "ktls/sys.h"

#define MAX_CERTS 8
#define MAX_SUITES 256

/* Everything compared, reduced to numbers and digests. */
struct snap {
	struct kssl_cipher_desc cipher;
	int has_peer;            /* the peer's certificate (DER made lazily) */
	unsigned char peer_sha[32];
	int n_chain[2];          /* enum kssl_chain; -1: none */
	unsigned char der_sha[2][MAX_CERTS][32];
	int n_list[2];           /* enum kssl_cipher_list; -1: none */
	uint32_t ids[2][MAX_SUITES];
};

static void snap_api(kssl_conn *c, struct snap *s)
{
	const uint8_t *peer;
	size_t peer_len;

	memset(s, 0, sizeof(*s));
	ck_assert_int_eq(kssl_conn_cipher_desc(c, &s->cipher), 0);
	peer_len = kssl_conn_peer_cert_der(c, &peer);
	s->has_peer = peer_len > 0;
	if (s->has_peer)
		h_sha256(peer, peer_len, s->peer_sha);
	for (int w = 0; w < 2; w++) {
		s->n_chain[w] = kssl_conn_chain_count(c, (enum kssl_chain)w);
		if (s->n_chain[w] < 0) {
			ck_assert_int_eq(s->n_chain[w], KSSL_E_INVAL);
			s->n_chain[w] = -1;
		}
		ck_assert_int_le(s->n_chain[w], MAX_CERTS);
		for (int i = 0; i < s->n_chain[w]; i++) {
			uint8_t *der;
			size_t len;

			ck_assert_int_eq(kssl_conn_chain_der(c, (enum kssl_chain)w,
							     (size_t)i, &der, &len), 0);
			h_sha256(der, len, s->der_sha[w][i]);
			free(der);
		}
		s->n_list[w] = kssl_conn_cipher_count(c, (enum kssl_cipher_list)w);
		if (s->n_list[w] < 0)
			s->n_list[w] = -1;
		ck_assert_int_le(s->n_list[w], MAX_SUITES);
		for (int i = 0; i < s->n_list[w]; i++) {
			struct kssl_cipher_desc d;

			ck_assert_int_eq(kssl_conn_cipher_at(c, (enum kssl_cipher_list)w,
							     (size_t)i, &d), 0);
			s->ids[w][i] = d.id;
		}
	}
}

static void sha_cert(X509 *x, unsigned char out[32])
{
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);

	ck_assert_int_gt(n, 0);
	h_sha256(der, (size_t)n, out);
	OPENSSL_free(der);
}

/* What OpenSSL says on the live SSL, with CPython's server rule. */
static void snap_ssl(SSL *ssl, struct snap *s)
{
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
	STACK_OF(X509) *chains[2] = { SSL_get0_verified_chain(ssl),
				      SSL_get_peer_cert_chain(ssl) };
	STACK_OF(SSL_CIPHER) *lists[2] = { SSL_get_ciphers(ssl),
					   SSL_is_server(ssl) ? SSL_get_client_ciphers(ssl) : NULL };

	memset(s, 0, sizeof(*s));
	ck_assert_ptr_nonnull(c);
	s->has_peer = SSL_get0_peer_certificate(ssl) != NULL;
	if (s->has_peer)
		sha_cert(SSL_get0_peer_certificate(ssl), s->peer_sha);
	s->cipher.name = SSL_CIPHER_get_name(c);
	s->cipher.iana_name = SSL_CIPHER_standard_name(c);
	s->cipher.version = SSL_CIPHER_get_version(c);
	s->cipher.bits = SSL_CIPHER_get_bits(c, &s->cipher.alg_bits);
	s->cipher.id = (uint32_t)SSL_CIPHER_get_id(c);
	s->cipher.protocol_id = SSL_CIPHER_get_protocol_id(c);
	for (int w = 0; w < 2; w++) {
		int lead = w == KSSL_CHAIN_SENT && SSL_is_server(ssl) && chains[w];

		s->n_chain[w] = chains[w] ? sk_X509_num(chains[w]) + lead : -1;
		if (lead)
			sha_cert(SSL_get0_peer_certificate(ssl), s->der_sha[w][0]);
		for (int i = lead; i < s->n_chain[w]; i++)
			sha_cert(sk_X509_value(chains[w], i - lead), s->der_sha[w][i]);
		s->n_list[w] = lists[w] ? sk_SSL_CIPHER_num(lists[w]) : -1;
		for (int i = 0; i < s->n_list[w]; i++)
			s->ids[w][i] = (uint32_t)SSL_CIPHER_get_id(sk_SSL_CIPHER_value(lists[w], i));
	}
}

static void assert_same(const struct snap *a, const struct snap *b, const char *what)
{
	ck_assert_msg(strcmp(a->cipher.name, b->cipher.name) == 0, "%s: cipher %s vs %s",
		      what, a->cipher.name, b->cipher.name);
	ck_assert_str_eq(a->cipher.iana_name, b->cipher.iana_name);
	ck_assert_str_eq(a->cipher.version, b->cipher.version);
	ck_assert_int_eq(a->cipher.bits, b->cipher.bits);
	ck_assert_int_eq(a->cipher.alg_bits, b->cipher.alg_bits);
	ck_assert_uint_eq(a->cipher.id, b->cipher.id);
	ck_assert_uint_eq(a->cipher.protocol_id, b->cipher.protocol_id);
	ck_assert_msg(a->has_peer == b->has_peer &&
		      memcmp(a->peer_sha, b->peer_sha, 32) == 0,
		      "%s: peer certificate differs", what);
	for (int w = 0; w < 2; w++) {
		ck_assert_msg(a->n_chain[w] == b->n_chain[w], "%s: chain %d: %d vs %d certs",
			      what, w, a->n_chain[w], b->n_chain[w]);
		for (int i = 0; i < a->n_chain[w]; i++)
			ck_assert_msg(memcmp(a->der_sha[w][i], b->der_sha[w][i], 32) == 0,
				      "%s: chain %d cert %d differs", what, w, i);
		ck_assert_msg(a->n_list[w] == b->n_list[w], "%s: list %d: %d vs %d suites",
			      what, w, a->n_list[w], b->n_list[w]);
		ck_assert_msg(memcmp(a->ids[w], b->ids[w],
				     sizeof(uint32_t) * (size_t)(a->n_list[w] > 0 ? a->n_list[w] : 0)) == 0,
			      "%s: list %d differs", what, w);
	}
}

/* The fake kernel: the ULP and both key installs succeed on every fd. */
static int fake_setsockopt(int fd, int level, int name, const void *val,
			   socklen_t len)
{
	if (level == SOL_TLS || (level == IPPROTO_TCP && name == TCP_ULP))
		return 0;
	return ks_sys_real.setsockopt(fd, level, name, val, len);
}

static struct ks_sys fake_table;

/* The server requires a client certificate. */
static void make_ctxs(int version, kssl_ctx **sctx, kssl_ctx **cctx)
{
	char cert[4200], key[4200];

	*sctx = h_server_ctx("server");
	ck_assert_int_eq(kssl_ctx_load_ca_file(*sctx, h_cert("ca.pem")), 0);
	kssl_ctx_set_verify(*sctx, KSSL_VERIFY_REQUIRED);
	*cctx = h_client_ctx();
	snprintf(cert, sizeof(cert), "%s", h_cert("client.pem"));
	snprintf(key, sizeof(key), "%s", h_cert("client.key"));
	ck_assert_msg(kssl_ctx_use_cert_file(*cctx, cert, key) == 0, "%s", kssl_last_error());
	ck_assert_int_eq(kssl_ctx_set_versions(*cctx, version, version), 0);
}

/*
 * One handshake with both sides keeping what `keep` says; returns the
 * conns through *c / srv (the caller frees them and closes the fds).
 */
static void handshake(kssl_ctx *sctx, kssl_ctx *cctx, unsigned keep,
		      struct h_peer *srv, kssl_conn **c, int *cfd)
{
	int sfd;

	h_tcp_pair(cfd, &sfd);
	h_peer_init(srv, sctx, sfd);
	srv->conn = h_conn(sctx, sfd);
	kssl_conn_set_keep_info(srv->conn, keep);
	*c = h_conn(cctx, *cfd);
	kssl_conn_set_keep_info(*c, keep);
	/* Before the handshake: no suite, no chain, the own list from OpenSSL. */
	{
		struct kssl_cipher_desc d;

		ck_assert_int_eq(kssl_conn_cipher_desc(*c, &d), KSSL_E_INVAL);
		ck_assert_int_eq(kssl_last_reason(), KSSL_R_WRONG_STATE);
		ck_assert_int_eq(kssl_conn_chain_count(*c, KSSL_CHAIN_SENT), KSSL_E_INVAL);
		ck_assert_int_eq(kssl_conn_cipher_count(*c, KSSL_CIPHERS_OWN),
				 sk_SSL_CIPHER_num(SSL_get_ciphers(kssl_conn_ssl(*c))));
		ck_assert_int_eq(kssl_conn_cipher_count(*c, KSSL_CIPHERS_CLIENT), KSSL_E_INVAL);
	}
	h_peer_start(srv);
	ck_assert_msg(h_handshake(*c) == 0, "client handshake: %s", kssl_last_error());
	h_peer_join_ok(srv);
}

static void end(struct h_peer *srv, kssl_conn *c, int cfd)
{
	int sfd = srv->fd;

	kssl_conn_free(c);
	kssl_conn_free(srv->conn);
	h_close_pair(cfd, sfd);
}

static void run_version(int version)
{
	kssl_ctx *sctx, *cctx;
	struct h_peer srv;
	kssl_conn *c;
	int cfd;
	struct snap live[2], api, ossl;
	const unsigned keep = KSSL_KEEP_CHAINS | KSSL_KEEP_CIPHER_LISTS;

	make_ctxs(version, &sctx, &cctx);

	/* 1. SSL alive: the calls give what OpenSSL gives. */
	kssl_ctx_set_offload(sctx, KSSL_OFFLOAD_NONE);
	kssl_ctx_set_offload(cctx, KSSL_OFFLOAD_NONE);
	handshake(sctx, cctx, keep, &srv, &c, &cfd);
	snap_api(c, &live[0]);
	snap_ssl(kssl_conn_ssl(c), &ossl);
	assert_same(&live[0], &ossl, "client, SSL alive");
	snap_api(srv.conn, &live[1]);
	snap_ssl(kssl_conn_ssl(srv.conn), &ossl);
	assert_same(&live[1], &ossl, "server, SSL alive");
	/* What the scenario must show at all. */
	ck_assert_int_eq(live[0].cipher.protocol_id, live[0].cipher.id & 0xffff);
	ck_assert_str_eq(live[0].cipher.iana_name, kssl_conn_cipher(c));
	ck_assert_str_eq(live[0].cipher.name, kssl_conn_cipher_openssl(c));
	ck_assert_int_eq(live[0].n_chain[KSSL_CHAIN_VERIFIED], 2); /* server, ca */
	ck_assert_int_eq(live[1].n_chain[KSSL_CHAIN_VERIFIED], 2); /* client, ca */
	/* client leaf (prepended), then ca.pem, which OpenSSL's automatic
	 * chain building added to what the client sends */
	ck_assert_int_eq(live[1].n_chain[KSSL_CHAIN_SENT], 2);
	ck_assert_int_eq(memcmp(live[1].der_sha[KSSL_CHAIN_SENT][0],
				live[1].der_sha[KSSL_CHAIN_VERIFIED][0], 32), 0);
	ck_assert_int_eq(live[0].n_list[KSSL_CIPHERS_CLIENT], -1);
	ck_assert_int_gt(live[1].n_list[KSSL_CIPHERS_CLIENT], 0);
	end(&srv, c, cfd);

	/* 2. Both directions "in the kernel": kssl freed the SSL. */
	kssl_ctx_set_offload(sctx, KSSL_OFFLOAD_BOTH);
	kssl_ctx_set_offload(cctx, KSSL_OFFLOAD_BOTH);
	fake_table = ks_sys_real;
	fake_table.setsockopt = fake_setsockopt;
	ks_sys_set(&fake_table);
	handshake(sctx, cctx, keep, &srv, &c, &cfd);
	ck_assert_ptr_null(kssl_conn_ssl(c));
	ck_assert_ptr_null(kssl_conn_ssl(srv.conn));
	snap_api(c, &api);
	assert_same(&api, &live[0], "client, SSL freed");
	snap_api(srv.conn, &api);
	assert_same(&api, &live[1], "server, SSL freed");
	end(&srv, c, cfd);

	/* 3. Not asked to keep: the suite still, no chains, no lists. */
	handshake(sctx, cctx, 0, &srv, &c, &cfd);
	ck_assert_ptr_null(kssl_conn_ssl(c));
	snap_api(c, &api);
	ck_assert_uint_eq(api.cipher.id, live[0].cipher.id);
	ck_assert_int_eq(api.n_chain[KSSL_CHAIN_VERIFIED], -1);
	ck_assert_int_eq(api.n_chain[KSSL_CHAIN_SENT], -1);
	ck_assert_int_eq(api.n_list[KSSL_CIPHERS_OWN], -1);
	ck_assert_int_eq(kssl_conn_cipher_count(srv.conn, KSSL_CIPHERS_CLIENT), KSSL_E_INVAL);
	end(&srv, c, cfd);
	ks_sys_set(NULL);

	kssl_ctx_free(cctx);
	kssl_ctx_free(sctx);
}

START_TEST(tls13_values_match_openssl_and_outlive_the_ssl)
{
	run_version(KSSL_TLS1_3);
}
END_TEST

START_TEST(tls12_values_match_openssl_and_outlive_the_ssl)
{
	run_version(KSSL_TLS1_2);
}
END_TEST

START_TEST(chain_der_index_out_of_range)
{
	kssl_ctx *sctx, *cctx;
	struct h_peer srv;
	kssl_conn *c;
	int cfd, n;
	uint8_t *der = (uint8_t *)"x";
	size_t len = 1;
	struct kssl_cipher_desc d;

	make_ctxs(KSSL_TLS1_3, &sctx, &cctx);
	handshake(sctx, cctx, KSSL_KEEP_CHAINS, &srv, &c, &cfd);
	n = kssl_conn_chain_count(c, KSSL_CHAIN_VERIFIED);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(kssl_conn_chain_der(c, KSSL_CHAIN_VERIFIED, (size_t)n, &der, &len),
			 KSSL_E_INVAL);
	ck_assert_int_eq(kssl_last_reason(), KSSL_R_BAD_ARGUMENT);
	ck_assert_ptr_null(der);
	ck_assert_uint_eq(len, 0);
	/* Only chains were asked for: the lists come from the live SSL while
	 * it exists (offload falls back on this host) or not at all. */
	if (kssl_conn_ssl(c))
		ck_assert_int_gt(kssl_conn_cipher_count(c, KSSL_CIPHERS_OWN), 0);
	ck_assert_int_eq(kssl_conn_cipher_at(c, KSSL_CIPHERS_OWN, 100000, &d), KSSL_E_INVAL);
	end(&srv, c, cfd);
	kssl_ctx_free(cctx);
	kssl_ctx_free(sctx);
}
END_TEST

START_TEST(cipher_table_has_iana_and_openssl_names)
{
	struct kssl_cipher_desc *t;
	size_t n, found = 0;

	ck_assert_int_eq(kssl_cipher_table(&t, &n), 0);
	ck_assert_uint_gt(n, 20);
	for (size_t i = 0; i < n; i++) {
		ck_assert_ptr_nonnull(t[i].iana_name);
		ck_assert_uint_eq(t[i].protocol_id, t[i].id & 0xffff);
		if (strcmp(t[i].iana_name, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256") == 0) {
			ck_assert_str_eq(t[i].name, "ECDHE-RSA-AES128-GCM-SHA256");
			ck_assert_str_eq(t[i].version, "TLSv1.2");
			ck_assert_uint_eq(t[i].protocol_id, 0xc02f);
			ck_assert_int_eq(t[i].bits, 128);
			found++;
		}
		if (strcmp(t[i].iana_name, "TLS_AES_256_GCM_SHA384") == 0) {
			ck_assert_str_eq(t[i].version, "TLSv1.3");
			ck_assert_uint_eq(t[i].protocol_id, 0x1302);
			found++;
		}
	}
	ck_assert_uint_eq(found, 2);
	free(t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("conn_info");
	TCase *tc = h_tcase("conn_info");

	suite_add_tcase(s, tc);
	tcase_add_test(tc, tls13_values_match_openssl_and_outlive_the_ssl);
	tcase_add_test(tc, tls12_values_match_openssl_and_outlive_the_ssl);
	tcase_add_test(tc, chain_der_index_out_of_range);
	tcase_add_test(tc, cipher_table_has_iana_and_openssl_names);
	return h_run(s);
}
