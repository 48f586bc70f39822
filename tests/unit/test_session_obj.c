/*
 * Session objects (src/session.c): kssl_conn_session / kssl_conn_resume,
 * kssl_session_info and kssl_ctx_session_stats, TLS 1.3 and 1.2. A resumed
 * connection keeps both directions offloaded (asserted in the kTLS VM).
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

/* One connection: the server writes `len` bytes, the client reads them. */
static kssl_session *round_trip(kssl_ctx *sctx, kssl_ctx *cctx,
				kssl_session *resume, int want_reused)
{
	size_t len = 100000, got = 0;
	unsigned char sha[32], want[32];
	struct kssl_session_info before, after;
	kssl_session *s, *again;
	struct h_pair p;
	int r;

	h_peer_init(&p.srv, sctx, -1);
	p.srv.write_len = len;
	p.srv.write_seed = 9;
	p.srv.close = 1;
	h_pair_open(&p, cctx);
	ck_assert_ptr_null(kssl_conn_session(p.c)); /* no handshake yet */
	if (resume)
		ck_assert_msg(kssl_conn_resume(p.c, resume) == 0, "%s", kssl_last_error());
	ck_assert_msg(h_handshake(p.c) == 0, "%s", kssl_last_error());
	ck_assert_int_eq(kssl_conn_session_reused(p.c), want_reused);
	s = kssl_conn_session(p.c);
	ck_assert_ptr_nonnull(s);
	kssl_session_info(s, &before);
	ck_assert_int_eq(kssl_conn_resume(p.c, s), KSSL_E_INVAL); /* too late */
	kssl_session_free(s);
	r = h_read_n(p.c, len, sha, &got);
	h_check_peer(r == 0, &p.srv, p.cfd, "read %zu: %s", got, kssl_last_error());
	h_stream_sha(len, 9, want);
	ck_assert_int_eq(memcmp(sha, want, 32), 0);
	h_assert_default_offload(p.c);
	s = kssl_conn_session(p.c);
	ck_assert_ptr_nonnull(s);
	kssl_session_info(s, &after);
	ck_assert_int_eq(after.resumable, 1);
	ck_assert_int_eq(after.has_ticket, 1);
	ck_assert_uint_gt(after.id_len, 0);
	ck_assert_int_gt(after.timeout, 0);
	ck_assert_int_eq(after.version, kssl_conn_version(p.c));
	if (after.version == KSSL_TLS1_3 && !resume) {
		/* The handshake's own session is not resumable: tickets are. */
		ck_assert_int_eq(before.resumable, 0);
		ck_assert_int_eq(before.has_ticket, 0);
	}
	again = kssl_conn_session(p.c);
	ck_assert_ptr_eq(again, s); /* the same object while nothing changed */
	kssl_session_free(again);
	ck_assert_int_eq(h_close(p.c, NULL), 0);
	h_peer_join_ok(&p.srv);
	ck_assert_int_eq(kssl_conn_session_reused(p.srv.conn), want_reused);
	h_assert_default_offload(p.srv.conn);
	h_pair_free(&p);
	return s;
}

static void resume(int version)
{
	kssl_ctx *sctx = h_server_ctx("server"), *cctx = h_client_ctx();
	kssl_ctx *cctx2 = h_client_ctx();
	struct kssl_session_stats cs, ss;
	kssl_session *s1, *s2;
	kssl_conn *srv;
	int cfd, sfd;

	ck_assert_int_eq(kssl_ctx_set_versions(sctx, version, version), 0);
	kssl_ctx_set_client_sessions(cctx, 1);
	kssl_ctx_set_client_sessions(cctx2, 1);
	s1 = round_trip(sctx, cctx, NULL, 0);
	/* Resumed from another client context: a session is not tied to one. */
	s2 = round_trip(sctx, cctx2, s1, 1);
	kssl_ctx_session_stats(cctx, &cs);
	ck_assert_int_eq(cs.connect_good, 1);
	ck_assert_int_eq(cs.hits, 0);
	kssl_ctx_session_stats(cctx2, &cs);
	ck_assert_int_eq(cs.connect_good, 1);
	ck_assert_int_eq(cs.hits, 1);
	kssl_ctx_session_stats(sctx, &ss);
	ck_assert_int_eq(ss.accept_good, 2);
	ck_assert_int_eq(ss.hits, 1);
	/* Servers resume from the client's offer, never from a call. */
	h_tcp_pair(&cfd, &sfd);
	srv = h_conn(sctx, sfd);
	ck_assert_int_eq(kssl_conn_resume(srv, s2), KSSL_E_INVAL);
	kssl_conn_free(srv);
	h_close_pair(cfd, sfd);
	kssl_session_free(s1);
	kssl_session_free(s2);
	kssl_ctx_free(cctx2);
	kssl_ctx_free(cctx);
	kssl_ctx_free(sctx);
}

START_TEST(tls13_session_object_resumes_and_offloads)
{
	resume(KSSL_TLS1_3);
}
END_TEST

START_TEST(tls12_session_object_resumes_and_offloads)
{
	resume(KSSL_TLS1_2);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("session_obj");
	TCase *tc = h_tcase("session_obj");

	tcase_add_test(tc, tls13_session_object_resumes_and_offloads);
	tcase_add_test(tc, tls12_session_object_resumes_and_offloads);
	suite_add_tcase(s, tc);
	return h_run(s);
}
