/*
 * The system calls of the uring engine, behind one table so Check tests can
 * inject io_uring init failures, short splices, -EAGAIN and -ECANCELED on a
 * kernel that would not produce them on demand.
 */
#ifndef KSSL_URING_SYS_H
#define KSSL_URING_SYS_H

#include <liburing.h>
#include <sys/types.h>

enum ku_splice_leg {
	KU_LEG_IN = 0,  /* file -> pipe */
	KU_LEG_OUT = 1, /* pipe -> socket */
};

struct ku_sys {
	int (*queue_init)(unsigned entries, struct io_uring *ring,
			  unsigned flags);
	/*
	 * Called before each splice SQE is prepared. May lower *len (a real
	 * short splice follows, and with it a real -ECANCELED of the linked
	 * leg) or return a negative errno: the leg then completes with that
	 * result without running (an IORING_OP_NOP carries it).
	 */
	int (*splice_hook)(enum ku_splice_leg leg, unsigned *len);
	ssize_t (*sendfile)(int out_fd, int in_fd, off_t *offset, size_t count);
	ssize_t (*send)(int fd, const void *buf, size_t len, int flags);
	ssize_t (*recv)(int fd, void *buf, size_t len, int flags);
};

/* The table in use; starts as the real calls. */
extern const struct ku_sys *ku_sys;
extern const struct ku_sys ku_sys_real;

/* Install a table (NULL restores the real one). Tests only. */
void ku_sys_set(const struct ku_sys *table);

#endif /* KSSL_URING_SYS_H */
