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
    ("kssl-kssl-kernel-rx", "openssl-native-ktls"),
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


def _rows(report, name):
    c = report["cases"].get(name, {})
    return {"%s x%d" % (human(r["size"]), r["conc"]): r
            for r in c.get("results", []) if "mbps" in r}


def cpu_ratios(report):
    """Sender CPU (user + sys s/GiB) ratios per size x concurrency, and
    per handshake (full, resumed), for the RATIOS pairs: below 1 means the
    first case spends less CPU than the second."""
    out = {}
    for a, b in RATIOS:
        ra, rb = _rows(report, a), _rows(report, b)
        v = {}
        for k in ra:
            if k in rb:
                cb = rb[k]["user_s_per_gib"] + rb[k]["sys_s_per_gib"]
                if cb > 0:
                    v[k] = (ra[k]["user_s_per_gib"] + ra[k]["sys_s_per_gib"]) / cb
        ha = {h["mode"]: h for h in report["cases"].get(a, {}).get("handshakes", [])}
        hb = {h["mode"]: h for h in report["cases"].get(b, {}).get("handshakes", [])}
        for mode in ha:
            if mode in hb:
                cb = hb[mode]["user_ms_per_hs"] + hb[mode]["sys_ms_per_hs"]
                if cb > 0:
                    v["handshake " + mode] = (ha[mode]["user_ms_per_hs"] +
                                              ha[mode]["sys_ms_per_hs"]) / cb
        if v:
            out["%s / %s" % (a, b)] = v
    return out


def scale(report):
    """Per case and size: MB/s at each concurrency as a fraction of the best
    concurrency's (the 90 % target at 256 and 1024), per-connection spread.
    Only verified rows count (a row whose requests failed is not a best).
    cpu_of_best: the lowest sender CPU per GiB over this row's; the sender
    has one CPU to itself, so where it is the bottleneck throughput follows
    it, and CPU time is far less disturbed by a shared machine's load."""
    out = {}
    for name, c in report["cases"].items():
        by_size = {}
        for r in c.get("results", []):
            if "mbps" in r and r.get("verified"):
                by_size.setdefault(r["size"], []).append(r)
        for size, rows in by_size.items():
            if len(rows) < 2:
                continue
            best = max(r["mbps"]["median"] for r in rows)
            cpu = {r["conc"]: r["user_s_per_gib"] + r["sys_s_per_gib"] for r in rows}
            least = min(cpu.values())
            out.setdefault(name, {})[human(size)] = {
                str(r["conc"]): {"of_best": r["mbps"]["median"] / best,
                                 "cpu_of_best": least / cpu[r["conc"]] if cpu[r["conc"]] else 1.0,
                                 "verified": r["verified"],
                                 "fairness": r.get("fairness")} for r in rows}
    return out


def _ratio_table(title, table, note):
    keys = []
    for v in table.values():
        keys += [k for k in v if k not in keys]
    lines = ["", "## " + title, "", note, "", "| ratio | " + " | ".join(keys) + " |",
             "|---|" + "---|" * len(keys)]
    for name, v in table.items():
        lines.append("| %s | %s |" % (name, " | ".join(
            "%.2f" % v[k] if k in v else "" for k in keys)))
    return lines


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
    pin = report.get("pinning")
    if pin:
        lines += ["", "Pinning: %s. Clients: %s; handshakes: %s; TLS 1.3 %s offered by "
                  "every client." % (pin["note"], report["clients"]["throughput"],
                                     report["clients"]["handshakes"],
                                     report["clients"]["cipher"])]
    if report["cases"]:
        lines += ["", "## Sender CPU and throughput", "",
                  "Headline: the sender's CPU seconds per GiB sent (user, sys; "
                  "/proc/PID/stat of the sender tree). Spread: per-connection request "
                  "rate min/max over mean (h2load).", "",
                  "| case | size | conc | client | user s/GiB | sys s/GiB | MB/s median "
                  "(min-max) | spread | verified |", "|---|---|---|---|---|---|---|---|---|"]
    for name, c in report["cases"].items():
        if not c["results"]:
            lines.append("| %s | | | | | | %s | | |" % (name, c["status"]))
        for r in c["results"]:
            if "skipped" in r:
                continue
            f = r.get("fairness")
            lines.append("| %s | %s | %d | %s | %.3f | %.3f | %.1f (%.1f-%.1f) | %s | %s |" % (
                name, human(r["size"]), r["conc"], r.get("client", "?"), r["user_s_per_gib"],
                r["sys_s_per_gib"], r["mbps"]["median"], r["mbps"]["min"], r["mbps"]["max"],
                "%.2f-%.2f" % (f["min_over_mean"], f["max_over_mean"]) if f else "",
                "yes" if r["verified"] else "NO"))
    hs_rows = [(n, h) for n, c in report["cases"].items() for h in c.get("handshakes", [])]
    if hs_rows:
        lines += ["", "## Handshakes (new connection + GET of a 1 KiB file, openssl s_time)", "",
                  "| case | mode | sender user ms/conn | sender sys ms/conn | conns/s median "
                  "(min-max) | resumed | verified |", "|---|---|---|---|---|---|---|"]
        for name, h in hs_rows:
            lines.append("| %s | %s | %.3f | %.3f | %.0f (%.0f-%.0f) | %.0f%% | %s |" % (
                name, h["mode"], h["user_ms_per_hs"], h["sys_ms_per_hs"], h["per_s"]["median"],
                h["per_s"]["min"], h["per_s"]["max"], 100 * h["resumed_fraction"],
                "yes" if h["verified"] else "NO"))
    if report.get("cpu_ratios"):
        lines += _ratio_table("Sender CPU ratios (user+sys per GiB / per handshake, same run)",
                              report["cpu_ratios"], "Below 1: the first case uses less CPU.")
    if report.get("ratios"):
        lines += _ratio_table("Throughput ratios (median MB/s, same run)", report["ratios"],
                              "Above 1: the first case is faster (wall clock: noisy on a "
                              "shared machine).")
    if report.get("scale"):
        lines += ["", "## Scale (MB/s at each concurrency / the best one's; in brackets "
                  "the least sender CPU per GiB / this one's; spread)", ""]
        for name, sizes in report["scale"].items():
            for size, v in sizes.items():
                lines.append("- %s %s: %s" % (name, size, ", ".join(
                    "x%s %.0f%% [%s]%s" % (k, 100 * x["of_best"],
                                           "%.0f%%" % (100 * x["cpu_of_best"])
                                           if "cpu_of_best" in x else "-",
                                      " (spread %.2f-%.2f)" % (x["fairness"]["min_over_mean"],
                                                               x["fairness"]["max_over_mean"])
                                      if x.get("fairness") else "")
                    for k, x in v.items())))
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
