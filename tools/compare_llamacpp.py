#!/usr/bin/env python3
"""Side-by-side speed of wick and llama.cpp on the same GGUF files, same machine, same threads.

Runs llama.cpp's own llama-bench and `wick bench` on each file, alternating per file so both
see the same machine state, and prints tokens/s with the wick / llama.cpp ratio. Timings on
shared machines drift by tens of percent from minute to minute: compare the ratios, which come
from back-to-back runs, rather than absolute figures across runs. With --pairs N each file is
measured in N back-to-back pairs (alternating which engine goes first) and the table shows
the median of each figure and of the pairs' ratios.

  tools/compare_llamacpp.py --llama-bench PATH/llama-bench --wick build/release/bin/wick \
      [-p 512] [-n 128] [-t 2] [-r 3] [-d DEPTH] [--isa avx2] [--kv-type f16] [--pairs N] [--json] model1.gguf model2.gguf ...

llama-bench: build it from the llama.cpp source inside PyPI's llama-cpp-python sdist
(`pip download --no-deps --no-binary :all: llama-cpp-python`, its vendor/llama.cpp; see the README).
"""
import argparse
import json
import statistics
import subprocess
import sys


def llama_bench(exe, model, p, n, t, r, d=0, kv_type=None):
    out = subprocess.run([exe, "-m", model, "-p", str(p), "-n", str(n), "-t", str(t), "-r", str(r), "-d", str(d), "-o", "json"]
                         + (["-ctk", kv_type, "-ctv", kv_type] if kv_type else []),
                         check=True, capture_output=True, text=True).stdout
    res = {}
    for row in json.loads(out):
        key = "pp" if row["n_prompt"] > 0 else "tg"
        res[key] = (row["avg_ts"], row["stddev_ts"])
    return res


def wick_bench(exe, model, p, n, t, r, d=0, isa=None, kv_type=None):
    out = subprocess.run([exe, "bench", "-m", model, "-p", str(p), "-n", str(n), "-t", str(t), "-r", str(r), "-d", str(d), "--json",
                          "--candidates", "0"]
                         + (["--isa", isa] if isa else []) + (["--kv-type", kv_type] if kv_type else []),
                         check=True, capture_output=True, text=True).stdout
    j = json.loads(out)
    return {"pp": (j["pp_tokens_per_second"], j.get("pp_stdev", 0.0)),
            "tg": (j["tg_tokens_per_second"], j.get("tg_stdev", 0.0)),
            "bandwidth_fraction": j.get("bandwidth_fraction"),
            "bandwidth": j.get("memory_bandwidth_bytes_per_second"),
            "weight_bytes_per_token": j.get("weight_bytes_per_token"),
            "compute_fraction": j.get("compute_fraction")}


def pair_row(lc, wk):
    """One back-to-back pair's figures; -p 0 or -n 0: that figure is measured by neither (None)."""
    lcv = {k: lc[k][0] if k in lc else None for k in ("pp", "tg")}
    wkv = {k: wk[k][0] for k in ("pp", "tg")}
    # llama.cpp's decode reads the same weights per token (same file): its fraction is taken
    # against the bandwidth wick measured beside its own decode runs, moments apart.
    lc_bw = (lcv["tg"] * wk["weight_bytes_per_token"] / wk["bandwidth"]
             if lcv["tg"] and wk["weight_bytes_per_token"] and wk["bandwidth"] else None)
    return {"llama_cpp": lcv, "wick": wkv,
            "ratio": {k: wkv[k] / lcv[k] if wkv[k] and lcv[k] else None for k in ("pp", "tg")},
            "memory_bandwidth_bytes_per_second": wk["bandwidth"],
            "llama_cpp_bandwidth_fraction": lc_bw,
            "wick_bandwidth_fraction": wk["bandwidth_fraction"],
            "wick_compute_fraction": wk["compute_fraction"]}


def summarize(model, pairs):
    """The median of every figure over the pairs (each ratio is the median of the pairs' ratios)."""
    def med(get):
        vals = [v for v in (get(p) for p in pairs) if v is not None]
        return statistics.median(vals) if vals else None
    row = {"model": model}
    for k in ("llama_cpp", "wick", "ratio"):
        row[k] = {f: med(lambda p: p[k][f]) for f in ("pp", "tg")}
    for k in ("memory_bandwidth_bytes_per_second", "llama_cpp_bandwidth_fraction", "wick_bandwidth_fraction", "wick_compute_fraction"):
        row[k] = med(lambda p: p[k])
    if len(pairs) > 1:
        row["ratio_range"] = {f: [min(v), max(v)] if v else None
                              for f in ("pp", "tg") for v in [[p["ratio"][f] for p in pairs if p["ratio"][f] is not None]]}
        row["pairs"] = pairs
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--llama-bench", required=True)
    ap.add_argument("--wick", default="build/release/bin/wick")
    ap.add_argument("-p", type=int, default=512)
    ap.add_argument("-n", type=int, default=128)
    ap.add_argument("-t", type=int, default=2)
    ap.add_argument("-r", type=int, default=3)
    ap.add_argument("-d", "--depth", type=int, default=0, help="tokens in the context before each measurement (llama-bench -d)")
    ap.add_argument("--isa", help="wick's CPU kernels of one instruction set (avx2, avx512, ...); build llama.cpp to match")
    ap.add_argument("--pairs", type=int, default=1, help="back-to-back pairs per file; medians are shown")
    ap.add_argument("--kv-type", choices=["f32", "f16"],
                    help="KV cache type of both engines (default: each its own, wick f32 and llama.cpp f16)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("models", nargs="+")
    a = ap.parse_args()
    if a.pairs < 1:
        ap.error("--pairs must be at least 1")
    rows = []
    for m in a.models:
        pairs = []
        for i in range(a.pairs):
            print(f"benchmarking {m} ({i + 1}/{a.pairs}) ...", file=sys.stderr)
            run_llama = lambda: llama_bench(a.llama_bench, m, a.p, a.n, a.t, a.r, a.depth, a.kv_type)
            run_wick = lambda: wick_bench(a.wick, m, a.p, a.n, a.t, a.r, a.depth, a.isa, a.kv_type)
            if i % 2 == 0:  # alternate which goes first, so a drifting machine favours neither
                lc, wk = run_llama(), run_wick()
            else:
                wk, lc = run_wick(), run_llama()
            pairs.append(pair_row(lc, wk))
        rows.append(summarize(m, pairs))
    if a.json:
        print(json.dumps({"threads": a.t, "prompt": a.p, "gen": a.n, "repeat": a.r, "depth": a.depth, "isa": a.isa, "kv_type": a.kv_type,
                          "pairs": a.pairs,
                          "results": rows},
                         indent=1))
        return
    # peak: wick's prefill FLOP/s over the f32 FMA peak it measured (int8 dot products exceed
    # it); bw: each engine's decode weight reads over the streaming-read bandwidth wick measured
    # beside its decode runs (wick bench's compute / bandwidth lines).
    print(f"{'model':40s} {'llama.cpp pp':>12s} {'wick pp':>9s} {'ratio':>6s} {'peak':>5s}   "
          f"{'llama.cpp tg':>12s} {'wick tg':>9s} {'ratio':>6s}  {'bw llama.cpp / wick':>19s}")
    def num(v, width, suffix=""):  # "-" where not measured
        return f"{v:{width - len(suffix)}.{2 if suffix == 'x' else 1}f}{suffix}" if v is not None else f"{'-':>{width}s}"

    def pct(v):
        return f"{100 * v:.0f}%" if v is not None else "-"

    def spread(r):  # with --pairs: the range of the pairs' ratios
        rr = r.get("ratio_range")
        return "".join(f"  {k} {rr[k][0]:.2f}-{rr[k][1]:.2f}x" for k in ("pp", "tg") if rr and rr[k]) if rr else ""

    for r in rows:
        bw, lbw, fl = r["wick_bandwidth_fraction"], r["llama_cpp_bandwidth_fraction"], r["wick_compute_fraction"]
        lc, wk, ratio = r["llama_cpp"], r["wick"], r["ratio"]
        print(f"{r['model'][-40:]:40s} {num(lc['pp'], 12)} {num(wk['pp'], 9)} {num(ratio['pp'], 6, 'x')}"
              f" {pct(fl):>5s}   {num(lc['tg'], 12)} {num(wk['tg'], 9)} {num(ratio['tg'], 6, 'x')}"
              f"  {pct(lbw):>10s} / {pct(bw):>5s}" + spread(r))


if __name__ == "__main__":
    main()
