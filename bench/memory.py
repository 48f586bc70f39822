"""bench/run --memory: what an idle TLS connection costs the sender.

Per sender: a warm-up (a few connections opened and closed, so lazily built
state is in the baseline), then the sender tree's VmRSS/RssAnon and the
system's kernel slab; N keep-alive connections each complete a handshake and
one verified GET of a small file and stay open, idle; after a settle pause
the same numbers again. The growth divided by N is the per-connection cost.
Every idle connection must then still serve a second verified GET (so none
was dropped by a cap or timeout), and /proc/net/tls_stat shows how many
sockets had kernel TX/RX while idle.

RSS is the sender's user-space memory only. kTLS keeps its per-socket state
(tls_context, cipher, record buffers) in the kernel, so the slab column is
reported next to it: system-wide, both ends of every connection, and noisy
on a busy machine, but the client side is the same for every case, so the
difference between cases is the sender's kernel state.
"""
import concurrent.futures
import hashlib
import re
import socket
import ssl
import sys
import time

import senders

IDLE_FILE = "idle.bin"
IDLE_SIZE = 1024
DEFAULT_CONNS = 10000
PIPE_POOL_FDS = 16  # slack for pooled splice pipes (see measure)


def get(s, name, want_sha):
    """One keep-alive GET on s; True if the body verified."""
    s.sendall(b"GET /%s HTTP/1.1\r\nHost: localhost\r\n\r\n" % name.encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            return False
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    m = re.search(rb"Content-Length: (\d+)", head, re.I)
    if not head.startswith(b"HTTP/1.1 200") or not m:
        return False
    length = int(m.group(1))
    while len(body) < length:
        chunk = s.recv(length - len(body))
        if not chunk:
            return False
        body += chunk
    return len(body) == length and hashlib.sha256(body).hexdigest() == want_sha


def open_idle(port, ctx, want_sha):
    """A connection left idle after a handshake and one verified GET."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=300)
    try:
        s = ctx.wrap_socket(raw, server_hostname="localhost")
        if get(s, IDLE_FILE, want_sha):
            return s
        s.close()
    except (OSError, ssl.SSLError) as e:
        sys.stderr.write("bench: idle connection failed: %s\n" % e)
        raw.close()
    return None


def open_many(n, port, ctx, want_sha, threads=8):
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda _: open_idle(port, ctx, want_sha), range(n)))


def still_serving(socks, want_sha, threads=8):
    def one(s):
        try:
            return bool(s and get(s, IDLE_FILE, want_sha))
        except (OSError, ssl.SSLError):
            return False
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        return sum(pool.map(one, socks))


def close_all(socks):
    for s in socks:
        if s:
            try:
                s.close()
            except OSError:
                pass


def wait_fds_steady(pid, deadline, settle):
    """The sender's fd count once it has not changed for settle seconds
    (or at the deadline)."""
    fds = senders.tree_fds(pid)
    while True:
        time.sleep(settle)
        now = senders.tree_fds(pid)
        if now == fds or time.monotonic() > deadline:
            return now
        fds = now


def measure(factory, conns, cafile, want_sha, settle=1.0):
    sender = factory()
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = False
    pid = sender.proc.pid
    socks = []
    try:
        close_all(open_many(8, sender.port, ctx, want_sha))
        time.sleep(settle)
        rss0, slab0, tls0 = senders.tree_rss_kib(pid), senders.slab_kib(), senders.tls_stat()
        fds0 = senders.tree_fds(pid)
        t0 = time.monotonic()
        socks = open_many(conns, sender.port, ctx, want_sha)
        open_s = time.monotonic() - t0
        time.sleep(settle)
        rss1, slab1, tls1 = senders.tree_rss_kib(pid), senders.slab_kib(), senders.tls_stat()
        fds1 = senders.tree_fds(pid)
        opened = sum(1 for s in socks if s)
        serving = still_serving(socks, want_sha)
        close_all(socks)
        socks = []
        time.sleep(settle)
        # After close: a second wave as big as the first, closed too, must
        # not grow RSS again (what leaks grows per wave; what the allocator
        # keeps from the first wave is reused by the second).
        close_all(open_many(conns, sender.port, ctx, want_sha))
        # The sender sees the closes as its loop gets to them (seconds for
        # thousands under emulation): wait for its fds, up to a minute.
        deadline = time.monotonic() + 60
        time.sleep(settle)
        while senders.tree_fds(pid) > fds0 + PIPE_POOL_FDS and time.monotonic() < deadline:
            time.sleep(0.5)
        # Read RSS only once the count has stayed put for a settle pause:
        # the last closes can still be on their way through the loop
        # (within PIPE_POOL_FDS), and kssl serve gives the wave's heap back
        # (malloc_trim) only on the loop turn after they are done; read
        # before that, "after" is the allocator's high-water mark, not a
        # leak (docs/bench.md).
        fds2 = wait_fds_steady(pid, deadline, settle)
        rss2 = senders.tree_rss_kib(pid)
    finally:
        close_all(socks)
        sender.stop()
    per = max(opened, 1)
    return {
        "conns": conns, "opened": opened, "still_serving": serving,
        # fds back where they were, but for the io_uring engine's pool of
        # splice pipes (bounded, 2 fds each), which a wave may have grown.
        "verified": opened == conns and serving == conns and fds2 <= fds0 + PIPE_POOL_FDS,
        "open_seconds": open_s,
        "rss_kib_before": rss0["VmRSS"], "rss_kib_idle": rss1["VmRSS"],
        "rss_kib_after_close": rss2["VmRSS"],
        "fds_before": fds0, "fds_idle": fds1, "fds_after_close": fds2,
        "rss_kib_per_conn": (rss1["VmRSS"] - rss0["VmRSS"]) / per,
        "anon_kib_per_conn": (rss1["RssAnon"] - rss0["RssAnon"]) / per,
        "slab_kib_per_conn_system": (slab1 - slab0) / per,
        "ktls_tx_sockets_idle": tls1.get("TlsCurrTxSw", 0) - tls0.get("TlsCurrTxSw", 0),
        "ktls_rx_sockets_idle": tls1.get("TlsCurrRxSw", 0) - tls0.get("TlsCurrRxSw", 0),
    }


def run(env, conns, chosen=None):
    """The "memory" section of the report."""
    cases = senders.memory_cases(env, conns)
    limit = senders.raise_nofile(2 * conns + 1024)
    section = {"conns": conns, "idle_file_bytes": IDLE_SIZE, "nofile": limit, "cases": {}}
    if conns < DEFAULT_CONNS:
        section["note"] = "%d connections (scaled down from %d)" % (conns, DEFAULT_CONNS)
    for name in chosen or cases:
        try:
            r = measure(cases[name], conns, env["ca"], env["idle_sha"])
            c = {"status": "ok", "result": r}
            print("  %-26s %4d idle: %+7.1f KiB RSS/conn (anon %+.1f), slab %+.1f KiB/conn"
                  " (system), kTLS tx/rx %d/%d, opened in %.1f s, %s" % (
                      name, conns, r["rss_kib_per_conn"], r["anon_kib_per_conn"],
                      r["slab_kib_per_conn_system"], r["ktls_tx_sockets_idle"],
                      r["ktls_rx_sockets_idle"], r["open_seconds"],
                      "verified" if r["verified"] else
                      "NOT VERIFIED (%d opened, %d still serving)" % (r["opened"],
                                                                      r["still_serving"])),
                  flush=True)
        except (senders.Unavailable, RuntimeError, OSError) as e:
            c = {"status": "unavailable: %s" % e}
            print("  %-26s %s" % (name, c["status"]), flush=True)
        section["cases"][name] = c
    return section


def write_idle_file(root):
    data = bytes(range(256)) * (IDLE_SIZE // 256)
    with open("%s/%s" % (root, IDLE_FILE), "wb") as f:
        f.write(data)
    return hashlib.sha256(data).hexdigest()


def markdown(section):
    lines = ["", "## Memory: %d idle TLS connections%s" % (
        section["conns"], " — " + section["note"] if "note" in section else ""), "",
        "RSS after: after the idle connections closed and a second wave as many "
        "was opened and closed (growth there would be a leak).", "",
        "| case | RSS KiB/conn | anon KiB/conn | kernel slab KiB/conn (system-wide) "
        "| kTLS TX/RX sockets idle | fds before/idle/after | RSS KiB before/idle/after "
        "| open s | verified |",
        "|---|---|---|---|---|---|---|---|---|"]
    for name, c in section["cases"].items():
        if c["status"] != "ok":
            lines.append("| %s | %s | | | | | | | |" % (name, c["status"]))
            continue
        r = c["result"]
        lines.append("| %s | %.1f | %.1f | %.1f | %d/%d | %s | %d/%d/%d | %.1f | %s |" % (
            name, r["rss_kib_per_conn"], r["anon_kib_per_conn"],
            r["slab_kib_per_conn_system"], r["ktls_tx_sockets_idle"],
            r["ktls_rx_sockets_idle"], "%d/%d/%d" % (r["fds_before"], r["fds_idle"],
                                                     r["fds_after_close"]),
            r["rss_kib_before"], r["rss_kib_idle"], r["rss_kib_after_close"], r["open_seconds"],
            "yes" if r["verified"] else "NO (%d opened, %d serving)" % (
                r["opened"], r["still_serving"])))
    return "\n".join(lines) + "\n"


def compare(section, baseline, threshold, slack_kib=1.0):
    """Regressions: RSS per idle connection above baseline by more than
    threshold % plus slack_kib (small values are all noise)."""
    bad, checked = [], 0
    if section.get("conns") != baseline.get("conns"):  # fixed costs amortise differently
        return bad, checked
    for name, c in section["cases"].items():
        b = baseline.get("cases", {}).get(name, {})
        if c["status"] != "ok" or b.get("status") != "ok":
            continue
        checked += 1
        new, old = c["result"]["rss_kib_per_conn"], b["result"]["rss_kib_per_conn"]
        if new > old * (1 + threshold / 100) + slack_kib:
            bad.append("memory %s: %.1f KiB/conn > baseline %.1f KiB/conn + %g%% + %g KiB" % (
                name, new, old, threshold, slack_kib))
    return bad, checked
