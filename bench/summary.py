#!/usr/bin/python3
"""Medians of one bench/run.sh run (runs.tsv of the kit) and the ratios that matter."""
import csv
import os
import statistics as st
import sys

res = sys.argv[1]
rows = list(csv.DictReader(open(os.path.join(res, "runs.tsv")), delimiter="\t"))
groups = {}
for r in rows:
    groups.setdefault((r["tool"], r["par"]), []).append(r)


def med(rs, key):
    vals = [float(r[key]) for r in rs if r[key] not in ("", "-")]
    return st.median(vals) if vals else None


def wall(rs):
    # raw-* probes time their own phase (inner), without loading or connecting
    inner = med(rs, "inner_s")
    return inner if inner is not None else med(rs, "wall_s")


print()
print("| tool | par | runs | wall s | msgs/s | MB/s | cpu s | peak RSS MB | verify K |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
walls = {}
for (tool, par), rs in sorted(groups.items()):
    w = wall(rs)
    walls[(tool, par)] = w
    msgs, nbytes = float(rs[0]["msgs"]), float(rs[0]["bytes"])
    rss = med(rs, "maxrss_kb")
    cpu = med(rs, "cpu_s")
    print(f"| {tool} | {par} | {len(rs)} | {w:.2f} | {msgs / w:.0f} | {nbytes / 1e6 / w:.1f} | "
          f"{cpu:.2f} | {rss / 1024:.0f} | {','.join(r['verify_k'] for r in rs)} |")
print()
for par in sorted({p for _, p in groups}):
    c = walls.get(("cutover", par))
    for peer in ("doveadm", "raw-append"):
        p = walls.get((peer, par))
        if c and p:
            print(f"cutover / {peer} (par {par}): {c / p:.2f}")
nochange = os.path.join(res, "nochange.txt")
if os.path.exists(nochange):
    times = [float(x) for x in open(nochange).read().split()]
    print(f"no-change incremental pass (whole `cutover run --once`): median {st.median(times):.2f} s "
          f"over {len(times)} runs ({', '.join(f'{t:.2f}' for t in times)})")
