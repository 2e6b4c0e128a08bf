#!/usr/bin/env python3
"""tools/compare_kernels.py against two stand-in `wick_bench` builds whose google-benchmark JSON
prints set figures: the rounds alternate which build runs first, the best and p75 are over all
of a build's runs, and each round's ratio is of the best of its repetitions."""
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# A build: its n-th run prints, per repetition r, bytes_per_second figures[n % len][r] for a
# product benchmark (and a benchmark with no counter: real_time 2 ms), those its filter matches,
# and logs its name, its arguments and WICK_BENCH_THREADS.
FAKE = """#!/usr/bin/env python3
import json, os, re, sys
log, name, figures = {log!r}, {name!r}, {figures!r}
with open(log, "a") as f:
    f.write(name + " " + os.environ.get("WICK_BENCH_THREADS", "-") + " " + " ".join(sys.argv[1:]) + "\\n")
runs = sum(1 for line in open(log) if line.startswith(name + " "))
bench = []
for rep, v in enumerate(figures[(runs - 1) % len(figures)]):
    bench.append({{"name": "Matmul/avx2/Q5_K/512/2048/1/real_time", "run_name": "Matmul/avx2/Q5_K/512/2048/1/real_time",
                  "run_type": "iteration", "repetition_index": rep, "real_time": 1.0, "time_unit": "ns", "bytes_per_second": v}})
    bench.append({{"name": "Tokenize/x", "run_name": "Tokenize/x", "run_type": "iteration", "real_time": 2.0, "time_unit": "ms"}})
bench.append({{"name": "Matmul/avx2/Q5_K/512/2048/1/real_time_mean", "run_name": "Matmul/avx2/Q5_K/512/2048/1/real_time",
              "run_type": "aggregate", "aggregate_name": "mean", "real_time": 1.0, "time_unit": "ns", "bytes_per_second": 1e12}})
pattern = next(a.split("=", 1)[1] for a in sys.argv if a.startswith("--benchmark_filter="))
print(json.dumps({{"context": {{}}, "benchmarks": [b for b in bench if re.search(pattern, b["name"])]}}))
"""


def main():
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "runs.log")
        exes = {}
        base_runs = [[10e9, 12e9], [20e9, 8e9], [11e9, 9e9]]
        new_runs = [[15e9, 13e9], [16e9, 30e9], [9e9, 12e9]]
        for name, figures in (("base", base_runs), ("new", new_runs)):
            exes[name] = os.path.join(tmp, name)
            with open(exes[name], "w") as f:
                f.write(FAKE.format(log=log, name=name, figures=figures))
            os.chmod(exes[name], 0o755)
        tool = [sys.executable, os.path.join(ROOT, "tools", "compare_kernels.py"), "--base", exes["base"], "--new", exes["new"]]
        out = subprocess.run(tool + ["--filter", "Matmul|Tokenize", "--rounds", "3", "--repetitions", "2", "--threads", "2", "--json"],
                             check=True, capture_output=True, text=True).stdout
        res = {r["benchmark"]: r for r in json.loads(out)["results"]}
        lines = open(log).read().splitlines()
        assert [line.split()[0] for line in lines] == ["base", "new", "new", "base", "base", "new"], lines
        assert all(line.split()[1] == "2" and "--benchmark_repetitions=2" in line and "--benchmark_filter=Matmul|Tokenize" in line
                   and "--benchmark_format=json" in line for line in lines), lines
        m = res["Matmul/avx2/Q5_K/512/2048/1/real_time"]
        assert m["unit"] == "bytes/s" and m["base"]["runs"] == 6 and m["new"]["runs"] == 6, m  # the aggregate is not a run
        assert (m["base"]["best"], m["new"]["best"]) == (20e9, 30e9), m
        assert (m["base"]["p75"], m["new"]["p75"]) == (12e9, 16e9), m  # sorted runs' element int(0.75 * 6) = 4
        assert abs(m["best_ratio"] - 1.5) < 1e-9, m
        # Each round: the best of its repetitions, new over base: 15/12, 30/20, 12/11.
        assert [round(r, 6) for r in m["round_ratios"]] == [round(15 / 12, 6), 1.5, round(12 / 11, 6)], m
        assert abs(m["median_round_ratio"] - 15 / 12) < 1e-9, m
        t = res["Tokenize/x"]
        assert t["unit"] == "runs/s" and abs(t["base"]["best"] - 500.0) < 1e-6 and abs(t["best_ratio"] - 1.0) < 1e-9, t
        table = subprocess.run(tool + ["--filter", "Matmul", "--rounds", "1"], check=True, capture_output=True, text=True).stdout
        assert "GB/s" in table and "Matmul/avx2/Q5_K" in table, table
        none = subprocess.run(tool + ["--filter", "Nothing", "--rounds", "1"], capture_output=True, text=True)
        assert none.returncode != 0, none
    print("compare_kernels: ok")


if __name__ == "__main__":
    main()
