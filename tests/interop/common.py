"""Shared helpers for the interop tests (stdlib only; /usr/bin/python3).

Environment (set by tests/interop/CMakeLists.txt):
  KSSL_PEER             the kssl-peer tool (tests/tools/kssl_peer.c)
  KSSL_TEST_CERTS       the generated test PKI (tests/certs/make-certs.sh)
  KSSL_INTEROP_MIB      optional transfer size in MiB per direction
                        (default: 64 on the host, 2 under kernel TLS, which
                        here means the TCG VM at ~10 MB/s)
  KSSL_INTEROP_TIMEOUT  optional limit in seconds for any one peer (300)

Kernel TLS: when the kernel offers the "tls" ULP (KSSL_IN_VM=1 says it
must), every case asserts that kssl moved both directions into the kernel
and that /proc/net/tls_stat counted it. Without it, the same cases assert
the OpenSSL fallback and its reason ("kernel has no tls ULP").
"""
import collections
import hashlib
import os
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

MiB = 1 << 20

try:
    PEER = os.environ['KSSL_PEER']
    CERTS = os.environ['KSSL_TEST_CERTS']
except KeyError as e:
    raise SystemExit(f'{e.args[0]} is not set: run the interop tests through '
                     'ctest (ctest -L interop) or set KSSL_PEER and '
                     'KSSL_TEST_CERTS') from None

CA = os.path.join(CERTS, 'ca.pem')
TIMEOUT = float(os.environ.get('KSSL_INTEROP_TIMEOUT', '300'))


def _wire_constant(name):
    """A number from ktls/wire.h, the one header of kernel/wire constants
    (the socket module does not name TCP_ULP)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        '..', '..', 'ktls', 'wire.h')
    with open(path) as f:
        m = re.search(r'^#define %s (\d+)' % name, f.read(), re.M)
    return int(m.group(1))


TCP_ULP = _wire_constant('TCP_ULP')


def cert(name):
    """(certificate, key) paths of a PKI entry such as 'server'."""
    base = os.path.join(CERTS, name)
    return base + '.pem', base + '.key'


def _probe_tls_ulp():
    """Attach the tls ULP to a loopback socket ourselves (loads tls.ko too)."""
    with socket.create_server(('127.0.0.1', 0)) as srv:
        with socket.create_connection(srv.getsockname()) as c:
            a, _ = srv.accept()
            with a:
                try:
                    c.setsockopt(socket.IPPROTO_TCP, TCP_ULP, b'tls')
                    return True
                except OSError:
                    return False


def _kernel_has_ktls():
    try:
        with open('/proc/sys/net/ipv4/tcp_available_ulp') as f:
            listed = 'tls' in f.read().split()
    except OSError:
        listed = False
    has = listed or _probe_tls_ulp()
    if os.environ.get('KSSL_IN_VM') == '1' and not has:
        raise SystemExit('KSSL_IN_VM=1 but this kernel has no tls ULP')
    return has


KTLS = _kernel_has_ktls()
SIZE = int(float(os.environ.get('KSSL_INTEROP_MIB', 2 if KTLS else 64)) * MiB)


# ---- cipher suites ----------------------------------------------------------

class Suite(collections.namedtuple(
        'Suite', 'name tls iana openssl gnutls cert')):
    """One protocol version + AEAD, named the way each peer wants it.

    openssl: the TLS 1.3 ciphersuite or TLS 1.2 cipher (OpenSSL names);
    gnutls: the GnuTLS cipher priority keyword; cert: the PKI entry the
    server must use (ECDHE-ECDSA suites need the EC certificate).
    """

    def kssl_args(self):
        return ['--tls', self.tls,
                '--suites' if self.tls == '1.3' else '--ciphers', self.openssl]

    def openssl_args(self):
        if self.tls == '1.3':
            return ['-tls1_3', '-ciphersuites', self.openssl]
        return ['-tls1_2', '-cipher', self.openssl]

    def gnutls_priority(self):
        return (f'NORMAL:-VERS-ALL:+VERS-TLS{self.tls}:'
                f'-CIPHER-ALL:+{self.gnutls}')

    def version(self):
        return 'TLSv' + self.tls

    def server_cert(self):
        return cert(self.cert)


SUITES = [
    Suite('tls13_aes128gcm', '1.3', 'TLS_AES_128_GCM_SHA256',
          'TLS_AES_128_GCM_SHA256', 'AES-128-GCM', 'server'),
    Suite('tls13_aes256gcm', '1.3', 'TLS_AES_256_GCM_SHA384',
          'TLS_AES_256_GCM_SHA384', 'AES-256-GCM', 'server'),
    Suite('tls13_chacha20', '1.3', 'TLS_CHACHA20_POLY1305_SHA256',
          'TLS_CHACHA20_POLY1305_SHA256', 'CHACHA20-POLY1305', 'server'),
    Suite('tls13_aes128ccm', '1.3', 'TLS_AES_128_CCM_SHA256',
          'TLS_AES_128_CCM_SHA256', 'AES-128-CCM', 'server'),
    Suite('tls12_aes128gcm', '1.2', 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
          'ECDHE-RSA-AES128-GCM-SHA256', 'AES-128-GCM', 'server'),
    Suite('tls12_aes256gcm', '1.2', 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384',
          'ECDHE-RSA-AES256-GCM-SHA384', 'AES-256-GCM', 'server'),
    Suite('tls12_chacha20', '1.2',
          'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256',
          'ECDHE-RSA-CHACHA20-POLY1305', 'CHACHA20-POLY1305', 'server'),
    Suite('tls12_aes128ccm', '1.2', 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM',
          'ECDHE-ECDSA-AES128-CCM', 'AES-128-CCM', 'server-ec'),
]
SUITE = {s.name: s for s in SUITES}


def for_suites(suites, *scenarios):
    """Class decorator: test_<scenario>_<suite> for every pair, each calling
    the method `scenario(suite)` (one ctest-visible unittest per case)."""
    def add(cls):
        for scenario in scenarios:
            for suite in suites:
                def test(self, scenario=scenario, suite=suite):
                    getattr(self, scenario)(suite)
                test.__name__ = f'test_{scenario}_{suite.name}'
                test.__doc__ = f'{scenario.replace("_", " ")}, {suite.iana}'
                setattr(cls, test.__name__, test)
        return cls
    return add


# ---- data -------------------------------------------------------------------

def make_binary_file(path, size, seed):
    """Deterministic random bytes; `size` need not be a record multiple."""
    rng = random.Random(seed)
    with open(path, 'wb') as f:
        left = size
        while left:
            n = min(left, 4 * MiB)
            f.write(rng.randbytes(n))
            left -= n


def make_text_file(path, size, seed):
    """Random hex lines of 64 bytes ('\\n'-terminated; size rounded down to
    whole lines). For line-based echo servers such as gnutls-serv --echo."""
    rng = random.Random(seed)
    with open(path, 'wb') as f:
        for _ in range(size // 64):
            f.write(rng.randbytes(32).hex()[:63].encode() + b'\n')


def sha256_file(path, limit=None):
    h = hashlib.sha256()
    left = os.path.getsize(path) if limit is None else limit
    with open(path, 'rb') as f:
        while left:
            chunk = f.read(min(left, MiB))
            if not chunk:
                raise AssertionError(f'{path}: shorter than {limit} bytes')
            h.update(chunk)
            left -= len(chunk)
    return h.hexdigest()


# ---- the kernel's view ------------------------------------------------------

def tls_stat():
    """/proc/net/tls_stat as a dict ({} when the kernel has no kTLS)."""
    try:
        with open('/proc/net/tls_stat') as f:
            return {k: int(v) for k, v in (line.split() for line in f)}
    except FileNotFoundError:
        return {}


def free_port():
    """A port that was free a moment ago (for peers that cannot take 0)."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def is_listening(port):
    """True if some socket listens on TCP `port` (/proc/net/tcp{,6})."""
    for name in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if (fields[3] == '0A'
                            and int(fields[1].rsplit(':', 1)[1], 16) == port):
                        return True
        except FileNotFoundError:
            pass
    return False


# ---- processes --------------------------------------------------------------

BAD_MAC = re.compile(r'bad.record.mac|decryption (has )?failed', re.I)


class Proc:
    """A peer process; stdout and stderr go to files in `workdir`."""

    kernel_dirs = ()  # kssl-peer: the directions it must offload (kTLS)

    def __init__(self, name, argv, workdir, stdin=None, cwd=None,
                 data_stdout=False, logfile=None):
        """data_stdout: stdout is transfer data (never shown or searched);
        logfile: a log the peer writes itself (shown and searched too)."""
        self.name, self.argv, self.data_stdout = name, argv, data_stdout
        self.logfile = logfile
        self.out_path = os.path.join(workdir, name + '.stdout')
        self.err_path = os.path.join(workdir, name + '.stderr')
        with open(self.out_path, 'wb') as out, \
                open(self.err_path, 'wb') as err:
            self.popen = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL if stdin is None else stdin,
                stdout=out, stderr=err, cwd=cwd, start_new_session=True)
        self.feeder = None

    @property
    def out(self):
        with open(self.out_path, 'rb') as f:
            return f.read().decode(errors='replace')

    @property
    def err(self):
        """stderr, followed by the peer's own log file if it has one."""
        with open(self.err_path, 'rb') as f:
            text = f.read().decode(errors='replace')
        if self.logfile and os.path.exists(self.logfile):
            with open(self.logfile, 'rb') as f:
                log = f.read().decode(errors='replace')
            text += f'\n[{self.logfile}]\n{log}'
        return text

    def feed_file(self, path):
        """Copy `path` to the stdin pipe in the background, then leave the
        pipe open (EOF would end some peers before they finish sending)."""
        def copy():
            try:
                with open(path, 'rb') as f:
                    shutil.copyfileobj(f, self.popen.stdin, MiB)
                self.popen.stdin.flush()
            except (BrokenPipeError, ValueError, OSError):
                pass  # the peer is gone; its exit status tells why
        self.feeder = threading.Thread(target=copy, daemon=True)
        self.feeder.start()

    def describe(self):
        rc = self.popen.poll()
        text = [f'--- {self.name} (exit status {rc}): {" ".join(self.argv)}']
        err = self.err
        if len(err) > 6000:
            err = '[...]\n' + err[-6000:]
        text.append(f'--- {self.name} stderr:\n{err}')
        if not self.data_stdout:
            out = self.out
            if len(out) > 6000:
                out = '[...]\n' + out[-6000:]
            text.append(f'--- {self.name} stdout:\n{out}')
        return '\n'.join(text)

    def wait(self, timeout=TIMEOUT):
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f'{self.name} did not finish within '
                                 f'{timeout:.0f}s (killed)\n{self.describe()}')

    def wait_for(self, pattern, stream='out', timeout=TIMEOUT):
        """Poll stdout (or stderr: stream='err') until `pattern` matches;
        fail if the peer exits first."""
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(pattern, getattr(self, stream), re.M)
            if m:
                return m
            if self.popen.poll() is not None:
                raise AssertionError(f'{self.name} exited before printing '
                                     f'{pattern!r}\n{self.describe()}')
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(
                    f'{self.name} did not print {pattern!r} within '
                    f'{timeout:.0f}s\n{self.describe()}')
            time.sleep(0.02)

    def wait_listening(self, port, timeout=TIMEOUT):
        """Wait until `port` listens; False if the peer exited first."""
        deadline = time.monotonic() + timeout
        while not is_listening(port):
            if self.popen.poll() is not None:
                return False
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(
                    f'{self.name} did not listen on {port} within '
                    f'{timeout:.0f}s\n{self.describe()}')
            time.sleep(0.02)
        return True

    def kill(self):
        if self.popen.stdin:
            try:
                self.popen.stdin.close()
            except OSError:
                pass
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.popen.wait()


# ---- kssl-peer output -------------------------------------------------------

Transfer = collections.namedtuple('Transfer', 'size sha256 end')


class KsslOutput:
    """The lines kssl-peer prints on stdout, parsed."""

    def __init__(self, text):
        self.text = text
        m = re.search(r'^handshake (\S+) (\S+)$', text, re.M)
        self.version, self.cipher = m.groups() if m else (None, None)
        self.offload = re.findall(r'^offload tx=(\w+) rx=(\w+)$', text, re.M)
        self.reasons = re.findall(r'^reason (tx|rx): (.*)$', text, re.M)
        m = re.search(r'^sent (\d+)$', text, re.M)
        self.sent = int(m.group(1)) if m else None
        self.recv = self._transfer('recv')
        self.echo = self._transfer('echo')

    def _transfer(self, label):
        m = re.search(rf'^{label} (\d+) ([0-9a-f]{{64}}) (\S+)$', self.text,
                      re.M)
        return Transfer(int(m.group(1)), m.group(2), m.group(3)) if m else None


# ---- CPython ssl peers ------------------------------------------------------

def py_context(suite, server, tls13_tickets=None):
    """A CPython ssl context pinned to `suite` (for TLS 1.3 CPython cannot
    pin the suite: the kssl end does, and the test checks the result)."""
    if server:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*suite.server_cert())
        if tls13_tickets is not None:
            ctx.num_tickets = tls13_tickets
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(CA)
    version = (ssl.TLSVersion.TLSv1_3 if suite.tls == '1.3'
               else ssl.TLSVersion.TLSv1_2)
    ctx.minimum_version = ctx.maximum_version = version
    if suite.tls == '1.2':
        ctx.set_ciphers(suite.openssl)
    return ctx


class Worker(threading.Thread):
    """Runs fn(*args) in a thread; result() re-raises its exception."""

    def __init__(self, fn, *args):
        super().__init__(daemon=True)
        self.fn, self.args, self.value, self.error = fn, args, None, None
        self.start()

    def run(self):
        try:
            self.value = self.fn(*self.args)
        except BaseException as e:  # reported by result()
            self.error = e

    def result(self, timeout=TIMEOUT):
        self.join(timeout)
        if self.is_alive():
            raise AssertionError(f'{self.fn.__name__} still running after '
                                 f'{timeout:.0f}s')
        if self.error:
            raise self.error
        return self.value


def recv_all(sock, limit=None):
    """Read until EOF (or `limit` bytes); returns (count, sha256 hex)."""
    h, n = hashlib.sha256(), 0
    while limit is None or n < limit:
        chunk = sock.recv(min(MiB, limit - n) if limit else MiB)
        if not chunk:
            break
        h.update(chunk)
        n += len(chunk)
    return n, h.hexdigest()


def send_file(sock, path):
    with open(path, 'rb') as f:
        while True:
            chunk = f.read(MiB)
            if not chunk:
                return
            sock.sendall(chunk)


# ---- the test case base -----------------------------------------------------

class InteropCase(unittest.TestCase):
    """Base class: a data file per class, a scratch dir and peers per test."""

    maxDiff = None
    data_size = SIZE

    @classmethod
    def setUpClass(cls):
        cls.classdir = tempfile.mkdtemp(prefix='kssl-interop-')
        cls.data = os.path.join(cls.classdir, 'data.bin')
        # Not a multiple of the 16 KiB record size: a short last record.
        cls.size = cls.data_size + 4321
        make_binary_file(cls.data, cls.size, seed=cls.__name__)
        cls.data_sha = sha256_file(cls.data)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.classdir, ignore_errors=True)

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='case-', dir=self.classdir)
        self.stat_before = tls_stat()

    # -- peers --

    def spawn(self, name, argv, **kw):
        proc = Proc(name, argv, self.tmp, **kw)
        self.addCleanup(proc.kill)
        return proc

    def kssl(self, role, *args, name=None, kernel=('tx', 'rx')):
        """Start kssl-peer. `kernel`: the directions it must put in the
        kernel under kTLS (passed as --expect-offload, and checked by
        kssl_result); the others must stay in OpenSSL because the test
        turned them off (--offload)."""
        argv = [PEER, role, *args]
        if KTLS and kernel:
            argv += ['--expect-offload', ','.join(kernel)]
        proc = self.spawn(name or 'kssl-' + role, argv)
        proc.kernel_dirs = kernel
        return proc

    def kssl_server(self, *args, **kw):
        """Start a kssl-peer server on a port it picks; (proc, port)."""
        proc = self.kssl('server', *args, **kw)
        port = int(proc.wait_for(r'^listening (\d+)$').group(1))
        return proc, port

    def server_on_free_port(self, name, argv_for_port, **kw):
        """Start a peer that needs its port given (openssl s_server,
        gnutls-serv): pick a free one, retry if someone else took it."""
        for _ in range(5):
            port = free_port()
            proc = self.spawn(name, argv_for_port(port), **kw)
            if proc.wait_listening(port):
                return proc, port
            if not re.search(r'in use|bind', proc.err, re.I):
                self.fail(f'{name} did not start\n{proc.describe()}')
        self.fail(f'{name}: no free port after 5 tries\n{proc.describe()}')

    def wait_ok(self, *procs):
        for proc in procs:
            rc = proc.wait()
            self.assert_no_bad_mac(proc)
            self.assertEqual(rc, 0, f'{proc.name} failed\n{proc.describe()}')

    def kssl_result(self, proc, rc=0, check_offload=True, bad_mac=False):
        """Wait for kssl-peer, check its exit status and offload lines (and
        that it saw no bad record MAC unless the test made one)."""
        got = proc.wait()
        if not bad_mac:
            self.assert_no_bad_mac(proc)
        self.assertEqual(got, rc,
                         f'{proc.name}: exit status\n{proc.describe()}')
        out = KsslOutput(proc.out)
        if check_offload:
            self.assert_offload(out, proc)
        return out

    # -- assertions --

    def assert_no_bad_mac(self, proc):
        """A sequence-number or key bug in kssl shows up as a bad record MAC
        at the peer: name it loudly."""
        m = BAD_MAC.search(proc.err) or (
            None if proc.data_stdout else BAD_MAC.search(proc.out))
        if m:
            self.fail(f'{proc.name} reported a bad record MAC '
                      f'({m.group(0)!r}): kssl sent records under a wrong '
                      f'key or sequence number\n{proc.describe()}')

    def assert_offload(self, out, proc):
        """Each direction kssl-peer was to offload (proc.kernel_dirs) is in
        the kernel under kTLS, else in OpenSSL for want of the tls ULP; the
        others are in OpenSSL because the application said so."""
        ctx = '\n' + proc.describe()
        self.assertTrue(out.offload, 'no "offload" line' + ctx)
        for i, d in enumerate(('tx', 'rx')):
            wanted = d in proc.kernel_dirs
            if KTLS and wanted:
                self.assertEqual(out.offload[-1][i], 'kernel', d + ctx)
                if d == 'tx':  # TX never waits (RX may, for tickets)
                    self.assertEqual(out.offload[0][i], 'kernel', d + ctx)
                continue
            self.assertEqual({line[i] for line in out.offload}, {'user'},
                             d + ctx)
            why = 'no tls ULP' if wanted else 'turned off by the application'
            reasons = [r for dd, r in out.reasons if dd == d]
            self.assertTrue(reasons and all(why in r for r in reasons),
                            f'{d} reason should say "{why}"' + ctx)

    def assert_kernel_counters(self, kernel=('tx', 'rx'), **more):
        """Under kTLS: TlsTxSw/TlsRxSw grew since setUp for the `kernel`
        directions (and e.g. TlsDecryptError=1 by that much). No-op on a
        kernel without kTLS."""
        if not KTLS:
            return
        now = tls_stat()
        want = dict(TlsTxSw=int('tx' in kernel), TlsRxSw=int('rx' in kernel),
                    **more)
        for key, n in want.items():
            delta = now.get(key, 0) - self.stat_before.get(key, 0)
            self.assertGreaterEqual(delta, n, f'/proc/net/tls_stat {key} grew '
                                    f'by {delta}, expected >= {n}: {now}')

    def assert_handshake(self, out, suite, proc):
        self.assertEqual((out.version, out.cipher),
                         (suite.version(), suite.iana), proc.describe())

    def assert_transfer(self, got, end, proc, size=None, sha=None):
        """`got` (a Transfer) is the whole data file, ended by `end`."""
        size = self.size if size is None else size
        sha = self.data_sha if sha is None else sha
        self.assertIsNotNone(got, f'no transfer line\n{proc.describe()}')
        self.assertEqual(got, Transfer(size, sha, end), proc.describe())

    def assert_file(self, path, size=None, sha=None, what='received data'):
        size = self.size if size is None else size
        sha = self.data_sha if sha is None else sha
        got = os.path.getsize(path)
        self.assertEqual(got, size, f'{what}: {got} bytes, expected {size}')
        self.assertEqual(sha256_file(path), sha, f'{what}: SHA-256 differs')

    def assert_prefix(self, got, proc):
        """What arrived before a failure is a prefix of the data, never
        corrupted bytes."""
        self.assertIsNotNone(got, f'no transfer line\n{proc.describe()}')
        self.assertLessEqual(got.size, self.size, proc.describe())
        self.assertEqual(got.sha256, sha256_file(self.data, got.size),
                         f'the {got.size} bytes received before the error are '
                         f'not a prefix of the data\n{proc.describe()}')
