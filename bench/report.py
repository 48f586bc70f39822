"""bench/run's report: tables (bench.md), chart (bench.png), throughput
ratios, and the --baseline regression gate."""
import os
import shutil
import tempfile

import memory


def human(n):
    for unit, shift in (("G", 30), ("M", 20), ("K", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return "%d%s" % (n >> shift, unit)
    return str(n)


RATIOS = [  # (numerator, denominator): the comparisons docs/bench.md discusses
    ("kssl-offload-uring-splice", "openssl-native-ktls"),
    ("kssl-offload-uring-splice", "nginx-ktls"),
    ("kssl-offload-uring-splice", "kssl-offload-sendfile"),
    ("kssl-offload-uring-splice", "kssl-fallback-userspace"),
    ("kssl-offload-uring-splice", "cpython-ssl-sendfile"),
    ("kssl-fallback-userspace", "openssl-ssl-write"),
    ("kssl-fallback-userspace", "nginx-userspace"),
    ("kssl-python-sendfile", "cpython-ssl-sendfile"),
]


def ratios(report):
    """Median MB/s ratios per size x concurrency for the RATIOS pairs."""
    def medians(name):
        c = report["cases"].get(name, {})
        return {"%s x%d" % (human(r["size"]), r["conc"]): r["mbps"]["median"]
                for r in c.get("results", []) if "mbps" in r}
    out = {}
    for a, b in RATIOS:
        ma, mb = medians(a), medians(b)
        common = [k for k in ma if k in mb and mb[k] > 0]
        if common:
            out["%s / %s" % (a, b)] = {k: ma[k] / mb[k] for k in common}
    return out


def markdown(report):
    p = report["params"]
    lines = ["# kssl bench (%s%s)" % (report["kernel"], ", EMULATED (TCG VM)" if report["emulated"] else ""),
             "", "%s; %d CPUs; runs %d, at least %s or %s fetches per run; %s" % (
                 report["machine"], report["cpus"], p["runs"], human(p["min_bytes"]),
                 p["max_fetches"] or "unlimited",
                 "; ".join(report["versions"].values()))]
    if report["emulated"]:
        lines += ["", "**EMULATED**: QEMU TCG emulates the CPU. Only ratios between cases of "
                  "this run mean anything; CPU ratios between kernel and userspace crypto "
                  "are not a speed-up (TCG distorts them)."]
    if report["cases"]:
        lines += ["", "| case | TLS | size | conc | MB/s median (min-max) | user s/GiB | sys s/GiB "
                  "| verified |", "|---|---|---|---|---|---|---|---|"]
    for name, c in report["cases"].items():
        if not c["results"]:
            lines.append("| %s | | | | %s | | | |" % (name, c["status"]))
        tls = c.get("tls", {})
        for r in c["results"]:
            if "skipped" in r:
                continue
            lines.append("| %s | %s | %s | %d | %.1f (%.1f-%.1f) | %.2f | %.2f | %s |" % (
                name, "%s %s" % (tls.get("version", "?"), tls.get("cipher", "?")), human(r["size"]), r["conc"], r["mbps"]["median"], r["mbps"]["min"],
                r["mbps"]["max"], r["user_s_per_gib"], r["sys_s_per_gib"],
                "yes" if r["verified"] else "NO"))
    if report.get("ratios"):
        keys = list(next(iter(report["ratios"].values())))
        for v in report["ratios"].values():
            keys += [k for k in v if k not in keys]
        lines += ["", "## Throughput ratios (median MB/s, same run)", "",
                  "| ratio | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
        for name, v in report["ratios"].items():
            lines.append("| %s | %s |" % (name, " | ".join(
                "%.2f" % v[k] if k in v else "" for k in keys)))
    if report["ktls"]:
        lines += ["", "## Kernel TLS use (/proc/net/tls_stat change per case)", "",
                  "| case | connections | kTLS TX sockets | kTLS RX sockets |", "|---|---|---|---|"]
        for name, c in report["cases"].items():
            if c["status"] == "ok":
                lines.append("| %s | %d | %d | %d |" % (
                    name, c["connections"], c["tls_stat"].get("TlsTxSw", 0),
                    c["tls_stat"].get("TlsRxSw", 0)))
    if "memory" in report:
        lines.append(memory.markdown(report["memory"]))
    return "\n".join(lines) + "\n"


def chart(report, path):
    """Median MB/s per case, min-max over the runs as error bars."""
    mpl_dir = tempfile.mkdtemp(prefix="kssl-bench-mpl-")
    os.environ.setdefault("MPLCONFIGDIR", mpl_dir)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        shutil.rmtree(mpl_dir, ignore_errors=True)
        return False
    keys, series = [], {}
    for name, c in report["cases"].items():
        for r in c["results"]:
            if "skipped" in r:
                continue
            k = "%s x%d" % (human(r["size"]), r["conc"])
            if k not in keys:
                keys.append(k)
            series.setdefault(name, {})[k] = r["mbps"]
    if not series:
        shutil.rmtree(mpl_dir, ignore_errors=True)
        return False
    fig, (ax, cpu_ax) = plt.subplots(1, 2, figsize=(max(6, len(keys) * 1.4) + 9, 4.8),
                                     gridspec_kw={"width_ratios": [max(3, len(keys)), 3]})
    cpu_chart(report, cpu_ax)
    width = 0.8 / len(series)
    for i, (name, vals) in enumerate(series.items()):
        med = [vals[k]["median"] if k in vals else 0 for k in keys]
        err = [[vals[k]["median"] - vals[k]["min"] if k in vals else 0 for k in keys],
               [vals[k]["max"] - vals[k]["median"] if k in vals else 0 for k in keys]]
        ax.bar([j + i * width for j in range(len(keys))], med, width, label=name,
               yerr=err, error_kw={"elinewidth": 0.6, "capsize": 1.5})
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(keys))])
    ax.set_xticklabels(keys, rotation=30)
    ax.set_yscale("log")
    ax.set_ylabel("MB/s (median; bars: min-max of %d runs)" % report["params"]["runs"])
    ax.set_xlabel("file size x concurrent clients")
    ax.set_title("kssl bench, %s%s" % (report["kernel"],
                                       " (EMULATED: TCG VM, compare ratios only)"
                                       if report["emulated"] else ""), fontsize="medium")
    ax.legend(fontsize="x-small", loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    shutil.rmtree(mpl_dir, ignore_errors=True)
    return True


COMPARABLE = ("min_bytes", "max_fetches")  # what a throughput row depends on


def comparable(report, baseline):
    """Why report cannot be held against baseline, or None. A short run
    (fewer bytes or fetches per run) has relatively more handshake and
    start-up in it, and the VM is not the host: such rows differ without
    any regression."""
    if report.get("emulated") != baseline.get("emulated"):
        return "one is EMULATED (VM), the other not"
    p, q = report.get("params", {}), baseline.get("params", {})
    diff = ["--%s %s vs %s" % (k.replace("_", "-"), p.get(k), q.get(k))
            for k in COMPARABLE if p.get(k) != q.get(k)]
    return "measured with different " + ", ".join(diff) if diff else None


def cpu_chart(report, ax):
    """Sender user and system CPU s/GiB, stacked, for the largest size at
    concurrency 1: where kernel TLS moves the work (not a speed-up under TCG)."""
    rows = []
    for name, c in report["cases"].items():
        ok = [r for r in c["results"] if "mbps" in r and r["conc"] == min(report["params"]["conc"])]
        if ok:
            rows.append((name, max(ok, key=lambda r: r["size"])))
    if not rows:
        return
    names = [n for n, _ in rows]
    user = [r["user_s_per_gib"] for _, r in rows]
    system = [r["sys_s_per_gib"] for _, r in rows]
    ax.barh(names, user, label="user")
    ax.barh(names, system, left=user, label="system")
    ax.invert_yaxis()
    ax.tick_params(axis="y", labelsize="x-small")
    ax.set_xlabel("sender CPU s/GiB, %s x%d (median)" % (
        human(rows[0][1]["size"]), rows[0][1]["conc"]))
    ax.set_title("sender CPU%s" % (": TCG distorts kernel vs user cost"
                                  if report["emulated"] else ""), fontsize="medium")
    ax.legend(fontsize="x-small")


def compare(report, baseline, threshold):
    """(regressions, rows compared): median MB/s below baseline by more than
    threshold %; RSS per idle connection above it (bench/memory.py). Rows
    are compared only between comparable runs (see comparable())."""
    bad, checked = [], 0
    if comparable(report, baseline):
        return bad, checked
    for name, c in report["cases"].items():
        base = baseline.get("cases", {}).get(name)
        if not base:
            continue
        old = {(r["size"], r["conc"]): r for r in base["results"] if "mbps" in r}
        for r in c["results"]:
            o = old.get((r["size"], r.get("conc")))
            if not o or "mbps" not in r:
                continue
            checked += 1
            if r["mbps"]["median"] < o["mbps"]["median"] * (1 - threshold / 100):
                bad.append("%s %s x%d: %.1f MB/s < baseline %.1f MB/s - %g%%" % (
                    name, human(r["size"]), r["conc"], r["mbps"]["median"],
                    o["mbps"]["median"], threshold))
    if "memory" in report and "memory" in baseline:
        mem_bad, mem_checked = memory.compare(report["memory"], baseline["memory"], threshold)
        bad += mem_bad
        checked += mem_checked
    return bad, checked


def write_outputs(report, out):
    with open(os.path.join(out, "bench.md"), "w") as f:
        f.write(markdown(report))
    if chart(report, os.path.join(out, "bench.png")):
        print("chart: %s" % os.path.join(out, "bench.png"))
    print("results: %s/bench.json, bench.md" % out)
