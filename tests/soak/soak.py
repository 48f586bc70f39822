"""Shared pieces of the soak and chaos tests: a `kssl serve` process in a
temporary root, its fd count and RSS, HTTPS requests compared by SHA-256.

Environment: KSSL_BIN (kssl), KSSL_CHURN (kssl-churn), KSSL_TEST_CERTS.
KSSL_IN_VM=1 (tests/vm/ktls-vm) selects the small scale and asserts
offload through /proc/net/tls_stat.
"""
import hashlib
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

KSSL = os.environ.get("KSSL_BIN", "kssl")
CHURN = os.environ.get("KSSL_CHURN", "kssl-churn")
CERTS = os.environ.get("KSSL_TEST_CERTS", "certs")
IN_VM = os.environ.get("KSSL_IN_VM") == "1"


def sha(data):
    return hashlib.sha256(data).hexdigest()


def make_root(big_size):
    """A temporary root with the files kssl-churn expects."""
    root = tempfile.mkdtemp(prefix="kssl-soak-")
    files = {"small.txt": os.urandom(1000), "mid.bin": os.urandom(256 * 1024),
             "big.bin": os.urandom(big_size)}
    for name, data in files.items():
        with open(os.path.join(root, name), "wb") as f:
            f.write(data)
    return root, files


def fd_count(pid, pipes=False):
    """The process's open fds; without pipes unless asked: the io_uring
    engine keeps a small pool of splice pipes between connections."""
    n = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if pipes or not target.startswith("pipe:"):
            n += 1
    return n


def pipe_fd_count(pid):
    return fd_count(pid, pipes=True) - fd_count(pid)


def status_kb(pid, field):
    """A kB figure (VmRSS, VmSize, ...) from /proc/PID/status."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError("no %s" % field)


def rss_kb(pid):
    return status_kb(pid, "VmRSS")


def cpu_seconds(pid):
    """utime + stime of a process so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tls_stat():
    """/proc/net/tls_stat as a dict ({} when the kernel has no kTLS)."""
    try:
        with open("/proc/net/tls_stat") as f:
            return {k: int(v) for k, v in (line.split() for line in f)}
    except FileNotFoundError:
        return {}


class Server:
    """`kssl serve ROOT --port 0 ...` (optionally under a wrapper such as
    prlimit); .port, .pid, .workers (worker pids from the banner)."""

    def __init__(self, root, *args, wrapper=(), ec=True):
        name = "server-ec" if ec else "server"
        cmd = [*wrapper, KSSL, "serve", root, "--port", "0", "--quiet",
               "--cert", os.path.join(CERTS, name + ".pem"),
               "--key", os.path.join(CERTS, name + ".key"), *args]
        # Output to a file, not a pipe: nobody has to drain it while the
        # test runs, so a chatty server can never block on it.
        self.log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(cmd, stdout=self.log,
                                     stderr=subprocess.STDOUT, text=True)
        self.pid = self.proc.pid
        self.workers = []
        self.port = None
        m = re.search(r"--workers (\d+)", " ".join(args))
        want = int(m.group(1)) if m else 1
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            text = self.output()
            m = re.search(r"https://127\.0\.0\.1:(\d+)/", text)
            self.workers = [int(w) for w in re.findall(r"worker (\d+):", text)]
            if m and len(self.workers) >= want:
                self.port = int(m.group(1))
                return
            if self.proc.poll() is not None:
                raise RuntimeError("kssl serve exited: " + text)
            time.sleep(0.05)
        raise RuntimeError("kssl serve: no banner: " + self.output())

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        return self.proc.returncode


def client_ctx():
    ctx = ssl.create_default_context(cafile=os.path.join(CERTS, "ca.pem"))
    return ctx


def get(port, path, timeout=30):
    """GET path over a new connection: (status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        with client_ctx().wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\n"
                       "Connection: close\r\n\r\n" % path).encode())
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def wait_until(cond, timeout=20.0, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return cond()


def require_tools(test):
    for tool in (KSSL, CHURN):
        if not shutil.which(tool) and not os.path.exists(tool):
            raise unittest.SkipTest("%s not built" % tool)
