#!/usr/bin/env python3
"""tools/compare_llamacpp.py against stand-ins for llama-bench and `wick bench` that print set
figures and log their arguments: the pairs alternate which engine runs first, the ratios are
wick / llama.cpp per pair with their median, and --kv-type reaches both engines (llama-bench's
-ctk / -ctv, wick's --kv-type) while without it each keeps its own default."""
import json
import os
import subprocess
import sys
import tempfile

from stand_in import write_stand_in  # tests/tools/stand_in.py

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# llama-bench -o json: one row per test (prefill: n_prompt > 0).
PRINT_LLAMA = """print(json.dumps([{"n_prompt": 64, "n_gen": 0, "avg_ts": 10 * tg, "stddev_ts": 0.0},
                  {"n_prompt": 0, "n_gen": 8, "avg_ts": tg, "stddev_ts": 0.0}]))
"""
# wick bench --json: the same figures, plus the bandwidth figures the table's fractions come from.
PRINT_WICK = """print(json.dumps({"pp_tokens_per_second": 10 * tg, "tg_tokens_per_second": tg, "memory_bandwidth_bytes_per_second": 1e10,
                  "weight_bytes_per_token": 1e8, "bandwidth_fraction": tg * 1e8 / 1e10}))
"""


def run(exes, *args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "tools", "compare_llamacpp.py"), "--llama-bench", exes["llama"], "--wick",
                           exes["wick"], "-p", "64", "-n", "8", *args, "model.gguf"], check=True, capture_output=True, text=True).stdout


def main():
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "runs.log")
        exes = {}
        for name, output, figures in (("llama", PRINT_LLAMA, [10.0, 20.0, 40.0]), ("wick", PRINT_WICK, [15.0, 20.0, 60.0])):
            exes[name] = write_stand_in(os.path.join(tmp, name), log, name, figures, output)
        res = json.loads(run(exes, "--pairs", "3", "--kv-type", "f16", "-d", "128", "--json"))
        assert res["kv_type"] == "f16", res
        row = res["results"][0]
        lines = open(log).read().splitlines()
        assert [line.split()[0] for line in lines] == ["llama", "wick", "wick", "llama", "llama", "wick"], lines
        for line in lines:
            assert "-d 128" in line, line
            want = "-ctk f16 -ctv f16" if line.startswith("llama ") else "--kv-type f16"
            assert want in line, line
        ratios = [round(p["ratio"]["tg"], 6) for p in row["pairs"]]
        assert ratios == [1.5, 1.0, 1.5], ratios
        assert round(row["ratio"]["tg"], 6) == 1.5 and round(row["ratio"]["pp"], 6) == 1.5, row["ratio"]
        assert row["ratio_range"]["tg"] == [1.0, 1.5], row["ratio_range"]
        assert row["llama_cpp"]["tg"] == 20.0 and row["wick"]["tg"] == 20.0, row
        # llama.cpp's fraction of the bandwidth is its decode over the bytes wick reads per token.
        assert round(row["llama_cpp_bandwidth_fraction"], 6) == 0.2, row
        open(log, "w").close()
        table = run(exes)
        assert "ratio" in table and "model.gguf" in table, table
        assert not any("-ctk" in line or "--kv-type" in line for line in open(log)), "without --kv-type each engine keeps its default"
    print("compare_llamacpp: ok")


if __name__ == "__main__":
    main()
