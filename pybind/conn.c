/*
 * _kssl.Conn: one kssl_conn on the fd of a Python socket. It offers what
 * ssl.SSLSocket expects of its `_sslobj` (do_handshake, read, write,
 * pending, shutdown, ...), so the stdlib's SSLSocket methods run on top of
 * it unchanged; kssl/_socket.py adds the Python-level parts.
 *
 * Blocking rules mirror the stdlib's: the socket's timeout decides.
 * None = the fd is blocking and kssl blocks; 0 = KSSL_E_WANT_* become
 * SSLWantReadError/SSLWantWriteError; > 0 = poll() until the deadline,
 * then TimeoutError. The GIL is released around every kssl call and every
 * wait. A per-connection lock keeps kssl calls on one conn serialized
 * (kssl.h: a conn belongs to one thread at a time), since Python code
 * commonly reads in one thread and writes in another.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "module.h"

#include <structmember.h>

enum op { OP_HANDSHAKE, OP_READ, OP_WRITE, OP_SENDFILE, OP_SHUTDOWN };

struct call {
	enum op op;
	char *buf;
	size_t len;     /* read/write: bytes wanted; sendfile: bytes left */
	size_t done;    /* write/sendfile: bytes moved so far */
	int file_fd;
	off_t off;
	int file_ended; /* sendfile: KSSL_E_SHORT_FILE */
	int wait_in;    /* read on a blocking fd: poll without the lock */
	int eintr;
	int err_no;     /* kssl_last_errno() of a failed call */
	size_t record;  /* write: at most this many bytes a send (0: all) */
	ssize_t r;
	struct kssl_error_info err;
};

/* ---- life cycle ------------------------------------------------------- */

PyObject *kp_conn_make(PyTypeObject *type, KsContext *native, PyObject *sock,
		       int server_side, const char *hostname)
{
	PyObject *fdobj;
	KsConn *self;

	if (server_side != (kssl_ctx_role(native->ctx) == KSSL_SERVER)) {
		PyErr_SetString(PyExc_ValueError, "Conn: role differs from the context's");
		return NULL;
	}
	fdobj = kp_sock_call(sock, KP_SOCK_FILENO);
	if (!fdobj)
		return NULL;
	self = (KsConn *)type->tp_alloc(type, 0);
	if (!self) {
		Py_DECREF(fdobj);
		return NULL;
	}
	self->fd = PyLong_AsLong(fdobj);
	Py_DECREF(fdobj);
	if (self->fd < 0) {
		Py_DECREF(self);
		return PyErr_Occurred() ? NULL : PyErr_Format(PyExc_OSError, "socket is closed");
	}
	self->server_side = server_side;
	self->lock = PyThread_allocate_lock();
	self->sock_ref = PyWeakref_NewRef(sock, NULL);
	if (!self->lock || !self->sock_ref) {
		Py_DECREF(self);
		return PyErr_Occurred() ? NULL : PyErr_NoMemory();
	}
	self->conn = kssl_conn_new(native->ctx, self->fd);
	if (!self->conn) {
		Py_DECREF(self);
		return kp_raise_ctx(KSSL_E_NOMEM);
	}
	Py_INCREF(native);
	self->native = native;
	kssl_conn_set_data(self->conn, self);
	/* get_verified_chain() and shared_ciphers() answer after kssl freed
	 * the SSL (both directions in the kernel). */
	kssl_conn_set_keep_info(self->conn, KSSL_KEEP_CHAINS | KSSL_KEEP_CIPHER_LISTS);
	if (hostname && !server_side) {
		int r = kssl_conn_set_hostname(self->conn, hostname);

		if (r < 0) {
			Py_DECREF(self);
			return kp_raise_ctx(r);
		}
	}
	return (PyObject *)self;
}

static PyObject *conn_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "native", "sock", "server_side",
				  "server_hostname", NULL };
	KsContext *native;
	PyObject *sock;
	int server_side;
	const char *hostname = NULL;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "O!Opz", kwlist,
					 &KsContext_Type, &native, &sock,
					 &server_side, &hostname))
		return NULL;
	return kp_conn_make(type, native, sock, server_side, hostname);
}

static void conn_dealloc(KsConn *self)
{
	PyObject_GC_UnTrack(self);
	if (self->weakreflist)
		PyObject_ClearWeakRefs((PyObject *)self);
	kssl_conn_free(self->conn);
	if (self->lock)
		PyThread_free_lock(self->lock);
	Py_XDECREF(self->native);
	Py_XDECREF(self->sock_ref);
	Py_XDECREF(self->owner_ref);
	Py_CLEAR(self->context);
	Py_CLEAR(self->hostname);
	Py_CLEAR(self->cert);
	for (int i = 0; i < 3; i++)
		Py_CLEAR(self->msg_exc[i]);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static int conn_traverse(KsConn *self, visitproc visit, void *arg)
{
	Py_VISIT(self->context);
	Py_VISIT(self->hostname);
	Py_VISIT(self->cert);
	return 0;
}

static int conn_clear(KsConn *self)
{
	Py_CLEAR(self->context);
	Py_CLEAR(self->hostname);
	Py_CLEAR(self->cert);
	return 0;
}

/* ---- the I/O loop ------------------------------------------------------- */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int sock_timeout(KsConn *self, double *timeout)
{
	PyObject *sock = PyWeakref_GetObject(self->sock_ref), *t;

	if (!sock)
		return -1;
	if (sock == Py_None) {
		PyErr_SetString(kp_cls.ssl_error, "Underlying socket connection gone");
		return -1;
	}
	Py_INCREF(sock);
	t = kp_sock_call(sock, KP_SOCK_GETTIMEOUT);
	Py_DECREF(sock);
	if (!t)
		return -1;
	*timeout = t == Py_None ? -1.0 : PyFloat_AsDouble(t);
	Py_DECREF(t);
	return PyErr_Occurred() ? -1 : 0;
}

static int rx_has_buffered(KsConn *self)
{
	return kssl_conn_rx_buffered(self->conn);
}

/* Runs with the GIL released. */
static void call_locked(KsConn *self, struct call *c)
{
	size_t sent = 0;

	c->eintr = 0;
	if (c->wait_in) {
		int buffered;

		PyThread_acquire_lock(self->lock, WAIT_LOCK);
		buffered = rx_has_buffered(self);
		PyThread_release_lock(self->lock);
		if (!buffered) {
			struct pollfd p = { .fd = self->fd, .events = POLLIN };

			if (poll(&p, 1, -1) < 0 && errno == EINTR) {
				c->eintr = 1;
				return;
			}
		}
	}
	PyThread_acquire_lock(self->lock, WAIT_LOCK);
	switch (c->op) {
	case OP_HANDSHAKE:
		c->r = kssl_handshake(self->conn);
		break;
	case OP_READ:
		c->r = kssl_read(self->conn, c->buf, c->len);
		break;
	case OP_WRITE:
		do {
			size_t n = c->len - c->done;

			if (c->record && n > c->record)
				n = c->record;
			c->r = kssl_write(self->conn, c->buf + c->done, n);
			if (c->r > 0)
				c->done += (size_t)c->r;
		} while (c->record && c->r > 0 && c->done < c->len);
		break;
	case OP_SENDFILE:
		c->r = kssl_sendfile(self->conn, c->file_fd, c->off, c->len, &sent);
		c->off += (off_t)sent;
		c->len -= sent;
		c->done += sent;
		if (c->r == KSSL_E_SHORT_FILE) {
			c->file_ended = 1;
			c->r = 0;
		}
		break;
	case OP_SHUTDOWN:
		c->r = kssl_shutdown(self->conn);
		break;
	}
	if (c->r < 0) {
		kssl_last_error_info(&c->err);
		c->err.code = (int)c->r;
		c->err_no = c->err.sys_errno;
	}
	PyThread_release_lock(self->lock);
}

static enum kp_io io_kind(enum op op)
{
	switch (op) {
	case OP_HANDSHAKE: return KP_IO_HANDSHAKE;
	case OP_READ: return KP_IO_READ;
	case OP_SHUTDOWN: return KP_IO_SHUTDOWN;
	default: return KP_IO_WRITE;
	}
}

/* The stdlib operation a failure is reported for: reads inside unwrap()
 * are its SSL_shutdown's. */
static const char *op_name(const KsConn *self, enum op op)
{
	if (self->unwrapping)
		return "shutdown";
	switch (op) {
	case OP_HANDSHAKE: return "handshake";
	case OP_READ: return "read";
	case OP_SHUTDOWN: return "shutdown";
	default: return "write";
	}
}

/* Returns 0 with c->r >= 0, or -1 with a Python exception set. */
static int run_io(KsConn *self, struct call *c)
{
	double timeout, deadline = 0;

	if (sock_timeout(self, &timeout) < 0)
		return -1;
	if (timeout > 0)
		deadline = now() + timeout;
	c->wait_in = c->op == OP_READ && timeout < 0;
	for (;;) {
		struct pollfd p = { .fd = self->fd };
		int ms = -1, pr;
		size_t before = c->done;

		Py_BEGIN_ALLOW_THREADS
		call_locked(self, c);
		Py_END_ALLOW_THREADS
		/*
		 * sendfile: the timeout bounds each wait for progress, not the
		 * whole file, as the stdlib's SSLSocket.sendfile (8 KiB send()s,
		 * each with its own timeout). One write() keeps one deadline for
		 * the whole buffer, as the stdlib's single SSL_write does.
		 */
		if (c->op == OP_SENDFILE && c->done > before && timeout > 0)
			deadline = now() + timeout;
		/* A signal: run Python's handlers (KeyboardInterrupt), then retry. */
		if (c->eintr || c->r == KSSL_E_INTR) {
			if (PyErr_CheckSignals() < 0)
				return -1;
			continue;
		}
		if (c->r >= 0) {
			int more = (c->op == OP_WRITE && c->done < c->len) ||
				   (c->op == OP_SENDFILE && c->len > 0 && !c->file_ended);

			if (!more)
				return 0;
			if (timeout == 0 && c->op == OP_WRITE)
				return 0; /* partial write, as send() may */
			continue;
		}
		if (c->r != KSSL_E_WANT_READ && c->r != KSSL_E_WANT_WRITE) {
			/* The end of the transport: the stdlib's answer (eof.c). */
			int e;

			/* The stdlib's failing record: SSL_write's (<= 16 KiB),
			 * or one of sendfile's 8 KiB send()s. */
			self->wtry = c->len - c->done;
			if (self->wtry > (c->op == OP_SENDFILE ? 8192u : 16384u))
				self->wtry = c->op == OP_SENDFILE ? 8192u : 16384u;
			e = kp_eof_failure(self, io_kind(c->op), (int)c->r,
					   c->err_no);

			if (e == 0)
				c->r = 0;
			if (e <= 0)
				return e;
			kp_raise(self, &c->err, op_name(self, c->op));
			return -1;
		}
		if (timeout == 0) {
			if (c->done > 0) {
				c->r = 0;
				return 0;
			}
			kp_raise(self, &c->err, op_name(self, c->op));
			return -1;
		}
		if (timeout > 0) {
			double left = deadline - now();

			if (left <= 0)
				goto timed_out;
			ms = (int)(left * 1000.0) + 1;
		}
		p.events = c->r == KSSL_E_WANT_READ ? POLLIN : POLLOUT;
		Py_BEGIN_ALLOW_THREADS
		pr = poll(&p, 1, ms);
		Py_END_ALLOW_THREADS
		if (pr < 0 && errno == EINTR) {
			if (PyErr_CheckSignals() < 0)
				return -1;
			continue;
		}
		if (pr < 0) {
			PyErr_SetFromErrno(PyExc_OSError);
			return -1;
		}
		if (pr == 0)
			goto timed_out;
	}
timed_out:
	/* The stdlib's text (kssl._errors.timeout_text); a shutdown names
	 * the direction it waited for, as _ssl.c does. */
	{
		const char *op = self->unwrapping ? "read" : op_name(self, c->op);
		PyObject *m = PyImport_ImportModule("kssl._errors"), *t;

		if (c->op == OP_SHUTDOWN)
			op = c->r == KSSL_E_WANT_READ ? "read" : "write";
		if (!m)
			return -1;
		t = PyObject_CallMethod(m, "timeout_text", "s", op);
		Py_DECREF(m);
		if (t) {
			PyErr_SetObject(PyExc_TimeoutError, t);
			Py_DECREF(t);
		}
	}
	return -1;
}

/* run_io, then what SSLContext._msg_callback raised meanwhile (msg.c). */
static int run(KsConn *self, struct call *c)
{
	int r = run_io(self, c);

	if (self->msg_exc[0])
		return kp_msg_raise(self) < 0 ? -1 : r;
	return r;
}

/* ---- _sslobj methods ------------------------------------------------- */

static PyObject *conn_do_handshake(KsConn *self, PyObject *unused)
{
	struct call c = { .op = OP_HANDSHAKE };

	(void)unused;
	if (run(self, &c) < 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *conn_read(KsConn *self, PyObject *const *args, Py_ssize_t nargs)
{
	struct kp_read rd;
	struct call c = { .op = OP_READ };

	if (kp_read_begin(&rd, args, nargs, 1024) < 0)
		return NULL;
	c.buf = rd.buf;
	c.len = (size_t)rd.len;
	if (rd.len > 0 && self->eof_state != 0) {
		/* The transport ended earlier: the stdlib's next step. */
		if (kp_eof_read(self) < 0)
			return kp_read_end(&rd, -1);
		c.r = 0;
	} else if (rd.len > 0 && run(self, &c) < 0) {
		return kp_read_end(&rd, -1);
	} else if (rd.len > 0 && c.r == 0 && !self->raw_eof) {
		/* close_notify: writes that fail now are ZERO_RETURN (eof.c) */
		kp_eof_close_notify(self);
	}
	return kp_read_end(&rd, c.r);
}

static PyObject *conn_write(KsConn *self, PyObject *arg)
{
	Py_buffer buf;
	struct call c = { .op = OP_WRITE };
	int r;

	if (PyObject_GetBuffer(arg, &buf, PyBUF_SIMPLE) < 0)
		return NULL;
	if (!self->raw_eof && kp_eof_write_gate(self, (size_t)buf.len) < 0) {
		PyBuffer_Release(&buf);
		return NULL;
	}
	if (buf.len == 0) {
		PyBuffer_Release(&buf);
		return PyLong_FromLong(0);
	}
	c.buf = buf.buf;
	c.len = (size_t)buf.len;
	c.record = self->raw_eof ? 0 : kp_eof_write_record(self, c.len);
	r = run(self, &c);
	PyBuffer_Release(&buf);
	return r < 0 ? NULL : PyLong_FromSize_t(c.done);
}

static PyObject *conn_sendfile(KsConn *self, PyObject *args)
{
	int fd;
	long long off;
	Py_ssize_t count;
	struct call c = { .op = OP_SENDFILE };

	if (!PyArg_ParseTuple(args, "iLn:sendfile", &fd, &off, &count))
		return NULL;
	if (off < 0 || count < 0) {
		PyErr_SetString(PyExc_ValueError, "negative offset or count");
		return NULL;
	}
	c.file_fd = fd;
	c.off = (off_t)off;
	c.len = (size_t)count;
	/* The stdlib's sendfile on TLS is send()s of up to 8 KiB. */
	if (count > 0 && !self->raw_eof &&
	    kp_eof_write_gate(self, count < 8192 ? (size_t)count : 8192u) < 0)
		return NULL;
	if (count > 0 && run(self, &c) < 0)
		return NULL;
	return PyLong_FromSize_t(c.done);
}

static PyObject *conn_pending(KsConn *self, PyObject *unused)
{
	size_t n;

	(void)unused;
	Py_BEGIN_ALLOW_THREADS
	PyThread_acquire_lock(self->lock, WAIT_LOCK);
	n = kssl_pending(self->conn);
	PyThread_release_lock(self->lock);
	Py_END_ALLOW_THREADS
	return PyLong_FromSize_t(n);
}

/*
 * Send close_notify and wait for the peer's, as the stdlib's unwrap does.
 * Returns 1 if both directions stayed in userspace (the socket can carry
 * plaintext again), 0 if kernel TLS state remains on it.
 */
static PyObject *conn_close_notify(KsConn *self, PyObject *unused)
{
	struct call c = { .op = OP_SHUTDOWN };
	char sink[4096];

	(void)unused;
	if (!self->raw_eof && kp_shut_gate(self) < 0)
		return NULL;
	if (run(self, &c) < 0)
		return NULL;
	self->shut_state = KP_SHUT_SENT;
	while (c.r == 0) {
		struct call rd = { .op = OP_READ, .buf = sink, .len = sizeof(sink) };
		int r;

		self->unwrapping = 1;
		r = run(self, &rd);
		self->unwrapping = 0;
		if (r < 0)
			return NULL;
		if (rd.r == 0)
			break;
		/* Data after our close_notify: the stdlib's error (eof.c). */
		if (!self->raw_eof)
			return kp_shut_data_error(self), NULL;
	}
	return PyBool_FromLong(kssl_conn_offload(self->conn, KSSL_DIR_TX, NULL) != KSSL_OFFLOAD_KERNEL &&
			       kssl_conn_offload(self->conn, KSSL_DIR_RX, NULL) != KSSL_OFFLOAD_KERNEL);
}

/*
 * Send close_notify only (libkssl's kssl_shutdown: through kernel TLS or
 * OpenSSL, once), without waiting for the peer's. Returns True if the
 * peer's close_notify had already arrived. A full socket buffer raises
 * SSLWantWriteError on a non-blocking socket.
 */
static PyObject *conn_send_close_notify(KsConn *self, PyObject *unused)
{
	struct call c = { .op = OP_SHUTDOWN };

	(void)unused;
	if (run(self, &c) < 0)
		return NULL;
	self->shut_state = KP_SHUT_SENT;
	return PyBool_FromLong(c.r == 1);
}

static const char *state_name(enum kssl_offload_state s)
{
	switch (s) {
	case KSSL_OFFLOAD_KERNEL: return "kernel";
	case KSSL_OFFLOAD_USER: return "user";
	default: return "pending";
	}
}

static PyObject *conn_offload(KsConn *self, PyObject *unused)
{
	const char *tx_reason, *rx_reason;
	char txr[256] = "", rxr[256] = "";
	enum kssl_offload_state tx, rx;

	(void)unused;
	Py_BEGIN_ALLOW_THREADS
	PyThread_acquire_lock(self->lock, WAIT_LOCK);
	tx = kssl_conn_offload(self->conn, KSSL_DIR_TX, &tx_reason);
	rx = kssl_conn_offload(self->conn, KSSL_DIR_RX, &rx_reason);
	if (tx_reason)
		snprintf(txr, sizeof(txr), "%s", tx_reason);
	if (rx_reason)
		snprintf(rxr, sizeof(rxr), "%s", rx_reason);
	PyThread_release_lock(self->lock);
	Py_END_ALLOW_THREADS
	return Py_BuildValue("(sszz)", state_name(tx), state_name(rx),
			     tx_reason ? txr : NULL, rx_reason ? rxr : NULL);
}

/* Only from the SNI callback, which runs inside do_handshake on this
 * thread with the conn lock held: so no locking here. */
static PyObject *conn_set_native(KsConn *self, PyObject *arg)
{
	KsContext *ctx;
	int r;

	if (!PyObject_TypeCheck(arg, &KsContext_Type))
		return PyErr_Format(PyExc_TypeError, "expected a _kssl.Context");
	ctx = (KsContext *)arg;
	r = kssl_conn_set_ctx(self->conn, ctx->ctx);
	if (r < 0)
		return kp_raise_ctx(r);
	Py_INCREF(ctx);
	Py_SETREF(self->native, ctx);
	Py_RETURN_NONE;
}

int kp_sni_thunk(kssl_conn *kc, const char *name, void *arg)
{
	KsConn *self = kssl_conn_get_data(kc);
	PyGILState_STATE g;
	PyObject *r;
	long alert = 0;

	(void)arg;
	if (!self)
		return 0;
	g = PyGILState_Ensure();
	r = PyObject_CallMethod((PyObject *)self, "_sni", "z", name);
	if (!r) {
		/* The stdlib's answers: handshake_failure for an exception,
		 * internal_error for a return value that is not an int. */
		PyErr_WriteUnraisable((PyObject *)self);
		alert = 40;
	} else {
		alert = r == Py_None ? 0 : PyLong_AsLong(r);
		if (alert == -1 && PyErr_Occurred()) {
			PyErr_WriteUnraisable((PyObject *)self);
			alert = 80;
		}
		Py_DECREF(r);
	}
	PyGILState_Release(g);
	return (int)alert;
}

static PyObject *conn_get_session_reused(KsConn *self, void *unused)
{
	(void)unused;
	return PyBool_FromLong(kssl_conn_session_reused(self->conn));
}

static PyObject *conn_get_server_side(KsConn *self, void *unused)
{
	(void)unused;
	return PyBool_FromLong(self->server_side);
}

static PyObject *conn_get_handshake_done(KsConn *self, void *unused)
{
	(void)unused;
	return PyBool_FromLong(kssl_conn_version(self->conn) != 0);
}

static PyObject *conn_get_native(KsConn *self, void *unused)
{
	(void)unused;
	return Py_NewRef((PyObject *)self->native);
}

static PyMethodDef conn_methods[] = {
	{ "do_handshake", (PyCFunction)conn_do_handshake, METH_NOARGS, NULL },
	{ "read", (PyCFunction)(void (*)(void))conn_read, METH_FASTCALL,
	  "read(len=1024, buffer=None)" },
	{ "write", (PyCFunction)conn_write, METH_O, NULL },
	{ "sendfile", (PyCFunction)conn_sendfile, METH_VARARGS,
	  "sendfile(fd, offset, count) -> bytes sent (stops early at end of file)" },
	{ "pending", (PyCFunction)conn_pending, METH_NOARGS, NULL },
	{ "_close_notify", (PyCFunction)conn_close_notify, METH_NOARGS, NULL },
	{ "_send_close_notify", (PyCFunction)conn_send_close_notify, METH_NOARGS,
	  "_send_close_notify() -> True if the peer's close_notify came already" },
	{ "cipher", (PyCFunction)kp_conn_cipher, METH_NOARGS, NULL },
	{ "shared_ciphers", (PyCFunction)kp_conn_shared_ciphers, METH_NOARGS, NULL },
	{ "version", (PyCFunction)kp_conn_version, METH_NOARGS, NULL },
	{ "selected_alpn_protocol", (PyCFunction)kp_conn_alpn, METH_NOARGS, NULL },
	{ "compression", (PyCFunction)kp_conn_compression, METH_NOARGS, NULL },
	{ "get_channel_binding", (PyCFunction)kp_conn_channel_binding, METH_VARARGS, NULL },
	{ "_peer_der", (PyCFunction)kp_conn_peer_der, METH_NOARGS, NULL },
	{ "_chain", (PyCFunction)kp_conn_chain, METH_O,
	  "_chain(verified) -> [DER bytes] or None" },
	{ "get_verified_chain", (PyCFunction)kp_conn_verified_chain, METH_NOARGS,
	  "get_verified_chain() -> [_ssl.Certificate] or None" },
	{ "get_unverified_chain", (PyCFunction)kp_conn_unverified_chain, METH_NOARGS,
	  "get_unverified_chain() -> [_ssl.Certificate] or None" },
	{ "_offload", (PyCFunction)conn_offload, METH_NOARGS, NULL },
	{ "_set_native", (PyCFunction)conn_set_native, METH_O, NULL },
	{ NULL, NULL, 0, NULL },
};

static PyMemberDef conn_members[] = {
	{ "_ignore_eof", T_INT, offsetof(KsConn, ignore_eof), 0, NULL },
	{ "_raw_eof", T_INT, offsetof(KsConn, raw_eof), 0, NULL },
	{ "_eof_is_eoferror", T_INT, offsetof(KsConn, eof_is_eoferror), 0, NULL },
	{ "_context", T_OBJECT_EX, offsetof(KsConn, context), 0, NULL },
	{ "_owner", T_OBJECT, offsetof(KsConn, owner_ref), 0,
	  "weakref to the SSLSocket, or None" },
	{ "_sock", T_OBJECT, offsetof(KsConn, sock_ref), READONLY,
	  "weakref to the socket" },
	{ "server_hostname", T_OBJECT, offsetof(KsConn, hostname), 0, NULL },
	{ "_cert", T_OBJECT, offsetof(KsConn, cert), 0,
	  "getpeercert()'s dict once made, or None" },
	{ NULL, 0, 0, 0, NULL },
};

static PyGetSetDef conn_getset[] = {
	{ "session_reused", (getter)conn_get_session_reused, NULL, NULL, NULL },
	{ "server_side", (getter)conn_get_server_side, NULL, NULL, NULL },
	{ "_handshake_done", (getter)conn_get_handshake_done, NULL, NULL, NULL },
	{ "_native", (getter)conn_get_native, NULL, NULL, NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

PyTypeObject KsConn_Type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "kssl._kssl.Conn",
	.tp_doc = "Conn(native, sock, server_side, server_hostname): a kssl_conn on sock's fd.",
	.tp_basicsize = sizeof(KsConn),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
	.tp_new = conn_new,
	.tp_dealloc = (destructor)conn_dealloc,
	.tp_traverse = (traverseproc)conn_traverse,
	.tp_clear = (inquiry)conn_clear,
	.tp_methods = conn_methods,
	.tp_getset = conn_getset,
	.tp_members = conn_members,
	.tp_weaklistoffset = offsetof(KsConn, weakreflist),
};
