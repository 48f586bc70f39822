/* The fake kernel TLS receive side; see fakekernel.h. */
#include "fakekernel.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ktls/sys.h"
#include "ktls/wire.h"

#define FK_MAX_RECORDS 64
#define FK_MAX_RECORD 256

static struct {
	int fd;
	struct { uint8_t type; size_t len, off; unsigned char data[FK_MAX_RECORD]; }
		rec[FK_MAX_RECORDS];
	size_t head, tail;
} F = { .fd = -1 };

static struct ks_sys table;

static int fk_setsockopt(int fd, int level, int name, const void *val,
			 socklen_t len)
{
	if (fd == F.fd && level == IPPROTO_TCP && name == TCP_ULP)
		return 0;
	if (fd == F.fd && level == SOL_TLS && name == TLS_RX)
		return 0;
	if (fd == F.fd && level == SOL_TLS && name == TLS_TX) {
		errno = EOPNOTSUPP;
		return -1;
	}
	return ks_sys_real.setsockopt(fd, level, name, val, len);
}

static ssize_t fk_recvmsg(int fd, struct msghdr *msg, int flags)
{
	struct cmsghdr *cmsg;
	size_t n;

	if (fd != F.fd)
		return ks_sys_real.recvmsg(fd, msg, flags);
	if (F.head == F.tail) {
		msg->msg_controllen = 0;
		return 0; /* the peer closed TCP */
	}
	n = F.rec[F.head].len - F.rec[F.head].off;
	if (n > msg->msg_iov[0].iov_len)
		n = msg->msg_iov[0].iov_len;
	memcpy(msg->msg_iov[0].iov_base,
	       F.rec[F.head].data + F.rec[F.head].off, n);
	cmsg = CMSG_FIRSTHDR(msg);
	if (cmsg) {
		cmsg->cmsg_level = SOL_TLS;
		cmsg->cmsg_type = TLS_GET_RECORD_TYPE;
		cmsg->cmsg_len = CMSG_LEN(sizeof(uint8_t));
		*CMSG_DATA(cmsg) = F.rec[F.head].type;
		msg->msg_controllen = CMSG_SPACE(sizeof(uint8_t));
	}
	F.rec[F.head].off += n;
	if (F.rec[F.head].off == F.rec[F.head].len)
		F.head++;
	return (ssize_t)n;
}

void fk_install(int fd)
{
	table = ks_sys_real;
	table.setsockopt = fk_setsockopt;
	table.recvmsg = fk_recvmsg;
	F.fd = fd;
	F.head = F.tail = 0;
	ks_sys_set(&table);
}

void fk_remove(void)
{
	ks_sys_set(NULL);
	F.fd = -1;
	F.head = F.tail = 0;
}

void fk_push(uint8_t type, const void *data, size_t len)
{
	if (F.tail == FK_MAX_RECORDS || len > FK_MAX_RECORD || len == 0)
		abort(); /* a test bug */
	F.rec[F.tail].type = type;
	F.rec[F.tail].len = len;
	F.rec[F.tail].off = 0;
	memcpy(F.rec[F.tail].data, data, len);
	F.tail++;
}

size_t fk_queued(void)
{
	size_t n = 0;

	for (size_t i = F.head; i < F.tail; i++)
		n += F.rec[i].len - F.rec[i].off;
	return n;
}
