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
static _Thread_local int last_code;
static _Thread_local int last_reason;
static _Thread_local long last_detail;
static _Thread_local unsigned long last_ssl_error;

/*
 * KSSL_TEST_REWORD=1 (tests only): every message gets a prefix, so that a
 * test can prove no caller decides anything from message text.
 */
static const char *reword_prefix(void)
{
	static int state; /* 0 unknown, 1 off, 2 on; benign race: same value */

	if (!state) {
		const char *v = getenv("KSSL_TEST_REWORD");

		state = v && *v && strcmp(v, "0") != 0 ? 2 : 1;
	}
	return state == 2 ? "[reworded] " : "";
}

const char *kssl_last_error(void)
{
	return last_msg;
}

int kssl_last_errno(void)
{
	return last_errno;
}

int kssl_last_reason(void)
{
	return last_reason;
}

long kssl_last_detail(void)
{
	return last_detail;
}

unsigned long kssl_last_openssl_error(void)
{
	return last_ssl_error;
}

void kssl_last_error_info(struct kssl_error_info *out)
{
	out->code = last_code;
	out->reason = last_reason;
	out->detail = last_detail;
	out->sys_errno = last_errno;
	out->openssl_error = last_ssl_error;
	snprintf(out->message, sizeof(out->message), "%s", last_msg);
}

const char *kssl_reason_name(int reason)
{
	switch (reason) {
	case KSSL_R_NONE: return "KSSL_R_NONE";
	case KSSL_R_ERRNO: return "KSSL_R_ERRNO";
	case KSSL_R_OPENSSL: return "KSSL_R_OPENSSL";
	case KSSL_R_BAD_CERT_DATA: return "KSSL_R_BAD_CERT_DATA";
	case KSSL_R_BAD_KEY_DATA: return "KSSL_R_BAD_KEY_DATA";
	case KSSL_R_KEY_MISMATCH: return "KSSL_R_KEY_MISMATCH";
	case KSSL_R_BAD_CA_DATA: return "KSSL_R_BAD_CA_DATA";
	case KSSL_R_PEER_ALERT: return "KSSL_R_PEER_ALERT";
	case KSSL_R_VERIFY_FAILED: return "KSSL_R_VERIFY_FAILED";
	case KSSL_R_UNEXPECTED_EOF: return "KSSL_R_UNEXPECTED_EOF";
	case KSSL_R_KERNEL_RECORD: return "KSSL_R_KERNEL_RECORD";
	case KSSL_R_KEY_UPDATE: return "KSSL_R_KEY_UPDATE";
	case KSSL_R_UNEXPECTED_MESSAGE: return "KSSL_R_UNEXPECTED_MESSAGE";
	case KSSL_R_FAILED_EARLIER: return "KSSL_R_FAILED_EARLIER";
	case KSSL_R_SHUT_DOWN: return "KSSL_R_SHUT_DOWN";
	case KSSL_R_PEER_CLOSED: return "KSSL_R_PEER_CLOSED";
	case KSSL_R_BAD_ARGUMENT: return "KSSL_R_BAD_ARGUMENT";
	case KSSL_R_WRONG_STATE: return "KSSL_R_WRONG_STATE";
	case KSSL_R_INTERRUPTED: return "KSSL_R_INTERRUPTED";
	}
	return "KSSL_R_UNKNOWN";
}

int ks_why(int code, int reason, long detail)
{
	last_code = code;
	last_reason = reason;
	last_detail = detail;
	return code;
}

int ks_why_openssl(int code, unsigned long e)
{
	ks_why(code, KSSL_R_OPENSSL, 0);
	last_ssl_error = e;
	return code;
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

static void vset(int code, const char *fmt, va_list ap)
{
	const char *pre = reword_prefix();
	size_t n = strlen(pre);

	last_errno = 0;
	last_ssl_error = 0;
	(void)ks_why(code, code == KSSL_E_INTR ? KSSL_R_INTERRUPTED :
		     code == KSSL_E_INVAL ? KSSL_R_BAD_ARGUMENT : KSSL_R_NONE, 0);
	memcpy(last_msg, pre, n + 1);
	vsnprintf(last_msg + n, sizeof(last_msg) - n, fmt, ap);
}

static void append(const char *s)
{
	size_t n = strlen(last_msg);

	snprintf(last_msg + n, sizeof(last_msg) - n, ": %s", s);
}

int kssl_set_error(int code, int reason, long detail, int sys_errno,
		   const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(code, fmt, ap);
	va_end(ap);
	if (sys_errno) {
		append(strerror(sys_errno));
		last_errno = sys_errno;
	}
	return ks_why(code, reason, detail);
}

int ks_err(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(code, fmt, ap);
	va_end(ap);
	return code;
}

int ks_err_errno(int code, int errno_val, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(code, fmt, ap);
	va_end(ap);
	append(strerror(errno_val));
	last_errno = errno_val;
	if (code != KSSL_E_INTR)
		(void)ks_why(code, KSSL_R_ERRNO, errno_val);
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
	vset(code, fmt, ap);
	va_end(ap);
	if (e) {
		const char *reason = ERR_reason_error_string(e);

		if (reason) {
			append(reason);
		} else {
			ERR_error_string_n(e, buf, sizeof(buf));
			append(buf);
		}
		(void)ks_why(code, KSSL_R_OPENSSL, 0);
		last_ssl_error = e;
	}
	ERR_clear_error();
	return code;
}

void *ks_zalloc(size_t size, const char *who)
{
	void *p = calloc(1, size);

	if (!p)
		ks_err(KSSL_E_NOMEM, "%s: out of memory", who);
	return p;
}

static const char ks_fail_oom[] = "connection failed (out of memory for its message)";

int ks_fail(struct ks_core *c, int code)
{
	if (!c->failed) {
		c->failed = code;
		/*
		 * On the heap, not in the session: every session would
		 * otherwise carry 512 bytes that only a failed one uses.
		 */
		c->failed_msg = strdup(last_msg);
		if (!c->failed_msg)
			c->failed_msg = (char *)ks_fail_oom;
	}
	return code;
}

void ks_fail_free(struct ks_core *c)
{
	if (c->failed_msg != ks_fail_oom)
		free(c->failed_msg);
	c->failed_msg = NULL;
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

int ks_eof(const char *what)
{
	return ks_why(ks_err(KSSL_E_EOF,
			     "%s: peer closed the connection without close_notify",
			     what), KSSL_R_UNEXPECTED_EOF, 0);
}

int ks_failed_earlier(const struct ks_core *c)
{
	(void)ks_err(KSSL_E_CLOSED, "%s failed earlier: %s", c->kind->noun,
		     c->failed_msg);
	return ks_why(KSSL_E_CLOSED, KSSL_R_FAILED_EARLIER, c->failed);
}

/*
 * Turn a failed SSL_do_handshake/SSL_read/SSL_write/SSL_shutdown into a
 * KSSL_E_* code with a message naming the cause. WANT_* do not fail the
 * session; everything else does.
 */
int ks_ssl_result(struct ks_core *c, int ret, const char *what)
{
	int saved_errno = errno;
	int err = SSL_get_error(c->ssl, ret);
	unsigned long e;
	int reason;

	switch (err) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		ERR_clear_error();
		/* The BIO retries EINTR like EAGAIN; the caller must hear it. */
		if (c->bio_eintr)
			return ks_err_errno(KSSL_E_INTR, EINTR, "%s", what);
		return err == SSL_ERROR_WANT_READ ? KSSL_E_WANT_READ
						  : KSSL_E_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		ERR_clear_error();
		c->rx_closed = 1;
		return 0;
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() == 0) {
			if (saved_errno == 0 || ret == 0)
				return ks_fail(c, ks_eof(what));
			return ks_fail(c, ks_err_errno(KSSL_E_SYSCALL,
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
		(void)ks_err(KSSL_E_ALERT, "%s: peer sent fatal alert %s (%d)",
			     what, ks_alert_name(desc), desc);
		last_ssl_error = e;
		return ks_fail(c, ks_why(KSSL_E_ALERT, KSSL_R_PEER_ALERT, desc));
	}
	if (ERR_GET_LIB(e) == ERR_LIB_SSL &&
	    reason == SSL_R_CERTIFICATE_VERIFY_FAILED) {
		long v = SSL_get_verify_result(c->ssl);

		ERR_clear_error();
		(void)ks_err(KSSL_E_CERT,
			     "%s: certificate verify failed: %s (X509 error %ld)",
			     what, X509_verify_cert_error_string(v), v);
		last_ssl_error = e;
		return ks_fail(c, ks_why(KSSL_E_CERT, KSSL_R_VERIFY_FAILED, v));
	}
	if (ERR_GET_LIB(e) == ERR_LIB_SSL &&
	    reason == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
		ERR_clear_error();
		return ks_fail(c, ks_eof(what));
	}
	return ks_fail(c, ks_err_ssl(KSSL_E_TLS, "%s", what));
}
