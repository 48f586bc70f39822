/*
 * Helpers for the uring engine tests: loopback TCP pairs, test files with
 * known SHA-256, a reader thread that hashes what arrives, and a bounded
 * loop driver. Each Check test runs in its own forked child, so a fault
 * table installed with ku_sys_set() ends with the test.
 */
#ifndef KSSL_URING_TEST_HARNESS_H
#define KSSL_URING_TEST_HARNESS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <check.h>

#include "kssl/kssl_uring.h"

#define U_TIMEOUT_MS 30000

/* A loopback TCP pair; the client end has a receive timeout. */
void u_tcp_pair(int *client, int *server);

/* A temp file of len pseudo-random bytes (unlinked, fd open). */
int u_temp_file(size_t len, uint64_t seed);
/* Hex SHA-256 of len bytes of fd from off. */
void u_file_sha(int fd, off_t off, size_t len, char hex[65]);

/* A thread reading a socket (plain or TLS) to EOF and hashing it. */
struct u_reader {
	pthread_t th;
	int fd;
	int tls;          /* 1: TLS client verifying with ca.pem */
	unsigned delay_ms;/* sleep before reading (fills the sender's buffer) */
	size_t limit;     /* stop after this many bytes (0: to EOF) */
	size_t got;
	char hex[65];
	int rc;
	char err[160];
};
void u_reader_start(struct u_reader *r);
void u_reader_join(struct u_reader *r);

/* Run the loop until *flag is set (asserts it happens in U_TIMEOUT_MS). */
void u_run_until(kssl_loop *loop, const int *flag);

/* Path under $KSSL_TEST_CERTS (one of 4 rotating static buffers). */
const char *u_cert(const char *file);

/* The result a completion callback stores. */
struct u_done {
	int done;
	ssize_t result;
	char err[200];
	char path[16];
};
void u_done_cb(kssl_lconn *lc, ssize_t result, void *arg);

/* Run the suite (CK_VERBOSITY=verbose lists each test); exit status for main. */
int u_run(Suite *s);

#endif
