#!/usr/bin/env python3
"""A GGUF file written by llama.cpp -> a Hugging Face model directory, decoded by gguf-py.

Every tensor is dequantized by llama.cpp's own Python decoder (PyPI `gguf`, numpy), renamed to
the transformers names, and the q/k rows of `llama` files are put back in transformers' order:
llama.cpp's converter (convert_hf_to_gguf.py, LlamaModel.permute) stores each head's rows as
interleaved pairs for its rope, i.e. w.reshape(n_head, 2, head_dim // 2, cols).swapaxes(1, 2);
the inverse is w.reshape(n_head, head_dim // 2, 2, cols).swapaxes(1, 2). The directory gets the
committed config.json, so the PyTorch reference (hf_reference.py) runs on exactly the weights
the file holds, read by code that shares nothing with wick.

Usage: gguf_dequantize.py MODEL.gguf CONFIG.json OUT_DIR [--check-against HF_DIR]
  --check-against: every tensor must equal the original's bit for bit (for an F32 file: proves
  the inverse permutation above against the converter itself).
"""
import argparse
import json
import os
import shutil
import struct

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize

NAMES = {
    "token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head",
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj", "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
}


def hf_name(gguf_name):
    parts = gguf_name.split(".")
    if parts[0] == "blk":
        return "model.layers.%s.%s.%s" % (parts[1], NAMES[parts[2]], parts[3])
    return "%s.%s" % (NAMES[parts[0]], parts[1])


def unpermute(w, n_head):
    rows, cols = w.shape
    return w.reshape(n_head, rows // n_head // 2, 2, cols).swapaxes(1, 2).reshape(rows, cols)


def read_safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    out = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        assert e["dtype"] == "F32", e["dtype"]
        out[name] = np.frombuffer(raw[8 + n + b:8 + n + end], dtype=np.float32).reshape(e["shape"])
    return out


def write_safetensors(path, tensors):
    header, off = {"__metadata__": {"format": "pt"}}, 0
    for name, t in tensors.items():
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + t.nbytes]}
        off += t.nbytes
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for t in tensors.values():
            f.write(np.ascontiguousarray(t, dtype=np.float32).tobytes())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("gguf")
    ap.add_argument("config")
    ap.add_argument("out")
    ap.add_argument("--check-against")
    args = ap.parse_args()
    cfg = json.load(open(args.config))
    reader = GGUFReader(args.gguf)
    arch = bytes(reader.fields["general.architecture"].parts[-1]).decode()
    assert arch == "llama", arch
    tensors = {}
    for t in reader.tensors:
        shape = [int(d) for d in reversed(t.shape)]  # GGUF lists ne0 (columns) first
        w = dequantize(t.data, t.tensor_type).astype(np.float32).reshape(shape)
        kind = t.name.split(".")[-2] if t.name.startswith("blk.") else ""
        if kind == "attn_q":
            w = unpermute(w, cfg["num_attention_heads"])
        elif kind == "attn_k":
            w = unpermute(w, cfg.get("num_key_value_heads", cfg["num_attention_heads"]))
        tensors[hf_name(t.name)] = w
    os.makedirs(args.out, exist_ok=True)
    write_safetensors(os.path.join(args.out, "model.safetensors"), tensors)
    shutil.copy(args.config, os.path.join(args.out, "config.json"))
    if args.check_against:
        original = read_safetensors(os.path.join(args.check_against, "model.safetensors"))
        assert sorted(original) == sorted(tensors), (sorted(original), sorted(tensors))
        for name, w in original.items():
            assert np.array_equal(w, tensors[name]), "%s differs from the original" % name
        print("all %d tensors equal the original bit for bit" % len(original))
    print("%s: %d tensors -> %s" % (args.gguf, len(tensors), args.out))


if __name__ == "__main__":
    main()
