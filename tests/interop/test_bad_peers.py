"""Bad input must end a kssl connection with a clear error: no crash, no
hang, and never a corrupted byte handed to the application.

- a peer that answers with garbage instead of a ClientHello/ServerHello
- a tampering proxy between two kssl-peers that, half-way through the
  data, flips a ciphertext bit (bad record MAC), breaks a record header,
  or closes the connection mid-record / at a record boundary (truncation)
- certificates that must not verify: unknown CA, wrong host name or IP,
  expired
- a receiver that goes away mid-transfer (closes, or is killed)

With kernel TLS the receiving end of the tampered records is the kernel
(kssl-peer insists on --expect-offload), and /proc/net/tls_stat must count
the decryption error.
"""
import random
import select
import socket
import subprocess
import unittest

from common import (CA, KTLS, SIZE, SUITE, TIMEOUT, InteropCase, MiB,
                    Worker, cert, for_suites, py_context, recv_all)

VERSIONS = [SUITE['tls13_aes128gcm'], SUITE['tls12_aes128gcm']]
APPLICATION_DATA = 23



def kssl_server_args(suite, name='server'):
    crt, key = cert(name)
    return ['--cert', crt, '--key', key, *suite.kssl_args()]


def kssl_client_args(suite, port, name='localhost'):
    return ['--port', str(port), '--ca', CA, '--name', name,
            *suite.kssl_args()]


# ---- garbage instead of a handshake -----------------------------------------

def raw_server(listener, payload):
    """Accept, read the ClientHello, answer `payload` and EOF, wait for the
    client to leave."""
    with listener:
        conn, _ = listener.accept()
    with conn:
        conn.settimeout(TIMEOUT)
        conn.recv(65536)
        conn.sendall(payload)
        shutdown(conn)
        drain(conn)


def drain(sock):
    try:
        while sock.recv(65536):
            pass
    except OSError:
        pass  # a reset is a fine way for the kssl end to leave


GARBAGE = {
    # name: (bytes, what the failing kssl end must say)
    'http_reply': (b'HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n',
                   'wrong version number'),
    'random_bytes': (random.Random(7).randbytes(4096), 'wrong version number'),
    'oversized_record': (b'\x16\x03\x03\xff\xff' + bytes(64),
                         'packet length too long'),
}


class GarbageHandshake(InteropCase):
    data_size = 0  # no transfer

    def expect_failure(self, proc, reason):
        out = self.kssl_result(proc, rc=1, check_offload=False)
        self.assertFalse(out.version, 'handshake must not complete\n'
                         + proc.describe())
        self.assertIn('kssl-peer: handshake: TLS handshake: ', proc.err)
        self.assertIn(reason, proc.err, proc.describe())
        return out

    def garbage_to_client(self, payload, reason):
        listener = socket.create_server(('127.0.0.1', 0))
        listener.settimeout(TIMEOUT)
        worker = Worker(raw_server, listener, payload)
        client = self.kssl('client', '--port', str(listener.getsockname()[1]),
                           '--ca', CA, '--name', 'localhost', '--recv')
        self.expect_failure(client, reason)
        worker.result()

    def garbage_to_server(self, payload, reason):
        server, port = self.kssl_server(*kssl_server_args(VERSIONS[0]),
                                        '--recv')
        with socket.create_connection(('127.0.0.1', port),
                                      timeout=TIMEOUT) as sock:
            sock.sendall(payload)
            drain(sock)
        self.expect_failure(server, reason)

    def test_garbage_instead_of_server_hello(self):
        for name, (payload, reason) in GARBAGE.items():
            with self.subTest(name):
                self.garbage_to_client(payload, reason)

    def test_garbage_instead_of_client_hello(self):
        for name, (payload, reason) in GARBAGE.items():
            with self.subTest(name):
                self.garbage_to_server(payload, reason)

    def test_http_request_to_server(self):
        self.garbage_to_server(b'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n',
                               'http request')

    def test_fatal_alert_instead_of_server_hello(self):
        self.garbage_to_client(b'\x15\x03\x03\x00\x02\x02\x28',
                               'peer sent fatal alert handshake_failure (40)')

    def test_close_during_handshake(self):
        self.garbage_to_client(b'', 'without close_notify')


# ---- a tampering proxy ------------------------------------------------------

class TamperProxy:
    """One TCP connection client <-> proxy <-> 127.0.0.1:upstream.

    The records the data sender writes (`sender` 'server' or 'client') are
    parsed; the first application-data record that starts after `after`
    bytes of application-data records gets `action`:
      flip      one ciphertext bit flipped (bad MAC), forwarding goes on
      header    record version set to 3.1 (malformed header), goes on
      truncate  only its first half forwarded, then EOF to the receiver
      cut       EOF to the receiver at this record boundary
    `before` is the number of application-data record bytes forwarded
    untouched before it: more plaintext than that must never arrive.
    """

    def __init__(self, upstream, sender, after, action):
        self.upstream, self.sender = upstream, sender
        self.after, self.action = after, action
        self.listener = socket.create_server(('127.0.0.1', 0))
        self.listener.settimeout(TIMEOUT)
        self.port = self.listener.getsockname()[1]
        self.before = None
        self.worker = Worker(self.run)

    def run(self):
        with self.listener:
            client, _ = self.listener.accept()
        upstream = socket.create_connection(('127.0.0.1', self.upstream),
                                            timeout=TIMEOUT)
        client.settimeout(TIMEOUT)
        try:
            self.pump(client, upstream)
        finally:
            client.close()
            upstream.close()

    def pump(self, client, upstream):
        peer = {client: upstream, upstream: client}
        src = upstream if self.sender == 'server' else client
        buf, seen, live = bytearray(), 0, {client, upstream}
        while live:
            ready, _, _ = select.select(list(live), [], [], TIMEOUT)
            if not ready:
                raise TimeoutError('tamper proxy: no traffic')
            for sock in ready:
                try:
                    data = sock.recv(256 * 1024)
                except ConnectionResetError:
                    return
                if not data:
                    live.discard(sock)
                    shutdown(peer[sock])
                    continue
                if sock is not src:
                    peer[sock].sendall(data)
                    continue
                buf += data
                out, seen, stop = self.records(buf, seen)
                try:
                    peer[sock].sendall(out)
                except OSError:
                    return
                if stop:
                    return self.eof_to_receiver(peer[sock])

    def records(self, buf, seen):
        """Whole records from buf, tampered as asked: (bytes, seen, stop)."""
        out = bytearray()
        while len(buf) >= 5:
            end = 5 + int.from_bytes(buf[3:5], 'big')
            if len(buf) < end:
                break
            rec = bytearray(buf[:end])
            del buf[:end]
            if rec[0] == APPLICATION_DATA:
                if self.before is None and seen >= self.after:
                    self.before = seen
                    if self.action == 'truncate':
                        return out + rec[:len(rec) // 2], seen, True
                    if self.action == 'cut':
                        return out, seen, True
                    if self.action == 'flip':
                        rec[5 + (end - 5) // 2] ^= 0x01
                    elif self.action == 'header':
                        rec[1:3] = b'\x03\x01'
                seen += end - 5
            out += rec
        return out, seen, False

    @staticmethod
    def eof_to_receiver(sock):
        """FIN (not RST) to the receiver, then wait until it leaves."""
        shutdown(sock)
        drain(sock)


def shutdown(sock):
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass


@for_suites(VERSIONS, 'bad_mac_server_sends', 'bad_mac_client_sends',
            'bad_header_server_sends', 'truncated_record_server_sends',
            'truncated_record_client_sends', 'cut_at_record_boundary')
class Tampering(InteropCase):

    def transfer(self, suite, sender, action, offload=True):
        """kssl-peer sender -> proxy -> kssl-peer receiver, tampered half-way;
        returns (receiver process, its output). offload=False: both ends
        use the OpenSSL fallback (--offload none), kernel TLS or not."""
        send = ['--send', self.data]
        mode = [] if offload else ['--offload', 'none']
        kernel = ('tx', 'rx') if offload else ()
        server, port = self.kssl_server(
            *kssl_server_args(suite), *mode,
            *(send if sender == 'server' else ['--recv']), kernel=kernel)
        proxy = TamperProxy(port, sender, self.size // 2, action)
        client = self.kssl('client', *kssl_client_args(suite, proxy.port),
                           *mode,
                           *(['--recv'] if sender == 'server' else send),
                           kernel=kernel)
        receiver, sender_proc = ((client, server) if sender == 'server'
                                 else (server, client))
        out = self.kssl_result(receiver, rc=1, bad_mac=True)
        want = 'KSSL_E_TLS' if action in ('flip', 'header') else 'KSSL_E_EOF'
        self.assertEqual(out.recv.end, want, receiver.describe())
        self.assert_prefix(out.recv, receiver)
        proxy.worker.result()
        self.assertIsNotNone(proxy.before, 'the proxy never tampered')
        self.assertLessEqual(out.recv.size, proxy.before, receiver.describe())
        self.assert_sender_left(sender_proc)
        return receiver, out

    def assert_sender_left(self, proc):
        """The sender ends on its own, cleanly or with a named error."""
        rc = proc.wait()
        self.assertIn(rc, (0, 1), proc.describe())
        if rc:
            self.assertRegex(proc.err, r'kssl-peer: \S+: .+\(KSSL_E_\w+\)')

    def assert_bad_mac(self, suite, sender):
        receiver, _ = self.transfer(suite, sender, 'flip')
        self.assertRegex(receiver.err, r'(?i)bad.record.mac')
        if KTLS:
            self.assertIn('kernel TLS: record authentication failed '
                          '(bad_record_mac)', receiver.err)
            self.assert_kernel_counters(TlsDecryptError=1)

    def bad_mac_server_sends(self, suite):
        self.assert_bad_mac(suite, 'server')

    def bad_mac_client_sends(self, suite):
        self.assert_bad_mac(suite, 'client')

    def bad_header_server_sends(self, suite):
        receiver, _ = self.transfer(suite, 'server', 'header')
        self.assertIn('kernel TLS: malformed record' if KTLS
                      else 'wrong version number', receiver.err)

    def assert_truncated(self, suite, sender, action):
        receiver, _ = self.transfer(suite, sender, action)
        self.assertIn('peer closed the connection without close_notify',
                      receiver.err)

    def truncated_record_server_sends(self, suite):
        self.assert_truncated(suite, 'server', 'truncate')

    def truncated_record_client_sends(self, suite):
        self.assert_truncated(suite, 'client', 'truncate')

    def cut_at_record_boundary(self, suite):
        self.assert_truncated(suite, 'server', 'cut')

    def test_tls12_userspace_bad_mac_is_named(self):
        # OpenSSL queues the provider's "cipher operation failed" before the
        # SSL library's reason; kssl must report the latter.
        receiver, _ = self.transfer(SUITE['tls12_aes128gcm'], 'server', 'flip',
                                    offload=False)
        self.assertIn('TLS read: decryption failed or bad record mac',
                      receiver.err)


# ---- certificates -----------------------------------------------------------

@for_suites(VERSIONS, 'unknown_ca', 'hostname_mismatch', 'ip_mismatch',
            'expired_certificate')
class Certificates(InteropCase):
    data_size = 0

    def verify_fails(self, suite, server_cert, name, reason, alert):
        server, port = self.kssl_server(*kssl_server_args(suite, server_cert))
        client = self.kssl('client', *kssl_client_args(suite, port, name),
                           '--recv')
        self.kssl_result(client, rc=1, check_offload=False)
        self.kssl_result(server, rc=1, check_offload=False)
        self.assertIn('TLS handshake: certificate verify failed: ' + reason,
                      client.err, client.describe())
        self.assertIn('(KSSL_E_CERT)', client.err)
        self.assertIn(f'peer sent fatal alert {alert}', server.err,
                      server.describe())

    def unknown_ca(self, suite):
        self.verify_fails(suite, 'wrong', 'localhost',
                          'unable to get local issuer certificate',
                          'unknown_ca')

    def hostname_mismatch(self, suite):
        self.verify_fails(suite, 'server', 'example.com', 'hostname mismatch',
                          'bad_certificate')

    def ip_mismatch(self, suite):
        self.verify_fails(suite, 'server', '127.0.0.2', 'IP address mismatch',
                          'bad_certificate')

    def expired_certificate(self, suite):
        self.verify_fails(suite, 'expired', 'localhost',
                          'certificate has expired', 'certificate_expired')


# ---- the receiver goes away -------------------------------------------------

def py_partial_reader(sock_factory, suite, server):
    """Handshake, read 1 MiB, then close without close_notify (unread
    data pending: the kernel answers further data with a reset)."""
    raw = sock_factory()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    ctx = py_context(suite, server=server)
    tls = ctx.wrap_socket(raw, server_side=server,
                          server_hostname=None if server else 'localhost')
    got = recv_all(tls, MiB)
    tls.close()
    return got


class ReceiverGoesAway(InteropCase):
    # Larger than all socket buffers together, so the sender is still
    # sending when the receiver leaves (it stops there: cheap in the VM).
    data_size = max(SIZE, 32 * MiB)
    suite = VERSIONS[0]
    reset = r'(Connection reset by peer|Broken pipe)'

    def assert_send_failed(self, proc):
        out = self.kssl_result(proc, rc=1)
        self.assertIsNone(out.sent, 'the sender claims it sent everything\n'
                          + proc.describe())
        self.assertRegex(proc.err, r'kssl-peer: kssl_sendfile: .*' + self.reset
                         + r'.*\(KSSL_E_SYSCALL\)')

    def test_client_closes_while_server_sends(self):
        server, port = self.kssl_server(*kssl_server_args(self.suite),
                                        '--send', self.data)
        worker = Worker(py_partial_reader, lambda: socket.create_connection(
            ('127.0.0.1', port), timeout=TIMEOUT), self.suite, False)
        self.assert_send_failed(server)
        self.assertEqual(worker.result()[0], MiB)

    def test_server_closes_while_client_sends(self):
        listener = socket.create_server(('127.0.0.1', 0))
        listener.settimeout(TIMEOUT)

        def accept():
            with listener:
                conn, _ = listener.accept()
            conn.settimeout(TIMEOUT)
            return conn
        worker = Worker(py_partial_reader, accept, self.suite, True)
        client = self.kssl('client', *kssl_client_args(
            self.suite, listener.getsockname()[1]), '--send', self.data)
        self.assert_send_failed(client)
        self.assertEqual(worker.result()[0], MiB)

    def test_s_client_killed_while_server_sends(self):
        server, port = self.kssl_server(*kssl_server_args(self.suite),
                                        '--send', self.data)
        client = subprocess.Popen(
            ['openssl', 's_client', '-connect', f'127.0.0.1:{port}', '-quiet',
             '-CAfile', CA], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL)
        self.addCleanup(client.__exit__, None, None, None)  # pipes, wait
        self.addCleanup(client.kill)
        got = 0
        while got < MiB:
            chunk = client.stdout.read1(MiB)
            self.assertTrue(chunk, 's_client stopped receiving early')
            got += len(chunk)
        client.kill()
        self.assert_send_failed(server)


if __name__ == '__main__':
    unittest.main()
