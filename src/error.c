/* Error codes and the per-thread last-error message. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "internal.h"

static _Thread_local char last_msg[512];
static _Thread_local int last_errno;

const char *kssl_last_error(void)
{
	return last_msg;
}

int kssl_last_errno(void)
{
	return last_errno;
}

const char *kssl_error_name(int code)
{
	switch (code) {
	case KSSL_OK: return "KSSL_OK";
	case KSSL_E_WANT_READ: return "KSSL_E_WANT_READ";
	case KSSL_E_WANT_WRITE: return "KSSL_E_WANT_WRITE";
	case KSSL_E_SYSCALL: return "KSSL_E_SYSCALL";
	case KSSL_E_TLS: return "KSSL_E_TLS";
	case KSSL_E_CERT: return "KSSL_E_CERT";
	case KSSL_E_ALERT: return "KSSL_E_ALERT";
	case KSSL_E_EOF: return "KSSL_E_EOF";
	case KSSL_E_INVAL: return "KSSL_E_INVAL";
	case KSSL_E_NOMEM: return "KSSL_E_NOMEM";
	case KSSL_E_FILE: return "KSSL_E_FILE";
	case KSSL_E_SHORT_FILE: return "KSSL_E_SHORT_FILE";
	case KSSL_E_REKEY: return "KSSL_E_REKEY";
	case KSSL_E_CLOSED: return "KSSL_E_CLOSED";
	case KSSL_E_INTR: return "KSSL_E_INTR";
	}
	return "KSSL_E_UNKNOWN";
}

static void vset(const char *fmt, va_list ap)
{
	last_errno = 0;
	vsnprintf(last_msg, sizeof(last_msg), fmt, ap);
}

static void append(const char *s)
{
	size_t n = strlen(last_msg);

	snprintf(last_msg + n, sizeof(last_msg) - n, ": %s", s);
}

int ks_err(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(fmt, ap);
	va_end(ap);
	return code;
}

int ks_err_errno(int code, int errno_val, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(fmt, ap);
	va_end(ap);
	append(strerror(errno_val));
	last_errno = errno_val;
	return code;
}

/*
 * The queued error that names the cause. OpenSSL queues errors innermost
 * first; usually that is the SSL library's own ("certificate verify
 * failed", "wrong version number"), but a failing provider call queues its
 * error before the SSL one: a TLS 1.2 AES-GCM record that does not
 * authenticate gives "cipher operation failed" (provider), then "decryption
 * failed or bad record mac" (SSL). Prefer the last SSL-library error.
 */
static unsigned long cause(void)
{
	unsigned long last = ERR_peek_last_error();

	return ERR_GET_LIB(last) == ERR_LIB_SSL ? last : ERR_peek_error();
}

int ks_err_ssl(int code, const char *fmt, ...)
{
	va_list ap;
	unsigned long e = cause();
	char buf[256];

	va_start(ap, fmt);
	vset(fmt, ap);
	va_end(ap);
	if (e) {
		const char *reason = ERR_reason_error_string(e);

		if (reason) {
			append(reason);
		} else {
			ERR_error_string_n(e, buf, sizeof(buf));
			append(buf);
		}
	}
	ERR_clear_error();
	return code;
}

static const char ks_fail_oom[] = "connection failed (out of memory for its message)";

int ks_fail(kssl_conn *conn, int code)
{
	if (!conn->failed) {
		conn->failed = code;
		/*
		 * On the heap, not in the connection: every connection would
		 * otherwise carry 512 bytes that only a failed one uses.
		 */
		conn->failed_msg = strdup(last_msg);
		if (!conn->failed_msg)
			conn->failed_msg = (char *)ks_fail_oom;
	}
	return code;
}

void ks_fail_free(kssl_conn *conn)
{
	if (conn->failed_msg != ks_fail_oom)
		free(conn->failed_msg);
	conn->failed_msg = NULL;
}

const char *ks_alert_name(int desc)
{
	/* SSL_alert_desc_string_long gives "bad record mac"; TLS names it so. */
	switch (desc) {
	case 0: return "close_notify";
	case 10: return "unexpected_message";
	case 20: return "bad_record_mac";
	case 22: return "record_overflow";
	case 40: return "handshake_failure";
	case 42: return "bad_certificate";
	case 43: return "unsupported_certificate";
	case 44: return "certificate_revoked";
	case 45: return "certificate_expired";
	case 46: return "certificate_unknown";
	case 47: return "illegal_parameter";
	case 48: return "unknown_ca";
	case 49: return "access_denied";
	case 50: return "decode_error";
	case 51: return "decrypt_error";
	case 70: return "protocol_version";
	case 71: return "insufficient_security";
	case 80: return "internal_error";
	case 86: return "inappropriate_fallback";
	case 90: return "user_canceled";
	case 100: return "no_renegotiation";
	case 109: return "missing_extension";
	case 110: return "unsupported_extension";
	case 112: return "unrecognized_name";
	case 116: return "certificate_required";
	case 120: return "no_application_protocol";
	}
	return "unknown_alert";
}

/*
 * Turn a failed SSL_do_handshake/SSL_read/SSL_write/SSL_shutdown into a
 * KSSL_E_* code with a message naming the cause. WANT_* do not fail the
 * connection; everything else does.
 */
int ks_ssl_result(kssl_conn *conn, int ret, const char *what)
{
	int saved_errno = errno;
	int err = SSL_get_error(conn->ssl, ret);
	unsigned long e;
	int reason;

	switch (err) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		ERR_clear_error();
		/* The BIO retries EINTR like EAGAIN; the caller must hear it. */
		if (conn->bio_eintr)
			return ks_err_errno(KSSL_E_INTR, EINTR, "%s", what);
		return err == SSL_ERROR_WANT_READ ? KSSL_E_WANT_READ
						  : KSSL_E_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		ERR_clear_error();
		conn->rx_closed = 1;
		return 0;
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() == 0) {
			if (saved_errno == 0 || ret == 0)
				return ks_fail(conn, ks_err(KSSL_E_EOF,
					"%s: peer closed the connection without close_notify",
					what));
			return ks_fail(conn, ks_err_errno(KSSL_E_SYSCALL,
							  saved_errno, "%s", what));
		}
		break;
	default:
		break;
	}

	e = cause();
	reason = ERR_GET_REASON(e);
	if (ERR_GET_LIB(e) == ERR_LIB_SSL &&
	    reason >= SSL_AD_REASON_OFFSET &&
	    reason < SSL_AD_REASON_OFFSET + 256) {
		int desc = reason - SSL_AD_REASON_OFFSET;

		ERR_clear_error();
		return ks_fail(conn, ks_err(KSSL_E_ALERT,
			"%s: peer sent fatal alert %s (%d)", what,
			ks_alert_name(desc), desc));
	}
	if (ERR_GET_LIB(e) == ERR_LIB_SSL &&
	    reason == SSL_R_CERTIFICATE_VERIFY_FAILED) {
		long v = SSL_get_verify_result(conn->ssl);

		ERR_clear_error();
		return ks_fail(conn, ks_err(KSSL_E_CERT,
			"%s: certificate verify failed: %s (X509 error %ld)",
			what, X509_verify_cert_error_string(v), v));
	}
	if (ERR_GET_LIB(e) == ERR_LIB_SSL &&
	    reason == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
		ERR_clear_error();
		return ks_fail(conn, ks_err(KSSL_E_EOF,
			"%s: peer closed the connection without close_notify",
			what));
	}
	return ks_fail(conn, ks_err_ssl(KSSL_E_TLS, "%s", what));
}

/*
 * A failed SSL_write once the peer's close_notify arrived reports
 * ZERO_RETURN, which ks_ssl_result maps to 0 (right for reads). A write
 * must never look like "0 bytes written": callers loop on short writes.
 */
int ks_ssl_write_result(kssl_conn *conn, int ret, const char *what)
{
	int r = ks_ssl_result(conn, ret, what);

	if (r == 0)
		r = ks_err(KSSL_E_CLOSED,
			   "%s: the peer sent close_notify; OpenSSL writes no more data after it",
			   what);
	return r;
}
