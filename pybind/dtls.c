/*
 * _kssl.DTLS: one kssl_dtls session on a UDP socket's fd (kssl_dtls.h).
 * Each method is one libkssl call with the GIL released. On a blocking fd
 * (socket timeout None) libkssl waits and retransmits itself; otherwise it
 * returns KSSL_E_WANT_* (SSLWantReadError/SSLWantWriteError here) and
 * kssl/_dtls.py waits with the DTLS timer (timeout()/handle_timeout()).
 */
#include <errno.h>

#include "module.h"

#include <kssl/kssl_dtls.h>

typedef struct {
	PyObject_HEAD
	kssl_dtls *d;
	KsContext *native;       /* strong ref: the session's context */
	PyThread_type_lock lock; /* one libkssl call on the session at a time */
} KsDtls;

enum dop { D_HANDSHAKE, D_READ, D_WRITE, D_SHUTDOWN, D_RETRANSMIT };

struct dcall {
	enum dop op;
	void *buf;
	size_t len;
	ssize_t r;
	struct kssl_error_info err;
};

static const char *dop_name(enum dop op)
{
	switch (op) {
	case D_READ: return "read";
	case D_WRITE: return "write";
	case D_SHUTDOWN: return "shutdown";
	default: return "handshake";
	}
}

static void dcall_locked(KsDtls *self, struct dcall *c)
{
	PyThread_acquire_lock(self->lock, WAIT_LOCK);
	switch (c->op) {
	case D_HANDSHAKE:
		c->r = kssl_dtls_handshake(self->d);
		break;
	case D_READ:
		c->r = kssl_dtls_recv(self->d, c->buf, c->len);
		break;
	case D_WRITE:
		c->r = kssl_dtls_send(self->d, c->buf, c->len);
		break;
	case D_SHUTDOWN:
		c->r = kssl_dtls_shutdown(self->d);
		break;
	case D_RETRANSMIT:
		c->r = kssl_dtls_handle_timeout(self->d);
		break;
	}
	if (c->r < 0) {
		kssl_last_error_info(&c->err);
		c->err.code = (int)c->r;
	}
	PyThread_release_lock(self->lock);
}

/* 0 with c->r >= 0, or -1 with a Python exception set. A signal that
 * interrupts a blocking wait runs its handler, then the call goes on. */
static int run(KsDtls *self, struct dcall *c)
{
	for (;;) {
		Py_BEGIN_ALLOW_THREADS
		dcall_locked(self, c);
		Py_END_ALLOW_THREADS
		if (c->r >= 0)
			return 0;
		if (c->r == KSSL_E_INTR) {
			if (PyErr_CheckSignals() < 0)
				return -1;
			continue;
		}
		kp_raise(NULL, &c->err, dop_name(c->op));
		return -1;
	}
}

static PyObject *dtls_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "native", "fd", "server_side",
				  "server_hostname", NULL };
	KsContext *native;
	int fd, server_side, r;
	const char *hostname = NULL;
	KsDtls *self;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "O!ipz", kwlist,
					 &KsContext_Type, &native, &fd,
					 &server_side, &hostname))
		return NULL;
	if (!kssl_ctx_is_dtls(native->ctx) ||
	    server_side != (kssl_ctx_role(native->ctx) == KSSL_SERVER)) {
		PyErr_SetString(PyExc_ValueError, "DTLS: needs a DTLS context of the same role");
		return NULL;
	}
	self = (KsDtls *)type->tp_alloc(type, 0);
	if (!self)
		return NULL;
	self->lock = PyThread_allocate_lock();
	if (!self->lock) {
		Py_DECREF(self);
		return PyErr_NoMemory();
	}
	self->d = kssl_dtls_new(native->ctx, fd);
	if (!self->d) {
		Py_DECREF(self);
		return kp_raise_ctx(KSSL_E_INVAL);
	}
	Py_INCREF(native);
	self->native = native;
	if (hostname && !server_side && (r = kssl_dtls_set_hostname(self->d, hostname)) < 0) {
		Py_DECREF(self);
		return kp_raise_ctx(r);
	}
	return (PyObject *)self;
}

static void dtls_dealloc(KsDtls *self)
{
	kssl_dtls_free(self->d);
	if (self->lock)
		PyThread_free_lock(self->lock);
	Py_XDECREF(self->native);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *dtls_do_handshake(KsDtls *self, PyObject *unused)
{
	struct dcall c = { .op = D_HANDSHAKE };

	(void)unused;
	if (run(self, &c) < 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *dtls_read(KsDtls *self, PyObject *const *args, Py_ssize_t nargs)
{
	struct kp_read rd;
	struct dcall c = { .op = D_READ };

	if (kp_read_begin(&rd, args, nargs, 16384) < 0)
		return NULL;
	c.buf = rd.buf;
	c.len = (size_t)rd.len;
	if (run(self, &c) < 0)
		return kp_read_end(&rd, -1);
	return kp_read_end(&rd, c.r);
}

static PyObject *dtls_write(KsDtls *self, PyObject *arg)
{
	Py_buffer buf;
	struct dcall c = { .op = D_WRITE };
	int r;

	if (PyObject_GetBuffer(arg, &buf, PyBUF_SIMPLE) < 0)
		return NULL;
	c.buf = buf.buf;
	c.len = (size_t)buf.len;
	r = run(self, &c);
	PyBuffer_Release(&buf);
	return r < 0 ? NULL : PyLong_FromSsize_t(c.r);
}

/* Calls whose result is "did it happen" (1) or not (0). */
static PyObject *run_flag(KsDtls *self, enum dop op)
{
	struct dcall c = { .op = op };

	if (run(self, &c) < 0)
		return NULL;
	return PyBool_FromLong(c.r == 1);
}

static PyObject *dtls_shutdown(KsDtls *self, PyObject *unused)
{
	(void)unused;
	return run_flag(self, D_SHUTDOWN);
}

static PyObject *dtls_handle_timeout(KsDtls *self, PyObject *unused)
{
	(void)unused;
	return run_flag(self, D_RETRANSMIT);
}

static PyObject *dtls_timeout(KsDtls *self, PyObject *unused)
{
	int ms;

	(void)unused;
	Py_BEGIN_ALLOW_THREADS
	PyThread_acquire_lock(self->lock, WAIT_LOCK);
	ms = kssl_dtls_timeout_ms(self->d);
	PyThread_release_lock(self->lock);
	Py_END_ALLOW_THREADS
	if (ms < 0)
		Py_RETURN_NONE;
	return PyFloat_FromDouble(ms / 1000.0);
}

static PyObject *dtls_pending(KsDtls *self, PyObject *unused)
{
	size_t n;

	(void)unused;
	Py_BEGIN_ALLOW_THREADS
	PyThread_acquire_lock(self->lock, WAIT_LOCK);
	n = kssl_dtls_pending(self->d);
	PyThread_release_lock(self->lock);
	Py_END_ALLOW_THREADS
	return PyLong_FromSize_t(n);
}

static PyObject *dtls_cipher(KsDtls *self, PyObject *unused)
{
	struct kssl_cipher_desc d;

	(void)unused;
	if (kssl_dtls_cipher_desc(self->d, &d) < 0)
		Py_RETURN_NONE;
	return kp_cipher_tuple(&d);
}

static PyObject *dtls_iana_cipher(KsDtls *self, PyObject *unused)
{
	const char *name = kssl_dtls_cipher(self->d);

	(void)unused;
	if (!name)
		Py_RETURN_NONE;
	return PyUnicode_FromString(name);
}

static PyObject *dtls_version(KsDtls *self, PyObject *unused)
{
	(void)unused;
	if (kssl_dtls_version(self->d) == KSSL_DTLS1_2)
		return PyUnicode_FromString("DTLSv1.2");
	Py_RETURN_NONE;
}

static PyObject *dtls_peer_der(KsDtls *self, PyObject *unused)
{
	const uint8_t *der = NULL;
	size_t n = kssl_dtls_peer_cert_der(self->d, &der);

	(void)unused;
	return kp_peer_der(kssl_dtls_version(self->d) != 0, der, n);
}

static PyObject *dtls_offload(KsDtls *self, PyObject *unused)
{
	const char *tx_reason, *rx_reason;

	(void)unused;
	kssl_dtls_offload(self->d, KSSL_DIR_TX, &tx_reason);
	kssl_dtls_offload(self->d, KSSL_DIR_RX, &rx_reason);
	return Py_BuildValue("(sszz)", "user", "user", tx_reason, rx_reason);
}

static PyObject *dtls_get_handshake_done(KsDtls *self, void *unused)
{
	(void)unused;
	return PyBool_FromLong(kssl_dtls_version(self->d) != 0);
}

static PyMethodDef dtls_methods[] = {
	{ "do_handshake", (PyCFunction)dtls_do_handshake, METH_NOARGS, NULL },
	{ "read", (PyCFunction)(void (*)(void))dtls_read, METH_FASTCALL,
	  "read(len=16384, buffer=None): the plaintext of one record" },
	{ "write", (PyCFunction)dtls_write, METH_O, "write(data): one record" },
	{ "shutdown", (PyCFunction)dtls_shutdown, METH_NOARGS,
	  "send close_notify; True if the peer's was received" },
	{ "timeout", (PyCFunction)dtls_timeout, METH_NOARGS,
	  "seconds until the retransmission timer fires, or None" },
	{ "handle_timeout", (PyCFunction)dtls_handle_timeout, METH_NOARGS,
	  "retransmit if the timer is due; True if it did" },
	{ "pending", (PyCFunction)dtls_pending, METH_NOARGS, NULL },
	{ "cipher", (PyCFunction)dtls_cipher, METH_NOARGS, NULL },
	{ "iana_cipher", (PyCFunction)dtls_iana_cipher, METH_NOARGS, NULL },
	{ "version", (PyCFunction)dtls_version, METH_NOARGS, NULL },
	{ "_peer_der", (PyCFunction)dtls_peer_der, METH_NOARGS, NULL },
	{ "_offload", (PyCFunction)dtls_offload, METH_NOARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef dtls_getset[] = {
	{ "_handshake_done", (getter)dtls_get_handshake_done, NULL, NULL, NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

PyTypeObject KsDtls_Type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "kssl._kssl.DTLS",
	.tp_doc = "DTLS(native, fd, server_side, server_hostname): a kssl_dtls session on a UDP fd.",
	.tp_basicsize = sizeof(KsDtls),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_new = dtls_new,
	.tp_dealloc = (destructor)dtls_dealloc,
	.tp_methods = dtls_methods,
	.tp_getset = dtls_getset,
};
