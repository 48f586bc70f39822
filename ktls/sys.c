#include "ktls/sys.h"

#include <sys/sendfile.h>
#include <unistd.h>

static int real_setsockopt(int fd, int level, int name, const void *val,
			   socklen_t len)
{
	return setsockopt(fd, level, name, val, len);
}

const struct ks_sys ks_sys_real = {
	.setsockopt = real_setsockopt,
	.sendmsg = sendmsg,
	.recvmsg = recvmsg,
	.send = send,
	.recv = recv,
	.sendfile = sendfile,
	.pread = pread,
};

const struct ks_sys *ks_sys = &ks_sys_real;

void ks_sys_set(const struct ks_sys *table)
{
	ks_sys = table ? table : &ks_sys_real;
}
