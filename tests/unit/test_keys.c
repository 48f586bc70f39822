/*
 * The crypto_info kssl hands to setsockopt(SOL_TLS, TLS_TX/TLS_RX) must hold
 * the key, salt/iv and next sequence number of the records that really cross
 * the wire. This is checked without kernel TLS: the syscall table fakes the
 * TCP_ULP attach, captures each crypto_info and refuses it (so OpenSSL keeps
 * the direction), and records the bytes the socket sends and receives after
 * that point. The first record each way must then open (AEAD tag verified)
 * with the captured parameters, exactly as the kernel would open or seal it.
 * A wrong key, iv, or record count fails here on any machine, where in the
 * kTLS VM it shows up as bad_record_mac.
 */
#include "harness.h"

#include <errno.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include "ktls/sys.h"
#include "ktls/wire.h"
#define CAP_MAX (1 << 16)

/* One direction: what kssl offered the kernel, and the bytes that followed. */
struct capture {
	unsigned char info[64]; /* crypto_info as passed to setsockopt */
	size_t info_len;        /* 0 until captured */
	unsigned char wire[CAP_MAX];
	size_t wire_len;
};

static struct {
	int fd;
	struct capture tx, rx;
} C;

static int f_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	struct capture *cap = name == TLS_TX ? &C.tx : &C.rx;

	if (fd != C.fd)
		return ks_sys_real.setsockopt(fd, level, name, val, len);
	if (level == IPPROTO_TCP && name == TCP_ULP)
		return 0; /* pretend: nothing is attached */
	if (level == SOL_TLS && (name == TLS_TX || name == TLS_RX) &&
	    len <= sizeof(cap->info)) {
		memcpy(cap->info, val, len);
		cap->info_len = len;
		errno = EINVAL; /* keep the direction in OpenSSL */
		return -1;
	}
	return ks_sys_real.setsockopt(fd, level, name, val, len);
}

static void append(struct capture *cap, const void *p, ssize_t n)
{
	if (cap->info_len && n > 0) {
		size_t room = CAP_MAX - cap->wire_len, k = (size_t)n < room ? (size_t)n : room;

		memcpy(cap->wire + cap->wire_len, p, k);
		cap->wire_len += k;
	}
}

static ssize_t f_send(int fd, const void *buf, size_t len, int flags)
{
	ssize_t n = ks_sys_real.send(fd, buf, len, flags);

	if (fd == C.fd)
		append(&C.tx, buf, n);
	return n;
}

static ssize_t f_recv(int fd, void *buf, size_t len, int flags)
{
	ssize_t n = ks_sys_real.recv(fd, buf, len, flags);

	if (fd == C.fd)
		append(&C.rx, buf, n);
	return n;
}

static const struct ks_sys capturing = {
	.setsockopt = f_setsockopt,
	.sendmsg = sendmsg,
	.recvmsg = recvmsg,
	.send = f_send,
	.recv = f_recv,
	.sendfile = sendfile,
	.pread = pread,
};

/* The parts of any crypto_info, whatever the cipher. */
struct params {
	int version, cipher;
	const unsigned char *key, *salt, *iv, *seq;
	size_t key_len, iv_len;
	const EVP_CIPHER *evp;
};

#define PARAMS(s, ev) do { \
	p->key = (s)->key, p->key_len = sizeof((s)->key); \
	p->salt = (s)->salt, p->iv = (s)->iv, p->iv_len = sizeof((s)->iv); \
	p->seq = (s)->rec_seq, p->evp = (ev); \
	ck_assert_uint_eq(cap->info_len, sizeof(*(s))); } while (0)

static void parse(const struct capture *cap, struct params *p)
{
	const struct tls_crypto_info *ci = (const void *)cap->info;

	ck_assert_msg(cap->info_len >= sizeof(*ci), "no crypto_info captured");
	p->version = ci->version;
	p->cipher = ci->cipher_type;
	switch (ci->cipher_type) {
	case TLS_CIPHER_AES_GCM_128:
		PARAMS((const struct tls12_crypto_info_aes_gcm_128 *)ci, EVP_aes_128_gcm());
		break;
	case TLS_CIPHER_AES_GCM_256:
		PARAMS((const struct tls12_crypto_info_aes_gcm_256 *)ci, EVP_aes_256_gcm());
		break;
	case TLS_CIPHER_AES_CCM_128:
		PARAMS((const struct tls12_crypto_info_aes_ccm_128 *)ci, EVP_aes_128_ccm());
		break;
	case TLS_CIPHER_CHACHA20_POLY1305:
		PARAMS((const struct tls12_crypto_info_chacha20_poly1305 *)ci,
		       EVP_chacha20_poly1305());
		break;
	default:
		ck_abort_msg("unexpected cipher type %d", ci->cipher_type);
	}
}

/*
 * Open the first record of cap->wire with the captured parameters (RFC 8446
 * 5.2-5.3; RFC 5288 3 and RFC 7905 2 for TLS 1.2). Returns the plaintext
 * length (TLS 1.3: with the inner content type) into out, or -1 if the tag
 * does not verify.
 */
static int open_first_record(const struct capture *cap, unsigned char *out)
{
	const unsigned char *rec = cap->wire, *body = rec + 5;
	struct params p;
	unsigned char nonce[12], aad[13];
	size_t len, ct_len, aad_len = 5;
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
	int n = 0, fin = 0, ok;

	parse(cap, &p);
	ck_assert_uint_ge(cap->wire_len, 5);
	len = (size_t)rec[3] << 8 | rec[4];
	ck_assert_msg(cap->wire_len >= 5 + len, "record incomplete: %zu of %zu",
		      cap->wire_len, 5 + len);
	ck_assert_int_eq(rec[0], 23); /* encrypted records say application_data */
	if (p.cipher == TLS_CIPHER_CHACHA20_POLY1305 || p.version == TLS_1_3_VERSION) {
		/* iv (GCM/CCM: salt || iv) XOR the sequence number */
		if (p.cipher == TLS_CIPHER_CHACHA20_POLY1305)
			memcpy(nonce, p.iv, 12);
		else
			memcpy(nonce, p.salt, 4), memcpy(nonce + 4, p.iv, 8);
		for (int i = 0; i < 8; i++)
			nonce[4 + i] ^= p.seq[i];
	} else {
		/* TLS 1.2 GCM/CCM: salt || explicit nonce from the record */
		memcpy(nonce, p.salt, 4);
		memcpy(nonce + 4, body, 8);
		body += 8;
		len -= 8;
	}
	ct_len = len - 16;
	if (p.version == TLS_1_3_VERSION) {
		memcpy(aad, rec, 5);
	} else {
		memcpy(aad, p.seq, 8);
		aad[8] = rec[0], aad[9] = rec[1], aad[10] = rec[2];
		aad[11] = (unsigned char)(ct_len >> 8), aad[12] = (unsigned char)ct_len;
		aad_len = 13;
	}
	ok = x && EVP_DecryptInit_ex(x, p.evp, NULL, NULL, NULL) &&
	     EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL);
	if (ok && p.cipher == TLS_CIPHER_AES_CCM_128)
		ok = EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_TAG, 16,
					 (void *)(body + ct_len)) &&
		     EVP_DecryptInit_ex(x, NULL, NULL, p.key, nonce) &&
		     EVP_DecryptUpdate(x, NULL, &n, NULL, (int)ct_len);
	else
		ok = ok && EVP_DecryptInit_ex(x, NULL, NULL, p.key, nonce);
	ck_assert_msg(ok, "EVP setup failed");
	ok = EVP_DecryptUpdate(x, NULL, &n, aad, (int)aad_len) &&
	     EVP_DecryptUpdate(x, out, &n, body, (int)ct_len);
	if (ok && p.cipher != TLS_CIPHER_AES_CCM_128)
		ok = EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_TAG, 16,
					 (void *)(body + ct_len)) &&
		     EVP_DecryptFinal_ex(x, out + n, &fin);
	EVP_CIPHER_CTX_free(x);
	return ok ? n + fin : -1;
}

/* Strip TLS 1.3 padding and inner type; returns the content length. */
static size_t inner(const unsigned char *pt, size_t n, int version, int *type)
{
	if (version != TLS_1_3_VERSION) {
		*type = 23;
		return n;
	}
	while (n && pt[n - 1] == 0)
		n--;
	ck_assert_uint_gt(n, 0);
	*type = pt[n - 1];
	return n - 1;
}

static uint64_t be64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/*
 * Check one captured direction: its first record opens, and carries
 * `stream` (the first bytes of what that side wrote) unless it is a TLS 1.3
 * NewSessionTicket (client RX only).
 */
static void assert_opens(const struct capture *cap, const char *what,
			 const struct h_suite *s, const unsigned char *stream,
			 int ticket_ok)
{
	static unsigned char pt[CAP_MAX];
	struct params p;
	int n = open_first_record(cap, pt), type;
	size_t len;

	parse(cap, &p);
	ck_assert_msg(n >= 0, "%s %s: the captured crypto_info (seq %llu) does not open the first record",
		      s->iana, what, (unsigned long long)be64(p.seq));
	ck_assert_int_eq(p.version, s->version);
	len = inner(pt, (size_t)n, p.version, &type);
	if (type == 22 && ticket_ok)
		return;
	ck_assert_msg(type == 23, "%s %s: inner type %d", s->iana, what, type);
	ck_assert_uint_le(len, 1000);
	ck_assert_msg(memcmp(pt, stream, len) == 0, "%s %s: plaintext differs", s->iana, what);
}

/* Capture on the client (capture_server = 0) or the server's socket. */
static void check_keys(const struct h_suite *s, int capture_server, size_t tickets)
{
	kssl_ctx *sctx = h_server_ctx(s->cert), *cctx = h_client_ctx();
	unsigned char cli_stream[1000], srv_stream[1000];
	uint64_t seed;
	struct h_peer srv;
	kssl_conn *c;
	int cfd, sfd;

	h_use_suite(sctx, s);
	h_use_suite(cctx, s);
	ck_assert_int_eq(kssl_ctx_set_num_tickets(sctx, tickets), 0);
	h_tcp_pair(&cfd, &sfd);
	memset(&C, 0, sizeof(C));
	C.fd = capture_server ? sfd : cfd;
	ks_sys_set(&capturing);
	h_peer_init(&srv, sctx, sfd);
	srv.recv_len = 1000;
	srv.write_len = 1000;
	srv.write_seed = 3;
	srv.close = 1;
	h_peer_start(&srv);
	c = h_conn(cctx, cfd);
	ck_assert_msg(h_handshake(c) == 0, "%s", kssl_last_error());
	ck_assert_int_eq(h_write_stream(c, 1000, 4, NULL), 0);
	ck_assert_int_eq(h_read_n(c, 1000, NULL, NULL), 0);
	ck_assert_msg(h_close(c, NULL) == 0, "close: %s", kssl_last_error());
	h_peer_join_ok(&srv);
	ks_sys_set(NULL);

	/* Both refused: userspace, with the captured setsockopt named. */
	h_assert_user(capture_server ? srv.conn : c, KSSL_DIR_TX, "TLS_TX");
	h_assert_user(capture_server ? srv.conn : c, KSSL_DIR_RX, "TLS_RX");
	seed = 4;
	h_fill(cli_stream, sizeof(cli_stream), &seed);
	seed = 3;
	h_fill(srv_stream, sizeof(srv_stream), &seed);
	assert_opens(&C.tx, "TX", s, capture_server ? srv_stream : cli_stream, 0);
	assert_opens(&C.rx, "RX", s, capture_server ? cli_stream : srv_stream,
		     !capture_server);
	if (capture_server && s->version == KSSL_TLS1_3) {
		struct params p;

		/* Each ticket took one record under the new key (KTLS-FACTS). */
		parse(&C.tx, &p);
		ck_assert_uint_eq(be64(p.seq), tickets);
	}
	kssl_conn_free(c);
	kssl_conn_free(srv.conn);
	kssl_ctx_free(cctx);
	kssl_ctx_free(sctx);
	h_close_pair(cfd, sfd);
}

START_TEST(client_crypto_info_opens_first_records)
{
	check_keys(&h_suites[_i], 0, 2);
}
END_TEST

START_TEST(server_crypto_info_opens_first_records)
{
	check_keys(&h_suites[_i], 1, 2);
}
END_TEST

START_TEST(tls13_server_tx_sequence_counts_tickets)
{
	static const size_t tickets[] = { 0, 1, 5 };

	for (size_t i = 0; i < 3; i++)
		check_keys(&h_suites[H_TLS13_AES256GCM], 1, tickets[i]);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("keys");
	TCase *tc = h_tcase("keys");

	/* _i indexes h_suites: TLS 1.3 GCM/GCM/ChaCha/CCM, then TLS 1.2. */
	tcase_add_loop_test(tc, client_crypto_info_opens_first_records, 0, H_NSUITES);
	tcase_add_loop_test(tc, server_crypto_info_opens_first_records, 0, H_NSUITES);
	tcase_add_test(tc, tls13_server_tx_sequence_counts_tickets);
	suite_add_tcase(s, tc);
	return h_run(s);
}
