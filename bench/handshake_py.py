#!/usr/bin/python3
"""CPU per TLS handshake of the Python module: stdlib ssl vs kssl.

usage: handshake_py.py [--n 1000] [--tls 1.3|1.2] [--getpeercert] [--rounds 3]
                       [--cpus C,S] [--mods ssl,kssl] [--certs DIR]
                       [--callgrind [--n 200]]

For each module, a server process and a client process (both the same
module, each pinned to its own CPU with sched_setaffinity, as `taskset`
does) make --n sequential connections over loopback: connect, handshake,
one byte each way, close. Each process reports its own CPU time (user +
sys, os.times()) for the n connections only (imports, context setup and a
warm-up connection excluded). Prints one line per module and the kssl/ssl
ratios. Wall-clock time is not the measure: the machine may be shared.
The kssl package is found through PYTHONPATH (e.g. build/python);
certificates in --certs (default: $KSSL_TEST_CERTS, e.g. build/certs).

--callgrind counts instructions instead, which repeat exactly whatever the
machine load: each side of each module runs under valgrind's callgrind
(its peer runs normally) with 20 and 20 + --n connections, and the
difference divided by --n is one handshake without start-up and imports.
"""
import argparse
import os
import socket
import subprocess
import sys
import tempfile

CHILD = r"""
import os, socket, sys
mod, role, certs, n, tls, peercert, fd = sys.argv[1:8]
n, fd, peercert = int(n), int(fd), peercert == "1"
if mod == "kssl":
    import kssl as ssl
else:
    import ssl
out = os.fdopen(fd, "w")
if role == "server":
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(certs, "server.pem"),
                        os.path.join(certs, "server.key"))
    if tls == "1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ls = socket.create_server(("127.0.0.1", 0))
    out.write("%d\n" % ls.getsockname()[1]); out.flush()
    def one():
        raw, _ = ls.accept()
        with ctx.wrap_socket(raw, server_side=True) as s:
            s.recv(1)
            s.sendall(b"y")
    one()  # warm-up
    t0 = os.times()
    for _ in range(n):
        one()
else:
    port = int(sys.stdin.readline())
    ctx = ssl.create_default_context(cafile=os.path.join(certs, "ca.pem"))
    def one():
        raw = socket.create_connection(("127.0.0.1", port))
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            if peercert:
                s.getpeercert()
            s.sendall(b"x")
            if s.recv(1) != b"y":
                raise SystemExit("bad reply")
    one()
    t0 = os.times()
    for _ in range(n):
        one()
t1 = os.times()
out.write("%f %f\n" % (t1.user - t0.user, t1.system - t0.system))
out.close()
"""


def run_child(mod, role, cpu, args, stdin=None, n=None, prefix=()):
    r, w = os.pipe()
    env = dict(os.environ)
    proc = subprocess.Popen(
        list(prefix) +
        [sys.executable, "-c", CHILD, mod, role, args.certs,
         str(args.n if n is None else n),
         args.tls, "1" if args.getpeercert else "0", str(w)],
        pass_fds=(w,), stdin=stdin, env=env,
        preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))
    os.close(w)
    return proc, os.fdopen(r)


def measure(mod, args):
    cs, ss = args.cpus
    server, sout = run_child(mod, "server", ss, args)
    port = sout.readline()
    client, cout = run_child(mod, "client", cs, args, stdin=subprocess.PIPE)
    client.stdin.write(port.encode())
    client.stdin.close()
    c = [float(x) for x in cout.readline().split()]
    s = [float(x) for x in sout.readline().split()]
    if client.wait() or server.wait():
        raise SystemExit("%s: a peer failed" % mod)
    return c, s


def instructions(mod, role, n, args):
    """Instructions callgrind counts in `role` of `mod` for n connections."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cg.out")
        vg = ("valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
              "--log-file=" + os.path.join(tmp, "log"))
        cs, ss = args.cpus
        server, sout = run_child(mod, "server", ss, args, n=n,
                                 prefix=vg if role == "server" else ())
        port = sout.readline()
        client, cout = run_child(mod, "client", cs, args, n=n,
                                 stdin=subprocess.PIPE,
                                 prefix=vg if role == "client" else ())
        client.stdin.write(port.encode())
        client.stdin.close()
        cout.read()
        sout.read()
        if client.wait() or server.wait():
            raise SystemExit("%s: a peer failed" % mod)
        with open(out) as f:
            for line in f:
                if line.startswith(("summary:", "totals:")):
                    return int(line.split()[1])
    raise SystemExit("no callgrind totals")


def callgrind(mods, args):
    per = {}
    for mod in mods:
        for role in ("client", "server"):
            lo = instructions(mod, role, 20, args)
            hi = instructions(mod, role, 20 + args.n, args)
            per[mod, role] = (hi - lo) / args.n
            print("%-5s %s TLS %s: %.4f M instructions/handshake"
                  % (mod, role, args.tls, per[mod, role] / 1e6), flush=True)
    if ("ssl", "client") in per and ("kssl", "client") in per:
        print("kssl/ssl instructions per handshake: client %.4f, server %.4f"
              % tuple(per["kssl", r] / per["ssl", r]
                      for r in ("client", "server")))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=None,
                    help="connections (default 1000, 200 with --callgrind)")
    ap.add_argument("--tls", choices=("1.3", "1.2"), default="1.3")
    ap.add_argument("--getpeercert", action="store_true",
                    help="the client calls getpeercert() on each connection")
    ap.add_argument("--cpus", default="0,1",
                    help="client CPU, server CPU (default 0,1)")
    ap.add_argument("--mods", default="ssl,kssl")
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds, module order alternating (default 3); "
                         "the ratios printed are the medians")
    ap.add_argument("--certs", default=os.environ.get("KSSL_TEST_CERTS", ""))
    ap.add_argument("--callgrind", action="store_true",
                    help="count instructions under valgrind (--n default "
                         "200 then)")
    args = ap.parse_args()
    args.cpus = [int(x) for x in args.cpus.split(",")]
    if not os.path.exists(os.path.join(args.certs, "server.pem")):
        raise SystemExit("need --certs DIR (tests/certs/make-certs.sh DIR)")
    mods = args.mods.split(",")
    if args.n is None:
        args.n = 200 if args.callgrind else 1000
    if args.callgrind:
        callgrind(mods, args)
        return
    ratios = []
    for r in range(args.rounds):
        res = {}
        # Alternate the order: load that drifts during a round then
        # favours neither module.
        for mod in (mods if r % 2 == 0 else mods[::-1]):
            c, s = measure(mod, args)
            res[mod] = (sum(c), sum(s))
            print("round %d %-5s TLS %s n=%d  client %.0f us/handshake "
                  "(user %.2fs sys %.2fs)  server %.0f us/handshake "
                  "(user %.2fs sys %.2fs)"
                  % (r + 1, mod, args.tls, args.n, sum(c) / args.n * 1e6,
                     c[0], c[1], sum(s) / args.n * 1e6, s[0], s[1]))
        if "ssl" in res and "kssl" in res:
            ratios.append((res["kssl"][0] / res["ssl"][0],
                           res["kssl"][1] / res["ssl"][1]))
    if ratios:
        med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
        print("kssl/ssl CPU per handshake (median of %d rounds): client %.2f, "
              "server %.2f" % (len(ratios), med([x[0] for x in ratios]),
                               med([x[1] for x in ratios])))


if __name__ == "__main__":
    socket.setdefaulttimeout(30)
    main()
