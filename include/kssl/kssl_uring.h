/*
 * kssl_uring — an event loop for servers that send files over kssl
 * connections.
 *
 * One kssl_loop drives many connections from one thread. Every wait is a
 * readiness poll (io_uring IORING_OP_POLL_ADD, or epoll when io_uring is
 * unavailable); file ranges go out as follows:
 *   - TX in the kernel (kssl_conn_offload(c, KSSL_DIR_TX) == KERNEL) or a
 *     plain TCP socket: IORING_OP_SPLICE file -> pipe, linked
 *     (IOSQE_IO_LINK) to pipe -> socket, pipes from a pool sized with
 *     F_SETPIPE_SZ; without io_uring (or with KSSL_LOOP_NO_SPLICE):
 *     sendfile(2) / kssl_sendfile;
 *   - TX in OpenSSL: kssl_sendfile (read + SSL_write) from the same loop.
 *
 * Error convention: as kssl.h. Calls return 0 or a negative KSSL_E_* code;
 * completion callbacks receive a byte count (>= 0) or a negative KSSL_E_*
 * code, and kssl_lconn_error() names the cause.
 *
 * Threads: a loop and its connections belong to the thread that calls
 * kssl_loop_run. Use one loop per thread (or per worker process).
 */
#ifndef KSSL_URING_H
#define KSSL_URING_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "kssl/kssl.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kssl_loop kssl_loop;
typedef struct kssl_lconn kssl_lconn;

enum kssl_loop_flags {
	KSSL_LOOP_FORCE_EPOLL = 1 << 0, /* never use io_uring */
	KSSL_LOOP_NO_SPLICE = 1 << 1,   /* kernel TX: sendfile(2), not splice */
	KSSL_LOOP_QUIET = 1 << 2,       /* deprecated, no effect: the loop is
					   silent unless KSSL_LOOP_VERBOSE */
	KSSL_LOOP_VERBOSE = 1 << 3,     /* print the io_uring fallback notice
					   once per process on stderr */
};

/* Settings for kssl_loop_new; zero fields take the defaults. */
struct kssl_loop_config {
	unsigned flags;         /* enum kssl_loop_flags */
	unsigned ring_entries;  /* io_uring SQ size (default 256) */
	size_t pipe_size;       /* F_SETPIPE_SZ for splice pipes (default 1 MiB,
				   capped at /proc/sys/fs/pipe-max-size) */
	unsigned pipe_pool_max; /* idle pipes kept for reuse (default 64) */
	/* Kernel-TX sends shorter than this go by sendfile(2), not a splice
	 * chain: one call instead of two io_uring operations, each run by an
	 * io-wq worker thread (default 0: every send is spliced). */
	size_t splice_min;
};

/*
 * kssl_loop_new creates a loop. If io_uring cannot be set up
 * (io_uring_queue_init fails: -EPERM under seccomp or io_uring_disabled,
 * -ENOSYS on old kernels) the loop uses epoll + sendfile(2);
 * kssl_loop_fallback_reason says why. Nothing is printed unless
 * KSSL_LOOP_VERBOSE is set. cfg may be NULL. Returns NULL on failure (out
 * of memory, epoll_create failed) with kssl_last_error() set.
 */
KSSL_API KSSL_MUST_USE kssl_loop *kssl_loop_new(const struct kssl_loop_config *cfg);

/*
 * kssl_loop_free closes every connection still attached (callbacks are not
 * called), waits for the kernel to finish with them and frees the loop.
 */
KSSL_API void kssl_loop_free(kssl_loop *loop);

/* "io_uring" or "epoll" (static string). */
KSSL_API const char *kssl_loop_backend(const kssl_loop *loop);

/* Why io_uring is not used (static/loop-owned string), or NULL if it is. */
KSSL_API const char *kssl_loop_fallback_reason(const kssl_loop *loop);

/* 1 if kernel-TX file sends use io_uring splice chains, 0 if sendfile(2). */
KSSL_API int kssl_loop_uses_splice(const kssl_loop *loop);

/*
 * kssl_loop_run waits up to timeout_ms (-1: no limit, 0: do not block) for
 * completions and runs their callbacks. Returns the number of completions
 * handled (0 on timeout) or a negative KSSL_E_SYSCALL.
 */
KSSL_API KSSL_MUST_USE int kssl_loop_run(kssl_loop *loop, int timeout_ms);

/* Number of connections attached to the loop (including closing ones). */
KSSL_API size_t kssl_loop_conn_count(const kssl_loop *loop);

/* ---- listening sockets -------------------------------------------------- */

/*
 * Called with each accepted socket (non-blocking, close-on-exec); the callee
 * owns new_fd. When accept(2) fails for lack of resources (EMFILE, ENFILE,
 * ENOBUFS, ENOMEM), cb gets new_fd = -errno instead and the listener is
 * paused (re-arming at once would spin on the still-pending connection):
 * call kssl_loop_listen again once resources are free (a connection closed,
 * or after a back-off).
 */
typedef void (*kssl_accept_cb)(kssl_loop *loop, int new_fd, void *arg);

/*
 * kssl_loop_listen watches a listening socket (made non-blocking here) and
 * calls cb for every connection accepted. The loop does not own listen_fd.
 * Only one listener per loop.
 */
KSSL_API KSSL_MUST_USE int kssl_loop_listen(kssl_loop *loop, int listen_fd, kssl_accept_cb cb,
		     void *arg);

/*
 * kssl_loop_accept_addr, called inside the kssl_accept_cb: the peer address
 * accept(2) returned with new_fd, so that the callee needs no getpeername.
 * Sets *len (may be NULL) and returns it; NULL outside the callback.
 */
KSSL_API const struct sockaddr *kssl_loop_accept_addr(const kssl_loop *loop, socklen_t *len);

/* kssl_loop_unlisten stops accepting (e.g. on SIGTERM); the fd stays open. */
KSSL_API void kssl_loop_unlisten(kssl_loop *loop);

/* ---- connections --------------------------------------------------------- */

/*
 * kssl_lconn_new attaches a connected socket to the loop. tls may be NULL
 * for a plain TCP connection (tests, benchmarks); otherwise it is a
 * kssl_conn made on fd. The lconn takes ownership of both: kssl_lconn_close
 * frees tls and closes fd. fd is made non-blocking. Returns NULL on failure.
 */
KSSL_API KSSL_MUST_USE kssl_lconn *kssl_lconn_new(kssl_loop *loop, int fd, kssl_conn *tls);

/*
 * kssl_lconn_close ends the connection: no callback for it runs afterwards.
 * Operations in the kernel are stopped (shutdown(2) of the socket) and the
 * memory is released once their completions arrive.
 */
KSSL_API void kssl_lconn_close(kssl_lconn *lc);

/*
 * kssl_lconn_close_file is kssl_lconn_close that also closes file_fd (the
 * file of a sendfile in progress; -1 for none) once the kernel has finished
 * every operation of lc: an io_uring splice still queued may look the fd
 * number up later, so it must not be closed (and reused) before.
 */
void kssl_lconn_close_file(kssl_lconn *lc, int file_fd);

/* The kssl_conn (NULL for plain connections) and the socket. */
KSSL_API KSSL_MUST_USE kssl_conn *kssl_lconn_tls(const kssl_lconn *lc);
KSSL_API int kssl_lconn_fd(const kssl_lconn *lc);

/* Opaque data for the caller. */
KSSL_API void kssl_lconn_set_data(kssl_lconn *lc, void *data);
KSSL_API void *kssl_lconn_get_data(const kssl_lconn *lc);

/* Message of the last failed operation on lc ("" if none); lc-owned,
 * valid until the next operation on lc starts or lc is released. */
KSSL_API const char *kssl_lconn_error(const kssl_lconn *lc);

/*
 * Completion callback. result: handshake 0; read the byte count (> 0) or 0
 * at end of stream (close_notify or TCP FIN); write and sendfile the number
 * of bytes sent (all of them on success). Negative: a KSSL_E_* code (then
 * kssl_lconn_error names the cause; for sendfile, *bytes sent so far are in
 * kssl_lconn_sent). The callback may start the next operation or close lc.
 */
typedef void (*kssl_lconn_cb)(kssl_lconn *lc, ssize_t result, void *arg);

/*
 * One operation at a time per connection: starting a second one before the
 * first completed returns KSSL_E_INVAL. Each returns 0 when the operation
 * was started (its callback will run from kssl_loop_run, never from inside
 * this call) or a negative code.
 */

/* Run the TLS handshake (non-blocking); plain connections complete at once. */
KSSL_API KSSL_MUST_USE int kssl_lconn_handshake(kssl_lconn *lc, kssl_lconn_cb cb, void *arg);

/* Read up to len bytes (at least one, or end of stream). */
KSSL_API KSSL_MUST_USE int kssl_lconn_read(kssl_lconn *lc, void *buf, size_t len, kssl_lconn_cb cb,
		    void *arg);

/* Write all len bytes of buf; buf must stay valid until the callback. */
KSSL_API KSSL_MUST_USE int kssl_lconn_write(kssl_lconn *lc, const void *buf, size_t len,
		     kssl_lconn_cb cb, void *arg);

/*
 * Send count bytes of file_fd from offset (file position unused). The
 * caller keeps file_fd open until the callback. KSSL_E_SHORT_FILE if the
 * file ends first.
 */
KSSL_API KSSL_MUST_USE int kssl_lconn_sendfile(kssl_lconn *lc, int file_fd, off_t offset,
			size_t count, kssl_lconn_cb cb, void *arg);

/* Bytes sent so far by the current or last sendfile/write. */
KSSL_API size_t kssl_lconn_sent(const kssl_lconn *lc);

/* How the last sendfile went out: "splice", "sendfile", "tls-user". */
KSSL_API const char *kssl_lconn_send_path(const kssl_lconn *lc);

#ifdef __cplusplus
}
#endif

#endif /* KSSL_URING_H */
