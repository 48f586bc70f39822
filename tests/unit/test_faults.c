/*
 * Fault injection through kssl's syscall table (ktls/sys.h): failures the
 * kernel at hand cannot produce on demand. The table is process-wide and the
 * kssl server runs in a thread of this process, so every wrapper acts only on
 * the client's fd (F.fd) and passes everything else to the real call. Each
 * test runs in its own forked child, and restores the table anyway.
 * Signals (EINTR) need no table: a real SIGALRM interrupts real calls.
 */
#include "harness.h"

#include <errno.h>
#include <netinet/in.h>
#include <linux/tls.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "ktls/sys.h"
#include "ktls/wire.h"
#define ULP_FAKE_OK (-1)

static struct {
	int fd;                /* the socket under test */
	int ulp;               /* TCP_ULP: errno to fail with, ULP_FAKE_OK, 0 */
	int tx_errno, rx_errno;/* SOL_TLS TLS_TX / TLS_RX: errno to fail with */
	int eagains;           /* sends still to fail with EAGAIN */
	size_t short_max;      /* cap on each send/sendfile, 0 = none */
	size_t reset_after;    /* bytes to receive before ECONNRESET, 0 = none */
	size_t received;
	int shorts, resets;    /* proof that the faults fired */
} F;

static int fail_with(int e)
{
	errno = e;
	return -1;
}

static int f_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	if (fd == F.fd && level == IPPROTO_TCP && name == TCP_ULP && F.ulp)
		return F.ulp == ULP_FAKE_OK ? 0 : fail_with(F.ulp);
	if (fd == F.fd && level == SOL_TLS && name == TLS_TX && F.tx_errno)
		return fail_with(F.tx_errno);
	if (fd == F.fd && level == SOL_TLS && name == TLS_RX && F.rx_errno)
		return fail_with(F.rx_errno);
	return ks_sys_real.setsockopt(fd, level, name, val, len);
}

/* Shorten a transfer to 1..short_max bytes, varying so nothing aligns. */
static size_t shorten(size_t len)
{
	size_t cap = 1 + (size_t)(F.shorts * 7919) % F.short_max;

	if (len <= cap)
		return len;
	F.shorts++;
	return cap;
}

static ssize_t f_send(int fd, const void *buf, size_t len, int flags)
{
	if (fd == F.fd && F.eagains > 0) {
		F.eagains--;
		return fail_with(EAGAIN);
	}
	if (fd == F.fd && F.short_max)
		len = shorten(len);
	return ks_sys_real.send(fd, buf, len, flags);
}

static ssize_t f_sendfile(int out, int in, off_t *off, size_t count)
{
	if (out == F.fd && F.short_max)
		count = shorten(count);
	return ks_sys_real.sendfile(out, in, off, count);
}

static int reset_now(void)
{
	if (!F.reset_after || F.received < F.reset_after)
		return 0;
	F.resets++;
	return 1;
}

static ssize_t f_recv(int fd, void *buf, size_t len, int flags)
{
	ssize_t n;

	if (fd == F.fd && reset_now())
		return fail_with(ECONNRESET);
	n = ks_sys_real.recv(fd, buf, len, flags);
	if (fd == F.fd && n > 0)
		F.received += (size_t)n;
	return n;
}

static ssize_t f_recvmsg(int fd, struct msghdr *msg, int flags)
{
	ssize_t n;

	if (fd == F.fd && reset_now())
		return fail_with(ECONNRESET);
	n = ks_sys_real.recvmsg(fd, msg, flags);
	if (fd == F.fd && n > 0)
		F.received += (size_t)n;
	return n;
}

static const struct ks_sys faulty = {
	.setsockopt = f_setsockopt,
	.sendmsg = sendmsg,
	.recvmsg = f_recvmsg,
	.send = f_send,
	.recv = f_recv,
	.sendfile = f_sendfile,
	.pread = pread,
};

struct rig {
	kssl_ctx *sctx, *cctx;
	int cfd, sfd;
	struct h_peer srv;
	kssl_conn *c;
};

/* Pair + server thread; faults armed for the client fd from here on. */
static void rig_start(struct rig *g, int version, size_t srv_recv, size_t srv_write)
{
	g->sctx = h_server_ctx("server");
	g->cctx = h_client_ctx();
	if (version) {
		ck_assert_int_eq(kssl_ctx_set_versions(g->sctx, version, version), 0);
		ck_assert_int_eq(kssl_ctx_set_versions(g->cctx, version, version), 0);
	}
	h_tcp_pair(&g->cfd, &g->sfd);
	F.fd = g->cfd;
	ks_sys_set(&faulty);
	h_peer_init(&g->srv, g->sctx, g->sfd);
	g->srv.recv_len = srv_recv;
	g->srv.write_len = srv_write;
	g->srv.write_seed = 21;
	g->srv.close = 1;
	h_peer_start(&g->srv);
	g->c = h_conn(g->cctx, g->cfd);
}

static void rig_free(struct rig *g)
{
	ks_sys_set(NULL);
	kssl_conn_free(g->c);
	kssl_conn_free(g->srv.conn);
	kssl_ctx_free(g->cctx);
	kssl_ctx_free(g->sctx);
	h_close_pair(g->cfd, g->sfd);
	memset(&F, 0, sizeof(F));
}

/* Both ways, n bytes each, then orderly close; all bytes compared. */
static void rig_exchange_and_end(struct rig *g, size_t n)
{
	unsigned char sent[32], got_sha[32], want[32];
	size_t got = 0;
	int r;

	r = h_write_stream(g->c, n, 12, sent);
	h_check_peer(r == 0, &g->srv, g->cfd, "client write: %s", kssl_last_error());
	r = h_read_n(g->c, n, got_sha, &got);
	h_check_peer(r == 0, &g->srv, g->cfd, "client read %zu of %zu: %s (%s)", got, n,
		     kssl_error_name(r), kssl_last_error());
	r = h_close(g->c, NULL);
	h_check_peer(r == 0, &g->srv, g->cfd, "client close: %s", kssl_last_error());
	h_peer_join_ok(&g->srv);
	ck_assert_uint_eq(g->srv.got, n);
	ck_assert_msg(memcmp(g->srv.sha, sent, 32) == 0, "client->server bytes differ");
	h_stream_sha(n, 21, want);
	ck_assert_msg(memcmp(got_sha, want, 32) == 0, "server->client bytes differ");
	h_assert_default_offload(g->srv.conn);
}

START_TEST(ulp_missing_or_refused_falls_back_with_reason)
{
	static const struct { int err; const char *why; } cases[] = {
		{ ENOENT, "kernel has no tls ULP (CONFIG_TLS): setsockopt TCP_ULP: No such file or directory" },
		{ EPERM, "cannot attach the tls ULP: setsockopt TCP_ULP: Operation not permitted" },
	};
	size_t n = h_size(4 * H_MiB, H_MiB);

	for (size_t i = 0; i < 2; i++) {
		struct rig g;

		F.ulp = cases[i].err;
		rig_start(&g, 0, n, n);
		ck_assert_msg(h_handshake(g.c) == 0, "%s", kssl_last_error());
		h_assert_user(g.c, KSSL_DIR_TX, cases[i].why);
		h_assert_user(g.c, KSSL_DIR_RX, cases[i].why);
		rig_exchange_and_end(&g, n);
		rig_free(&g);
	}
}
END_TEST

START_TEST(tls_tx_einval_and_tls_rx_enoprotoopt_stay_in_userspace)
{
	static const int versions[] = { KSSL_TLS1_3, KSSL_TLS1_2 };
	size_t n = h_size(4 * H_MiB, H_MiB);

	for (size_t i = 0; i < 2; i++) {
		const char *cipher, *why;
		struct rig g;

		/* The ULP "attaches" (nothing happens), then the keys bounce. */
		F.ulp = ULP_FAKE_OK;
		F.tx_errno = EINVAL;
		F.rx_errno = ENOPROTOOPT;
		rig_start(&g, versions[i], n, n);
		ck_assert_msg(h_handshake(g.c) == 0, "%s", kssl_last_error());
		cipher = kssl_conn_cipher(g.c);
		ck_assert_ptr_nonnull(cipher);
		h_assert_user(g.c, KSSL_DIR_TX, "setsockopt TLS_TX");
		kssl_conn_offload(g.c, KSSL_DIR_TX, &why);
		h_assert_has(why, cipher);
		h_assert_has(why, "Invalid argument");
		h_assert_has(why, versions[i] == KSSL_TLS1_3 ? "TLS 1.3" : "TLS 1.2");
		h_assert_user(g.c, KSSL_DIR_RX, "setsockopt TLS_RX");
		kssl_conn_offload(g.c, KSSL_DIR_RX, &why);
		h_assert_has(why, cipher);
		h_assert_has(why, "Protocol not available");
		/* OpenSSL still has both directions: nothing went to the kernel. */
		ck_assert_ptr_nonnull(kssl_conn_ssl(g.c));
		rig_exchange_and_end(&g, n);
		rig_free(&g);
	}
}
END_TEST

START_TEST(eagain_during_handshake_is_want_write_then_completes)
{
	int r, wants = 0;
	struct rig g;

	F.eagains = 2;
	rig_start(&g, 0, 300000, 300000);
	h_set_nonblock(g.cfd, 1);
	r = kssl_handshake(g.c);
	ck_assert_msg(r == KSSL_E_WANT_WRITE, "first handshake step: %s (%s)",
		      kssl_error_name(r), kssl_last_error());
	while (r == KSSL_E_WANT_READ || r == KSSL_E_WANT_WRITE) {
		struct pollfd p = { .fd = g.cfd };

		p.events = r == KSSL_E_WANT_READ ? POLLIN : POLLOUT;
		wants += r == KSSL_E_WANT_WRITE;
		ck_assert_int_eq(poll(&p, 1, H_IO_TIMEOUT * 1000), 1);
		r = kssl_handshake(g.c);
	}
	ck_assert_msg(r == 0, "handshake: %s (%s)", kssl_error_name(r), kssl_last_error());
	ck_assert_int_eq(F.eagains, 0);
	ck_assert_int_ge(wants, 2);
	h_assert_default_offload(g.c);
	rig_exchange_and_end(&g, 300000);
	rig_free(&g);
}
END_TEST

START_TEST(short_writes_keep_data_byte_exact)
{
	size_t n = h_size(4 * H_MiB, H_MiB); /* a multiple of 8: see below */
	unsigned char *buf = malloc(n), want[32];
	int file = h_temp_file(n, 31), r;
	uint64_t seed = 31;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int dl = 32;
	struct rig g;

	ck_assert_ptr_nonnull(buf);
	ck_assert_ptr_nonnull(md);
	/* Same seed, length a multiple of 8: the buffer equals the file. */
	h_fill(buf, n, &seed);
	F.short_max = 3000;
	rig_start(&g, 0, 2 * n, 0);
	ck_assert_msg(h_handshake(g.c) == 0, "%s", kssl_last_error());
	h_assert_default_offload(g.c);
	r = h_write_all(g.c, buf, n);
	ck_assert_msg(r == 0, "write: %s", kssl_last_error());
	r = h_sendfile_all(g.c, file, 0, n);
	ck_assert_msg(r == 0, "sendfile: %s", kssl_last_error());
	ck_assert_msg(h_close(g.c, NULL) == 0, "close: %s", kssl_last_error());
	h_peer_join_ok(&g.srv);
	ck_assert_int_gt(F.shorts, 100);
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	EVP_DigestUpdate(md, buf, n);
	EVP_DigestUpdate(md, buf, n);
	EVP_DigestFinal_ex(md, want, &dl);
	ck_assert_uint_eq(g.srv.got, 2 * n);
	ck_assert_msg(memcmp(g.srv.sha, want, 32) == 0, "bytes differ after short writes");
	EVP_MD_CTX_free(md);
	free(buf);
	close(file);
	rig_free(&g);
}
END_TEST

START_TEST(recv_econnreset_mid_transfer_is_syscall_error)
{
	size_t n = h_size(4 * H_MiB, H_MiB), got = 0;
	unsigned char *first = malloc(H_STREAM_CHUNK), sha[32], want[32];
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	uint64_t seed = 21;
	struct rig g;
	char b;
	int r;

	ck_assert_ptr_nonnull(first);
	h_fill(first, H_STREAM_CHUNK, &seed);
	F.reset_after = 100000;
	rig_start(&g, 0, 0, n);
	ck_assert_msg(h_handshake(g.c) == 0, "%s", kssl_last_error());
	r = h_read_n(g.c, n, sha, &got);
	ck_assert_msg(r == KSSL_E_SYSCALL, "got %s after %zu bytes: %s",
		      kssl_error_name(r), got, kssl_last_error());
	h_assert_has(kssl_last_error(), "Connection reset by peer");
	ck_assert_int_eq(F.resets, 1);
	/* What came before the reset is the start of the stream, nothing else. */
	ck_assert_uint_lt(got, H_STREAM_CHUNK);
	h_sha256(first, got, want);
	ck_assert_msg(memcmp(sha, want, 32) == 0, "bytes before the reset differ");
	ck_assert_int_eq(kssl_read(g.c, &b, 1), KSSL_E_CLOSED);
	h_assert_has(kssl_last_error(), "Connection reset by peer");
	/*
	 * Unblock the server, whatever step it is in (a write into a full
	 * socket included): a real reset now. Its error is expected.
	 */
	ck_assert_int_eq(setsockopt(g.cfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(g.cfd);
	g.cfd = -1;
	h_peer_join(&g.srv);
	free(first);
	rig_free(&g);
}
END_TEST

/*
 * Signals. A SIGALRM handler installed without SA_RESTART makes blocking
 * socket calls fail with EINTR: kssl must return KSSL_E_INTR at once (not
 * WANT_*, not retry forever), lose nothing, and go on when called again. The
 * peer thread is parked (joined) whenever the alarm is armed, so the signal
 * can only interrupt this thread. Host: OpenSSL's BIO; kTLS VM: the kernel
 * receive, send and sendfile paths.
 */
static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

static void install_alarm_handler(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART */
	ck_assert_int_eq(sigaction(SIGALRM, &sa, NULL), 0);
}

/* SIGALRM in 100 ms; with repeat, every 100 ms until alarm_off. */
static void alarm_in_100ms(int repeat)
{
	struct itimerval it = { .it_value = { .tv_usec = 100000 } };

	if (repeat)
		it.it_interval.tv_usec = 100000;
	ck_assert_int_eq(setitimer(ITIMER_REAL, &it, NULL), 0);
}

static void alarm_off(void)
{
	struct itimerval it = { { 0, 0 }, { 0, 0 } };

	ck_assert_int_eq(setitimer(ITIMER_REAL, &it, NULL), 0);
}

/* The failure says "signal" in numbers, not in its message's wording. */
static void assert_interrupted(void)
{
	ck_assert_int_eq(kssl_last_errno(), EINTR);
	ck_assert_int_eq(kssl_last_reason(), KSSL_R_INTERRUPTED);
}

START_TEST(signal_interrupts_blocking_handshake_and_read_with_intr)
{
	kssl_ctx *sctx = h_server_ctx("server"), *cctx = h_client_ctx();
	size_t n = 100000, got = 0;
	unsigned char buf[64], sha[32], want[32];
	struct h_peer srv;
	kssl_conn *c;
	int cfd, sfd, r;
	ssize_t rr;

	install_alarm_handler();
	h_tcp_pair(&cfd, &sfd);
	c = h_conn(cctx, cfd);
	/*
	 * No server yet: the ClientHello goes out, the wait for the answer
	 * blocks. The alarm repeats until alarm_off: under load the first one
	 * may fire before the call blocks (then it only counts), and a later
	 * one ends the wait.
	 */
	alarms = 0;
	alarm_in_100ms(1);
	r = kssl_handshake(c);
	alarm_off();
	ck_assert_msg(r == KSSL_E_INTR, "handshake: %s: %s", kssl_error_name(r),
		      kssl_last_error());
	assert_interrupted();
	ck_assert_int_ge(alarms, 1);
	/* Nothing was lost: with a server now, the same handshake completes. */
	h_peer_init(&srv, sctx, sfd);
	h_peer_start(&srv);
	r = kssl_handshake(c);
	h_check_peer(r == 0, &srv, cfd, "handshake after EINTR: %s", kssl_last_error());
	h_peer_join_ok(&srv);
	h_assert_default_offload(c);
	/* The server sends nothing for now: the read blocks, the signal ends it. */
	alarms = 0;
	alarm_in_100ms(1);
	rr = kssl_read(c, buf, sizeof(buf));
	alarm_off();
	ck_assert_msg(rr == KSSL_E_INTR, "read: %zd (%s): %s", rr, kssl_error_name((int)rr),
		      kssl_last_error());
	assert_interrupted();
	ck_assert_int_ge(alarms, 1);
	/* Same server conn, now writing: everything arrives intact. */
	srv.write_len = n;
	srv.write_seed = 23;
	srv.close = 1;
	h_peer_start(&srv);
	r = h_read_n(c, n, sha, &got);
	h_check_peer(r == 0, &srv, cfd, "read after EINTR: %zu of %zu: %s", got, n,
		     kssl_last_error());
	h_stream_sha(n, 23, want);
	ck_assert_msg(memcmp(sha, want, 32) == 0, "bytes after EINTR differ");
	r = h_close(c, NULL);
	h_check_peer(r == 0, &srv, cfd, "close: %s", kssl_last_error());
	h_peer_join_ok(&srv);
	h_assert_default_offload(c);
	kssl_conn_free(c);
	kssl_conn_free(srv.conn);
	kssl_ctx_free(cctx);
	kssl_ctx_free(sctx);
	h_close_pair(cfd, sfd);
}
END_TEST

/* One kssl_write or kssl_sendfile of [off, size); *moved = bytes taken. */
static int send_part(kssl_conn *c, int use_sendfile, const unsigned char *data,
		     int file, size_t off, size_t size, size_t *moved)
{
	ssize_t r;

	*moved = 0;
	if (use_sendfile)
		return kssl_sendfile(c, file, (off_t)off, size - off, moved);
	r = kssl_write(c, data + off, size - off);
	if (r < 0)
		return (int)r;
	*moved = (size_t)r;
	return 0;
}

/*
 * Fill the socket (nobody reads), then block in kssl_write/kssl_sendfile
 * until the alarm: KSSL_E_INTR. Resumed with the same arguments (offset +
 * bytes taken) once the server reads, every byte arrives once, in order.
 */
static void blocked_send_interrupted(int use_sendfile)
{
	kssl_ctx *sctx = h_server_ctx("server"), *cctx = h_client_ctx();
	size_t size = h_size(4 * H_MiB, 2 * H_MiB), off = 0, moved;
	unsigned char *data = malloc(size), want[32];
	int file = h_temp_file(size, 45), small = 64 * 1024, r = 0, tries;
	uint64_t seed = 45;
	struct h_peer srv;
	kssl_conn *c;
	int cfd, sfd;

	ck_assert_ptr_nonnull(data);
	h_fill(data, size, &seed); /* equals the file: size is a multiple of 8 */
	install_alarm_handler();
	h_tcp_pair(&cfd, &sfd);
	ck_assert_int_eq(setsockopt(cfd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	small *= 2;
	ck_assert_int_eq(setsockopt(sfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	h_peer_init(&srv, sctx, sfd);
	h_peer_start(&srv);
	c = h_conn(cctx, cfd);
	r = h_handshake(c);
	h_check_peer(r == 0, &srv, cfd, "handshake: %s", kssl_last_error());
	h_peer_join_ok(&srv); /* parked: nobody reads */
	h_assert_default_offload(c);
	h_set_nonblock(cfd, 1);
	do {
		r = send_part(c, use_sendfile, data, file, off, size, &moved);
		off += moved;
	} while (r == 0 && off < size);
	ck_assert_msg(r == KSSL_E_WANT_WRITE, "filling: %s (%s) at %zu", kssl_error_name(r),
		      kssl_last_error(), off);
	h_set_nonblock(cfd, 0);
	/*
	 * Blocking now. A send that got a few bytes in before the signal
	 * (ACKs freed some buffer) returns them instead of EINTR, and the
	 * next one blocks: the alarm repeats until a call is interrupted.
	 */
	alarm_in_100ms(1);
	for (tries = 0; tries < 20; tries++) {
		r = send_part(c, use_sendfile, data, file, off, size, &moved);
		off += moved;
		if (r != 0)
			break;
	}
	alarm_off();
	ck_assert_msg(r == KSSL_E_INTR, "blocked %s: %s (%s) at %zu after %d tries",
		      use_sendfile ? "sendfile" : "write", kssl_error_name(r),
		      kssl_last_error(), off, tries);
	assert_interrupted();
	ck_assert_int_ge(alarms, 1);
	ck_assert_uint_lt(off, size);
	/* The server reads until close_notify; the same call resumes. */
	srv.recv_len = SIZE_MAX;
	srv.close = 1;
	h_peer_start(&srv);
	while (off < size) {
		r = send_part(c, use_sendfile, data, file, off, size, &moved);
		off += moved;
		h_check_peer(r == 0, &srv, cfd, "resume at %zu: %s (%s)", off,
			     kssl_error_name(r), kssl_last_error());
	}
	r = h_close(c, NULL);
	h_check_peer(r == 0, &srv, cfd, "close: %s", kssl_last_error());
	h_peer_join_ok(&srv);
	ck_assert_uint_eq(srv.got, size);
	h_sha256(data, size, want);
	ck_assert_msg(memcmp(srv.sha, want, 32) == 0, "bytes differ after EINTR");
	kssl_conn_free(c);
	kssl_conn_free(srv.conn);
	kssl_ctx_free(cctx);
	kssl_ctx_free(sctx);
	h_close_pair(cfd, sfd);
	close(file);
	free(data);
}

START_TEST(signal_interrupts_blocked_write_with_intr_and_nothing_is_lost)
{
	blocked_send_interrupted(0);
}
END_TEST

START_TEST(signal_interrupts_blocked_sendfile_with_intr_and_nothing_is_lost)
{
	blocked_send_interrupted(1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("faults");
	TCase *tc = h_tcase("faults");

	tcase_add_test(tc, ulp_missing_or_refused_falls_back_with_reason);
	tcase_add_test(tc, tls_tx_einval_and_tls_rx_enoprotoopt_stay_in_userspace);
	tcase_add_test(tc, eagain_during_handshake_is_want_write_then_completes);
	tcase_add_test(tc, short_writes_keep_data_byte_exact);
	tcase_add_test(tc, recv_econnreset_mid_transfer_is_syscall_error);
	tcase_add_test(tc, signal_interrupts_blocking_handshake_and_read_with_intr);
	tcase_add_test(tc, signal_interrupts_blocked_write_with_intr_and_nothing_is_lost);
	tcase_add_test(tc, signal_interrupts_blocked_sendfile_with_intr_and_nothing_is_lost);
	suite_add_tcase(s, tc);
	return h_run(s);
}
