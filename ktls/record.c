/*
 * Control records once a direction is in the kernel: the record type rides
 * in a cmsg (TLS_SET_RECORD_TYPE on send, TLS_GET_RECORD_TYPE on receive).
 * A plain read(2) that meets a control record fails with EIO, which is why
 * kssl_read always passes a cmsg buffer.
 */
#include <errno.h>
#include <string.h>
#include <sys/uio.h>

#include "ktls/ktls.h"
#include "ktls/sys.h"

/* One buffer and room for one record-type cmsg. */
struct rec_msg {
	struct msghdr msg;
	struct iovec iov;
	char cbuf[CMSG_SPACE(sizeof(uint8_t))];
};

static void rec_msg_init(struct rec_msg *m, void *buf, size_t len)
{
	memset(m, 0, sizeof(*m));
	m->iov.iov_base = buf;
	m->iov.iov_len = len;
	m->msg.msg_iov = &m->iov;
	m->msg.msg_iovlen = 1;
	m->msg.msg_control = m->cbuf;
	m->msg.msg_controllen = sizeof(m->cbuf);
}

int ktls_send_record(int fd, uint8_t type, const void *buf, size_t len)
{
	struct rec_msg m;
	struct cmsghdr *cmsg;
	ssize_t n;

	rec_msg_init(&m, (void *)buf, len);
	cmsg = CMSG_FIRSTHDR(&m.msg);
	cmsg->cmsg_level = SOL_TLS;
	cmsg->cmsg_type = TLS_SET_RECORD_TYPE;
	cmsg->cmsg_len = CMSG_LEN(sizeof(uint8_t));
	*CMSG_DATA(cmsg) = type;
	n = ks_sys->sendmsg(fd, &m.msg, MSG_NOSIGNAL);
	if (n < 0)
		return -errno;
	/* A control record is tiny; the kernel takes it whole or not at all. */
	return (size_t)n == len ? 0 : -EIO;
}

ssize_t ktls_recv(int fd, void *buf, size_t len, int flags, uint8_t *type)
{
	struct rec_msg m;
	struct cmsghdr *cmsg;
	ssize_t n;

	rec_msg_init(&m, buf, len);
	*type = KTLS_CT_APPLICATION_DATA;
	n = ks_sys->recvmsg(fd, &m.msg, flags);
	if (n < 0)
		return -errno;
	for (cmsg = CMSG_FIRSTHDR(&m.msg); cmsg; cmsg = CMSG_NXTHDR(&m.msg, cmsg)) {
		if (cmsg->cmsg_level == SOL_TLS &&
		    cmsg->cmsg_type == TLS_GET_RECORD_TYPE)
			*type = *CMSG_DATA(cmsg);
	}
	return n;
}
