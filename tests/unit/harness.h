/*
 * Shared helpers for the Check unit tests of libkssl.
 *
 * Every test runs in its own forked child (Check's default CK_FORK mode), so
 * a fault table installed with ks_sys_set() or a leaked thread cannot leak
 * into the next test. Helpers that use ck_assert must only be called from
 * the test's main thread: peer threads report failures through their
 * struct (rc + err) and the main thread asserts on them after joining.
 *
 * Sizes follow the kernel: kssl_kernel_has_tls() == 1 means we run in the
 * kTLS VM under TCG (~10 MB/s), so transfers shrink to a few MiB there.
 */
#ifndef KSSL_TEST_HARNESS_H
#define KSSL_TEST_HARNESS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <check.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "kssl/kssl.h"

#define H_MiB ((size_t)1 << 20)
#define H_IO_TIMEOUT 30 /* seconds: SO_RCVTIMEO/SO_SNDTIMEO and poll */

/* ---- environment ------------------------------------------------------- */

/* 1 if this kernel offers kTLS (cached kssl_kernel_has_tls()). */
int h_ktls(void);
/* host_size on a kernel without kTLS, vm_size where kTLS really runs. */
size_t h_size(size_t host_size, size_t vm_size);
/* Path of a file in the test PKI ($KSSL_TEST_CERTS); static buffer. */
const char *h_cert(const char *file);

/* ---- sockets ----------------------------------------------------------- */

/* A connected loopback TCP pair with I/O timeouts set on both ends. */
void h_tcp_pair(int *client_fd, int *server_fd);
void h_set_nonblock(int fd, int on);
/* Close both ends of a pair (ignores -1). */
void h_close_pair(int client_fd, int server_fd);

/* ---- kssl contexts ----------------------------------------------------- */

/* Server context with <name>.pem/<name>.key ("server" or "server-ec"). */
kssl_ctx *h_server_ctx(const char *name);
/* Client context trusting only ca.pem. */
kssl_ctx *h_client_ctx(void);
/* kssl_conn_new, plus host name "localhost" for clients. */
kssl_conn *h_conn(kssl_ctx *ctx, int fd);

/*
 * The loopback matrix: TLS 1.2 and 1.3 x AES-128-GCM, AES-256-GCM,
 * ChaCha20-Poly1305, AES-128-CCM (TLS 1.2 CCM needs the ECDSA certificate).
 */
struct h_suite {
	int version;
	const char *list; /* TLS 1.2 cipher string or TLS 1.3 suite */
	const char *cert; /* server certificate: "server" or "server-ec" */
	const char *iana; /* expected kssl_conn_cipher() */
};
enum {
	H_TLS13_AES128GCM, H_TLS13_AES256GCM, H_TLS13_CHACHA, H_TLS13_AES128CCM,
	H_TLS12_AES128GCM, H_TLS12_AES256GCM, H_TLS12_CHACHA, H_TLS12_AES128CCM,
	H_NSUITES
};
extern const struct h_suite h_suites[H_NSUITES];
/* Pin ctx to the suite's version and cipher. */
void h_use_suite(kssl_ctx *ctx, const struct h_suite *s);

/* ---- data -------------------------------------------------------------- */

/* Deterministic pseudo-random bytes (xorshift64*); *state advances. */
void h_fill(void *buf, size_t len, uint64_t *state);
/* SHA-256 of a buffer. */
void h_sha256(const void *buf, size_t len, unsigned char out[32]);
/* SHA-256 of len bytes of fd at off (pread; the file position is unused). */
void h_sha256_file(int fd, off_t off, size_t len, unsigned char out[32]);
/* An unlinked temporary file with len pseudo-random bytes from seed. */
int h_temp_file(size_t len, uint64_t seed);
/* Hex of a digest, for failure messages; static buffer. */
const char *h_hex(const unsigned char d[32]);

/* ---- kssl I/O that waits on WANT_* (blocking or not) ------------------- */

/* Handshake; polls on WANT_READ/WANT_WRITE. */
int h_handshake(kssl_conn *c);
/*
 * h_write_stream generates and writes its stream in chunks of this odd size
 * (so writes and records do not line up): the first H_STREAM_CHUNK bytes of
 * stream `seed` are h_fill(buf, H_STREAM_CHUNK, &seed).
 */
#define H_STREAM_CHUNK ((1 << 18) - 1234)

/*
 * Write len pseudo-random bytes (seed) with kssl_write, hashing them into
 * sha (may be NULL). Returns 0 or the KSSL_E_* that stopped it.
 */
int h_write_stream(kssl_conn *c, size_t len, uint64_t seed,
		   unsigned char sha[32]);
/* The digest h_write_stream(len, seed) produces, without a connection. */
void h_stream_sha(size_t len, uint64_t seed, unsigned char sha[32]);
/* Write a buffer completely. */
int h_write_all(kssl_conn *c, const void *buf, size_t len);
/*
 * Read up to len bytes (SIZE_MAX: until close_notify), hashing into sha
 * (may be NULL). Returns 0 when len bytes arrived, 1 when close_notify came
 * first, or the KSSL_E_* error; *got (may be NULL) = bytes read.
 */
int h_read_n(kssl_conn *c, size_t len, unsigned char sha[32], size_t *got);
/* Sendfile all of [off, off+len), waiting on WANT_WRITE. */
int h_sendfile_all(kssl_conn *c, int file_fd, off_t off, size_t len);
/*
 * Orderly close: kssl_shutdown, then read until the peer's close_notify.
 * Returns 0, or a KSSL_E_* / 2 if application data arrived instead.
 * *shutdown_rc (may be NULL) gets kssl_shutdown's result (0 or 1).
 */
int h_close(kssl_conn *c, int *shutdown_rc);

/* ---- a kssl peer in a thread ------------------------------------------- */

/*
 * Runs: handshake; read recv_len bytes (0: none; SIZE_MAX: to close_notify);
 * write write_len bytes of stream write_seed; sendfile [send_off,
 * send_off+send_len) of send_fd (if >= 0); then h_close if close is set.
 * The conn is kept for inspection: the caller frees it after h_peer_join.
 * A conn left in p->conn by an earlier run is reused (its handshake is then
 * a no-op), so a test can run one connection's steps in stages.
 */
struct h_peer {
	/* script (set before h_peer_start) */
	kssl_ctx *ctx;
	int fd;
	size_t recv_len;
	size_t write_len;
	uint64_t write_seed;
	int send_fd;
	off_t send_off;
	size_t send_len;
	int close;
	/* results */
	kssl_conn *conn;
	int rc;           /* 0, or the KSSL_E_* that stopped the script */
	char err[640];    /* step + kssl_last_error() of the failure */
	size_t got;
	unsigned char sha[32]; /* of the bytes read */
	int shutdown_rc;       /* kssl_shutdown's result in the close step */
	pthread_t thread;
};

/* Zero p and set fd/ctx with no steps (send_fd = -1). */
void h_peer_init(struct h_peer *p, kssl_ctx *ctx, int fd);
void h_peer_start(struct h_peer *p);
void h_peer_join(struct h_peer *p);
/* Join, then ck_assert that the script succeeded. */
void h_peer_join_ok(struct h_peer *p);

/* A client conn and a kssl server thread over a fresh loopback pair. */
struct h_pair {
	int cfd, sfd;
	struct h_peer srv;
	kssl_conn *c;
};
/* Call after h_peer_init(&p->srv, sctx, -1) and setting the server's steps. */
void h_pair_open(struct h_pair *p, kssl_ctx *cctx);
/* Free both conns and close both sockets. */
void h_pair_free(struct h_pair *p);
/* Join the server (which must have succeeded), then h_pair_free. */
void h_pair_end(struct h_pair *p);

/* ---- assertions (main thread only) ------------------------------------- */

/*
 * ck_assert_msg(cond, fmt, ...) for a step that depends on peer p: on
 * failure the socket fd is shut down (which ends the peer's I/O), p is
 * joined, and the peer's own error is reported next to ours, since a side
 * that waits in vain usually only saw the symptom.
 */
#define h_check_peer(cond, p, fd, ...) \
	do { if (!(cond)) h_fail_peer_((p), (fd), __VA_ARGS__); } while (0)
void h_fail_peer_(struct h_peer *p, int fd, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), noreturn));

/* ck_assert that haystack contains needle, showing both on failure. */
#define h_assert_has(haystack, needle) \
	h_assert_has_((haystack), (needle), __FILE__, __LINE__)
void h_assert_has_(const char *haystack, const char *needle,
		   const char *file, int line);

/* Direction dir of c is in the kernel. */
void h_assert_kernel(kssl_conn *c, enum kssl_dir dir);
/* Direction dir of c is in userspace with a reason containing why. */
void h_assert_user(kssl_conn *c, enum kssl_dir dir, const char *why);
/* What a default (offload BOTH) conn must show after its handshake. */
void h_assert_default_offload(kssl_conn *c);

/* ---- /proc/net/tls_stat ------------------------------------------------ */

struct h_tls_stat {
	long curr_tx_sw, curr_rx_sw, tx_sw, rx_sw;
	long decrypt_error, rx_rekey_ok, rx_rekey_error;
};
/* Fields are -1 when the file (or the line) does not exist. */
void h_tls_stat(struct h_tls_stat *s);

/* ---- raw OpenSSL peers (for what kssl itself would never send) --------- */

/*
 * An SSL on fd. Servers use server.pem; clients verify against cafile
 * (NULL: no verification). version 0 = any, else pinned (TLS1_3_VERSION).
 */
SSL *h_raw_ssl(int is_server, int fd, const char *cafile, int version);
/* Block SIGPIPE in the calling thread (raw OpenSSL writes with write(2)). */
void h_block_sigpipe(void);

/* ---- running a suite --------------------------------------------------- */

/* A test case with a timeout fit for the slowest environment (VM, ASan). */
TCase *h_tcase(const char *name);
/* Run the suite; returns the process exit status. */
int h_run(Suite *s);

#endif /* KSSL_TEST_HARNESS_H */
