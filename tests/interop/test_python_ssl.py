"""kssl-peer against CPython's own ssl module, the stack kssl means to be a
drop-in for: server and client, both versions, data both ways.

CPython cannot pin a TLS 1.3 suite (no API for it) and does not enable
AES-128-CCM for TLS 1.3, so the TLS 1.3 cases pin the suite on the kssl
side and CCM runs with TLS 1.2 only; every case checks which suite was
negotiated on both ends.

TLS 1.3 tickets: a CPython server sends its tickets right after the
handshake, when a kssl client without --sessions already moved RX into
the kernel. kssl must drop them there without disturbing the data.
"""
import socket
import ssl
import unittest

from common import (BAD_MAC, CA, KTLS, SUITE, SUITES, TIMEOUT, InteropCase,
                    Worker, for_suites, py_context, recv_all, send_file)

PY_SUITES = [s for s in SUITES if not (s.tls == '1.3' and 'CCM' in s.iana)]


def kssl_server_args(suite):
    crt, key = suite.server_cert()
    return ['--cert', crt, '--key', key, *suite.kssl_args()]


def kssl_client_args(suite, port):
    return ['--port', str(port), '--ca', CA, '--name', 'localhost',
            *suite.kssl_args()]


def py_client(port, suite, work):
    """Connect, run work(tls_socket), answer close_notify; returns
    (work's result, cipher name, version)."""
    ctx = py_context(suite, server=False)
    with socket.create_connection(('127.0.0.1', port), timeout=TIMEOUT) as raw:
        with ctx.wrap_socket(raw, server_hostname='localhost',
                             suppress_ragged_eofs=False) as tls:
            result = work(tls)
            info = tls.cipher()[0], tls.version()
            tls.unwrap()
            return result, *info


def py_listener():
    listener = socket.create_server(('127.0.0.1', 0))
    listener.settimeout(TIMEOUT)
    return listener


def py_server(listener, suite, work, tickets=None):
    """Accept one connection on `listener`, as py_client otherwise."""
    ctx = py_context(suite, server=True, tls13_tickets=tickets)
    with listener:
        raw, _ = listener.accept()
    raw.settimeout(TIMEOUT)
    with ctx.wrap_socket(raw, server_side=True,
                         suppress_ragged_eofs=False) as tls:
        result = work(tls)
        info = tls.cipher()[0], tls.version()
        tls.unwrap()
        return result, *info


class PythonCase(InteropCase):

    def py_result(self, worker, suite):
        """The CPython end's result, with a bad record MAC named as such."""
        try:
            result, cipher, version = worker.result()
        except ssl.SSLError as e:
            if BAD_MAC.search(str(e)):
                self.fail(f'CPython ssl reported a bad record MAC ({e}): kssl '
                          'sent records under a wrong key or sequence number')
            raise
        self.assertEqual((cipher, version), (suite.openssl, suite.version()))
        return result

    def kssl_client_receives(self, suite, tickets=None, *args):
        """A CPython server sends the data file to kssl-peer client."""
        listener = py_listener()
        port = listener.getsockname()[1]
        worker = Worker(py_server, listener, suite,
                        lambda tls: send_file(tls, self.data), tickets)
        client = self.kssl('client', *kssl_client_args(suite, port),
                           '--recv', *args)
        out = self.kssl_result(client)
        self.py_result(worker, suite)
        self.assert_handshake(out, suite, client)
        self.assert_transfer(out.recv, 'close_notify', client)
        self.assert_kernel_counters()
        return out


@for_suites(PY_SUITES, 'kssl_server_sends', 'py_client_sends',
            'py_server_sends', 'kssl_client_sends')
class PythonSSLInterop(PythonCase):

    def kssl_server_sends(self, suite):
        server, port = self.kssl_server(*kssl_server_args(suite),
                                        '--send', self.data)
        worker = Worker(py_client, port, suite, recv_all)
        out = self.kssl_result(server)
        got = self.py_result(worker, suite)
        self.assert_handshake(out, suite, server)
        self.assertEqual(got, (self.size, self.data_sha))
        self.assert_kernel_counters()

    def py_client_sends(self, suite):
        server, port = self.kssl_server(*kssl_server_args(suite), '--recv')
        worker = Worker(py_client, port, suite,
                        lambda tls: send_file(tls, self.data))
        out = self.kssl_result(server)
        self.py_result(worker, suite)
        self.assert_handshake(out, suite, server)
        self.assert_transfer(out.recv, 'close_notify', server)
        self.assert_kernel_counters()

    def py_server_sends(self, suite):
        self.kssl_client_receives(suite)

    def kssl_client_sends(self, suite):
        listener = py_listener()
        port = listener.getsockname()[1]
        worker = Worker(py_server, listener, suite, recv_all)
        client = self.kssl('client', *kssl_client_args(suite, port),
                           '--send', self.data)
        out = self.kssl_result(client)
        got = self.py_result(worker, suite)
        self.assert_handshake(out, suite, client)
        self.assertEqual(got, (self.size, self.data_sha))
        self.assert_kernel_counters()


class TLS13Tickets(PythonCase):
    """CPython server (OpenSSL's default: 2 tickets), kssl-peer client."""

    suite = SUITE['tls13_aes128gcm']

    def test_no_tickets(self):
        self.kssl_client_receives(self.suite, 0)

    def test_default_tickets_arrive_after_rx_offload(self):
        out = self.kssl_client_receives(self.suite)
        if KTLS:  # RX was in the kernel before any ticket was read
            self.assertEqual(out.offload[0], ('kernel', 'kernel'), out.text)

    def test_five_tickets_arrive_after_rx_offload(self):
        self.kssl_client_receives(self.suite, 5)

    def test_tickets_then_close_notify_while_client_sends(self):
        """The client only writes; tickets and close_notify reach its
        (kernel) RX at the end, in one go."""
        listener = py_listener()
        port = listener.getsockname()[1]
        worker = Worker(py_server, listener, self.suite, recv_all, 3)
        client = self.kssl('client', *kssl_client_args(self.suite, port),
                           '--send', self.data)
        out = self.kssl_result(client)
        self.assertEqual(self.py_result(worker, self.suite),
                         (self.size, self.data_sha))
        self.assertEqual(out.sent, self.size)
        self.assert_kernel_counters()

    def test_sessions_defer_rx_until_tickets_are_read(self):
        """--sessions: RX waits for the first application record (the
        tickets come before it), then goes to the kernel."""
        out = self.kssl_client_receives(self.suite, 2, '--sessions')
        if KTLS:
            self.assertEqual(out.offload[0], ('kernel', 'pending'), out.text)
            self.assertIn(('rx', "waiting for the server's session tickets"),
                          out.reasons)


if __name__ == '__main__':
    unittest.main()
