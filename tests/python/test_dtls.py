"""DTLS 1.2 over UDP: kssl.SSLContext(PROTOCOL_DTLS_*) and kssl_dtls.

kssl client <-> kssl server on loopback (threads), through a UDP relay that
logs (and can drop) datagrams to show the cookie exchange and the
retransmissions, and against `openssl s_server -dtls1_2 -listen` /
`openssl s_client -dtls1_2`. Bytes are compared everywhere. Both waiting
paths run: timeout None (libkssl waits and retransmits itself) and a
timeout (kssl/_dtls.py waits with the DTLS timer).
"""
import os
import select
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import unittest

import kssl
from support import TIMEOUT, Peer, cert, payload

NO_KERNEL_DTLS = "there is no kernel DTLS"

# DTLS record / handshake header fields (RFC 6347, 4.1 and 4.2.2).
CT_HANDSHAKE = 22
HS_CLIENT_HELLO, HS_HELLO_VERIFY_REQUEST, HS_SERVER_HELLO = 1, 3, 2


def records(datagram):
    """[(content_type, epoch, handshake type or None, record body)]."""
    out, i = [], 0
    while i + 13 <= len(datagram):
        ctype = datagram[i]
        epoch = int.from_bytes(datagram[i + 3:i + 5], "big")
        n = int.from_bytes(datagram[i + 11:i + 13], "big")
        body = datagram[i + 13:i + 13 + n]
        hs = body[0] if ctype == CT_HANDSHAKE and epoch == 0 and body else None
        out.append((ctype, epoch, hs, body))
        i += 13 + n
    return out


class Relay:
    """A UDP relay between one client and a server: the server sees the
    relay as its client. Logs every datagram; drops those whose index (per
    direction, from 0) is in drop["c2s"] / drop["s2c"]."""

    def __init__(self, server_addr, drop=None):
        self.server = server_addr
        self.drop = {"c2s": set(), "s2c": set()}
        for k, v in (drop or {}).items():
            self.drop[k] = set(v)
        self.log = {"c2s": [], "s2c": []}
        self.dropped = {"c2s": [], "s2c": []}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.addr = self.sock.getsockname()
        self.client = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            ready, _, _ = select.select([self.sock], [], [], 0.05)
            if not ready:
                continue
            try:
                data, src = self.sock.recvfrom(65536)
            except OSError:
                continue
            if src == self.server:
                way, dst = "s2c", self.client
            else:
                self.client = src
                way, dst = "c2s", self.server
            index = len(self.log[way]) + len(self.dropped[way])
            if index in self.drop[way]:
                self.dropped[way].append(data)
                continue
            self.log[way].append(data)
            if dst is not None:
                self.sock.sendto(data, dst)

    def handshakes(self, way, log=None):
        """Handshake types of the unencrypted handshake records sent."""
        return [hs for d in (log or self.log)[way]
                for _, _, hs, _ in records(d) if hs is not None]

    def close(self):
        self.stop.set()
        self.thread.join(TIMEOUT)
        self.sock.close()


def udp(bind=None, reuse=False, timeout=TIMEOUT):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if reuse:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if bind is not None:
        s.bind(bind)
    s.settimeout(timeout)
    return s


def server_ctx(certname="server"):
    ctx = kssl.SSLContext(kssl.PROTOCOL_DTLS_SERVER)
    ctx.load_cert_chain(cert(certname + ".pem"), cert(certname + ".key"))
    return ctx


def client_ctx(cafile="ca.pem"):
    ctx = kssl.SSLContext(kssl.PROTOCOL_DTLS_CLIENT)
    ctx.load_verify_locations(cert(cafile))
    return ctx


def echo_reversed(d, count):
    """Server handler: answer `count` datagrams with their reverse."""
    sizes = []
    for _ in range(count):
        data = d.recv(65536)
        sizes.append(len(data))
        d.send(data[::-1])
    return sizes


def start_server(handler, ctx=None, timeout=TIMEOUT, sock=None):
    """A DTLS server thread on a fresh bound socket: returns (addr, Peer);
    the Peer's value is (handler's result, DTLSSocket)."""
    sock = sock or udp(("127.0.0.1", 0), timeout=timeout)
    addr = sock.getsockname()
    ctx = ctx or server_ctx()

    def run():
        d = ctx.wrap_socket(sock, server_side=True)
        try:
            return handler(d), d
        finally:
            d.close()
    return addr, Peer(run).start()


def dtls_client(addr, ctx=None, timeout=TIMEOUT, hostname="localhost"):
    s = udp(timeout=timeout)
    try:
        s.connect(addr)
        return (ctx or client_ctx()).wrap_socket(s, server_hostname=hostname)
    except BaseException:
        s.close()
        raise


SIZES = (1, 100, 1200, 9000, 16384)


class DTLSLoopbackTest(unittest.TestCase):

    def exchange(self, timeout):
        addr, peer = start_server(lambda d: echo_reversed(d, len(SIZES)),
                                  timeout=timeout)
        with dtls_client(addr, timeout=timeout) as c:
            self.assertEqual(c.version(), "DTLSv1.2")
            for n in SIZES:
                data = payload(n, seed=b"dtls%d" % n)
                self.assertEqual(c.send(data), n)
                self.assertEqual(c.recv(65536), data[::-1])
            sizes, _ = peer.result()
        # One record per datagram both ways: the boundaries survive.
        self.assertEqual(sizes, list(SIZES))

    def test_exchange_blocking(self):
        self.exchange(None)

    def test_exchange_with_timeouts(self):
        self.exchange(TIMEOUT)

    def test_state_offload_and_peer_cert(self):
        def server(d):
            return (d.version(), d.cipher(), d.iana_cipher(), d.offload,
                    d.getpeercert(), d.getpeername())
        addr, peer = start_server(server)
        with dtls_client(addr) as c:
            (version, cipher, iana, off, peer_cert, peer_addr), _ = peer.result()
            self.assertEqual(version, "DTLSv1.2")
            self.assertEqual(c.cipher(), cipher)
            self.assertEqual(c.iana_cipher(), iana)
            self.assertTrue(iana.startswith("TLS_"), iana)
            for o in (off, c.offload):
                self.assertEqual((o.tx, o.rx), ("user", "user"))
                self.assertIn(NO_KERNEL_DTLS, o.tx_reason)
                self.assertIn(NO_KERNEL_DTLS, o.rx_reason)
            self.assertIsNone(peer_cert)  # the client sent none
            subject = dict(x[0] for x in c.getpeercert()["subject"])
            self.assertEqual(subject["commonName"], "localhost")
            der = c.getpeercert(binary_form=True)
            with open(cert("server.pem")) as f:
                self.assertEqual(der, ssl.PEM_cert_to_DER_cert(f.read()))
            # The server socket is now connected to its one client.
            self.assertEqual(peer_addr, c.getsockname())

    def test_cookie_exchange(self):
        sock = udp(("127.0.0.1", 0))
        relay = Relay(sock.getsockname())
        try:
            addr, peer = start_server(lambda d: (d.recv(100), d.getpeername()),
                                      sock=sock)
            with dtls_client(relay.addr) as c:
                c.send(b"after the cookie")
                (got, peer_addr), _ = peer.result()
        finally:
            relay.close()
        self.assertEqual(got, b"after the cookie")
        self.assertEqual(peer_addr, relay.addr)
        c2s, s2c = relay.handshakes("c2s"), relay.handshakes("s2c")
        # ClientHello, HelloVerifyRequest, ClientHello again with the cookie.
        self.assertEqual(c2s[:2], [HS_CLIENT_HELLO, HS_CLIENT_HELLO])
        self.assertEqual(s2c[:2], [HS_HELLO_VERIFY_REQUEST, HS_SERVER_HELLO])
        hvr = records(relay.log["s2c"][0])[0][3]
        cookie_len = hvr[14]
        cookie = hvr[15:15 + cookie_len]
        self.assertEqual(cookie_len, 32)  # HMAC-SHA256
        first, second = (records(relay.log["c2s"][i])[0][3] for i in (0, 1))
        self.assertNotIn(cookie, first)
        self.assertIn(cookie, second)

    def retransmission(self, timeout):
        # Lose the first ClientHello and the server's first flight after
        # the cookie (ServerHello ... ServerHelloDone): only the DTLS
        # timers (DTLSv1_handle_timeout) can bring the handshake through.
        sock = udp(("127.0.0.1", 0), timeout=timeout)
        relay = Relay(sock.getsockname(), drop={"c2s": {0}, "s2c": {1}})
        try:
            addr, peer = start_server(lambda d: echo_reversed(d, 1), sock=sock)
            with dtls_client(relay.addr, timeout=timeout) as c:
                c.send(b"retransmitted")
                self.assertEqual(c.recv(100), b"retransmitted"[::-1])
                peer.result()
        finally:
            relay.close()
        lost_hello = records(relay.dropped["c2s"][0])[0]
        lost_flight = relay.handshakes("s2c", relay.dropped)
        self.assertEqual(lost_hello[2], HS_CLIENT_HELLO)
        self.assertEqual(lost_flight[0], HS_SERVER_HELLO)
        # The same ClientHello went out again (same handshake message,
        # new record sequence number).
        resent = records(relay.log["c2s"][0])[0]
        self.assertEqual(resent[3], lost_hello[3])
        # ... and the server's flight was sent again.
        self.assertIn(HS_SERVER_HELLO, relay.handshakes("s2c"))

    def test_retransmission_blocking(self):
        self.retransmission(None)

    def test_retransmission_with_timeouts(self):
        self.retransmission(TIMEOUT)

    def test_nonblocking_client_drives_timers(self):
        # What an event loop does: SSLWant*Error, wait at most
        # dtls_timeout(), handle_timeout(). The first ClientHello is lost.
        sock = udp(("127.0.0.1", 0))
        relay = Relay(sock.getsockname(), drop={"c2s": {0}})
        try:
            addr, peer = start_server(lambda d: echo_reversed(d, 1), sock=sock)
            s = udp()
            s.connect(relay.addr)
            s.setblocking(False)
            c = client_ctx().wrap_socket(s, server_hostname="localhost",
                                         do_handshake_on_connect=False)
            retransmitted = 0
            for _ in range(1000):
                try:
                    c.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    timer = c.dtls_timeout()
                    ready, _, _ = select.select(
                        [c], [], [], TIMEOUT if timer is None else timer)
                    if not ready:
                        retransmitted += c.handle_timeout()
            self.assertEqual(c.version(), "DTLSv1.2")
            self.assertGreaterEqual(retransmitted, 1)
            self.assertEqual(c.send(b"nonblocking"), 11)
            for _ in range(1000):
                try:
                    got = c.recv(100)
                    break
                except ssl.SSLWantReadError:
                    select.select([c], [], [], TIMEOUT)
            self.assertEqual(got, b"gnikcolbnon")
            with self.assertRaises(ssl.SSLWantReadError):
                c.recv(100)
            peer.result()
            c.close()
        finally:
            relay.close()

    def test_two_clients_two_server_sockets(self):
        # The documented multi-client model: after its cookie exchange a
        # server socket is connected to its client; a second socket bound
        # to the same port (SO_REUSEADDR) takes the next client.
        first = udp(("127.0.0.1", 0), reuse=True)
        addr = first.getsockname()
        _, peer_a = start_server(lambda d: echo_reversed(d, 2), sock=first)
        a = dtls_client(addr)
        _, peer_b = start_server(lambda d: echo_reversed(d, 2),
                                 sock=udp(addr, reuse=True))
        b = dtls_client(addr)
        with a, b:
            for i in range(2):
                a.send(b"client-a-%d" % i)
                b.send(b"client-b-%d" % i)
                self.assertEqual(a.recv(100), (b"client-a-%d" % i)[::-1])
                self.assertEqual(b.recv(100), (b"client-b-%d" % i)[::-1])
            peer_a.result()
            peer_b.result()

    def test_close_notify_and_unwrap(self):
        def server(d):
            got = d.recv(100), d.recv(100), d.recv(100)
            # close_notify closes one direction: the server may still send.
            return got, d.send(b"half-closed")
        addr, peer = start_server(server)
        c = dtls_client(addr)
        raw = c._sock
        c.send(b"last words")
        self.assertIs(c.unwrap(), raw)
        (got, sent), _ = peer.result()
        self.assertEqual(got, (b"last words", b"", b""))
        self.assertEqual(sent, 11)
        self.assertEqual(raw.getpeername(), addr)
        with self.assertRaises(OSError):
            c.send(b"x")
        raw.close()

    def test_recv_timeout(self):
        addr, peer = start_server(lambda d: d.recv(100))
        with dtls_client(addr) as c:
            c.settimeout(0.2)
            with self.assertRaisesRegex(TimeoutError,
                                        "^The read operation timed out$"):
                c.recv(100)
            c.settimeout(TIMEOUT)
            c.send(b"done")
            self.assertEqual(peer.result()[0], b"done")

    def test_too_big_for_one_record(self):
        addr, peer = start_server(lambda d: echo_reversed(d, 1))
        with dtls_client(addr) as c:
            with self.assertRaisesRegex(ValueError, "do not fit one DTLS "
                                        r"record \(at most 16384\)"):
                c.send(b"x" * 16385)
            # The session survives the refusal.
            c.send(b"fits")
            self.assertEqual(c.recv(100), b"stif")
            peer.result()

    def test_recv_into_and_partial_record(self):
        addr, peer = start_server(lambda d: d.send(b"0123456789"))
        with dtls_client(addr) as c:
            buf = bytearray(4)
            self.assertEqual(c.recv_into(buf), 4)
            self.assertEqual(bytes(buf), b"0123")
            self.assertEqual(c.pending(), 6)
            self.assertEqual(c.recv(100), b"456789")
            peer.result()

    def test_untrusted_server(self):
        addr, peer = start_server(lambda d: None)
        with self.assertRaises(ssl.SSLCertVerificationError) as cm:
            dtls_client(addr, ctx=client_ctx("other-ca.pem"))
        self.assertEqual(cm.exception.verify_code, 20)
        self.assertIn("unable to get local issuer certificate",
                      str(cm.exception))
        with self.assertRaises(ssl.SSLError):
            peer.result()

    def test_hostname_mismatch(self):
        addr, peer = start_server(lambda d: None)
        with self.assertRaises(ssl.SSLCertVerificationError) as cm:
            dtls_client(addr, hostname="example.org")
        self.assertEqual(cm.exception.verify_code, 62)  # hostname mismatch
        with self.assertRaises(ssl.SSLError):
            peer.result()

    def test_check_hostname_requires_server_hostname(self):
        s = udp()
        s.connect(("127.0.0.1", 9))
        with s, self.assertRaisesRegex(
                ValueError, "check_hostname requires server_hostname"):
            client_ctx().wrap_socket(s)

    def test_client_socket_must_be_connected(self):
        with udp() as s, self.assertRaisesRegex(
                ValueError, "must be connected to the server"):
            client_ctx().wrap_socket(s, server_hostname="localhost")

    def test_contexts_and_sockets(self):
        sctx = kssl.SSLContext(kssl.PROTOCOL_DTLS_SERVER)
        self.assertIs(sctx.protocol, kssl.PROTOCOL_DTLS_SERVER)
        self.assertIs(kssl.SSLContext(kssl.PROTOCOL_DTLS_CLIENT).protocol,
                      kssl.PROTOCOL_DTLS_CLIENT)
        self.assertNotIn(int(kssl.PROTOCOL_DTLS_CLIENT),
                         [int(p) for p in ssl._SSLMethod])
        with udp(("127.0.0.1", 0)) as s, self.assertRaisesRegex(
                ssl.SSLError, "Cannot create a client socket with a "
                "PROTOCOL_DTLS_SERVER context"):
            sctx.wrap_socket(s, server_side=False)
        with socket.socket() as t, self.assertRaisesRegex(
                NotImplementedError, r"datagram \(SOCK_DGRAM\)"):
            sctx.wrap_socket(t, server_side=True)
        with udp() as s, self.assertRaisesRegex(
                NotImplementedError, "only stream sockets are supported"):
            kssl.SSLContext(kssl.PROTOCOL_TLS_SERVER).wrap_socket(
                s, server_side=True)
        with self.assertRaises(NotImplementedError):
            sctx.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_side=True)

    def test_iana_cipher_and_ecdsa(self):
        name = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
        sctx = server_ctx("server-ec")
        sctx.set_ciphers([name])
        cctx = client_ctx()
        cctx.set_ciphers([name])
        addr, peer = start_server(lambda d: echo_reversed(d, 1), ctx=sctx)
        with dtls_client(addr, ctx=cctx) as c:
            self.assertEqual(c.iana_cipher(), name)
            self.assertEqual(c.cipher()[0], "ECDHE-ECDSA-AES128-GCM-SHA256")
            c.send(b"ecdsa")
            self.assertEqual(c.recv(100), b"asdce")
            peer.result()

    def test_keylog(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "keys.log")
            sctx = server_ctx()
            sctx.keylog_filename = path
            addr, peer = start_server(lambda d: echo_reversed(d, 1), ctx=sctx)
            with dtls_client(addr) as c:
                c.send(b"keys")
                self.assertEqual(c.recv(100), b"syek")
                peer.result()
            with open(path) as f:
                lines = [line.split() for line in f
                         if not line.startswith("#")]
        # DTLS 1.2: one line, CLIENT_RANDOM <random> <master secret>.
        self.assertEqual(len(lines), 1)
        self.assertEqual(lines[0][0], "CLIENT_RANDOM")
        self.assertEqual([len(x) for x in lines[0][1:]], [64, 96])

    def test_micropython_wrap_socket_on_udp(self):
        with open(cert("server.pem")) as f:
            certpem = f.read()
        with open(cert("server.key")) as f:
            keypem = f.read()
        sock = udp(("127.0.0.1", 0))
        addr = sock.getsockname()

        def server():
            with kssl.wrap_socket(sock, server_side=True, key=keypem,
                                  cert=certpem) as d:
                self.assertIsInstance(d, kssl.DTLSSocket)
                return echo_reversed(d, 1)
        peer = Peer(server).start()
        s = udp()
        s.connect(addr)
        with kssl.wrap_socket(s, server_hostname="localhost") as c:
            self.assertIsInstance(c, kssl.DTLSSocket)
            c.send(b"micropython")
            self.assertEqual(c.recv(100), b"nohtyporcim")
        peer.result()


@unittest.skipUnless(shutil.which("openssl"), "no openssl command")
class DTLSOpenSSLTest(unittest.TestCase):
    """Peers we did not write: openssl s_server / s_client in DTLS 1.2."""

    def spawn(self, args):
        p = subprocess.Popen(["openssl"] + args, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(self.reap, p)
        return p

    def reap(self, p):
        if p.poll() is None:
            p.kill()
        p.communicate(timeout=TIMEOUT)

    def read_exactly(self, stream, n):
        out = b""
        while len(out) < n:
            chunk = os.read(stream.fileno(), n - len(out))
            if not chunk:
                break
            out += chunk
        return out

    def wait_bound(self, port, p):
        # s_server binds asynchronously; until then datagrams would be
        # refused (ICMP) and a connected client would see the error.
        local = ":%04X" % port
        for _ in range(400):
            with open("/proc/net/udp") as f:
                if any(line.split()[1].endswith(local)
                       for line in list(f)[1:]):
                    return
            self.assertIsNone(p.poll(), "s_server exited")
            threading.Event().wait(0.025)
        self.fail("s_server did not bind port %d" % port)

    def test_kssl_client_openssl_server(self):
        with udp(("127.0.0.1", 0)) as probe:
            port = probe.getsockname()[1]
        p = self.spawn(["s_server", "-dtls1_2", "-listen", "-naccept", "1",
                        "-accept", "127.0.0.1:%d" % port, "-quiet",
                        "-cert", cert("server.pem"), "-key", cert("server.key")])
        self.wait_bound(port, p)
        relay = Relay(("127.0.0.1", port))
        try:
            with dtls_client(relay.addr) as c:
                lines = [b"kssl-to-openssl-%d-" % i + payload(40 * i, seed=b"%d" % i).hex().encode() + b"\n"
                         for i in range(1, 4)]
                for line in lines:
                    c.send(line)
                got = self.read_exactly(p.stdout, sum(map(len, lines)))
                self.assertEqual(got, b"".join(lines))
                p.stdin.write(b"openssl-to-kssl\n")
                p.stdin.flush()
                self.assertEqual(c.recv(100), b"openssl-to-kssl\n")
                self.assertEqual(c.version(), "DTLSv1.2")
                c.unwrap()
        finally:
            relay.close()
        # s_server -listen did the cookie exchange; kssl answered it.
        self.assertEqual(relay.handshakes("c2s")[:2],
                         [HS_CLIENT_HELLO, HS_CLIENT_HELLO])
        self.assertEqual(relay.handshakes("s2c")[0], HS_HELLO_VERIFY_REQUEST)

    def test_openssl_client_kssl_server(self):
        sock = udp(("127.0.0.1", 0))
        relay = Relay(sock.getsockname())
        try:
            p = self.spawn(["s_client", "-dtls1_2", "-connect",
                            "%s:%d" % relay.addr, "-quiet",
                            "-CAfile", cert("ca.pem"), "-verify_return_error",
                            "-servername", "localhost"])
            ctx = server_ctx()
            with ctx.wrap_socket(sock, server_side=True) as d:
                self.assertEqual(d.version(), "DTLSv1.2")
                data = b"kssl-to-openssl " + payload(3000).hex().encode() + b"\n"
                d.send(data)
                self.assertEqual(self.read_exactly(p.stdout, len(data)), data)
                p.stdin.write(b"openssl-to-kssl\n")
                p.stdin.flush()
                self.assertEqual(d.recv(100), b"openssl-to-kssl\n")
                d.unwrap()
            # close_notify ends s_client cleanly.
            self.assertEqual(p.wait(TIMEOUT), 0)
        finally:
            relay.close()
        # kssl's server did the cookie exchange with OpenSSL's client.
        self.assertEqual(relay.handshakes("s2c")[:2],
                         [HS_HELLO_VERIFY_REQUEST, HS_SERVER_HELLO])
        self.assertEqual(relay.handshakes("c2s")[:2],
                         [HS_CLIENT_HELLO, HS_CLIENT_HELLO])


if __name__ == "__main__":
    unittest.main()
