"""kssl-peer against GnuTLS (gnutls-cli, gnutls-serv): a TLS stack that
shares no code with OpenSSL, so a kssl record that only OpenSSL would
accept is caught here.

Both versions x AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305, AES-128-CCM,
pinned on the GnuTLS side by a priority string and on the kssl side by
--tls/--suites/--ciphers.

How data moves with the GnuTLS tools:
  gnutls-cli             sends stdin (close_notify at EOF), prints what it
                         receives on stdout (messages go to --logfile),
                         leaves on the server's close_notify; its stdout
                         takes ~25-byte write(2)s (~1.5 MB/s): a smaller
                         file for that direction
  gnutls-serv --http     answers "GET /" with a header and --httpdata,
                         then close_notify: kssl-peer saves it (--out)
  gnutls-serv --echo     line-based echo (text only: it uses strlen), so
                         kssl-peer --echo sends a text file in 64 KiB
                         chunks of whole lines and reads each one back;
                         it echoes in 1 KiB pieces, slowly: a smaller file
"""
import hashlib
import os
import re
import subprocess
import unittest

from common import (CA, KTLS, SIZE, SUITE, SUITES, InteropCase, MiB,
                    for_suites, make_binary_file, make_text_file, sha256_file)

# For the two slow paths (gnutls-cli's stdout, gnutls-serv --echo).
SLOW_SIZE = min(SIZE, (1 if KTLS else 4) * MiB)


def gnutls_cli(port, suite, logfile):
    return ['gnutls-cli', f'--x509cafile={CA}',
            f'--priority={suite.gnutls_priority()}', f'--logfile={logfile}',
            '-p', str(port), '127.0.0.1']


def gnutls_serv(suite, *mode):
    crt, key = suite.server_cert()
    return lambda port: ['gnutls-serv', '--quiet', *mode, '-p', str(port),
                         f'--x509certfile={crt}', f'--x509keyfile={key}',
                         f'--priority={suite.gnutls_priority()}']


def kssl_server_args(suite):
    crt, key = suite.server_cert()
    return ['--cert', crt, '--key', key, *suite.kssl_args()]


def kssl_client_args(suite, port):
    return ['--port', str(port), '--ca', CA, '--name', 'localhost',
            *suite.kssl_args()]


@for_suites(SUITES, 'kssl_server_sends', 'gnutls_cli_sends',
            'gnutls_serv_sends', 'kssl_client_echo')
class GnuTLSInterop(InteropCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.small = os.path.join(cls.classdir, 'small.bin')
        make_binary_file(cls.small, SLOW_SIZE + 4321, seed='small')
        cls.small_size = os.path.getsize(cls.small)
        cls.small_sha = sha256_file(cls.small)
        cls.text = os.path.join(cls.classdir, 'lines.txt')
        make_text_file(cls.text, SLOW_SIZE + 64 * 37, seed='echo')
        cls.text_size = os.path.getsize(cls.text)
        cls.text_sha = sha256_file(cls.text)

    def kssl_server_sends(self, suite):
        server, port = self.kssl_server(*kssl_server_args(suite),
                                        '--send', self.small)
        log = os.path.join(self.tmp, 'gnutls-cli.log')
        client = self.spawn('gnutls-cli', gnutls_cli(port, suite, log),
                            stdin=subprocess.PIPE, data_stdout=True,
                            logfile=log)
        self.wait_ok(client)
        out = self.kssl_result(server)
        self.assert_handshake(out, suite, server)
        self.assertEqual(out.sent, self.small_size, server.describe())
        self.assert_file(client.out_path, self.small_size, self.small_sha,
                         what='gnutls-cli received')
        self.assert_kernel_counters()

    def gnutls_cli_sends(self, suite):
        server, port = self.kssl_server(*kssl_server_args(suite), '--recv')
        log = os.path.join(self.tmp, 'gnutls-cli.log')
        with open(self.data, 'rb') as data:
            client = self.spawn('gnutls-cli', gnutls_cli(port, suite, log),
                                stdin=data, logfile=log)
        self.wait_ok(client)
        out = self.kssl_result(server)
        self.assert_handshake(out, suite, server)
        self.assert_transfer(out.recv, 'close_notify', server)
        self.assert_kernel_counters()

    def gnutls_serv_sends(self, suite):
        server, port = self.server_on_free_port(
            'gnutls-serv',
            gnutls_serv(suite, '--http', f'--httpdata={self.data}'))
        saved = os.path.join(self.tmp, 'response')
        client = self.kssl('client', *kssl_client_args(suite, port),
                           '--request', r'GET / HTTP/1.0\r\n\r\n',
                           '--recv', '--out', saved)
        out = self.kssl_result(client)
        self.assert_handshake(out, suite, client)
        self.assertEqual(out.recv.end, 'close_notify', client.describe())
        self.assertEqual(out.recv.size, os.path.getsize(saved))
        self.assert_http_body(saved)
        self.assert_no_bad_mac(server)
        self.assert_kernel_counters()

    def kssl_client_echo(self, suite):
        server, port = self.server_on_free_port(
            'gnutls-serv', gnutls_serv(suite, '--echo'))
        client = self.kssl('client', *kssl_client_args(suite, port),
                           '--echo', self.text)
        out = self.kssl_result(client)
        self.assert_handshake(out, suite, client)
        self.assert_transfer(out.echo, 'complete', client,
                             size=self.text_size, sha=self.text_sha)
        self.assert_no_bad_mac(server)
        self.assert_kernel_counters()

    def assert_http_body(self, path):
        """The saved response is "HTTP/1.0 200" + headers + the data file."""
        with open(path, 'rb') as f:
            head = f.read(4096)
        end = head.find(b'\r\n\r\n')
        self.assertGreater(end, 0, f'no HTTP header in {head[:200]!r}')
        header = head[:end].decode()
        self.assertRegex(header, r'^HTTP/1\.[01] 200 ')
        m = re.search(r'(?im)^content-length: *(\d+)', header)
        self.assertTrue(m and int(m.group(1)) == self.size, header)
        body = os.path.join(self.tmp, 'body')
        with open(path, 'rb') as src, open(body, 'wb') as dst:
            src.seek(end + 4)
            while chunk := src.read(MiB):
                dst.write(chunk)
        self.assert_file(body, what='HTTP body from gnutls-serv')


class KeyUpdate(InteropCase):
    """gnutls-cli re-keys its sending direction (TLS 1.3 KeyUpdate) half-way
    through the data. OpenSSL follows it, so the fallback gets all the data.
    kssl does not re-key kernel TLS (Linux < 6.14 cannot; see kssl.h
    KSSL_E_REKEY): with RX in the kernel the connection must stop with that
    error exactly at the KeyUpdate, never read on with the old key."""
    data_size = 0

    def test_peer_key_update_mid_stream(self):
        suite = SUITE['tls13_aes128gcm']
        half = os.path.join(self.tmp, 'half.txt')
        make_text_file(half, SIZE // 2, seed='keyupdate')
        with open(half, 'rb') as f:
            part = f.read()
        stream = os.path.join(self.tmp, 'stream.txt')
        with open(stream, 'wb') as f:  # the command line is not sent as data
            f.write(part + b'^rekey1^\n' + part)
        server, port = self.kssl_server(*kssl_server_args(suite), '--recv')
        log = os.path.join(self.tmp, 'gnutls-cli.log')
        with open(stream, 'rb') as data:
            client = self.spawn('gnutls-cli', [*gnutls_cli(port, suite, log),
                                               '--inline-commands'],
                                stdin=data, logfile=log)
        if KTLS:
            out = self.kssl_result(server, rc=1)
            self.assert_transfer(out.recv, 'KSSL_E_REKEY', server,
                                 len(part), hashlib.sha256(part).hexdigest())
            self.assertIn('peer sent a TLS 1.3 KeyUpdate', server.err)
            client.wait()  # it may fail on kssl's alert; it must leave
            self.assert_no_bad_mac(client)
        else:
            self.wait_ok(client)
            self.assertIn('Rekey was completed', client.err)  # it did re-key
            out = self.kssl_result(server)
            self.assert_transfer(out.recv, 'close_notify', server,
                                 2 * len(part),
                                 hashlib.sha256(part + part).hexdigest())
        self.assert_kernel_counters()


if __name__ == '__main__':
    unittest.main()
