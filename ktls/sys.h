/*
 * The system calls kssl makes on a connection's socket, behind one table so
 * tests can inject failures (ENOENT from TCP_ULP, EAGAIN, short writes, ...)
 * on a kernel that does not have them to give.
 */
#ifndef KSSL_SYS_H
#define KSSL_SYS_H

#include <sys/socket.h>
#include <sys/types.h>

struct ks_sys {
	int (*setsockopt)(int fd, int level, int name, const void *val,
			  socklen_t len);
	ssize_t (*sendmsg)(int fd, const struct msghdr *msg, int flags);
	ssize_t (*recvmsg)(int fd, struct msghdr *msg, int flags);
	ssize_t (*send)(int fd, const void *buf, size_t len, int flags);
	ssize_t (*recv)(int fd, void *buf, size_t len, int flags);
	ssize_t (*sendfile)(int out_fd, int in_fd, off_t *offset, size_t count);
	ssize_t (*pread)(int fd, void *buf, size_t count, off_t offset);
};

/* The table in use; starts as the real calls. */
extern const struct ks_sys *ks_sys;
/* The real calls, for wrappers that pass through. */
extern const struct ks_sys ks_sys_real;

/* Install a table (NULL restores the real one). Not thread-safe: tests only. */
void ks_sys_set(const struct ks_sys *table);

#endif /* KSSL_SYS_H */
