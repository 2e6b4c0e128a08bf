#!/usr/bin/env python3
"""tools/compare_builds.py against two stand-in `wick` builds whose `bench --json` prints set
figures: the rounds alternate which build runs first, and the medians and ratios are the
rounds' (not one run's)."""
import json
import os
import subprocess
import sys
import tempfile

from stand_in import write_stand_in  # tests/tools/stand_in.py

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# A build's `wick bench --json`: prefill 10x the decode figure.
PRINT_BENCH = """print(json.dumps({"pp_tokens_per_second": 10 * tg, "tg_tokens_per_second": tg}))
"""


def main():
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "runs.log")
        exes = {}
        for name, figures in (("base", [10.0, 30.0, 20.0]), ("new", [11.0, 33.0, 30.0])):
            exes[name] = write_stand_in(os.path.join(tmp, name), log, name, figures, PRINT_BENCH)
        out = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "compare_builds.py"), "--base", exes["base"], "--new",
                              exes["new"], "--rounds", "3", "--isa", "avx2", "--kv-type", "f16", "-p", "64", "-n", "8", "--json",
                              "model.gguf"],
                             check=True, capture_output=True, text=True).stdout
        res = json.loads(out)["results"][0]
        order = [line.split()[0] for line in open(log)]
        assert order == ["base", "new", "new", "base", "base", "new"], order
        assert all("--isa avx2" in line and "--kv-type f16" in line and "-p 64" in line and "-n 8" in line for line in open(log)), \
            open(log).read()
        tg = res["median"]["tg"]
        assert (tg["base"], tg["new"]) == (20.0, 30.0), tg
        assert [round(r, 6) for r in tg["ratios"]] == [1.1, 1.1, 1.5], tg
        assert round(tg["ratio"], 6) == 1.1, tg  # the median of the ratios, not new / base of the medians (1.5)
        assert res["median"]["pp"]["base"] == 200.0, res["median"]["pp"]
        table = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "compare_builds.py"), "--base", exes["base"], "--new",
                                exes["new"], "--rounds", "1", "model.gguf"], check=True, capture_output=True, text=True).stdout
        assert "new/base" in table and "tg" in table, table
        assert "--kv-type" not in open(log).readlines()[-1], "without --kv-type each build keeps its default"
    print("compare_builds: ok")


if __name__ == "__main__":
    main()
