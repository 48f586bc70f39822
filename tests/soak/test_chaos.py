#!/usr/bin/python3
"""Chaos: `kssl serve` when things go wrong around it.

- A worker killed with SIGKILL mid-transfer under --workers 4 loses only
  its own connections: every other transfer completes (SHA-256 compared)
  and the server keeps serving.
- The fd table full (prlimit --nofile): idle sockets beyond it are
  refused, the server stays alive without spinning, and serves once they
  are gone.
- --max-conns reached: extra connections are closed at accept, the held
  ones keep working.
- An address-space limit (prlimit --as): too small to start is a clear
  error exit, not a signal; tight under load, connections may fail but
  the server neither crashes nor stops serving.
"""
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from soak import (CHURN, IN_VM, Server, client_ctx, cpu_seconds,  # noqa: E402
                  fd_count, get, make_root, require_tools, sha, status_kb,
                  wait_until)

BIG = (2 if IN_VM else 8) * 1024 * 1024


def socket_inodes(pid):
    """Inodes of the sockets process pid holds."""
    out = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            m = re.match(r"socket:\[(\d+)\]", os.readlink("/proc/%d/fd/%s" % (pid, fd)))
        except OSError:
            continue
        if m:
            out.add(int(m.group(1)))
    return out


def server_side_inode(server_port, client_port):
    """Inode of the server's socket of the loopback connection from
    client_port (from /proc/net/tcp)."""
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            local, remote = parts[1], parts[2]
            if (int(local.split(":")[1], 16) == server_port and
                    int(remote.split(":")[1], 16) == client_port):
                return int(parts[9])
    return None


class Download(threading.Thread):
    """GET /big.bin; reads one chunk, waits for `go`, then the rest."""

    def __init__(self, port, go):
        super().__init__(daemon=True)
        self.port, self.go = port, go
        self.started = threading.Event()
        self.body, self.error, self.client_port = b"", None, None

    def run(self):
        try:
            raw = socket.create_connection(("127.0.0.1", self.port), timeout=60)
            self.client_port = raw.getsockname()[1]
            with client_ctx().wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\n"
                          b"Connection: close\r\n\r\n")
                data = s.recv(65536)
                self.started.set()
                self.go.wait(60)
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            self.body = data.partition(b"\r\n\r\n")[2]
        except (OSError, ssl.SSLError) as e:
            self.error = e
        finally:
            self.started.set()


class Chaos(unittest.TestCase):
    def setUp(self):
        require_tools(self)
        self.root, self.files = make_root(BIG)
        self.servers = []

    def tearDown(self):
        for srv in self.servers:
            srv.stop()
        subprocess.run(["rm", "-rf", self.root])

    def serve(self, *args, **kw):
        srv = Server(self.root, *args, **kw)
        self.servers.append(srv)
        return srv

    def assert_serves(self, port):
        status, body = get(port, "/big.bin")
        self.assertEqual(status, 200)
        self.assertEqual(sha(body), sha(self.files["big.bin"]))

    def test_worker_sigkill_mid_transfer(self):
        srv = self.serve("--workers", "4")
        go = threading.Event()
        downloads = [Download(srv.port, go) for _ in range(16)]
        for d in downloads:
            d.start()
        for d in downloads:
            self.assertTrue(d.started.wait(60))
        self.assertTrue(all(d.error is None for d in downloads),
                        [d.error for d in downloads])
        # Which worker holds which connection.
        held = {w: socket_inodes(w) for w in srv.workers}
        owner = {}
        for d in downloads:
            ino = server_side_inode(srv.port, d.client_port)
            owner[d] = next((w for w, inos in held.items() if ino in inos), None)
        self.assertNotIn(None, owner.values())
        victim = max(srv.workers, key=lambda w: sum(o == w for o in owner.values()))
        os.kill(victim, signal.SIGKILL)
        go.set()
        for d in downloads:
            d.join(120)
        lost = [d for d in downloads if owner[d] == victim]
        kept = [d for d in downloads if owner[d] != victim]
        print("CHAOS SIGKILL worker %d of %s: %d connections lost, %d completed"
              % (victim, srv.workers, len(lost), len(kept)), flush=True)
        self.assertTrue(lost and kept)
        for d in lost:  # never a silently short "success"
            self.assertTrue(d.error is not None or
                            sha(d.body) != sha(self.files["big.bin"]))
        for d in kept:
            self.assertIsNone(d.error)
            self.assertEqual(sha(d.body), sha(self.files["big.bin"]))
        self.assertTrue(srv.alive())
        for _ in range(20):  # the survivors take every new connection
            self.assert_serves(srv.port)

    def test_fd_exhaustion(self):
        nofile = 48
        # Caps above the fd limit, so that accept really meets EMFILE (by
        # default the caps are sized from RLIMIT_NOFILE and refuse first).
        srv = self.serve("--header-timeout", "30", "--max-conns", "1000",
                         "--max-conns-per-addr", "1000",
                         wrapper=("prlimit", "--nofile=%d:%d" % (nofile, nofile), "--"))
        idle = []
        for _ in range(nofile + 40):
            idle.append(socket.create_connection(("127.0.0.1", srv.port), timeout=10))
        self.assertTrue(wait_until(lambda: fd_count(srv.pid, pipes=True) >= nofile - 2, 10))
        # Full table: a client now gets an answer or a clean refusal.
        try:
            status, body = get(srv.port, "/small.txt", timeout=5)
            self.assertEqual((status, body), (200, self.files["small.txt"]))
        except (OSError, ssl.SSLError):
            pass
        cpu0 = cpu_seconds(srv.pid)
        time.sleep(3)
        spent = cpu_seconds(srv.pid) - cpu0
        print("CHAOS fd table full (nofile %d, %d idle sockets): %.2f s CPU in 3 s"
              % (nofile, len(idle), spent), flush=True)
        self.assertTrue(srv.alive())
        # Issue 11 finding 3: the listener backs off instead of spinning.
        self.assertLess(spent, 0.5,
                        "server used %.2f s CPU in 3 s with the fd table full" % spent)
        for s in idle:
            s.close()
        self.assertTrue(wait_until(lambda: fd_count(srv.pid) < 16, 30))
        self.assert_serves(srv.port)
        self.assertTrue(srv.alive())

    def test_max_conns(self):
        srv = self.serve("--max-conns", "4", "--header-timeout", "30")
        held = []
        for _ in range(4):
            raw = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
            held.append(client_ctx().wrap_socket(raw, server_hostname="localhost"))
        # Over the cap: closed at accept, before any TLS work.
        for _ in range(3):
            raw = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
            with self.assertRaises((OSError, ssl.SSLError)):
                client_ctx().wrap_socket(raw, server_hostname="localhost").close()
            raw.close()
        for s in held:  # the held ones still work
            s.sendall(b"GET /small.txt HTTP/1.1\r\nHost: l\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            self.assertEqual(data.partition(b"\r\n\r\n")[2], self.files["small.txt"])
            s.close()
        self.assert_serves(srv.port)

    def test_address_space_too_small_to_start(self):
        p = subprocess.run(["prlimit", "--as=%d" % (8 << 20), "--",
                            os.environ.get("KSSL_BIN", "kssl"), "serve",
                            self.root, "--port", "0"],
                           capture_output=True, text=True, timeout=60)
        self.assertGreater(p.returncode, 0, "killed by a signal? %d" % p.returncode)
        self.assertTrue(p.stderr.strip(), "no error message")

    def test_address_space_tight_under_load(self):
        # The limit: what an idle server maps, plus 1.5 MiB for everything
        # 600 connections (20 at a time, 4 slow readers) need.
        idle = self.serve()
        limit = status_kb(idle.pid, "VmSize") * 1024 + (1536 << 10)
        idle.stop()
        self.servers.remove(idle)
        srv = self.serve(wrapper=("prlimit", "--as=%d" % limit, "--"))
        r = subprocess.run([CHURN, "-p", str(srv.port), "-r", self.root,
                            "-n", "600", "-t", "16", "-s", "4"],
                           capture_output=True, text=True, timeout=600)
        bad = re.search(r"total \d+ connections, (\d+) bad", r.stdout)
        self.assertTrue(bad, "kssl-churn: %d %s" % (r.returncode, r.stderr))
        print("CHAOS --as %d kB, 604 connections: %s failed; server %s"
              % (limit >> 10, bad.group(1) if bad else "?",
                 "alive" if srv.alive() else "exited %s" % srv.proc.returncode),
              flush=True)
        # Refusals are allowed; a crash is not, nor an end to serving.
        self.assertTrue(srv.alive(), "exit status %s" % srv.proc.returncode)
        status, body = get(srv.port, "/small.txt")
        self.assertEqual((status, body), (200, self.files["small.txt"]))


if __name__ == "__main__":
    unittest.main(verbosity=2)
