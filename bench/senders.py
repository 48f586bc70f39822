"""The senders bench/run measures, and what it reads about them from /proc.

Every sender is a process serving GET /NAME from one directory over HTTPS on
127.0.0.1; a case that cannot run here raises Unavailable with the reason
(no kTLS in the kernel, nginx not installed, the kssl Python package not
built), which the report prints as `unavailable: <reason>`.
"""
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TICK = os.sysconf("SC_CLK_TCK")
PYTHON = "/usr/bin/python3"  # the interpreter the kssl package is built for
NO_KTLS = "no kTLS: kernel has no tls ULP (/proc/sys/net/ipv4/tcp_available_ulp)"


class Unavailable(Exception):
    pass


PIN = []  # taskset prefix for every sender (bench/run sets it: CPU 0)


# ---- /proc -----------------------------------------------------------------

def kernel_has_tls():
    try:
        with open("/proc/sys/net/ipv4/tcp_available_ulp") as f:
            return "tls" in f.read().split()
    except OSError:
        return False


def tls_stat():
    """/proc/net/tls_stat as {name: int}; {} without kTLS."""
    try:
        with open("/proc/net/tls_stat") as f:
            return {k: int(v) for k, v in (line.split() for line in f if line.strip())}
    except (OSError, ValueError):
        return {}


def _stat_fields(pid):
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()


def tree_pids(pid):
    """pid and its live children (kssl serve --workers, nginx workers)."""
    pids = [pid]
    try:
        entries = os.listdir("/proc")
    except OSError:
        return pids
    for entry in entries:
        if entry.isdigit():
            try:
                if int(_stat_fields(int(entry))[1]) == pid:
                    pids.append(int(entry))
            except OSError:
                pass
    return pids


def tree_cpu(pid):
    """(user, sys) seconds of pid and its live children."""
    user = system = 0.0
    for p in tree_pids(pid):
        try:
            st = _stat_fields(p)
            user += int(st[11]) / TICK
            system += int(st[12]) / TICK
        except OSError:
            pass
    return user, system


def tree_rss_kib(pid):
    """{"VmRSS": kB, "RssAnon": kB} summed over pid and its children."""
    total = {"VmRSS": 0, "RssAnon": 0}
    for p in tree_pids(pid):
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    key, _, rest = line.partition(":")
                    if key in total:
                        total[key] += int(rest.split()[0])
        except OSError:
            pass
    return total


def tree_fds(pid):
    """Open file descriptors of pid and its children."""
    n = 0
    for p in tree_pids(pid):
        try:
            n += len(os.listdir("/proc/%d/fd" % p))
        except OSError:
            pass
    return n


def slab_kib():
    """System-wide kernel slab (kB): where kTLS keeps its per-socket state."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("Slab:"):
                return int(line.split()[1])
    return 0


# ---- processes -------------------------------------------------------------

class Sender:
    """A sender that prints its port on stdout (pattern's group 1)."""

    def __init__(self, argv, pattern, env=None):
        self.proc = subprocess.Popen(PIN + argv, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.monotonic() + 30
        self.port = None
        while time.monotonic() < deadline and self.port is None:
            line = self.proc.stdout.readline()
            if not line:
                break
            m = re.search(pattern, line)
            if m:
                self.port = int(m.group(1))
        if self.port is None:
            self.stop()
            raise RuntimeError("sender did not start: %s" % self.proc.stderr.read()[-500:])
        # Drain both pipes so an access log or warnings never block the sender.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        threading.Thread(target=self.proc.stderr.read, daemon=True).start()

    def stop(self):
        stop_process(self.proc)


def stop_process(proc):
    """SIGTERM (senders finish in-flight responses), SIGKILL after 30 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Nginx:
    """Debian nginx, one process (master_process off), generated config.
    keepalive 0 for throughput runs (one fetch per connection); the memory
    mode needs idle keep-alive connections to stay open. ssl_protocols is
    explicit because nginx before 1.23.4 (Debian 12 has 1.22) leaves TLS 1.3
    off by default, and every case must negotiate what the others do."""

    def __init__(self, env, ktls, keepalive_s=0, conns=0):
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        if not os.path.exists(nginx):
            raise Unavailable("nginx not installed")
        self.port = free_port()
        self.dir = d = tempfile.mkdtemp(prefix="kssl-bench-nginx-")
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write("""
daemon off; master_process off; worker_processes 1; pid %(d)s/nginx.pid;
worker_rlimit_nofile %(nofile)d;
error_log %(d)s/error.log warn;
events { worker_connections %(wc)d; }
http {
  access_log off; sendfile on; keepalive_timeout %(ka)d; keepalive_requests 1000000;
  client_body_temp_path %(d)s; proxy_temp_path %(d)s; fastcgi_temp_path %(d)s;
  uwsgi_temp_path %(d)s; scgi_temp_path %(d)s;
  server {
    listen 127.0.0.1:%(port)d ssl backlog=4096; root %(root)s;
    ssl_certificate %(cert)s; ssl_certificate_key %(key)s;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_conf_command Options %(ktls)s;
  }
}
""" % dict(d=d, port=self.port, root=env["root"], cert=env["cert"], key=env["key"],
           # nginx closes idle keep-alive connections once fewer than 1/16
           # of worker_connections are free (ngx_drain_connections): keep
           # it far above what the memory mode holds open.
           wc=max(4096, 2 * conns + 256), nofile=max(8192, 4 * conns + 1024),
           ka=keepalive_s,
           ktls="KTLS" if ktls else "-KTLS"))
        self.proc = subprocess.Popen(PIN + [nginx, "-p", d, "-c", conf, "-e", d + "/error.log"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise Unavailable("nginx did not start")

    def stop(self):
        stop_process(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


def kssl_python_dir(kssl_bin):
    """Directory holding the built kssl package: $KSSL_PYTHONPATH, else the
    build tree's python/ found upwards from the kssl program (build/cli/kssl
    -> build/python), else build/python next to bench/."""
    env = os.environ.get("KSSL_PYTHONPATH")
    if env:
        return env
    d = os.path.dirname(os.path.realpath(kssl_bin)) if kssl_bin and os.sep in kssl_bin else ""
    while d and d != os.path.dirname(d):
        if os.path.exists(os.path.join(d, "python", "kssl", "__init__.py")):
            return os.path.join(d, "python")
        d = os.path.dirname(d)
    d = os.path.join(HERE, "..", "build", "python")
    return d if os.path.exists(os.path.join(d, "kssl", "__init__.py")) else None


def python_sender(env, use_kssl):
    argv = [PYTHON, os.path.join(HERE, "py_server.py")]
    penv = None
    if use_kssl:
        pydir = kssl_python_dir(env["kssl"])
        if not pydir:
            raise Unavailable("kssl Python package not built (set KSSL_PYTHONPATH)")
        penv = dict(os.environ, PYTHONPATH=pydir)
        argv.append("--kssl")
    return Sender(argv + [env["cert"], env["key"], env["root"]], r"listening (\d+)", penv)


# ---- cases -----------------------------------------------------------------

def _need_ktls():
    if not kernel_has_tls():
        raise Unavailable(NO_KTLS)


def _need(path, what):
    if not path or not os.path.exists(path):
        raise Unavailable("%s not built" % what)


def _serve(env, extra):
    argv = [env["kssl"], "serve", env["root"], "--port", "0", "--quiet",
            "--cert", env["cert"], "--key", env["key"]] + extra
    return Sender(argv, r"https://127\.0\.0\.1:(\d+)/")


def _ossl(env, extra):
    _need(env["ossl_sender"], "bench/ossl_sender")
    return Sender([env["ossl_sender"], env["cert"], env["key"], env["root"]] + extra,
                  r"listening (\d+)")


class Case:
    """A throughput case: start() returns a started sender (.proc, .port,
    .stop()); get_client: measured with the kssl download client (kssl get)
    instead of curl/h2load."""

    def __init__(self, start, get_client=False):
        self.start, self.get_client = start, get_client


def throughput_cases(env):
    """name -> Case. Keep-alive for every sender (h2load reuses its
    connections; curl and s_time open one per fetch)."""
    # Every client connects from 127.0.0.1: the per-address cap (64 by
    # default) must not refuse the 256- and 1024-connection rows.
    ka = ["--idle-timeout", "60", "--max-conns", "4096", "--max-conns-per-addr", "4096"]
    return {
        "kssl-offload-uring-splice": Case(lambda: (_need_ktls(), _serve(env, ka))[1]),
        "kssl-offload-sendfile": Case(lambda: (_need_ktls(), _serve(env, ka + ["--no-uring"]))[1]),
        "kssl-fallback-userspace": Case(lambda: _serve(env, ka + ["--offload", "none"])),
        "openssl-ssl-write": Case(lambda: _ossl(env, [])),
        "openssl-native-ktls": Case(lambda: (_need_ktls(), _ossl(env, ["--ktls"]))[1]),
        "nginx-ktls": Case(lambda: (_need_ktls(), Nginx(env, True, 60))[1]),
        "nginx-userspace": Case(lambda: Nginx(env, False, 60)),
        "cpython-ssl-sendfile": Case(lambda: python_sender(env, False)),
        "kssl-python-sendfile": Case(lambda: python_sender(env, True)),
        # kssl serve -> kssl get, both directions of both ends in the kernel;
        # compare with openssl-native-ktls (curl: OpenSSL 3.0 has no TLS 1.3 RX).
        "kssl-kssl-kernel-rx": Case(lambda: (_need_ktls(), _serve(env, ka))[1],
                                    get_client=True),
    }


def memory_cases(env, conns):
    """Senders that keep idle keep-alive connections open: kssl serve with
    caps and timeouts raised above the test's, nginx with keep-alive on."""
    idle = ["--max-conns", str(conns + 64), "--max-conns-per-addr", str(conns + 64),
            "--idle-timeout", "3600", "--header-timeout", "600"]
    return {
        "kssl-offload-uring-splice": lambda: (_need_ktls(), _serve(env, idle))[1],
        "kssl-fallback-userspace": lambda: _serve(env, idle + ["--offload", "none"]),
        "nginx-ktls": lambda: (_need_ktls(), Nginx(env, True, 3600, conns))[1],
        "nginx-userspace": lambda: Nginx(env, False, 3600, conns),
    }


def raise_nofile(need):
    """Soft (and, as root, hard) RLIMIT_NOFILE >= need; children inherit it.
    Returns the soft limit now in force."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return soft
    if hard != resource.RLIM_INFINITY and hard < need:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, need))
            return need
        except (ValueError, OSError):
            need = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    return need
