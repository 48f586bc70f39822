/*
 * Kernel-RX control records on every host: the fake kernel
 * (tests/fakekernel) takes the receive direction after a real handshake
 * and feeds kssl_read scripted records — session tickets after the RX
 * switch, alerts split over records or several in one record, runs of
 * warning alerts, close_notify, KeyUpdate, one-byte reads — so
 * src/io.c's control-record code runs without a kTLS kernel.
 */
#include <check.h>
#include <string.h>

#include "fakekernel.h"
#include "harness.h"
#include "ktls/wire.h"

struct rx {
	kssl_ctx *sctx, *cctx;
	struct h_peer srv;
	kssl_conn *c;
	int cfd, sfd;
};

/* A handshake over a real pair; then RX is the fake kernel's. */
static void rx_open(struct rx *t, int tls12)
{
	t->sctx = h_server_ctx("server");
	t->cctx = h_client_ctx();
	ck_assert_int_eq(kssl_ctx_set_num_tickets(t->sctx, 0), 0);
	if (tls12)
		ck_assert_int_eq(kssl_ctx_set_versions(t->cctx, 0, KSSL_TLS1_2), 0);
	h_tcp_pair(&t->cfd, &t->sfd);
	t->c = h_conn(t->cctx, t->cfd);
	fk_install(t->cfd);
	h_peer_init(&t->srv, t->sctx, t->sfd);
	h_peer_start(&t->srv);
	ck_assert_msg(kssl_handshake(t->c) == 0, "handshake: %s", kssl_last_error());
	h_peer_join_ok(&t->srv);
	ck_assert_int_eq(kssl_conn_offload(t->c, KSSL_DIR_RX, NULL), KSSL_STATE_KERNEL);
	ck_assert_int_eq(kssl_conn_offload(t->c, KSSL_DIR_TX, NULL), KSSL_STATE_USER);
}

static void rx_close(struct rx *t)
{
	fk_remove();
	kssl_conn_free(t->c);
	kssl_conn_free(t->srv.conn);
	kssl_ctx_free(t->cctx);
	kssl_ctx_free(t->sctx);
	h_close_pair(t->cfd, t->sfd);
}

static void push_alert(int level, int desc)
{
	unsigned char a[2] = { (unsigned char)level, (unsigned char)desc };

	fk_push(KTLS_CT_ALERT, a, 2);
}

START_TEST(tickets_after_switch_are_skipped_in_one_byte_reads)
{
	static const unsigned char ticket[] = { KTLS_HS_NEW_SESSION_TICKET, 0, 0, 5,
						1, 2, 3, 4, 5 };
	struct rx t;
	char got[8];
	size_t n = 0;

	rx_open(&t, 0);
	/* A ticket split over two records, then data, read one byte at a time. */
	fk_push(KTLS_CT_HANDSHAKE, ticket, 3);
	fk_push(KTLS_CT_HANDSHAKE, ticket + 3, sizeof(ticket) - 3);
	fk_push(KTLS_CT_APPLICATION_DATA, "hello", 5);
	push_alert(KTLS_AL_WARNING, KTLS_AD_CLOSE_NOTIFY);
	for (;;) {
		ssize_t r = kssl_read(t.c, got + n, 1);

		ck_assert_msg(r >= 0, "read: %s", kssl_last_error());
		if (r == 0)
			break;
		n += (size_t)r;
		ck_assert_uint_le(n, 5);
	}
	ck_assert_uint_eq(n, 5);
	ck_assert_int_eq(memcmp(got, "hello", 5), 0);
	ck_assert_uint_eq(fk_queued(), 0);
	rx_close(&t);
}
END_TEST

START_TEST(alert_split_over_records)
{
	static const unsigned char fatal[2] = { KTLS_AL_FATAL, 48 }; /* unknown_ca */
	struct rx t;
	char buf[16];

	rx_open(&t, 0);
	fk_push(KTLS_CT_ALERT, fatal, 1);
	fk_push(KTLS_CT_ALERT, fatal + 1, 1);
	ck_assert_int_eq(kssl_read(t.c, buf, sizeof(buf)), KSSL_E_ALERT);
	ck_assert_int_eq(kssl_last_reason(), KSSL_R_PEER_ALERT);
	ck_assert_int_eq(kssl_last_detail(), 48);
	ck_assert_int_eq(kssl_read(t.c, buf, sizeof(buf)), KSSL_E_CLOSED);
	ck_assert_int_eq(kssl_last_reason(), KSSL_R_FAILED_EARLIER);
	ck_assert_int_eq(kssl_last_detail(), KSSL_E_ALERT);
	rx_close(&t);
}
END_TEST

START_TEST(alerts_coalesced_in_one_record)
{
	/* user_canceled then close_notify in one record (TLS 1.3 allows it). */
	static const unsigned char two[4] = { KTLS_AL_WARNING, KTLS_AD_USER_CANCELED,
					      KTLS_AL_WARNING, KTLS_AD_CLOSE_NOTIFY };
	struct rx t;
	char buf[16];

	rx_open(&t, 0);
	fk_push(KTLS_CT_APPLICATION_DATA, "ab", 2);
	fk_push(KTLS_CT_ALERT, two, sizeof(two));
	ck_assert_int_eq(kssl_read(t.c, buf, sizeof(buf)), 2);
	ck_assert_int_eq(kssl_read(t.c, buf, sizeof(buf)), 0);
	rx_close(&t);
}
END_TEST

/* TLS 1.2 warnings are ignored, as OpenSSL does — up to its limit. */
START_TEST(run_of_warning_alerts_hits_openssls_limit)
{
	struct rx t;
	char buf[16];
	int i;

	rx_open(&t, 1);
	ck_assert_int_eq(kssl_conn_version(t.c), KSSL_TLS1_2);
	/* Four in a row, data (which resets the count), four more: fine. */
	for (i = 0; i < 4; i++)
		push_alert(KTLS_AL_WARNING, KTLS_AD_NO_RENEGOTIATION);
	fk_push(KTLS_CT_APPLICATION_DATA, "x", 1);
	for (i = 0; i < 4; i++)
		push_alert(KTLS_AL_WARNING, KTLS_AD_NO_RENEGOTIATION);
	fk_push(KTLS_CT_APPLICATION_DATA, "y", 1);
	ck_assert_int_eq(kssl_read(t.c, buf, sizeof(buf)), 1);
	ck_assert_int_eq(buf[0], 'x');
	ck_assert_int_eq(kssl_read(t.c, buf, sizeof(buf)), 1);
	ck_assert_int_eq(buf[0], 'y');
	/* The fifth in a row ends the connection. */
	for (i = 0; i < 5; i++)
		push_alert(KTLS_AL_WARNING, KTLS_AD_NO_RENEGOTIATION);
	fk_push(KTLS_CT_APPLICATION_DATA, "z", 1);
	ck_assert_int_eq(kssl_read(t.c, buf, sizeof(buf)), KSSL_E_TLS);
	ck_assert_int_eq(kssl_last_reason(), KSSL_R_UNEXPECTED_MESSAGE);
	rx_close(&t);
}
END_TEST

START_TEST(key_update_stops_the_connection)
{
	static const unsigned char ku[5] = { KTLS_HS_KEY_UPDATE, 0, 0, 1, 0 };
	struct rx t;
	char buf[16];

	rx_open(&t, 0);
	fk_push(KTLS_CT_HANDSHAKE, ku, sizeof(ku));
	fk_push(KTLS_CT_APPLICATION_DATA, "never", 5);
	ck_assert_int_eq(kssl_read(t.c, buf, sizeof(buf)), KSSL_E_REKEY);
	ck_assert_int_eq(kssl_last_reason(), KSSL_R_KEY_UPDATE);
	rx_close(&t);
}
END_TEST

START_TEST(transport_eof_without_close_notify)
{
	struct rx t;
	char buf[16];

	rx_open(&t, 0);
	ck_assert_int_eq(kssl_read(t.c, buf, sizeof(buf)), KSSL_E_EOF);
	ck_assert_int_eq(kssl_last_reason(), KSSL_R_UNEXPECTED_EOF);
	rx_close(&t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kernel_rx");
	TCase *tc = h_tcase("fake_kernel");

	tcase_add_test(tc, tickets_after_switch_are_skipped_in_one_byte_reads);
	tcase_add_test(tc, alert_split_over_records);
	tcase_add_test(tc, alerts_coalesced_in_one_record);
	tcase_add_test(tc, run_of_warning_alerts_hits_openssls_limit);
	tcase_add_test(tc, key_update_stops_the_connection);
	tcase_add_test(tc, transport_eof_without_close_notify);
	suite_add_tcase(s, tc);
	return h_run(s);
}
