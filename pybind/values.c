/*
 * Python values that _kssl.Conn and _kssl.DTLS hand out the same way:
 * the read(len, buffer) contract of the stdlib's `_sslobj`, cipher
 * tuples, the peer certificate.
 */
#include "module.h"

int kp_read_begin(struct kp_read *rd, PyObject *const *args, Py_ssize_t nargs,
		  Py_ssize_t default_len)
{
	rd->len = default_len;
	rd->bytes = NULL;
	rd->view.buf = NULL;
	/* The stack form of PyArg_ParseTuple (what Argument Clinic uses):
	 * same checks and messages, no argument tuple. */
	if (!_PyArg_ParseStack(args, nargs, "|nw*:read", &rd->len, &rd->view))
		return -1;
	if (rd->view.buf) {
		if (rd->len <= 0 || rd->len > rd->view.len)
			rd->len = rd->view.len;
		rd->buf = rd->view.buf;
		return 0;
	}
	if (rd->len < 0) {
		PyErr_SetString(PyExc_ValueError, "size should not be negative");
		return -1;
	}
	rd->bytes = PyBytes_FromStringAndSize(NULL, rd->len);
	if (!rd->bytes)
		return -1;
	rd->buf = PyBytes_AS_STRING(rd->bytes);
	return 0;
}

PyObject *kp_read_end(struct kp_read *rd, Py_ssize_t n)
{
	if (rd->view.buf) {
		PyBuffer_Release(&rd->view);
		return n < 0 ? NULL : PyLong_FromSsize_t(n);
	}
	if (n < 0) {
		Py_CLEAR(rd->bytes);
		return NULL;
	}
	if (n != PyBytes_GET_SIZE(rd->bytes) && _PyBytes_Resize(&rd->bytes, n) < 0)
		return NULL;
	return rd->bytes;
}

PyObject *kp_cipher_tuple(const struct kssl_cipher_desc *d)
{
	return Py_BuildValue("(ssi)", d->name, d->version, d->bits);
}

PyObject *kp_peer_der(int handshake_done, const uint8_t *der, size_t n)
{
	if (!handshake_done) {
		PyErr_SetString(PyExc_ValueError, "handshake not done yet");
		return NULL;
	}
	if (n == 0)
		Py_RETURN_NONE;
	return PyBytes_FromStringAndSize((const char *)der, (Py_ssize_t)n);
}
