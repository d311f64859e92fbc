#!/usr/bin/env python3
"""report.py RAW_DIR [--png]: tables of medians and ratios from a bench/run results folder.

Reads RAW_DIR/{meta,times,checks,na}.tsv and info.txt; writes RAW_DIR/report.md (also
printed) and, with --png, RAW_DIR/ratios.png (gnuplot). Ratio of a system = median over
rounds of (system value / baseline value in the same round); the baseline is kovl for the
overlay workloads and the workload's own reference for the shale-only suites.
"""
import collections
import os
import statistics
import subprocess
import sys


def read_tsv(path, n):
    rows = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) >= n:
                    rows.append(parts[:n - 1] + ["\t".join(parts[n - 1:])])
    return rows


def fmt(v, unit):
    if v is None:
        return ""
    if unit == "s":
        return f"{v:.3g} s" if v >= 0.001 else f"{v * 1000:.3g} ms"
    if unit in ("ns", "KiB", "bytes", "B"):
        return f"{v:,.0f} {unit}"
    return f"{v:.4g} {unit}"


def tput(amount, unit, secs):
    """Throughput at the median; amount and unit may be comma lists (entries/s,MB/s)."""
    if not amount or not unit or not secs:
        return ""
    out = []
    for a, u in zip(amount.split(","), unit.split(",")):
        a = float(a)
        if u == "MiB/s":
            out.append(f"{a / 1048576 / secs:,.0f} MiB/s")
        elif u == "MB/s":
            out.append(f"{a / 1e6 / secs:,.1f} MB/s")
        else:
            out.append(f"{a / secs:,.0f} {u}")
    return ", ".join(out)


def main():
    raw = sys.argv[1]
    png = "--png" in sys.argv[2:]
    meta = collections.OrderedDict()
    for wid, label, amount, unit, base in read_tsv(os.path.join(raw, "meta.tsv"), 5):
        meta.setdefault(wid, (label, amount, unit, base))
    times = collections.defaultdict(dict)   # (wid, sys) -> {round: value}
    units = {}
    systems = []
    for wid, sysname, rnd, val, unit in read_tsv(os.path.join(raw, "times.tsv"), 5):
        try:
            times[(wid, sysname)][rnd] = float(val)
        except ValueError:
            continue
        units[wid] = unit
        if sysname not in systems:
            systems.append(sysname)
        if wid not in meta:
            meta[wid] = (wid, "", "", "kovl")
    checks = read_tsv(os.path.join(raw, "checks.tsv"), 3)
    na = read_tsv(os.path.join(raw, "na.tsv"), 3)
    info = open(os.path.join(raw, "info.txt")).read() if os.path.exists(os.path.join(raw, "info.txt")) else ""

    def na_for(wid):
        # an n/a row for "W7" covers W7warm_N1, W7cold_N1, ...; "W1" covers W1mount
        out = {}
        for w, s, why in na:
            nxt = wid[len(w):len(w) + 1]
            if wid == w or (wid.startswith(w) and not nxt.isdigit()):
                out[s] = why
        return out

    def stats(wid, s):
        d = times.get((wid, s))
        if not d:
            return None
        v = list(d.values())
        return statistics.median(v), min(v), max(v), len(v)

    def ratio(wid, s, base):
        if s == base:
            return "1"
        a, b = times.get((wid, s)), times.get((wid, base))
        if not a or not b:
            return "-"
        rs = [a[r] / b[r] for r in a if r in b and b[r] > 0]
        if not rs:
            return "-"
        m = statistics.median(rs)
        # far below the baseline, two decimals say 0.00x: give the factor too
        return f"{m:.2f}x" if m >= 0.1 or m <= 0 else f"{m:.4f}x = 1/{1 / m:.0f}"

    out = []
    out.append("# bench/run results\n")
    out.append(info.strip() + "\n")
    # headline: workloads with baseline kovl, one column per system
    head_sys = [s for s in ("kovl", "fovl", "shale") if any(k[1] == s for k in times) or
                any(s == x[1] for x in na)]
    kovl_w = [w for w in meta if meta[w][3] == "kovl"]
    if kovl_w and head_sys:
        out.append("## Headline\n")
        out.append("Median; in brackets the ratio to kernel overlayfs, the median over rounds of "
                   "(system / kovl in the same round). W7 values are ns per stat().\n")
        out.append("| workload | " + " | ".join(head_sys) + " |")
        out.append("|---|" + "---|" * len(head_sys))
        for w in kovl_w:
            cells = []
            nas = na_for(w)
            for s in head_sys:
                st = stats(w, s)
                if st:
                    r = ratio(w, s, "kovl")
                    cells.append(fmt(st[0], units.get(w, "s")) + ("" if s == "kovl" else f" ({r})"))
                else:
                    cells.append(nas.get(s, ""))
            out.append(f"| {meta[w][0]} | " + " | ".join(cells) + " |")
        out.append("")
    out.append("## Full results\n")
    out.append("| workload | system | runs | median | min | max | throughput (at median) | ratio (median of per-round) |")
    out.append("|---|---|---|---|---|---|---|---|")
    chart = []
    for w, (label, amount, unit, base) in meta.items():
        u = units.get(w, "s")
        row_sys = [s for s in systems if (w, s) in times]
        nas = na_for(w)
        for s in row_sys:
            med, lo, hi, n = stats(w, s)
            tp = tput(amount, unit, med) if u == "s" else ""
            r = ratio(w, s, base) if base != "none" else "-"
            out.append(f"| {label} | {s} | {n} | {fmt(med, u)} | {fmt(lo, u)} | {fmt(hi, u)} | {tp} | {r} |")
            if base == "kovl" and s != base and "x" in r:
                chart.append((w, s, float(r.split("x")[0])))
        for s, why in nas.items():
            if s not in row_sys:
                out.append(f"| {label} | {s} | 0 | {why} | | | | |")
    # n/a rows of suites that recorded no workload at all
    known = set(meta)
    for w, s, why in na:
        if not any(k == w or (k.startswith(w) and not k[len(w):len(w) + 1].isdigit()) for k in known):
            out.append(f"| {w} | {s} | 0 | {why} | | | | |")
    out.append("")
    if checks:
        out.append("## Checks (untimed, what each workload left behind)\n")
        out.append("| workload | system | check |")
        out.append("|---|---|---|")
        for w, s, c in checks:
            out.append(f"| {w} | {s} | {c} |")
        out.append("")
        # agreement of merged views
        for w in sorted({c[0] for c in checks}):
            digests = {s: c.split("view_digest=")[1].split()[0] for ww, s, c in checks
                       if ww == w and "view_digest=" in c}
            if len(digests) > 1:
                same = len(set(digests.values())) == 1
                out.append(f"{w}: merged views {'AGREE' if same else 'DIFFER'} across "
                           f"{', '.join(sorted(digests))}" + ("" if same else f" ({digests})"))
            ent = {s: c.split("deep_entries=")[1].split()[0] for ww, s, c in checks
                   if ww == w and "deep_entries=" in c}
            if len(ent) > 1 and len(set(ent.values())) != 1:
                out.append(f"{w}: deep/ entry counts DIFFER: {ent}")
        out.append("")
    text = "\n".join(out) + "\n"
    with open(os.path.join(raw, "report.md"), "w") as f:
        f.write(text)
    sys.stdout.write(text)
    if png and chart:
        make_png(raw, chart)


def make_png(raw, chart):
    ws = []
    ss = []
    for w, s, _ in chart:
        if w not in ws:
            ws.append(w)
        if s not in ss:
            ss.append(s)
    val = {(w, s): r for w, s, r in chart}
    dat = os.path.join(raw, "ratios.dat")
    with open(dat, "w") as f:
        f.write("workload\t" + "\t".join(ss) + "\n")
        for w in ws:
            f.write(w + "\t" + "\t".join(f"{val[(w, s)]:.4f}" if (w, s) in val else "NaN" for s in ss) + "\n")
    plots = ", ".join(f"'{dat}' using {i + 2}:xtic(1) title '{s}'" for i, s in enumerate(ss))
    gp = f"""set terminal pngcairo size {max(900, 60 * len(ws))},520 font ',9'
set output '{os.path.join(raw, 'ratios.png')}'
set title 'ratio to kernel overlayfs (median of per-round ratios; < 1 is faster)'
set style data histogram
set style histogram cluster gap 1
set style fill solid 0.8 border -1
set logscale y 2
set termoption noenhanced
set grid ytics
set xtics rotate by -45 scale 0
set key top left
set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 2 lc rgb 'black'
plot {plots}
"""
    gpf = os.path.join(raw, "ratios.gp")
    with open(gpf, "w") as f:
        f.write(gp)
    r = subprocess.run(["gnuplot", gpf], capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write("report: gnuplot failed: " + r.stderr)
    else:
        sys.stdout.write(f"chart: {os.path.join(raw, 'ratios.png')}\n")


if __name__ == "__main__":
    main()
