#!/usr/bin/env python3
"""Bounded load test of `wick serve`: 64 concurrent streaming clients (tools/loadgen.cpp) send a
fixed number of requests, in rounds, to the TinyStories model. Every response must be complete and
well formed (the load generator checks each SSE stream: JSON chunks, a finish_reason, [DONE]), no
request may fail, the server's RSS must stay flat after the warm-up round, and nothing may stay
running or hold KV blocks afterwards.

CI runs 3 rounds of 256 requests (seconds); WICK_LOAD_ROUNDS=50 makes it a soak test.
Usage: load_test.py WICK WICK_LOADGEN --testdata DIR   (exit 77: skipped)
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import Server, metric, metrics  # noqa: E402


def main():
    args = sys.argv[1:]
    testdata = args[args.index("--testdata") + 1]
    wick, loadgen = args[0], args[1]
    model = os.path.join(testdata, "models", "tinystories-656k")
    if not os.path.isdir(model):
        print("*** SKIPPED: TEST DATA MISSING (%s) ***" % model)
        return int(os.environ.get("WICK_MISSING_STATUS", "77"))
    rounds = int(os.environ.get("WICK_LOAD_ROUNDS", "3"))
    server = Server(wick, "-m", model, "--no-access-log")
    failures = []
    try:
        def run(n, warmup=0):
            out = subprocess.run([loadgen, "--url", server.url, "-c", "64", "-n", str(n), "--warmup", str(warmup),
                                  "--max-tokens", "48", "--prompt-words", "24", "--json"], capture_output=True, text=True)
            r = json.loads(out.stdout)
            print("  %d/%d ok, %.0f generated tokens/s, TTFT p50 %.1f ms p99 %.1f ms, RSS %d KiB"
                  % (r["ok"], r["requests"], r["tokens_per_second"], 1e3 * r["ttft_p50"], 1e3 * r["ttft_p99"], server.rss_kib()))
            if r["errors"]:
                failures.append("round with errors: %s" % r["error_samples"])
            return r

        print("warm-up round:")
        run(128, warmup=64)
        rss_after_warmup = server.rss_kib()
        for i in range(rounds):
            print("round %d:" % (i + 1))
            run(256)
        rss_end = server.rss_kib()
        growth = rss_end - rss_after_warmup
        print("RSS after warm-up %d KiB, at the end %d KiB (%+d KiB)" % (rss_after_warmup, rss_end, growth))
        if growth > max(8192, rss_after_warmup // 20):
            failures.append("RSS grew by %d KiB after the warm-up" % growth)
        m = metrics(server)
        if metric(m, "vllm:num_requests_running") != 0 or metric(m, "vllm:kv_cache_usage_perc") != 0:
            failures.append("requests or KV blocks left over: %s" % m)
        done = metric(m, "vllm:request_success_total")
        expected = 64 + 128 + 256 * rounds
        if done != expected:
            failures.append("the server finished %s requests, %d were sent" % (done, expected))
    finally:
        rc = server.stop()
        if rc != 0:
            failures.append("wick serve exited with %d" % rc)
    for f in failures:
        print("FAIL: " + f)
    print("load test: %s" % ("FAILED" if failures else "all requests complete, RSS flat"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
