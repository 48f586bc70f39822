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
 * OpenSSL's BAD_LENGTH (KsConn.wpend), a fatal error (KsConn.fatal).
 *
 * unwrap() after the end (kp_shut_gate, measured the same way): OpenSSL
 * refuses SSL_shutdown in its error state, and otherwise marks
 * close_notify sent before writing it; when it cannot be written (behind
 * a held record, or into a reset socket) CPython reports the errno of the
 * failed send(), or ZERO_RETURN once the end was read as close_notify.
 * Reading the end with the option then sets OpenSSL's shutdown flags to
 * "received" alone (forgetting "sent"); a read with both set raises
 * SSLZeroReturnError instead of returning b"".
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "module.h"

/* ssl.SSL_ERROR_*: args[0] of the stdlib's exceptions. */
enum { PY_SSL_ERROR_SSL = 1, PY_SSL_ERROR_ZERO_RETURN = 6, PY_SSL_ERROR_EOF = 8 };

/* The most plaintext OpenSSL puts in one TLS record. */
#define KP_RECORD 16384u

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

size_t kp_eof_write_record(KsConn *self, size_t n)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	/* One send() of many records into a socket the peer resets on the
	 * way returns the whole count (kTLS swallows the error when it
	 * copied anything): the stdlib's second record fails instead. A
	 * write of one record needs no look at the socket. */
	if (n <= KP_RECORD ||
	    kssl_conn_offload(self->conn, KSSL_DIR_TX, NULL) != KSSL_OFFLOAD_KERNEL ||
	    getsockopt(self->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 ||
	    ti.tcpi_state == TCP_ESTABLISHED)
		return 0;
	return KP_RECORD;
}

static int eof_sequence(KsConn *self, enum kp_io io)
{
	switch (self->eof_state) {
	case KP_EOF_RESET:
		self->eof_state = KP_EOF_FIN;
		break;
	case KP_EOF_FIN:
		if (self->ignore_eof) {
			/* OpenSSL sets its shutdown flags to "received" alone:
			 * a close_notify sent by a failed unwrap() is forgotten. */
			self->eof_state = KP_EOF_QUIET;
			self->shut_state = KP_SHUT_NONE;
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
		/* CPython reads ZERO_RETURN as b"" only while the shutdown
		 * flags say "received" alone, not "sent" as well. */
		if (self->shut_state == KP_SHUT_NONE)
			return 0;
		raise_zero_return(io);
		return -1;
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

/* close_notify marked sent but not written: OpenSSL keeps the alert
 * record (2 bytes) unless an earlier record still waits. */
static void shut_unsent(KsConn *self, int err_no)
{
	self->shut_state = KP_SHUT_SENT;
	if (!self->wpend) {
		self->wpend = 2;
		self->werrno = err_no;
	}
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
		/* OpenSSL keeps the record it could not send; errno stays
		 * (libkssl's CLOSED: the socket is gone, send() says EPIPE). */
		if (!self->wpend)
			self->wpend = self->wtry;
		self->werrno = code == KSSL_E_CLOSED ? EPIPE : err_no;
		if (self->eof_state == KP_EOF_QUIET) {
			raise_zero_return(io);
			return -1;
		}
		if (self->eof_state == KP_EOF_NONE)
			self->eof_state = KP_EOF_FIN;
		raise_eof(io);
		return -1;
	case KP_IO_SHUTDOWN:
		/* close_notify met an RST nobody read: the stdlib's send()
		 * takes the reset (its errno); reads then see the FIN. */
		if (code != KSSL_E_SYSCALL ||
		    (err_no != EPIPE && err_no != ECONNRESET))
			return 1;
		shut_unsent(self, err_no);
		if (self->eof_state == KP_EOF_NONE)
			self->eof_state = KP_EOF_FIN;
		return 1;
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
		/* SSLfatal: out of "handshake done"; reads that saw no end
		 * yet fail from now on (eof_sequence). */
		self->fatal = 1;
		if (self->eof_state != KP_EOF_QUIET)
			self->eof_state = KP_EOF_RAISED;
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

int kp_ssl_in_error(const KsConn *self)
{
	return self->fatal || self->eof_state == KP_EOF_RAISED ||
	       self->shut_state == KP_SHUT_FAILED;
}

/*
 * SSL_shutdown (OpenSSL 3.0) as CPython's unwrap() reports it: in the
 * error state SHUTDOWN_WHILE_IN_INIT. Otherwise it marks close_notify
 * sent and queues it; it stays unsent behind a record an earlier write
 * left (wpend), or fails to go out on a socket the peer reset. Then
 * SSL_shutdown returns -1 with nothing in OpenSSL's error queue, and
 * SSL_get_error says ZERO_RETURN if the peer's end was read as
 * close_notify (OP_IGNORE_UNEXPECTED_EOF), else SYSCALL: CPython raises
 * OSError from the errno the failed send() left (EPIPE, ECONNRESET).
 */
int kp_shut_gate(KsConn *self)
{
	int err_no;

	if (kp_ssl_in_error(self))
		return kp_shut_again_error(self);
	if (self->wpend)
		err_no = self->werrno;
	else if (self->eof_state != KP_EOF_NONE && !socket_can_send(self->fd))
		err_no = EPIPE;
	else
		return 1;
	shut_unsent(self, err_no);
	if (self->eof_state == KP_EOF_QUIET) {
		raise_zero_return(KP_IO_SHUTDOWN);
	} else if (err_no) {
		errno = err_no;
		PyErr_SetFromErrno(PyExc_OSError);
	} else {
		raise_eof(KP_IO_SHUTDOWN);
	}
	return -1;
}
