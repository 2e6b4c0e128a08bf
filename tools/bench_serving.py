#!/usr/bin/env python3
"""Serving benchmark: `wick serve` against llama.cpp's `llama-server` on the same GGUF file, the
same machine and threads, measured by the same load generator (wick-loadgen: streaming
/v1/completions, every response checked).

For each concurrency (default 1, 8, 32) both servers get the same requests: aggregate generated
tokens/s, TTFT p50/p99, inter-token latency p50. Then the prefix-cache case: requests sharing a
long prompt prefix, one at a time, against unique prompts of the same length (TTFT p50).

  tools/bench_serving.py --model /tmp/qwen05-q8_0.gguf --llama-server PATH [--threads 2] [--json]

llama-server is built from the llama.cpp source inside PyPI's llama-cpp-python sdist:
  pip download --no-deps --no-binary :all: llama-cpp-python && tar xzf llama_cpp_python-*.tar.gz
  cmake -S llama_cpp_python-*/vendor/llama.cpp -B build-llama -G Ninja -DCMAKE_BUILD_TYPE=Release \\
        -DGGML_NATIVE=ON -DLLAMA_CURL=OFF && ninja -C build-llama llama-server
Shared machines drift by tens of percent between minutes: compare the ratios within one run.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def wait_healthy(url, proc, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the server exited (%d)" % proc.returncode)
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                if r.status == 200:
                    return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.2)
    raise RuntimeError("the server never became healthy")


def start_wick(args, parallel, port):
    cmd = [args.wick, "serve", "-m", args.model, "--port", str(port), "--threads", str(args.threads), "--max-seqs", str(max(parallel, 1)),
           "--ctx", str(args.ctx), "--kv-tokens", str(args.ctx * max(parallel, 1)), "--kv-type", "f16",  # llama.cpp's default KV type
           "--no-access-log"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc


def start_llama(args, parallel, port):
    # -np slots of --ctx tokens each in one unified KV cache; continuous batching is on by default.
    cmd = [args.llama_server, "-m", args.model, "--port", str(port), "--host", "127.0.0.1", "-t", str(args.threads), "-tb",
           str(args.threads), "-np", str(max(parallel, 1)), "-c", str(args.ctx * max(parallel, 1)), "--kv-unified", "--no-webui"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def loadgen(args, url, concurrency, requests, **extra):
    cmd = [args.loadgen, "--url", url, "-c", str(concurrency), "-n", str(requests), "--max-tokens", str(extra.get("max_tokens", args.max_tokens)),
           "--prompt-words", str(extra.get("prompt_words", args.prompt_words)), "--temperature", "1", "--ignore-eos", "--json",
           "--warmup", str(extra.get("warmup", min(concurrency, 4)))]
    if extra.get("shared_prefix_words"):
        cmd += ["--shared-prefix-words", str(extra["shared_prefix_words"])]
    out = subprocess.run(cmd, capture_output=True, text=True)
    r = json.loads(out.stdout)
    if r["errors"]:
        raise RuntimeError("load generator errors against %s: %s" % (url, r["error_samples"]))
    return r


def run_server(args, which, fn):
    port = 18600 if which == "wick" else 18700
    results = {}
    for c in args.concurrency:
        proc = (start_wick if which == "wick" else start_llama)(args, c, port)
        try:
            wait_healthy("http://127.0.0.1:%d" % port, proc)
            results[c] = fn(args, "http://127.0.0.1:%d" % port, c)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--llama-server", required=True)
    ap.add_argument("--wick", default=os.path.join(ROOT, "build/release/bin/wick"))
    ap.add_argument("--loadgen", default=os.path.join(ROOT, "build/release/bin/wick-loadgen"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ctx", type=int, default=1024, help="context per sequence / slot")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--requests-per-client", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--prompt-words", type=int, default=64)
    ap.add_argument("--prefix-words", type=int, default=512, help="shared prefix of the prefix-cache case (one token per word with Qwen2.5's tokenizer)")
    ap.add_argument("--prefix-requests", type=int, default=32)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    def throughput(a, url, c):
        return loadgen(a, url, c, max(4, c * a.requests_per_client))

    table = {}
    for which in ("llama.cpp", "wick"):
        table[which] = run_server(args, "wick" if which == "wick" else "llama", throughput)

    def prefix_case(a, url, c):
        shared = loadgen(a, url, 1, a.prefix_requests, max_tokens=8, prompt_words=12, shared_prefix_words=a.prefix_words, warmup=1)
        unique = loadgen(a, url, 1, a.prefix_requests, max_tokens=8, prompt_words=a.prefix_words + 12, warmup=1)
        return {"shared_prefix": shared, "unique": unique}

    saved = args.concurrency
    args.concurrency = [1]
    prefix = {w: run_server(args, "wick" if w == "wick" else "llama", prefix_case)[1] for w in ("llama.cpp", "wick")}
    args.concurrency = saved

    if args.json:
        print(json.dumps({"throughput": table, "prefix": prefix}))
        return 0
    print("model %s, %d threads, prompt %d words, %d tokens out, temperature 1, ignore_eos" %
          (os.path.basename(args.model), args.threads, args.prompt_words, args.max_tokens))
    print("%5s | %21s | %21s | %19s | %17s" % ("conc", "tokens/s llama / wick", "TTFT p50 ms l / w", "TTFT p99 ms l / w", "ITL p50 ms l / w"))
    for c in args.concurrency:
        l, w = table["llama.cpp"][c], table["wick"][c]
        print("%5d | %8.1f / %8.1f %.2fx | %9.0f / %9.0f | %8.0f / %8.0f | %7.1f / %7.1f" % (
            c, l["tokens_per_second"], w["tokens_per_second"], w["tokens_per_second"] / l["tokens_per_second"],
            1e3 * l["ttft_p50"], 1e3 * w["ttft_p50"], 1e3 * l["ttft_p99"], 1e3 * w["ttft_p99"], 1e3 * l["itl_p50"], 1e3 * w["itl_p50"]))
    for w, p in prefix.items():
        print("%s: TTFT p50 with a shared %d-word prefix %.0f ms, unique prompts %.0f ms (%.2f), prompt tokens %d vs %d" % (
            w, args.prefix_words, 1e3 * p["shared_prefix"]["ttft_p50"], 1e3 * p["unique"]["ttft_p50"],
            p["shared_prefix"]["ttft_p50"] / p["unique"]["ttft_p50"], p["shared_prefix"]["prompt_tokens"] // args.prefix_requests,
            p["unique"]["prompt_tokens"] // args.prefix_requests))
    return 0


if __name__ == "__main__":
    sys.exit(main())
