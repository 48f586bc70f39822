/* Private structures of the kssl_uring engine. */
#ifndef KSSL_URING_INTERNAL_H
#define KSSL_URING_INTERNAL_H

#include <liburing.h>
#include <stdint.h>

#include "kssl/kssl_uring.h"
#include "ku_sys.h"

/* user_data = object pointer | tag (objects are 8-byte aligned). */
enum ku_tag {
	KU_TAG_POLL = 1,       /* readiness poll on a connection */
	KU_TAG_SPLICE_IN = 2,  /* file -> pipe */
	KU_TAG_SPLICE_OUT = 3, /* pipe -> socket */
	KU_TAG_LISTEN = 4,     /* poll on the listening socket */
	KU_TAG_IGNORE = 5,     /* cancel requests: result not needed */
};
#define KU_TAG_MASK 7u

enum ku_op {
	KU_OP_NONE = 0,
	KU_OP_HANDSHAKE,
	KU_OP_READ,
	KU_OP_WRITE,
	KU_OP_SENDFILE,
};

struct ku_pipe {
	int rfd, wfd;
	size_t size;
	struct ku_pipe *next;
};

/* One per connection, idle ones included: no padding, no buffers. */
struct kssl_lconn {
	kssl_loop *loop;
	kssl_lconn *prev, *next; /* loop->conns */
	kssl_conn *tls;
	void *data;
	kssl_lconn *ready_next;  /* in loop->ready (flag: ready, below) */
	int fd;
	int inflight;       /* SQEs of ours the kernel has not completed */
	int epoll_added;

	enum ku_op op;
	kssl_lconn_cb cb;
	void *cb_arg;
	void *buf;          /* read/write */
	size_t len;
	size_t done;        /* bytes moved by the current write/sendfile */

	/* sendfile */
	int file_fd;
	int owned_file;    /* closed on release (kssl_lconn_close_file) */
	off_t off;          /* next file offset to read */
	size_t count;
	const char *path;
	struct ku_pipe *pipe;
	size_t in_pipe;     /* bytes spliced into the pipe, not yet sent */
	size_t want_in, want_out; /* lengths of the SQEs in flight */
	int res_in, res_out;      /* results of the last chain */
	int chain_pending;        /* SQEs of the chain still in flight */
	int inj_in, inj_out;      /* injected results (NOP SQEs) */

	unsigned closing : 1;
	unsigned ready : 1;       /* in loop->ready */

	/* Message of the last failed operation (heap, or ku_err_nomem), NULL
	 * while none: no buffer in every idle connection (issue 9). */
	char *err;
};

struct kssl_loop {
	unsigned flags;
	int use_uring;
	struct io_uring ring;
	int epfd;
	char reason[160];
	size_t pipe_size;
	size_t splice_min; /* kssl_loop_config.splice_min */
	unsigned pool_max, pool_len;
	struct ku_pipe *pool;
	kssl_lconn *conns;
	size_t nconns;
	kssl_lconn *dying; /* closed, waiting for in-flight SQEs */
	kssl_lconn *ready, *ready_tail; /* operations to step */

	int listen_fd;
	kssl_accept_cb accept_cb;
	void *accept_arg;
	int listen_armed, listen_inflight, listen_added;
	int listen_failed; /* a re-arm failed: kssl_loop_run reports it */
	uint64_t listen_token; /* address used as the listener's tag object */
	int accepting_fd; /* the fd being handed to accept_cb, else -1 */
	struct sockaddr_storage accept_addr; /* its peer (kssl_loop_accept_addr) */
	socklen_t accept_addr_len;
};

/* loop.c */
struct io_uring_sqe *ku_get_sqe(kssl_loop *loop, unsigned need);
KSSL_MUST_USE int ku_arm(kssl_lconn *lc, unsigned events);
void ku_complete(kssl_lconn *lc, ssize_t result);
int ku_fail(kssl_lconn *lc, int code, int err, const char *what);
/* Complete with a kssl call's failure code; its error state stays. */
int ku_fail_kssl(kssl_lconn *lc, int code);
/* Forget the message of the last failure (ku_start, ku_release). */
void ku_clear_error(kssl_lconn *lc);
void ku_release(kssl_lconn *lc);
KSSL_MUST_USE int ku_start(kssl_lconn *lc, enum ku_op op, kssl_lconn_cb cb, void *arg);
void ku_event(kssl_loop *loop, uint64_t data, int res);

/* pipes.c */
struct ku_pipe *ku_pipe_get(kssl_loop *loop);
void ku_pipe_put(kssl_loop *loop, struct ku_pipe *p, int clean);
void ku_pipe_pool_free(kssl_loop *loop);
size_t ku_pipe_max_size(void);

/* ops.c: readiness-driven steps (handshake, read, write, TLS sendfile) */
void ku_step(kssl_lconn *lc);

/* splice.c */
void ku_splice_start(kssl_lconn *lc);
void ku_splice_cqe(kssl_lconn *lc, enum ku_tag tag, int res);
void ku_splice_ready(kssl_lconn *lc);

/* epoll.c */
KSSL_MUST_USE int ku_epoll_arm(kssl_loop *loop, int fd, int *added, void *ptr,
		 unsigned events);
int ku_epoll_run(kssl_loop *loop, int timeout_ms);

#endif /* KSSL_URING_INTERNAL_H */
