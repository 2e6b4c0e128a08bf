#!/usr/bin/env python3
"""Two builds of the kernel benchmark (`wick_bench`) side by side: is a kernel change faster?

On a shared VM a kernel's speed moves by ~30% from minute to minute, so a single run of each
build, or a mean, says little about a 5% change. This runs the base and the new `wick_bench`
back to back, --rounds times, alternating which goes first, each run with
--benchmark_repetitions, and prints per benchmark each build's best and 75th-percentile
throughput over all its runs, their new / base ratios, and the median of the rounds' ratios
(each round: the best of its repetitions). A kernel running from cache is only ever slowed
by its neighbours, so the best of many runs is the steadiest figure; from memory, read the
p75 and the rounds' median too.

  tools/compare_kernels.py --base /tmp/wick_bench_old --new build/release/bin/wick_bench \
      --filter 'Matmul/avx2/Q5_K/512/2048/1/' [--rounds 6] [--repetitions 3] [--min-time 0.05] \
      [--threads 1] [--json]

The figure is the benchmark's bytes_per_second counter (a product's weight bytes per second),
else items_per_second, else iterations per second of real time. --threads sets
WICK_BENCH_THREADS (1: one core, the kernel's own speed). The base build: check out the base
commit, `cmake --build build/release --target wick_bench`, copy build/release/bin/wick_bench
aside, come back.
"""
import argparse
import collections
import json
import os
import statistics
import subprocess
import sys


def figure(b):
    """The throughput of one benchmark run (a google-benchmark JSON entry), and its unit."""
    for key, unit in (("bytes_per_second", "bytes/s"), ("items_per_second", "items/s")):
        if key in b:
            return float(b[key]), unit
    seconds = float(b["real_time"]) * {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b.get("time_unit", "ns")]
    return 1.0 / seconds, "runs/s"


def run(exe, a):
    """{benchmark name: [figure per repetition]} of one run of exe, and {benchmark name: unit}."""
    env = dict(os.environ, WICK_BENCH_THREADS=str(a.threads))
    out = subprocess.run([exe, f"--benchmark_filter={a.filter}", f"--benchmark_min_time={a.min_time}",
                          f"--benchmark_repetitions={a.repetitions}", "--benchmark_format=json"], env=env, check=True,
                         capture_output=True, text=True).stdout
    got, units = collections.defaultdict(list), {}
    for b in json.loads(out)["benchmarks"]:
        if b.get("run_type", "iteration") == "iteration":
            name = b.get("run_name", b["name"])
            value, units[name] = figure(b)
            got[name].append(value)
    return got, units


def quantile(values, q):
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


def compare(a):
    runs = {"base": collections.defaultdict(list), "new": collections.defaultdict(list)}
    round_ratios, units = collections.defaultdict(list), {}
    for i in range(a.rounds):
        order = [("base", a.base), ("new", a.new)] if i % 2 == 0 else [("new", a.new), ("base", a.base)]
        got = {}
        for name, exe in order:
            got[name], u = run(exe, a)
            units.update(u)
        for name in ("base", "new"):
            for bench, values in got[name].items():
                runs[name][bench].extend(values)
        for bench in got["base"].keys() & got["new"].keys():
            round_ratios[bench].append(max(got["new"][bench]) / max(got["base"][bench]))
        if sys.stderr.isatty():
            print(f"round {i + 1}/{a.rounds}", file=sys.stderr)
    results = []
    for bench in sorted(runs["base"].keys() & runs["new"].keys()):
        base, new = runs["base"][bench], runs["new"][bench]
        results.append({
            "benchmark": bench,
            "unit": units[bench],
            "base": {"best": max(base), "p75": quantile(base, 0.75), "runs": len(base)},
            "new": {"best": max(new), "p75": quantile(new, 0.75), "runs": len(new)},
            "best_ratio": max(new) / max(base),
            "p75_ratio": quantile(new, 0.75) / quantile(base, 0.75),
            "round_ratios": round_ratios[bench],
            "median_round_ratio": statistics.median(round_ratios[bench]),
        })
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="the base build's wick_bench")
    ap.add_argument("--new", required=True, help="the new build's wick_bench")
    ap.add_argument("--filter", required=True, help="google-benchmark filter (a regular expression)")
    ap.add_argument("--rounds", type=int, default=6, help="back-to-back rounds")
    ap.add_argument("--repetitions", type=int, default=3, help="runs of each benchmark per build and round")
    ap.add_argument("--min-time", default="0.05", help="seconds per run (--benchmark_min_time)")
    ap.add_argument("--threads", type=int, default=1, help="WICK_BENCH_THREADS")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if a.rounds < 1 or a.repetitions < 1:
        ap.error("--rounds and --repetitions must be at least 1")
    results = compare(a)
    if not results:
        sys.exit(f"compare_kernels: no benchmark matches {a.filter!r} in both builds")
    if a.json:
        print(json.dumps({"filter": a.filter, "rounds": a.rounds, "repetitions": a.repetitions, "threads": a.threads, "results": results},
                         indent=1))
        return
    print(f"{'benchmark':48s} {'base best':>10s} {'new best':>10s} {'ratio':>7s} {'base p75':>10s} {'new p75':>10s} {'ratio':>7s}"
          "  rounds' median  unit")
    for r in results:
        scale, unit = (1e9, "GB/s") if r["unit"] == "bytes/s" else (1.0, r["unit"])
        print(f"{r['benchmark'][:48]:48s} {r['base']['best'] / scale:10.2f} {r['new']['best'] / scale:10.2f} {r['best_ratio']:6.3f}x"
              f" {r['base']['p75'] / scale:10.2f} {r['new']['p75'] / scale:10.2f} {r['p75_ratio']:6.3f}x  {r['median_round_ratio']:14.3f}x  {unit}")


if __name__ == "__main__":
    main()
