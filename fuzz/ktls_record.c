/*
 * Fuzz target: what libkssl does with records once RX is in the kernel
 * (ktls/record.c ktls_recv and the control-record handling of src/io.c:
 * alerts, post-handshake messages, split or coalesced across reads). The
 * kernel is faked through the syscall table (ktls/sys.h): recvmsg hands out
 * the input's records, each with its TLS_GET_RECORD_TYPE cmsg, at most the
 * caller's buffer at a time, as kernel TLS does.
 * Input: a header byte (bit 0: client, bit 1: TLS 1.2, bits 2-7: read
 * buffer size - 1), then records <type, len, len bytes>. Types 0xf0-0xf7
 * are not records but a recvmsg failure with an errno from a table.
 * Invariants: kssl_read hands out exactly the application-data bytes, in
 * order; everything else ends in 0 (close_notify) or a KSSL_E_* code;
 * nothing but alerts is ever sent back.
 */
#include "fuzz.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ktls/ktls.h"
#include "src/internal.h"
#include "ktls/sys.h"

static struct {
	const uint8_t *p;     /* rest of the input */
	size_t n;
	uint8_t type;         /* current record's type */
	size_t left;          /* bytes of it not yet handed out */
	const uint8_t *rec;   /* where they are */
	uint8_t *app;         /* application data handed out so far (expected) */
	size_t app_len;
} K;

static const int errs[8] = { EAGAIN, EBADMSG, EMSGSIZE, EINVAL,
			     ECONNRESET, EINTR, EIO, EPIPE };

static ssize_t fake_recvmsg(int fd, struct msghdr *msg, int flags)
{
	size_t k, room = msg->msg_iov[0].iov_len;
	struct cmsghdr *cmsg;

	(void)fd;
	(void)flags;
	if (!K.left) {
		if (K.n < 1)
			return 0; /* TCP EOF */
		if (K.p[0] >= 0xf0 && K.p[0] <= 0xf7) {
			errno = errs[K.p[0] - 0xf0];
			K.p++, K.n--;
			return -1;
		}
		if (K.n < 2) {
			K.n = 0;
			return 0;
		}
		K.type = K.p[0];
		K.left = K.p[1] < K.n - 2 ? K.p[1] : K.n - 2;
		K.rec = K.p + 2;
		K.p += 2 + K.left;
		K.n -= 2 + K.left;
		if (!K.left) /* the kernel never returns an empty record */
			return fake_recvmsg(fd, msg, flags);
	}
	k = K.left < room ? K.left : room;
	memcpy(msg->msg_iov[0].iov_base, K.rec, k);
	K.rec += k;
	K.left -= k;
	cmsg = CMSG_FIRSTHDR(msg);
	FUZZ_CHECK(cmsg && msg->msg_controllen >= CMSG_SPACE(1));
	cmsg->cmsg_level = SOL_TLS;
	cmsg->cmsg_type = TLS_GET_RECORD_TYPE;
	cmsg->cmsg_len = CMSG_LEN(1);
	*CMSG_DATA(cmsg) = K.type;
	msg->msg_controllen = CMSG_SPACE(1);
	if (K.type == KTLS_CT_APPLICATION_DATA) {
		K.app = realloc(K.app, K.app_len + k);
		FUZZ_CHECK(K.app);
		memcpy(K.app + K.app_len, msg->msg_iov[0].iov_base, k);
		K.app_len += k;
	}
	return (ssize_t)k;
}

/* Only control records go out through kernel TX: alerts, two bytes. */
static ssize_t fake_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct cmsghdr *cmsg = CMSG_FIRSTHDR((struct msghdr *)msg);

	(void)fd;
	(void)flags;
	FUZZ_CHECK(cmsg && cmsg->cmsg_level == SOL_TLS &&
		   cmsg->cmsg_type == TLS_SET_RECORD_TYPE);
	FUZZ_CHECK(*CMSG_DATA(cmsg) == KTLS_CT_ALERT);
	FUZZ_CHECK(msg->msg_iovlen == 1 && msg->msg_iov[0].iov_len == 2);
	return 2;
}

static struct ks_sys fake;
static kssl_ctx *ctxs[2];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t buf[64];
	uint8_t *got = NULL;
	size_t got_len = 0, blen;
	int sv[2], client;
	kssl_conn *c;
	ssize_t r;

	if (size < 1)
		return 0;
	client = data[0] & 1;
	blen = 1 + (data[0] >> 2);
	if (!ctxs[client]) {
		ctxs[client] = kssl_ctx_new(client ? KSSL_CLIENT : KSSL_SERVER);
		FUZZ_CHECK(ctxs[client]);
		fake = ks_sys_real;
		fake.recvmsg = fake_recvmsg;
		fake.sendmsg = fake_sendmsg;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv))
		abort();
	c = kssl_conn_new(ctxs[client], sv[0]);
	FUZZ_CHECK(c);
	/* The state right after a handshake that offloaded both directions. */
	c->core.handshake_done = 1;
	c->core.info.version = data[0] & 2 ? TLS1_2_VERSION : TLS1_3_VERSION;
	c->tx.state = KSSL_OFFLOAD_KERNEL;
	c->rx.state = KSSL_OFFLOAD_KERNEL;
	memset(&K, 0, sizeof(K));
	K.p = data + 1;
	K.n = size - 1;
	ks_sys_set(&fake);
	for (;;) {
		r = kssl_read(c, buf, blen);
		if (r > 0) {
			FUZZ_CHECK((size_t)r <= blen);
			got = realloc(got, got_len + (size_t)r);
			FUZZ_CHECK(got);
			memcpy(got + got_len, buf, (size_t)r);
			got_len += (size_t)r;
			continue;
		}
		if (r == KSSL_E_WANT_READ || r == KSSL_E_INTR)
			continue; /* EAGAIN/EINTR from the table: read on */
		break;
	}
	FUZZ_CHECK(r == 0 || (r < 0 && r >= -99));
	/* Every application byte handed out, in order, and nothing else. */
	FUZZ_CHECK(got_len == K.app_len);
	FUZZ_CHECK(!got_len || !memcmp(got, K.app, got_len));
	/* close_notify: reads go on returning 0; the stream's end without
	 * close_notify ends the receive direction (reads repeat KSSL_E_EOF);
	 * any other failure sticks. */
	if (r == 0)
		FUZZ_CHECK(kssl_read(c, buf, blen) == 0);
	else if (r == KSSL_E_EOF)
		FUZZ_CHECK(kssl_read(c, buf, blen) == KSSL_E_EOF);
	else
		FUZZ_CHECK(kssl_read(c, buf, blen) == KSSL_E_CLOSED);
	ks_sys_set(NULL);
	kssl_conn_free(c);
	close(sv[0]);
	close(sv[1]);
	free(got);
	free(K.app);
	return 0;
}
