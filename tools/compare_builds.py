#!/usr/bin/env python3
"""Two wick builds side by side on the same GGUF files: is a change faster in the model?

A kernel change is judged in the model, and on a shared machine one run of each build says
little (decode moves by 20-50% from minute to minute on this project's VM). This runs `wick
bench` of the base build and of the new build back to back, --rounds times per file,
alternating which build goes first, and prints each build's median tokens/s and the median of
the rounds' new / base ratios (with their range), for prefill and decode.

  tools/compare_builds.py --base /tmp/wick_old --new build/release/bin/wick \
      [-p 512] [-n 64] [-t 2] [-r 2] [--isa avx2] [--rounds 5] [--json] model1.gguf model2.gguf ...

The base build: check out the base commit, `cmake --build build/release --target wick_cli`, copy
build/release/bin/wick aside, come back.
"""
import argparse
import json
import statistics
import sys

from compare_llamacpp import wick_bench


def compare(base, new, model, a):
    rounds = []
    for i in range(a.rounds):
        order = [("base", base), ("new", new)] if i % 2 == 0 else [("new", new), ("base", base)]
        got = {name: wick_bench(exe, model, a.p, a.n, a.t, a.r, a.depth, a.isa, a.kv_type) for name, exe in order}
        row = {name: {k: got[name][k][0] for k in ("pp", "tg")} for name in ("base", "new")}
        row["ratio"] = {k: row["new"][k] / row["base"][k] if row["base"][k] and row["new"][k] else None for k in ("pp", "tg")}
        rounds.append(row)
        if sys.stderr.isatty():
            print(f"{model}: round {i + 1}/{a.rounds}", file=sys.stderr)

    def med(get):
        vals = [v for v in (get(r) for r in rounds) if v]
        return statistics.median(vals) if vals else None

    summary = {k: {"base": med(lambda r: r["base"][k]), "new": med(lambda r: r["new"][k]), "ratio": med(lambda r: r["ratio"][k]),
                   "ratios": [r["ratio"][k] for r in rounds]} for k in ("pp", "tg")}
    return {"model": model, "rounds": rounds, "median": summary}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="the base build's wick binary")
    ap.add_argument("--new", required=True, help="the new build's wick binary")
    ap.add_argument("-p", type=int, default=512, help="prompt tokens (0: no prefill run)")
    ap.add_argument("-n", type=int, default=64, help="generated tokens (0: no decode run)")
    ap.add_argument("-t", type=int, default=2, help="threads")
    ap.add_argument("-r", type=int, default=2, help="repetitions inside each wick bench run")
    ap.add_argument("-d", "--depth", type=int, default=0, help="tokens in the context before each measurement (wick bench -d)")
    ap.add_argument("--isa", help="force wick's instruction set (avx2, avx512, ...) in both builds")
    ap.add_argument("--rounds", type=int, default=5, help="back-to-back rounds per file")
    ap.add_argument("--kv-type", choices=["f32", "f16"], help="KV cache type of both builds (wick bench --kv-type)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("models", nargs="+")
    a = ap.parse_args()
    if a.rounds < 1:
        ap.error("--rounds must be at least 1")
    results = [compare(a.base, a.new, m, a) for m in a.models]
    if a.json:
        print(json.dumps({"threads": a.t, "prompt": a.p, "gen": a.n, "repeat": a.r, "isa": a.isa, "kv_type": a.kv_type, "rounds": a.rounds, "results": results},
                         indent=1))
        return

    def num(v):
        return f"{v:8.2f}" if v else "       -"

    print(f"{'file':40s} {'':4s} {'base':>8s} {'new':>8s} {'new/base':>9s}  rounds' ratios")
    for res in results:
        for k in ("pp", "tg"):
            m = res["median"][k]
            if not m["base"]:
                continue
            ratios = ", ".join(f"{r:.2f}" if r else "-" for r in m["ratios"])
            ratio = f"{m['ratio']:8.2f}x" if m["ratio"] else "        -"
            print(f"{res['model'][-40:]:40s} {k:4s} {num(m['base'])} {num(m['new'])} {ratio}  {ratios}")


if __name__ == "__main__":
    main()
