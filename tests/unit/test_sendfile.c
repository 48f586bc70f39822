/*
 * kssl_sendfile edge cases. The client sends, a kssl server thread reads
 * everything until close_notify and hashes it, so each test can say exactly
 * which bytes crossed: odd offsets and lengths around record sizes, zero
 * length, counts past EOF, a file that shrinks mid-send (injected through the
 * syscall table), resuming after KSSL_E_WANT_WRITE on a full socket, and
 * files that cannot be sent at all (pipe, directory, write-only).
 * The same tests cover kernel TX (kTLS VM) and userspace TX (host).
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ktls/sys.h"

/*
 * A client conn sending to a sink server; see sink_start/sink_finish. The
 * server reads everything until close_notify, or with `park` only does the
 * handshake (the test restarts it as a reader when it wants).
 */
struct sink {
	kssl_ctx *sctx, *cctx;
	int cfd, sfd;
	struct h_peer srv;
	kssl_conn *c;
};

static void sink_start(struct sink *k, int park)
{
	int r;

	k->sctx = h_server_ctx("server");
	k->cctx = h_client_ctx();
	h_tcp_pair(&k->cfd, &k->sfd);
	h_peer_init(&k->srv, k->sctx, k->sfd);
	k->srv.recv_len = park ? 0 : SIZE_MAX;
	k->srv.close = !park;
	h_peer_start(&k->srv);
	k->c = h_conn(k->cctx, k->cfd);
	r = h_handshake(k->c);
	ck_assert_msg(r == 0, "handshake: %s", kssl_last_error());
	h_assert_default_offload(k->c);
}

/* Close, join, and check the server got exactly `want` (len, digest). */
static void sink_finish(struct sink *k, size_t want_len,
			const unsigned char want_sha[32])
{
	int r = h_close(k->c, NULL);

	ck_assert_msg(r == 0, "client close: %s", kssl_last_error());
	h_peer_join_ok(&k->srv);
	ck_assert_uint_eq(k->srv.got, want_len);
	ck_assert_msg(memcmp(k->srv.sha, want_sha, 32) == 0,
		      "server received other bytes (sha %s)", h_hex(k->srv.sha));
	kssl_conn_free(k->c);
	kssl_conn_free(k->srv.conn);
	kssl_ctx_free(k->cctx);
	kssl_ctx_free(k->sctx);
	h_close_pair(k->cfd, k->sfd);
}

START_TEST(odd_offsets_and_lengths_arrive_exactly)
{
	static const struct { off_t off; size_t len; } seg[] = {
		{ 0, 1 }, { 1, 16383 }, { 4097, 16385 }, { 1, H_MiB + 7 },
		{ 4097, 1 }, { 16384, 3 * 16384 + 1 }, { 1, 16384 },
	};
	int file = h_temp_file(2 * H_MiB + 4096, 7);
	unsigned char *expect = malloc(8 * H_MiB), sha[32];
	size_t total = 0;
	struct sink k;

	ck_assert_ptr_nonnull(expect);
	/* kssl_sendfile must neither use nor move the file position. */
	ck_assert_int_eq(lseek(file, 777, SEEK_SET), 777);
	sink_start(&k, 0);
	for (size_t i = 0; i < sizeof(seg) / sizeof(seg[0]); i++) {
		size_t sent = 12345;
		int r = kssl_sendfile(k.c, file, seg[i].off, seg[i].len, &sent);

		ck_assert_msg(r == 0, "segment %zu (off %lld len %zu): %s", i,
			      (long long)seg[i].off, seg[i].len, kssl_last_error());
		ck_assert_uint_eq(sent, seg[i].len);
		ck_assert_int_eq(pread(file, expect + total, seg[i].len, seg[i].off),
				 (ssize_t)seg[i].len);
		total += seg[i].len;
	}
	ck_assert_int_eq(lseek(file, 0, SEEK_CUR), 777);
	h_sha256(expect, total, sha);
	sink_finish(&k, total, sha);
	free(expect);
	close(file);
}
END_TEST

START_TEST(zero_length_returns_0_and_sends_nothing)
{
	int file = h_temp_file(1000, 8);
	unsigned char sha[32];
	size_t sent = 99;
	struct sink k;
	int r;

	sink_start(&k, 0);
	ck_assert_int_eq(kssl_sendfile(k.c, file, 10, 0, &sent), 0);
	ck_assert_uint_eq(sent, 0);
	/* Zero bytes never reach EOF, even from past the end. */
	sent = 99;
	ck_assert_int_eq(kssl_sendfile(k.c, file, 5000, 0, &sent), 0);
	ck_assert_uint_eq(sent, 0);
	r = kssl_sendfile(k.c, file, -1, 10, &sent);
	ck_assert_int_eq(r, KSSL_E_INVAL);
	h_assert_has(kssl_last_error(), "negative offset");
	ck_assert_uint_eq(sent, 0);
	ck_assert_int_eq(h_write_all(k.c, "END", 3), 0);
	h_sha256("END", 3, sha);
	sink_finish(&k, 3, sha);
	close(file);
}
END_TEST

START_TEST(count_past_eof_is_short_file_with_exact_bytes)
{
	int file = h_temp_file(100000, 9);
	unsigned char sha[32];
	size_t sent = 0;
	struct sink k;
	int r;

	sink_start(&k, 0);
	r = kssl_sendfile(k.c, file, 90000, 50000, &sent);
	ck_assert_int_eq(r, KSSL_E_SHORT_FILE);
	ck_assert_uint_eq(sent, 10000);
	h_assert_has(kssl_last_error(), "file ended after 10000 of 50000 bytes");
	/* At EOF exactly: nothing to send, still short. */
	r = kssl_sendfile(k.c, file, 100000, 10, &sent);
	ck_assert_int_eq(r, KSSL_E_SHORT_FILE);
	ck_assert_uint_eq(sent, 0);
	/* The connection stays usable: the peer gets no padding, no more. */
	h_sha256_file(file, 90000, 10000, sha);
	sink_finish(&k, 10000, sha);
	close(file);
}
END_TEST

/* Truncation injected after the first chunk of the file under test. */
static struct {
	int sock, file;
	off_t cut; /* new file size once truncated, 0 before */
} trunc_at;

static void cut_file(int fd, off_t after)
{
	trunc_at.cut = after + 5000;
	ck_assert_int_eq(ftruncate(fd, trunc_at.cut), 0);
}

static ssize_t trunc_sendfile(int out, int in, off_t *off, size_t count)
{
	ssize_t n;

	if (out != trunc_at.sock || in != trunc_at.file || trunc_at.cut)
		return ks_sys_real.sendfile(out, in, off, count);
	/* One bounded chunk first, or a blocking sendfile would do it all. */
	n = ks_sys_real.sendfile(out, in, off, count < 65536 ? count : 65536);
	if (n > 0)
		cut_file(in, *off);
	return n;
}

static ssize_t trunc_pread(int fd, void *buf, size_t count, off_t off)
{
	ssize_t n = ks_sys_real.pread(fd, buf, count, off);

	if (fd == trunc_at.file && !trunc_at.cut && n > 0)
		cut_file(fd, off + n);
	return n;
}

START_TEST(file_truncated_while_sending_is_short_file_and_a_prefix)
{
	size_t size = h_size(8 * H_MiB, 2 * H_MiB);
	int file = h_temp_file(size, 10), ref = h_temp_file(size, 10);
	struct ks_sys sys = ks_sys_real;
	unsigned char sha[32];
	size_t sent = 0;
	struct sink k;
	int r;

	sink_start(&k, 0);
	trunc_at.sock = k.cfd;
	trunc_at.file = file;
	trunc_at.cut = 0;
	sys.sendfile = trunc_sendfile;
	sys.pread = trunc_pread;
	ks_sys_set(&sys);
	r = kssl_sendfile(k.c, file, 0, size, &sent);
	ks_sys_set(NULL);
	ck_assert_msg(trunc_at.cut > 0, "the injected truncation never ran");
	ck_assert_msg(r == KSSL_E_SHORT_FILE, "got %s: %s", kssl_error_name(r),
		      kssl_last_error());
	ck_assert_uint_eq(sent, (size_t)trunc_at.cut);
	h_assert_has(kssl_last_error(), "file ended after");
	h_sha256_file(ref, 0, sent, sha);
	sink_finish(&k, sent, sha);
	close(file);
	close(ref);
}
END_TEST

START_TEST(nonblocking_full_socket_want_write_then_resume)
{
	size_t size = h_size(8 * H_MiB, 2 * H_MiB), left = size, sent = 0;
	int file = h_temp_file(size, 11), small = 64 * 1024, wants = 0, r;
	unsigned char sha[32];
	off_t off = 0;
	struct sink k;

	sink_start(&k, 1);
	h_peer_join_ok(&k.srv); /* handshake done; nobody reads now */
	ck_assert_int_eq(setsockopt(k.cfd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	small *= 2;
	ck_assert_int_eq(setsockopt(k.sfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	h_set_nonblock(k.cfd, 1);
	r = kssl_sendfile(k.c, file, off, left, &sent);
	ck_assert_msg(r == KSSL_E_WANT_WRITE, "first call: %s (%s), sent %zu",
		      kssl_error_name(r), kssl_last_error(), sent);
	ck_assert_uint_lt(sent, size);
	/* Same server conn, now reading until close_notify. */
	k.srv.recv_len = SIZE_MAX;
	k.srv.close = 1;
	h_peer_start(&k.srv);
	for (;;) {
		struct pollfd p = { .fd = k.cfd, .events = POLLOUT };

		off += (off_t)sent;
		left -= sent;
		if (r != KSSL_E_WANT_WRITE)
			break;
		wants++;
		ck_assert_int_eq(poll(&p, 1, H_IO_TIMEOUT * 1000), 1);
		r = kssl_sendfile(k.c, file, off, left, &sent);
	}
	ck_assert_msg(r == 0, "resume: %s (%s)", kssl_error_name(r), kssl_last_error());
	ck_assert_uint_eq(left, 0);
	ck_assert_int_ge(wants, 1);
	h_sha256_file(file, 0, size, sha);
	sink_finish(&k, size, sha);
	close(file);
}
END_TEST

/*
 * A file that cannot be sent (a pipe: no offsets; a directory; a file open
 * for writing only) is the file's fault, not the connection's: the call
 * fails with KSSL_E_SYSCALL and the errno, nothing is sent, and the
 * connection goes on: writes, a real sendfile and an orderly close.
 */
START_TEST(unreadable_file_is_syscall_error_and_connection_stays_usable)
{
	int pipefd[2], dir, wronly, good = h_temp_file(30000, 12);
	unsigned char expect[64 + 30000], sha[32];
	size_t total = 0;
	struct sink k;

	ck_assert_int_eq(pipe(pipefd), 0);
	ck_assert_int_eq(write(pipefd[1], "pipe bytes", 10), 10);
	dir = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(dir, 0);
	wronly = open("/dev/null", O_WRONLY | O_CLOEXEC);
	ck_assert_int_ge(wronly, 0);
	sink_start(&k, 0);
	{
		const struct { int fd; const char *what; } bad[] = {
			{ pipefd[0], "pipe" }, { dir, "directory" }, { wronly, "write-only file" },
		};

		for (size_t i = 0; i < 3; i++) {
			char note[32];
			size_t sent = 99;
			int r = kssl_sendfile(k.c, bad[i].fd, 0, 1000, &sent), n;

			ck_assert_msg(r == KSSL_E_SYSCALL, "%s: %s (%s)", bad[i].what,
				      kssl_error_name(r), kssl_last_error());
			ck_assert_msg(kssl_last_errno() != 0, "%s: no errno in \"%s\"",
				      bad[i].what, kssl_last_error());
			ck_assert_uint_eq(sent, 0);
			n = snprintf(note, sizeof(note), "after the %s;", bad[i].what);
			r = h_write_all(k.c, note, (size_t)n);
			ck_assert_msg(r == 0, "write after the %s: %s (%s)", bad[i].what,
				      kssl_error_name(r), kssl_last_error());
			memcpy(expect + total, note, (size_t)n);
			total += (size_t)n;
		}
	}
	ck_assert_msg(h_sendfile_all(k.c, good, 0, 30000) == 0, "sendfile: %s",
		      kssl_last_error());
	ck_assert_int_eq(pread(good, expect + total, 30000, 0), 30000);
	total += 30000;
	h_sha256(expect, total, sha);
	sink_finish(&k, total, sha);
	close(pipefd[0]);
	close(pipefd[1]);
	close(dir);
	close(wronly);
	close(good);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sendfile");
	TCase *tc = h_tcase("sendfile");

	tcase_add_test(tc, odd_offsets_and_lengths_arrive_exactly);
	tcase_add_test(tc, zero_length_returns_0_and_sends_nothing);
	tcase_add_test(tc, count_past_eof_is_short_file_with_exact_bytes);
	tcase_add_test(tc, file_truncated_while_sending_is_short_file_and_a_prefix);
	tcase_add_test(tc, nonblocking_full_socket_want_write_then_resume);
	tcase_add_test(tc, unreadable_file_is_syscall_error_and_connection_stays_usable);
	suite_add_tcase(s, tc);
	return h_run(s);
}
