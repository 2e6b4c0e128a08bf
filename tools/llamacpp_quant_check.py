#!/usr/bin/env python3
"""Files from llama.cpp's own quantizer, run by wick and by llama.cpp side by side.

For each model: `wick quantize` writes F32 and F16 GGUFs; llama.cpp's `llama-quantize` turns the
F16 file into every common type (its real mixes: Q4_K_M keeps some tensors at Q6_K, falls back
to Q5_0 / Q5_1 / Q8_0 / IQ4_NL for rows that are not a multiple of 256, ...); then both engines
score the same text in the same chunks against their own F32 run: `wick perplexity --kl-base`
and `llama-perplexity --kl-divergence`. Prints per file: the tensor types, perplexity, mean KL
divergence from F32 and top-1 agreement, for wick and for llama.cpp.

  tools/llamacpp_quant_check.py --llama-bin LLAMA_CPP/build/bin [--wick build/release/bin/wick]
      [--models tinystories,random256,qwen2.5-0.5b,tinyllama-1.1b] [--types Q4_K_M,...] [--json OUT]

llama.cpp: the source inside PyPI's llama-cpp-python sdist (`pip download --no-deps --no-binary
:all: llama-cpp-python`, its vendor/llama.cpp), built with
`cmake -B build -DLLAMA_BUILD_EXAMPLES=ON && cmake --build build --target llama-quantize llama-perplexity`.
The text is sampled from the TinyStories model (seeds 1..N), so it is the same on every machine.
"""
import argparse
import json
import os
import re
import subprocess
import sys

TYPES = ["Q8_0", "Q6_K", "Q5_K_M", "Q5_1", "Q5_0", "Q4_K_M", "Q4_1", "Q4_0", "IQ4_XS", "IQ4_NL", "Q3_K_M", "Q2_K"]


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, errors="replace", **kw)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s%s" % (" ".join(cmd), r.returncode, r.stdout[-2000:], r.stderr[-2000:]))
    return r.stdout + r.stderr


def make_text(wick, testdata, path, stories):
    if os.path.exists(path):
        return
    parts = []
    for seed in range(1, stories + 1):
        out = run([wick, "generate", "-m", os.path.join(testdata, "models", "tinystories-656k"), "-p", "Once upon a time",
                   "-n", "300", "--temperature", "1", "--seed", str(seed), "--json"])
        parts.append("Once upon a time" + json.loads(out)["text"].replace("<|end_story|>", "\n"))
    with open(path, "w") as f:
        f.write("\n".join(parts))


def make_models(name, wick, make_model, testdata, work):
    """Returns (f32.gguf, f16.gguf) of the model."""
    f32, f16 = os.path.join(work, name + "-f32.gguf"), os.path.join(work, name + "-f16.gguf")
    if os.path.exists(f32) and os.path.exists(f16):
        return f32, f16
    if name == "tinystories":
        src = os.path.join(testdata, "models", "tinystories-656k")
    else:
        src = os.path.join(work, name + "-hf")
        args = {"random256": ["--preset", "tiny", "--set", "hidden_size=256", "--set", "intermediate_size=768", "--set",
                              "max_position_embeddings=512"],
                "qwen2.5-0.5b": ["--preset", "qwen2.5-0.5b"], "tinyllama-1.1b": ["--preset", "tinyllama-1.1b"]}[name]
        if not os.path.exists(src):
            run([make_model] + args + ["--dtype", "f32", "--seed", "7", "--testdata", testdata, "-o", src])
    run([wick, "quantize", "-m", src, "--type", "f32", "-o", f32])
    run([wick, "quantize", "-m", src, "--type", "f16", "-o", f16])
    return f32, f16


def llama_ppl(bin_dir, model, text, chunk, chunks, base, threads, save):
    # One chunk per batch (-b): with several sequences per batch this llama-perplexity skips its
    # summary when the chunk count is not a multiple of them. F32 KV cache, as wick's default.
    cmd = [os.path.join(bin_dir, "llama-perplexity"), "-m", model, "-f", text, "-c", str(chunk), "-b", str(chunk), "--chunks",
           str(chunks), "-t", str(threads), "-ctk", "f32", "-ctv", "f32", "--kl-divergence-base", base]
    if not save:
        cmd.append("--kl-divergence")
    num = r"([-0-9.eE+]+)"
    # llama.cpp prints its summary through an asynchronous logger that may lose the tail at exit
    # (status 0) on a busy machine: retry until every figure is there.
    for _ in range(6):
        out = run(cmd)
        if save or all(re.search(p, out) for p in (r"Mean PPL\(Q\)\s*:", r"Mean\s+KLD:", r"Same top p:")):
            break
    if save:
        return {}
    res = {"perplexity": float(re.search(r"Mean PPL\(Q\)\s*:\s*" + num, out).group(1)),
           "kl_mean": float(re.search(r"Mean\s+KLD:\s*" + num, out).group(1)),
           "top1_agreement": float(re.search(r"Same top p:\s*" + num, out).group(1)) / 100}
    return res


def wick_ppl(wick, model, text, chunk, chunks, base, threads, save):
    cmd = [wick, "perplexity", "-m", model, "-f", text, "--chunk", str(chunk), "--chunks", str(chunks), "-t", str(threads), "--json"]
    cmd += ["--save-logprobs", base] if save else ["--kl-base", base]
    return json.loads(run(cmd).strip().splitlines()[-1])


def greedy_agreement(bin_dir, wick, model, prompt="Once upon a time", n=48):
    """llama-simple's greedy continuation and wick's (--temperature 0), as (same leading
    characters, length of llama.cpp's text)."""
    simple = os.path.join(bin_dir, "llama-simple")
    if not os.path.exists(simple):
        return None
    lc = subprocess.run([simple, "-m", model, "-n", str(n), prompt], capture_output=True, text=True, errors="replace").stdout
    lc = lc[lc.find(prompt) + len(prompt):] if prompt in lc else lc
    wk = json.loads(run([wick, "generate", "-m", model, "-p", prompt, "-n", str(n), "--temperature", "0", "--json"]))["text"]
    lc = lc.strip("\n")
    same = 0
    while same < min(len(lc), len(wk)) and lc[same] == wk[same]:
        same += 1
    return same, len(lc)


def tensor_types(wick, model):
    info = json.loads(run([wick, "inspect", "-m", model, "--json"]))
    by = info.get("parameters_by_dtype", {})
    total = sum(by.values()) or 1
    return ", ".join("%s %.0f%%" % (k, 100.0 * v / total) for k, v in sorted(by.items(), key=lambda kv: -kv[1]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--llama-bin", required=True, help="folder with llama-quantize and llama-perplexity")
    ap.add_argument("--wick", default="build/release/bin/wick")
    ap.add_argument("--make-model", default="build/release/bin/wick-make-model")
    ap.add_argument("--testdata", default=os.environ.get("WICK_TESTDATA", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "testdata")))
    ap.add_argument("--work", default="/tmp/wick-llamacpp-quants")
    ap.add_argument("--models", default="tinystories,random256,qwen2.5-0.5b")
    ap.add_argument("--types", default=",".join(TYPES))
    ap.add_argument("--chunk", type=int, default=128)
    ap.add_argument("--chunks", type=int, default=24, help="chunks of the text scored (the default text has 29 of 128 tokens)")
    ap.add_argument("--stories", type=int, default=24)
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("--json", help="write the rows here")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    text = os.path.join(a.work, "text.txt")
    make_text(a.wick, a.testdata, text, a.stories)
    rows = []
    for name in a.models.split(","):
        print("== %s" % name, file=sys.stderr)
        f32, f16 = make_models(name, a.wick, a.make_model, a.testdata, a.work)
        wbase, lbase = os.path.join(a.work, name + ".wick-base"), os.path.join(a.work, name + ".llama-base")
        wick_ppl(a.wick, f32, text, a.chunk, a.chunks, wbase, a.threads, True)
        llama_ppl(a.llama_bin, f32, text, a.chunk, a.chunks, lbase, a.threads, True)
        for t in a.types.split(","):
            q = os.path.join(a.work, "%s-%s.gguf" % (name, t.lower()))
            if not os.path.exists(q):
                run([os.path.join(a.llama_bin, "llama-quantize"), f16, q, t])
            w = wick_ppl(a.wick, q, text, a.chunk, a.chunks, wbase, a.threads, False)
            lc = llama_ppl(a.llama_bin, q, text, a.chunk, a.chunks, lbase, a.threads, False)
            g = greedy_agreement(a.llama_bin, a.wick, q)
            row = {"model": name, "type": t, "tensors": tensor_types(a.wick, q), "wick": w, "llama_cpp": lc,
                   "greedy": "%d/%d chars" % g if g else "n/a"}
            rows.append(row)
            print("%-15s %-7s ppl %9.4f / %9.4f  KL %.5f / %.5f  top-1 %.2f%% / %.2f%%  greedy same %s  [%s]" %
                  (name, t, w["perplexity"], lc["perplexity"], w["kl_mean"], lc["kl_mean"], 100 * w["top1_agreement"],
                   100 * lc["top1_agreement"], row["greedy"], row["tensors"]), flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    print("\n| model | type | tensors | PPL wick / llama.cpp | KL from F32 wick / llama.cpp | top-1 wick / llama.cpp | greedy text in common |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        w, lc = r["wick"], r["llama_cpp"]
        print("| %s | %s | %s | %.4f / %.4f | %.5f / %.5f | %.2f%% / %.2f%% | %s |" %
              (r["model"], r["type"], r["tensors"], w["perplexity"], lc["perplexity"], w["kl_mean"], lc["kl_mean"],
               100 * w["top1_agreement"], 100 * lc["top1_agreement"], r["greedy"]))


if __name__ == "__main__":
    main()
