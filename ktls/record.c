/*
 * Control records once a direction is in the kernel: the record type rides
 * in a cmsg (TLS_SET_RECORD_TYPE on send, TLS_GET_RECORD_TYPE on receive).
 * A plain read(2) that meets a control record fails with EIO, which is why
 * kssl_read always passes a cmsg buffer.
 */
#include <errno.h>
#include <string.h>
#include <sys/uio.h>

#include "../src/sys.h"
#include "ktls.h"


int ktls_send_record(int fd, uint8_t type, const void *buf, size_t len)
{
	char cbuf[CMSG_SPACE(sizeof(uint8_t))];
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cbuf,
		.msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cmsg;
	ssize_t n;

	memset(cbuf, 0, sizeof(cbuf));
	cmsg = CMSG_FIRSTHDR(&msg);
	cmsg->cmsg_level = SOL_TLS;
	cmsg->cmsg_type = TLS_SET_RECORD_TYPE;
	cmsg->cmsg_len = CMSG_LEN(sizeof(uint8_t));
	*CMSG_DATA(cmsg) = type;
	n = ks_sys->sendmsg(fd, &msg, MSG_NOSIGNAL);
	if (n < 0)
		return -errno;
	/* A control record is tiny; the kernel takes it whole or not at all. */
	return (size_t)n == len ? 0 : -EIO;
}

ssize_t ktls_recv(int fd, void *buf, size_t len, int flags, uint8_t *type)
{
	char cbuf[CMSG_SPACE(sizeof(uint8_t))];
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cbuf,
		.msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cmsg;
	ssize_t n;

	*type = KTLS_CT_APPLICATION_DATA;
	n = ks_sys->recvmsg(fd, &msg, flags);
	if (n < 0)
		return -errno;
	for (cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
		if (cmsg->cmsg_level == SOL_TLS &&
		    cmsg->cmsg_type == TLS_GET_RECORD_TYPE)
			*type = *CMSG_DATA(cmsg);
	}
	return n;
}
