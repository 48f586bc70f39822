"""kssl-peer against the openssl command-line peers (s_client, s_server).

Every suite kssl can offload (TLS 1.2 and 1.3 x AES-128-GCM, AES-256-GCM,
ChaCha20-Poly1305, AES-128-CCM), each direction of data, kssl as server
and as client. OpenSSL is the reference here: a wrong key or sequence
number in kssl's kernel records shows up as "bad record mac" at the
openssl peer, which these tests report as such.

How data moves with the openssl tools:
  s_client -quiet        prints what it receives on stdout, leaves on
                         close_notify; stdin is an idle pipe
  s_client -nocommands   sends stdin, then close_notify at stdin EOF
  s_server -quiet        prints what it receives on stdout
  s_server -brief        sends what comes on stdin (fed from the data file
                         once it printed its handshake summary, pipe left
                         open since it never closes on stdin EOF). It never
                         sends close_notify, so kssl-peer reads exactly the
                         file size (--recv-len) and closes.
Feeding stdin before s_server finished the handshake is racy in s_server
itself (OpenSSL 3.0, both ends openssl too): a stdin write completes the
handshake inside SSL_write, consuming the client Finished that select()
had flagged, and the following SSL_read blocks for good after 16 KiB.
"""
import subprocess
import unittest

from common import CA, SUITE, SUITES, InteropCase, for_suites


def s_client(port, suite, *extra):
    return ['openssl', 's_client', '-connect', f'127.0.0.1:{port}',
            '-CAfile', CA, '-verify_return_error', '-verify_hostname',
            'localhost', '-servername', 'localhost', *suite.openssl_args(),
            *extra]


def s_server(suite, mode):
    crt, key = suite.server_cert()
    return lambda port: ['openssl', 's_server', '-accept', f'127.0.0.1:{port}',
                         '-naccept', '1', mode, '-cert', crt, '-key', key,
                         *suite.openssl_args()]


def kssl_server_args(suite):
    crt, key = suite.server_cert()
    return ['--cert', crt, '--key', key, *suite.kssl_args()]


def kssl_client_args(suite, port):
    return ['--port', str(port), '--ca', CA, '--name', 'localhost',
            *suite.kssl_args()]


def offload_args(offload):
    """kssl-peer options and the directions it must then offload."""
    if offload == 'both':
        return [], ('tx', 'rx')
    return ['--offload', offload], (offload,)


class OpenSSLPeers(InteropCase):
    """The scenarios; offload='tx'/'rx' keeps the other direction in
    OpenSSL within the same connection."""

    def kssl_server_sends(self, suite, offload='both'):
        args, kernel = offload_args(offload)
        server, port = self.kssl_server(*kssl_server_args(suite), *args,
                                        '--send', self.data, kernel=kernel)
        client = self.spawn('s_client', s_client(port, suite, '-quiet'),
                            stdin=subprocess.PIPE, data_stdout=True)
        self.wait_ok(client)
        out = self.kssl_result(server)
        self.assert_handshake(out, suite, server)
        self.assertEqual(out.sent, self.size, server.describe())
        self.assert_file(client.out_path, what='s_client received')
        self.assert_kernel_counters(kernel)

    def s_client_sends(self, suite, offload='both'):
        args, kernel = offload_args(offload)
        server, port = self.kssl_server(*kssl_server_args(suite), *args,
                                        '--recv', kernel=kernel)
        with open(self.data, 'rb') as data:
            client = self.spawn('s_client',
                                s_client(port, suite, '-nocommands'),
                                stdin=data)
        self.wait_ok(client)
        out = self.kssl_result(server)
        self.assert_handshake(out, suite, server)
        self.assert_transfer(out.recv, 'close_notify', server)
        self.assert_kernel_counters(kernel)

    def s_server_sends(self, suite):
        server, port = self.server_on_free_port(
            's_server', s_server(suite, '-brief'), stdin=subprocess.PIPE)
        client = self.kssl('client', *kssl_client_args(suite, port), '--recv',
                           '--recv-len', str(self.size))
        server.wait_for(r'^Ciphersuite: ', 'err')
        server.feed_file(self.data)
        out = self.kssl_result(client)
        self.assert_handshake(out, suite, client)
        self.assert_transfer(out.recv, 'limit', client)
        self.wait_ok(server)  # it leaves on kssl's close_notify
        self.assert_kernel_counters()

    def kssl_client_sends(self, suite):
        server, port = self.server_on_free_port(
            's_server', s_server(suite, '-quiet'), stdin=subprocess.PIPE,
            data_stdout=True)
        client = self.kssl('client', *kssl_client_args(suite, port),
                           '--send', self.data)
        out = self.kssl_result(client)
        self.assert_handshake(out, suite, client)
        self.assertEqual(out.sent, self.size, client.describe())
        self.wait_ok(server)
        self.assert_file(server.out_path, what='s_server received')
        self.assert_kernel_counters()


@for_suites(SUITES, 'kssl_server_sends', 's_client_sends',
            's_server_sends', 'kssl_client_sends')
class OpenSSLInterop(OpenSSLPeers):
    pass


class MixedOffload(OpenSSLPeers):
    """One direction in the kernel, the other in OpenSSL: the handover of
    each direction's key and sequence number must not depend on the other
    (under kTLS only; on the host both stay in OpenSSL anyway)."""

    def test_tx_only_server_sends_tls13(self):
        self.kssl_server_sends(SUITE['tls13_aes256gcm'], 'tx')

    def test_tx_only_client_sends_tls13(self):
        self.s_client_sends(SUITE['tls13_aes256gcm'], 'tx')

    def test_rx_only_server_sends_tls13(self):
        self.kssl_server_sends(SUITE['tls13_chacha20'], 'rx')

    def test_rx_only_client_sends_tls13(self):
        self.s_client_sends(SUITE['tls13_chacha20'], 'rx')

    def test_tx_only_server_sends_tls12(self):
        self.kssl_server_sends(SUITE['tls12_aes128gcm'], 'tx')

    def test_tx_only_client_sends_tls12(self):
        self.s_client_sends(SUITE['tls12_aes128gcm'], 'tx')

    def test_rx_only_server_sends_tls12(self):
        self.kssl_server_sends(SUITE['tls12_aes128ccm'], 'rx')

    def test_rx_only_client_sends_tls12(self):
        self.s_client_sends(SUITE['tls12_aes128ccm'], 'rx')


if __name__ == '__main__':
    unittest.main()
