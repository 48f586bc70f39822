"""The C clients bench/run measures senders with, pinned away from them.

- curl: one large download per run (-o FILE, then the file's SHA-256);
- h2load (nghttp2-client, --h1): many keep-alive connections; its per-client
  request rates give the spread of per-connection throughput (fairness);
  bytes are checked by count (h2load does not hash), and every such row is
  paired with a curl fetch of the same file whose SHA-256 is checked;
- openssl s_time: new-connection handshake rates, full (-new) and resumed
  (-reuse), each connection fetching a small file (-www) so TLS 1.3 tickets
  are read and resumption really happens (s_time marks each connection
  '*' new or 'r' reused: both are counted);
- kssl get (another command, given by $KSSL_GET or found as `kssl get`): the
  kssl<->kssl case with the client's RX in the kernel.

Every client runs under taskset on CLIENT_CPUS, the sender on SENDER_CPUS
(disjoint when the machine has two CPUs or more); the client's own CPU time
comes from wait4().
"""
import hashlib
import os
import re
import resource
import shlex
import shutil
import subprocess
import time

CIPHER = "TLS_AES_128_GCM_SHA256"  # every client offers only this (TLS 1.3)


def cpu_split():
    """(sender cpus, client cpus, note): CPU 0 for the sender and the rest
    for clients and this driver; one CPU: shared, said so."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return cpus, cpus, "one CPU: sender and clients share it (not pinned)"
    return cpus[:1], cpus[1:], "sender on CPU %s, clients and driver on CPU %s (taskset)" % (
        ",".join(map(str, cpus[:1])), ",".join(map(str, cpus[1:])))


def pin_prefix(cpus):
    return ["taskset", "-c", ",".join(map(str, cpus))] if shutil.which("taskset") else []


def run_timed(argv, timeout=600):
    """Run argv; (rc, stdout, stderr, wall seconds)."""
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        return -1, out, err + "\ntimeout", time.monotonic() - t0
    return p.returncode, out, err, time.monotonic() - t0


class Clients:
    """The client commands of one benchmark run."""

    def __init__(self, env, client_cpus, tmpdir):
        self.env, self.pin, self.tmp = env, pin_prefix(client_cpus), tmpdir
        self.curl = shutil.which("curl")
        self.h2load = shutil.which("h2load")
        self.openssl = shutil.which("openssl")
        self.get_cmd = kssl_get_command(env["kssl"])

    def _run(self, argv, timeout=600):
        """run_timed, plus the client's user and sys seconds (the bench
        driver runs one client at a time: RUSAGE_CHILDREN deltas are it)."""
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        rc, out, err, wall = run_timed(self.pin + argv, timeout)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        return rc, out, err, wall, r1.ru_utime - r0.ru_utime, r1.ru_stime - r0.ru_stime

    def download(self, port, name, want_sha, use_get=False):
        """One verified download: {ok, bytes, seconds, client_user_s, client_sys_s}."""
        url = "https://127.0.0.1:%d/%s" % (port, name)
        out = os.path.join(self.tmp, "download.bin")
        if use_get:
            argv = [a.format(url=url, out=out, ca=self.env["ca"]) for a in self.get_cmd]
        else:
            argv = [self.curl, "-sS", "--fail", "--http1.1", "--tlsv1.3", "--tls13-ciphers",
                    CIPHER, "--cacert", self.env["ca"], "-o", out, url]
        rc, _, err, wall, u, s = self._run(argv)
        ok = rc == 0 and sha256_file(out) == want_sha
        size = os.path.getsize(out) if os.path.exists(out) else 0
        if os.path.exists(out):
            os.unlink(out)
        if not ok:
            print("bench: download %s failed (rc %d): %s" % (url, rc, err.strip()[-300:]))
        return {"ok": ok, "bytes": size, "seconds": wall, "client_user_s": u,
                "client_sys_s": s}

    def load(self, port, name, size, conc, requests):
        """h2load --h1: requests GETs over conc keep-alive connections."""
        url = "https://127.0.0.1:%d/%s" % (port, name)
        argv = [self.h2load, "--h1", "-t", "1", "-c", str(conc), "-n", str(requests),
                "--tls13-ciphers", CIPHER, url]
        rc, out, err, wall, u, s = self._run(argv)
        r = parse_h2load(out)
        r.update(seconds=wall, client_user_s=u, client_sys_s=s)
        r["ok"] = (rc == 0 and r.get("succeeded") == requests and r.get("failed") == 0
                   and r.get("errored") == 0 and r.get("data_bytes") == size * requests)
        if not r["ok"]:
            print("bench: h2load %s x%d failed (rc %d): %s" % (
                url, conc, rc, (out + err).strip()[-400:]))
        return r

    def handshakes(self, port, path, seconds, resume):
        """openssl s_time for `seconds`: {connections, new, reused, ok}."""
        argv = [self.openssl, "s_time", "-connect", "127.0.0.1:%d" % port,
                "-reuse" if resume else "-new", "-time", str(seconds), "-www", "/" + path,
                "-ciphersuites", CIPHER, "-CAfile", self.env["ca"]]
        rc, out, err, wall, u, s = self._run(argv, timeout=seconds * 10 + 30)
        m = re.findall(r"(\d+) connections in [\d.]+ real seconds, (\d+) bytes read", out)
        marks = "".join(line for line in out.splitlines() if re.fullmatch(r"[*r]+", line))
        conns = int(m[-1][0]) if m else 0
        return {"ok": rc == 0 and conns > 0 and int(m[-1][1]) > 0, "connections": conns,
                "new": marks.count("*"), "reused": marks.count("r"), "seconds": wall,
                "client_user_s": u, "client_sys_s": s}


def parse_h2load(out):
    r = {}
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored", out)
    if m:
        r.update(succeeded=int(m.group(4)), failed=int(m.group(5)), errored=int(m.group(6)))
    m = re.search(r"traffic: .*?(\d+)\) data", out)
    if m:
        r["data_bytes"] = int(m.group(1))
    m = re.search(r"req/s\s*:\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", out)
    if m:  # per-client request rate: min max mean sd
        lo, hi, mean, sd = (float(x) for x in m.groups())
        if mean > 0:
            r["fairness"] = {"min_over_mean": lo / mean, "max_over_mean": hi / mean,
                             "cv": sd / mean}
    return r


def kssl_get_command(kssl):
    """argv template ({url} {out} {ca}) of the kssl download client, or None.
    $KSSL_GET: a command line with those fields (an empty value disables
    the case); else `kssl get` if this kssl has it."""
    env = os.environ.get("KSSL_GET")
    if env is not None:
        return shlex.split(env) if env.strip() else None
    try:
        r = subprocess.run([kssl, "get", "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if r.returncode != 0:
        return None
    return [kssl, "get", "--cacert", "{ca}", "-o", "{out}", "{url}"]


def sha256_file(path):
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while True:
                b = f.read(1 << 20)
                if not b:
                    break
                h.update(b)
    except OSError:
        return None
    return h.hexdigest()
