/*
 * A fake kernel TLS receive side for host tests (the host kernel has no
 * kTLS). fk_install() replaces libkssl's syscall table (ktls/sys.h) so
 * that, for one socket, attaching the "tls" ULP and installing TLS_RX keys
 * succeed (TLS_TX is refused, so TX stays in OpenSSL), and recvmsg returns
 * records scripted by the test, with their record type in the cmsg, as
 * Linux's tls_sw does: a call never mixes records, a short buffer gets the
 * front of a record and the next call the rest. Everything else passes to
 * the real calls. Not thread-safe: one fake per test process at a time.
 */
#ifndef KSSL_TESTS_FAKEKERNEL_H
#define KSSL_TESTS_FAKEKERNEL_H

#include <stddef.h>
#include <stdint.h>

/* Fake kTLS RX on fd (other fds get the real calls). */
void fk_install(int fd);
/* Back to the real calls; drops queued records. */
void fk_remove(void);
/* Queue one record of `type` (ktls/wire.h KTLS_CT_*) for recvmsg. */
void fk_push(uint8_t type, const void *data, size_t len);
/* Bytes still queued. */
size_t fk_queued(void);

#endif
