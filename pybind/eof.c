/*
 * The end of the transport (the peer's TCP stream ends without
 * close_notify), reported the way the stdlib's _ssl reports it.
 *
 * Measured on CPython 3.11.2 (Debian) and 3.11.7 with OpenSSL 3.0 (the
 * test test_ragged_eof runs the same sequences on both modules): once the
 * peer's stream ended, successive reads give
 *   FIN, OP_IGNORE_UNEXPECTED_EOF set:  b"", b"", ...
 *   FIN, option cleared:  SSLError(1, [SSL: UNEXPECTED_EOF_WHILE_READING])
 *       (3.11.2) or SSLEOFError(8, same reason) (later CPython:
 *       eof_is_eoferror, probed by kssl/_socket.py), then SSLEOFError(8)
 *       for ever
 *   RST (ECONNRESET):  SSLEOFError(8) once (_ssl loses the errno), then
 *       as a FIN
 * A write into a dropped connection (EPIPE, ECONNRESET) gives
 * SSLEOFError(8), and reads then see the FIN; writes after the EOF read
 * as b"" give SSLZeroReturnError(6), after a reported EOF SSLEOFError(8).
 * A FIN during the handshake: SSLZeroReturnError(6) with the option, the
 * first-FIN error without. SSLSocket.read turns SSLEOFError into b""
 * under suppress_ragged_eofs.
 *
 * libkssl ends the receive direction at a FIN (KSSL_E_EOF; writes still
 * go out, as the stdlib's first write after a FIN) and fails the conn at
 * an RST or a failed write (KSSL_E_SYSCALL with ECONNRESET/EPIPE); the
 * rest of the sequence is played from KsConn.eof_state.
 *
 * Writes (measured the same way, test_ragged_eof): after the peer's
 * close_notify, or a FIN read as b"" (the option), OpenSSL takes the
 * stream as closed by the peer: writes go out while the socket takes them,
 * then fail as SSLZeroReturnError(6). After UNEXPECTED_EOF was reported
 * OpenSSL is in its error state: every write is SSLEOFError(8). A write
 * that failed leaves its record in OpenSSL's buffer, and so does the fatal
 * alert OpenSSL sends with UNEXPECTED_EOF when the socket no longer takes
 * it (after an RST): a later write shorter than that record fails with
 * OpenSSL's BAD_LENGTH (KsConn.wpend).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "module.h"

/* ssl.SSL_ERROR_*: args[0] of the stdlib's exceptions. */
enum { PY_SSL_ERROR_SSL = 1, PY_SSL_ERROR_ZERO_RETURN = 6, PY_SSL_ERROR_EOF = 8 };

enum kp_eof {
	KP_EOF_NONE = 0,
	KP_EOF_RESET,   /* RST reported; the next read sees the FIN */
	KP_EOF_FIN,     /* FIN seen, not reported yet */
	KP_EOF_QUIET,   /* reads return b"" (OP_IGNORE_UNEXPECTED_EOF) */
	KP_EOF_RAISED,  /* UNEXPECTED_EOF reported: SSLEOFError from now on */
};

static const char EOF_TEXT[] = "EOF occurred in violation of protocol";

static const char *const io_op[] = {
	[KP_IO_HANDSHAKE] = "handshake", [KP_IO_READ] = "read",
	[KP_IO_WRITE] = "write", [KP_IO_SHUTDOWN] = "shutdown",
};

/* text with the stdlib's " (_ssl.c:LINE)" for io (kssl._errors). */
static PyObject *with_suffix(const char *text, enum kp_io io)
{
	PyObject *m = PyImport_ImportModule("kssl._errors"), *r;

	if (!m)
		return NULL;
	r = PyObject_CallMethod(m, "suffixed", "ss", text, io_op[io]);
	Py_DECREF(m);
	return r;
}

static void raise_with(enum kp_io io, PyObject *cls, int ssl_errno,
		       const char *text, const char *library,
		       const char *reason)
{
	PyObject *msg = with_suffix(text, io), *exc, *lib, *why;

	if (!msg)
		return;
	exc = PyObject_CallFunction(cls, "iO", ssl_errno, msg);
	Py_DECREF(msg);
	if (!exc)
		return;
	lib = library ? PyUnicode_FromString(library) : Py_NewRef(Py_None);
	why = reason ? PyUnicode_FromString(reason) : Py_NewRef(Py_None);
	if (lib && why && PyObject_SetAttrString(exc, "library", lib) == 0 &&
	    PyObject_SetAttrString(exc, "reason", why) == 0)
		PyErr_SetObject(cls, exc);
	Py_XDECREF(lib);
	Py_XDECREF(why);
	Py_DECREF(exc);
}

static void raise_eof(enum kp_io io)
{
	raise_with(io, kp_cls.eof, PY_SSL_ERROR_EOF, EOF_TEXT, NULL, NULL);
}

static void raise_zero_return(enum kp_io io)
{
	raise_with(io, kp_cls.zero_return, PY_SSL_ERROR_ZERO_RETURN,
		   "TLS/SSL connection has been closed (EOF)", NULL, NULL);
}

/* OpenSSL's UNEXPECTED_EOF_WHILE_READING, as this CPython reports it. */
static void raise_unexpected_eof(const KsConn *self, enum kp_io io)
{
	if (self->eof_is_eoferror)
		raise_with(io, kp_cls.eof, PY_SSL_ERROR_EOF,
			   "[SSL: UNEXPECTED_EOF_WHILE_READING] EOF occurred in violation of protocol",
			   "SSL", "UNEXPECTED_EOF_WHILE_READING");
	else
		raise_with(io, kp_cls.ssl_error, PY_SSL_ERROR_SSL,
			   "[SSL: UNEXPECTED_EOF_WHILE_READING] unexpected eof while reading",
			   "SSL", "UNEXPECTED_EOF_WHILE_READING");
}

/* Would the socket take a write (the stdlib's fatal alert)? */
static int socket_can_send(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return 1;
	return ti.tcpi_state == TCP_ESTABLISHED ||
	       ti.tcpi_state == TCP_CLOSE_WAIT;
}

static int eof_sequence(KsConn *self, enum kp_io io)
{
	switch (self->eof_state) {
	case KP_EOF_RESET:
		self->eof_state = KP_EOF_FIN;
		break;
	case KP_EOF_FIN:
		if (self->ignore_eof) {
			self->eof_state = KP_EOF_QUIET;
			return 0;
		}
		self->eof_state = KP_EOF_RAISED;
		/* OpenSSL's decode_error alert (2 bytes) stays in its buffer
		 * when the socket no longer takes it. */
		if (!self->wpend && !socket_can_send(self->fd))
			self->wpend = 2;
		raise_unexpected_eof(self, io);
		return -1;
	case KP_EOF_QUIET:
		return 0;
	default:
		break;
	}
	raise_eof(io);
	return -1;
}

int kp_eof_read(KsConn *self)
{
	return eof_sequence(self, self->unwrapping ? KP_IO_SHUTDOWN : KP_IO_READ);
}

int kp_eof_failure(KsConn *self, enum kp_io io, int code, int err_no)
{
	if (self->raw_eof)
		return 1;
	switch (io) {
	case KP_IO_READ:
		if (code == KSSL_E_EOF)
			self->eof_state = KP_EOF_FIN;
		else if (code == KSSL_E_SYSCALL && err_no == ECONNRESET)
			self->eof_state = KP_EOF_RESET;
		else
			return 1;
		return kp_eof_read(self);
	case KP_IO_WRITE:
		if (code == KSSL_E_CLOSED && self->shut_state != KP_SHUT_NONE)
			return kp_shut_write_error(self);
		if (code == KSSL_E_CLOSED ? self->eof_state == KP_EOF_NONE :
		    code != KSSL_E_SYSCALL ||
		    (err_no != EPIPE && err_no != ECONNRESET))
			return 1;
		/* OpenSSL keeps the record it could not send. */
		if (!self->wpend)
			self->wpend = self->wtry;
		if (self->eof_state == KP_EOF_QUIET) {
			raise_zero_return(io);
			return -1;
		}
		if (self->eof_state == KP_EOF_NONE)
			self->eof_state = KP_EOF_FIN;
		raise_eof(io);
		return -1;
	case KP_IO_HANDSHAKE:
		if (code != KSSL_E_EOF)
			return 1;
		self->eof_state = KP_EOF_FIN;
		if (self->ignore_eof)
			raise_zero_return(io);
		else
			eof_sequence(self, io);
		return -1;
	default:
		return 1;
	}
}

int kp_eof_write_gate(KsConn *self, size_t len)
{
	/* ssl_write_internal, then ssl3_write_bytes, in OpenSSL's order */
	if (self->shut_state != KP_SHUT_NONE)
		return kp_shut_write_error(self);
	if (len < self->wpend) {
		raise_with(KP_IO_WRITE, kp_cls.ssl_error, PY_SSL_ERROR_SSL,
			   "[SSL: BAD_LENGTH] bad length", "SSL", "BAD_LENGTH");
		return -1;
	}
	if (self->eof_state == KP_EOF_RAISED) {
		raise_eof(KP_IO_WRITE);
		return -1;
	}
	return 0;
}

void kp_eof_close_notify(KsConn *self)
{
	if (self->eof_state == KP_EOF_NONE)
		self->eof_state = KP_EOF_QUIET;
}

/*
 * The stdlib's unwrap() is SSL_shutdown twice: close_notify out, then
 * records read until the peer's. OpenSSL 3.0 meets application data there
 * with SSL_R_APPLICATION_DATA_AFTER_CLOSE_NOTIFY (no alert goes out); the
 * SSL is then in its error state: reads give SSLEOFError (8) (b"" under
 * suppress_ragged_eofs), writes PROTOCOL_IS_SHUTDOWN, another unwrap()
 * SHUTDOWN_WHILE_IN_INIT, version() None and getpeercert() "handshake not
 * done yet" (measured, tests/python/test_unwrap.py).
 */
int kp_shut_write_error(KsConn *self)
{
	(void)self;
	raise_with(KP_IO_WRITE, kp_cls.ssl_error, PY_SSL_ERROR_SSL,
		   "[SSL: PROTOCOL_IS_SHUTDOWN] protocol is shutdown",
		   "SSL", "PROTOCOL_IS_SHUTDOWN");
	return -1;
}

int kp_shut_data_error(KsConn *self)
{
	self->shut_state = KP_SHUT_FAILED;
	self->eof_state = KP_EOF_RAISED;
	raise_with(KP_IO_SHUTDOWN, kp_cls.ssl_error, PY_SSL_ERROR_SSL,
		   "[SSL: APPLICATION_DATA_AFTER_CLOSE_NOTIFY] application data after close notify",
		   "SSL", "APPLICATION_DATA_AFTER_CLOSE_NOTIFY");
	return -1;
}

int kp_shut_again_error(KsConn *self)
{
	(void)self;
	raise_with(KP_IO_SHUTDOWN, kp_cls.ssl_error, PY_SSL_ERROR_SSL,
		   "[SSL: SHUTDOWN_WHILE_IN_INIT] shutdown while in init",
		   "SSL", "SHUTDOWN_WHILE_IN_INIT");
	return -1;
}
