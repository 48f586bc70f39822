/*
 * Reading and writing: each call goes to the kernel or to OpenSSL depending
 * on where that direction's records are.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "ktls/ktls.h"
#include "internal.h"
#include "ktls/sys.h"

static int check_usable(kssl_conn *conn)
{
	if (conn->core.failed)
		return ks_failed_earlier(&conn->core);
	if (!conn->core.handshake_done)
		return kssl_handshake(conn);
	return 0;
}

/* Best effort: tell the peer why we give up, through kernel TX. */
static void send_alert(kssl_conn *conn, int level, int desc)
{
	unsigned char a[2] = { (unsigned char)level, (unsigned char)desc };

	/* Best effort: the connection fails whether the peer hears it. */
	if (conn->tx.state == KSSL_STATE_KERNEL && !conn->core.tx_closed)
		(void)!ktls_send_record(conn->core.fd, KTLS_CT_ALERT, a, 2);
}

/* Fail with code/reason after sending fatal alert desc; detail = desc. */
static int fail_alert(kssl_conn *conn, int code, int reason, int desc,
		      const char *msg)
{
	send_alert(conn, KTLS_AL_FATAL, desc);
	return ks_fail(&conn->core, ks_why(ks_err(code, "%s", msg), reason, desc));
}

/*
 * A post-handshake message, decided from its 4-byte header alone: the body
 * is either skipped (a ticket OpenSSL cannot take any more) or the
 * connection ends, so nothing but the header is ever buffered.
 * Returns 0 to skip the body, or an error.
 */
static int handle_hs_header(kssl_conn *conn, uint8_t type, size_t body_len)
{
	int tls13 = conn->core.info.version == TLS1_3_VERSION;

	switch (type) {
	case KTLS_HS_NEW_SESSION_TICKET:
		if (conn->core.ctx->role == KSSL_CLIENT && tls13)
			return 0; /* OpenSSL cannot take it now; see design.md */
		break;
	case KTLS_HS_KEY_UPDATE:
		if (!tls13)
			break;
		/*
		 * Linux re-keys kTLS only from 6.14, and kssl does not keep
		 * traffic secrets after install. Going on would decrypt with
		 * the old key: stop here, loudly.
		 */
		return fail_alert(conn, KSSL_E_REKEY, KSSL_R_KEY_UPDATE, KTLS_AD_UNEXPECTED_MESSAGE,
			"peer sent a TLS 1.3 KeyUpdate; re-keying kernel TLS is not supported (needs Linux 6.14 and is not implemented in kssl): connection closed");
	case KTLS_HS_HELLO_REQUEST:
		/* TLS 1.2 servers may ask; we never renegotiate (RFC 5746 allows a warning). */
		if (conn->core.ctx->role == KSSL_CLIENT && !tls13 && body_len == 0) {
			send_alert(conn, KTLS_AL_WARNING, KTLS_AD_NO_RENEGOTIATION);
			return 0;
		}
		break;
	}
	return fail_alert(conn, KSSL_E_TLS, KSSL_R_UNEXPECTED_MESSAGE, KTLS_AD_UNEXPECTED_MESSAGE,
			  type == KTLS_HS_CERTIFICATE_REQUEST ?
			  "unexpected post-handshake CertificateRequest (post-handshake auth is not supported)" :
			  "unexpected post-handshake message");
}

/*
 * The kernel returns control records like data, possibly split over
 * several reads when the caller's buffer is small. Alerts (2 bytes) and
 * handshake message headers (4 bytes) are reassembled here by their own
 * framing, so record boundaries do not matter.
 * Returns 0 to go on reading, 1 on close_notify, or an error.
 */
static int handle_control(kssl_conn *conn, uint8_t type,
			  const unsigned char *p, size_t n)
{
	if (type == KTLS_CT_ALERT) {
		while (n--) {
			conn->alert[conn->alert_len++] = *p++;
			if (conn->alert_len < 2)
				continue;
			conn->alert_len = 0;
			if (conn->alert[1] == KTLS_AD_CLOSE_NOTIFY) {
				conn->core.rx_closed = 1;
				return 1;
			}
			/*
			 * user_canceled precedes a close_notify. TLS 1.2 also
			 * allows other warnings (e.g. no_renegotiation); OpenSSL
			 * ignores them in userspace, so the kernel path does too.
			 * TLS 1.3 makes every other alert fatal (RFC 8446, 6.2).
			 */
			if (conn->alert[0] == KTLS_AL_WARNING &&
			    (conn->alert[1] == KTLS_AD_USER_CANCELED ||
			     conn->core.info.version == TLS1_2_VERSION)) {
				/*
				 * As OpenSSL 3.0 (rec_layer_s3.c,
				 * MAX_WARN_ALERT_COUNT): the fifth warning
				 * alert in a row, with no data between,
				 * ends the connection.
				 */
				if (++conn->warn_alerts < KS_MAX_WARN_ALERTS)
					continue;
				return fail_alert(conn, KSSL_E_TLS,
					KSSL_R_UNEXPECTED_MESSAGE,
					KTLS_AD_UNEXPECTED_MESSAGE,
					"too many warning alerts in a row");
			}
			return ks_fail(&conn->core, ks_why(ks_err(KSSL_E_ALERT,
				"peer sent fatal alert %s (%d)",
				ks_alert_name(conn->alert[1]), conn->alert[1]),
				KSSL_R_PEER_ALERT, conn->alert[1]));
		}
		return 0;
	}
	if (type != KTLS_CT_HANDSHAKE)
		return fail_alert(conn, KSSL_E_TLS, KSSL_R_UNEXPECTED_MESSAGE, KTLS_AD_UNEXPECTED_MESSAGE,
				  "unexpected TLS record type after the handshake");
	while (n) {
		size_t body;
		int r;

		if (conn->hs_skip) {
			size_t k = n < conn->hs_skip ? n : conn->hs_skip;

			conn->hs_skip -= k;
			p += k;
			n -= k;
			continue;
		}
		conn->hs_head[conn->hs_head_len++] = *p++;
		n--;
		if (conn->hs_head_len < sizeof(conn->hs_head))
			continue;
		conn->hs_head_len = 0;
		body = (size_t)conn->hs_head[1] << 16 |
		       (size_t)conn->hs_head[2] << 8 | conn->hs_head[3];
		r = handle_hs_header(conn, conn->hs_head[0], body);
		if (r < 0)
			return r;
		conn->hs_skip = body;
	}
	return 0;
}

static ssize_t kernel_read_error(kssl_conn *conn, int err)
{
	switch (err) {
	case EAGAIN:
		return KSSL_E_WANT_READ;
	case EBADMSG:
		/* The record did not authenticate: wrong key, wrong sequence
		 * number, or tampering. Never hand out such bytes. */
		return fail_alert(conn, KSSL_E_TLS, KSSL_R_KERNEL_RECORD, KTLS_AD_BAD_RECORD_MAC,
			"kernel TLS: record authentication failed (bad_record_mac)");
	case EMSGSIZE:
		return fail_alert(conn, KSSL_E_TLS, KSSL_R_KERNEL_RECORD, KTLS_AD_RECORD_OVERFLOW,
			"kernel TLS: record too large (record_overflow)");
	case EINVAL:
		return fail_alert(conn, KSSL_E_TLS, KSSL_R_KERNEL_RECORD, KTLS_AD_DECODE_ERROR,
			"kernel TLS: malformed record (bad header or version)");
	case EPIPE:
		/*
		 * The peer's RST after its FIN (TCP's CLOSE_WAIT): the kernel's
		 * TLS receive reports the reset before the end of the stream,
		 * where a plain read (OpenSSL's, in userspace) returns the FIN.
		 * Report the FIN, as kssl_read does in userspace.
		 */
		conn->rx_eof = 1;
		return ks_eof("kernel TLS receive");
	case ECONNRESET:
		return ks_fail(&conn->core, ks_err_errno(KSSL_E_SYSCALL, err,
					"peer reset the connection"));
	}
	return ks_fail(&conn->core, ks_err_errno(KSSL_E_SYSCALL, err, "kernel TLS receive"));
}

static ssize_t kernel_read(kssl_conn *conn, void *buf, size_t len)
{
	for (;;) {
		uint8_t type;
		ssize_t n = ktls_recv(conn->core.fd, buf, len, 0, &type);
		int r;

		if (n == -EINTR)
			return ks_err_errno(KSSL_E_INTR, EINTR, "kernel TLS receive");
		if (n < 0)
			return kernel_read_error(conn, (int)-n);
		if (n == 0) {
			conn->rx_eof = 1; /* not failed: see kssl_read */
			return ks_eof("kernel TLS receive");
		}
		if (type == KTLS_CT_APPLICATION_DATA) {
			conn->warn_alerts = 0;
			return n;
		}
		r = handle_control(conn, type, buf, (size_t)n);
		if (r < 0)
			return r;
		if (r == 1)
			return 0;
	}
}

ssize_t kssl_read(kssl_conn *conn, void *buf, size_t len)
{
	int r = check_usable(conn);
	int n;

	if (r < 0)
		return r;
	if (len == 0)
		return ks_err(KSSL_E_INVAL, "kssl_read: zero-length buffer");
	if (conn->core.rx_closed)
		return 0;
	if (conn->rx_eof)
		return ks_eof("TLS read");
	if (conn->rx.state == KSSL_STATE_KERNEL)
		return kernel_read(conn, buf, len);
	ERR_clear_error();
	errno = 0;
	n = SSL_read(conn->core.ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
	/*
	 * The peer's stream ended without close_notify (our BIO reports no
	 * BIO_eof, so OpenSSL leaves its state alone): the receive direction
	 * is over, the connection is not. A peer that only half-closed still
	 * reads what we write, as with the stdlib's OpenSSL, whose first
	 * write after a FIN goes out too.
	 */
	if (n == 0 && SSL_get_error(conn->core.ssl, n) == SSL_ERROR_SYSCALL &&
	    ERR_peek_error() == 0) {
		conn->rx_eof = 1;
		return ks_eof("TLS read");
	}
	if (n <= 0)
		n = ks_ssl_result(&conn->core, n, "TLS read");
	if (n <= 0)
		return n;
	/*
	 * Deferred RX (TLS 1.3 client keeping sessions): application data
	 * means the server's tickets, sent before it, are in OpenSSL now.
	 */
	if (conn->rx_deferred && !SSL_has_pending(conn->core.ssl))
		ks_offload_rx_now(conn);
	return n;
}

ssize_t kssl_write(kssl_conn *conn, const void *buf, size_t len)
{
	int r = check_usable(conn);
	ssize_t n;

	if (r < 0)
		return r;
	if (conn->core.tx_closed)
		return ks_core_tx_closed(&conn->core, "kssl_write");
	if (len == 0)
		return 0;
	if (conn->tx.state == KSSL_STATE_KERNEL) {
		n = ks_sys->send(conn->core.fd, buf, len, MSG_NOSIGNAL);
		if (n >= 0)
			return n;
		if (errno == EAGAIN)
			return KSSL_E_WANT_WRITE;
		if (errno == EINTR)
			return ks_err_errno(KSSL_E_INTR, EINTR, "kernel TLS send");
		return ks_fail(&conn->core, ks_err_errno(KSSL_E_SYSCALL, errno,
						  "kernel TLS send"));
	}
	return ks_core_write(&conn->core, buf, len, "TLS write");
}

/* Errors of the connection, as opposed to errors of the file being sent. */
static int is_socket_error(int e)
{
	return e == EPIPE || e == ECONNRESET || e == ENOTCONN ||
	       e == ETIMEDOUT || e == ECONNABORTED || e == EHOSTUNREACH ||
	       e == ENETUNREACH || e == ENETDOWN;
}

static int short_file(size_t sent, size_t count)
{
	return ks_err(KSSL_E_SHORT_FILE,
		      "file ended after %zu of %zu bytes (truncated while sending, or count past EOF)",
		      sent, count);
}

static int kernel_sendfile(kssl_conn *conn, int file_fd, off_t offset,
			   size_t count, size_t *sent)
{
	struct ks_sigpipe guard;
	off_t off = offset;
	int rc = 0;

	ks_sigpipe_block(&guard);
	while (*sent < count) {
		size_t chunk = count - *sent;
		ssize_t n;

		if (chunk > 0x7ffff000)
			chunk = 0x7ffff000; /* sendfile's own per-call limit */
		n = ks_sys->sendfile(conn->core.fd, file_fd, &off, chunk);
		if (n > 0) {
			*sent += (size_t)n;
			/*
			 * Linux kTLS (6.1, 6.12) returns a positive count even
			 * when the connection broke during the call: it raised
			 * SIGPIPE (blocked here) and cleared sk_err, and later
			 * calls "succeed" into the dead socket. The signal is
			 * the only trace left: it means EPIPE.
			 */
			if (ks_sigpipe_raised(&guard)) {
				rc = ks_fail(&conn->core, ks_err_errno(KSSL_E_SYSCALL, EPIPE,
						"sendfile to kernel TLS socket"));
				break;
			}
			continue;
		}
		if (n == 0) {
			rc = short_file(*sent, count);
			break;
		}
		if (errno == EINTR) {
			rc = ks_err_errno(KSSL_E_INTR, EINTR, "sendfile");
			break;
		}
		if (errno == EAGAIN) {
			rc = KSSL_E_WANT_WRITE;
			break;
		}
		/* The file's fault (EBADF, EINVAL, EIO, ...) leaves the connection usable. */
		rc = ks_err_errno(KSSL_E_SYSCALL, errno, "sendfile to kernel TLS socket");
		if (is_socket_error(errno))
			ks_fail(&conn->core, rc);
		break;
	}
	ks_sigpipe_restore(&guard);
	return rc;
}

#define KS_SF_RECORD 16384 /* one full TLS record per SSL_write */
/* Read from the file four records at a time: one pread per 64 KiB, not
 * one per record (a 1 GiB download made 65536 of them). */
#define KS_SF_CHUNK (4 * KS_SF_RECORD)

static int user_sendfile(kssl_conn *conn, int file_fd, off_t offset,
			 size_t count, size_t *sent)
{
	if (conn->sf_len && (conn->sf_fd != file_fd || conn->sf_off != offset))
		return ks_err(KSSL_E_INVAL,
			      "kssl_sendfile: after KSSL_E_WANT_WRITE, call again with the same file and offset + sent");
	if (!conn->sf_buf && !(conn->sf_buf = malloc(KS_SF_CHUNK)))
		return ks_err(KSSL_E_NOMEM, "kssl_sendfile: out of memory");
	while (*sent < count) {
		int w;

		if (!conn->sf_len) {
			size_t want = count - *sent;
			ssize_t n;

			if (want > KS_SF_CHUNK)
				want = KS_SF_CHUNK;
			n = ks_sys->pread(file_fd, conn->sf_buf, want,
					  offset + (off_t)*sent);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return ks_err_errno(KSSL_E_SYSCALL, errno,
						    "kssl_sendfile: reading the file");
			if (n == 0)
				return short_file(*sent, count);
			conn->sf_len = (size_t)n;
			conn->sf_pos = 0;
			conn->sf_fd = file_fd;
		}
		conn->sf_off = offset + (off_t)*sent;
		w = ks_core_write(&conn->core, conn->sf_buf + conn->sf_pos,
				  conn->sf_len < KS_SF_RECORD ? conn->sf_len : KS_SF_RECORD,
				  "TLS write (sendfile)");
		if (w < 0)
			return w;
		*sent += (size_t)w;
		conn->sf_pos += (unsigned)w;
		conn->sf_len -= (size_t)w;
	}
	/*
	 * Done: the chunk buffer goes, as OpenSSL's own record buffers do
	 * (SSL_MODE_RELEASE_BUFFERS), so an idle keep-alive connection holds
	 * no 64 KiB of it. It stays only while a WANT_WRITE retry needs it.
	 */
	free(conn->sf_buf);
	conn->sf_buf = NULL;
	return 0;
}

int kssl_sendfile(kssl_conn *conn, int file_fd, off_t offset, size_t count,
		  size_t *sent)
{
	size_t dummy;
	int r;

	if (!sent)
		sent = &dummy;
	*sent = 0;
	r = check_usable(conn);
	if (r < 0)
		return r;
	if (conn->core.tx_closed)
		return ks_core_tx_closed(&conn->core, "kssl_sendfile");
	if (offset < 0)
		return ks_err(KSSL_E_INVAL, "kssl_sendfile: negative offset");
	if (count == 0)
		return 0;
	if (conn->tx.state == KSSL_STATE_KERNEL)
		return kernel_sendfile(conn, file_fd, offset, count, sent);
	return user_sendfile(conn, file_fd, offset, count, sent);
}

int kssl_shutdown(kssl_conn *conn)
{
	static const unsigned char close_notify[2] = { KTLS_AL_WARNING, 0 };
	int r;

	/* TX in the kernel: close_notify is a kernel record; the rest (state,
	 * the peer's close_notify) is as for a session in OpenSSL. */
	if (conn->tx.state == KSSL_STATE_KERNEL && !conn->core.failed &&
	    !conn->core.tx_closed) {
		r = ktls_send_record(conn->core.fd, KTLS_CT_ALERT, close_notify, 2);
		if (r == -EAGAIN)
			return KSSL_E_WANT_WRITE;
		if (r == -EINTR)
			return ks_err_errno(KSSL_E_INTR, EINTR, "sending close_notify");
		if (r < 0)
			return ks_err_errno(KSSL_E_SYSCALL, -r, "sending close_notify");
		conn->core.tx_closed = 1;
	}
	return ks_core_shutdown(&conn->core, "TLS shutdown");
}

size_t kssl_pending(const kssl_conn *conn)
{
	if (conn->rx.state == KSSL_STATE_KERNEL)
		return 0;
	return ks_core_pending(&conn->core);
}

int kssl_conn_rx_buffered(const kssl_conn *conn)
{
	if (!conn->core.ssl || conn->rx.state == KSSL_STATE_KERNEL)
		return 0;
	return SSL_pending(conn->core.ssl) > 0 || SSL_has_pending(conn->core.ssl);
}
