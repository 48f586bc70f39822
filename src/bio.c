/*
 * The transport BIO OpenSSL reads and writes through. kssl owns it for two
 * reasons:
 *  - every socket call goes through ks_sys, so tests inject failures;
 *  - once TX is in the kernel, anything OpenSSL still wants to write (an
 *    alert or KeyUpdate reply while RX is in userspace) would be a record
 *    under a key and sequence number the peer no longer expects. Such
 *    writes are swallowed here; alerts are re-sent through the kernel by
 *    the message callback (src/handshake.c).
 */
#include <errno.h>
#include <string.h>

#include <openssl/bio.h>

#include "internal.h"
#include "ktls/sys.h"

static BIO_METHOD *ks_bio_method;
static pthread_once_t ks_bio_once = PTHREAD_ONCE_INIT;

/*
 * EINTR is a retry for OpenSSL (its record state stays consistent) and is
 * reported to the caller as KSSL_E_INTR by ks_ssl_result, so that a signal
 * handler's work (Python's KeyboardInterrupt) is not delayed.
 */
static int is_retry(int e)
{
	return e == EAGAIN || e == EWOULDBLOCK || e == EINTR;
}

static int ks_bio_write(BIO *b, const char *buf, int len)
{
	kssl_conn *conn = BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	if (conn->tx.state == KSSL_STATE_KERNEL)
		return len;
	n = ks_sys->send(conn->fd, buf, (size_t)len, MSG_NOSIGNAL);
	conn->bio_eintr = n < 0 && errno == EINTR;
	if (n < 0 && is_retry(errno))
		BIO_set_retry_write(b);
	return (int)n;
}

static int ks_bio_read(BIO *b, char *buf, int len)
{
	kssl_conn *conn = BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	n = ks_sys->recv(conn->fd, buf, (size_t)len, 0);
	conn->bio_eintr = n < 0 && errno == EINTR;
	if (n < 0 && is_retry(errno))
		BIO_set_retry_read(b);
	if (n == 0)
		errno = 0; /* EOF: lets ks_ssl_result tell it from a syscall error */
	return (int)n;
}

static int ks_bio_puts(BIO *b, const char *s)
{
	return ks_bio_write(b, s, (int)strlen(s));
}

static long ks_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b;
	(void)num;
	(void)ptr;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
	case BIO_CTRL_PUSH:
	case BIO_CTRL_POP:
		return 1;
	default:
		return 0;
	}
}

static int ks_bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static void ks_bio_init_method(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
				     "kssl socket");

	if (!m)
		return;
	BIO_meth_set_write(m, ks_bio_write);
	BIO_meth_set_read(m, ks_bio_read);
	BIO_meth_set_puts(m, ks_bio_puts);
	BIO_meth_set_ctrl(m, ks_bio_ctrl);
	BIO_meth_set_create(m, ks_bio_create);
	ks_bio_method = m;
}

BIO *ks_bio_new(kssl_conn *conn)
{
	BIO *b;

	pthread_once(&ks_bio_once, ks_bio_init_method);
	if (!ks_bio_method)
		return NULL;
	b = BIO_new(ks_bio_method);
	if (b)
		BIO_set_data(b, conn);
	return b;
}
