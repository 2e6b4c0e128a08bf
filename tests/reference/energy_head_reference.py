#!/usr/bin/python3
"""Independent float64 PyTorch implementation of wick's energy head (include/wick/energy_head.h):
Linear -> (LayerNorm) -> activation per hidden layer, then Linear to one energy. Reads head.json
and head.safetensors (parsed here by hand), and embeddings from a JSON list of vectors.

Usage: energy_head_reference.py HEAD_DIR EMBEDDINGS.json  -> prints a JSON list of energies
"""
import json
import struct
import sys

import torch

DT = torch.float64


def load(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    dtypes = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
    out = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        out[name] = torch.frombuffer(bytearray(raw[8 + n + b:8 + n + end]), dtype=dtypes[e["dtype"]]).reshape(e["shape"]).to(DT)
    return out


def main():
    head_dir, emb_path = sys.argv[1:3]
    cfg = json.load(open(head_dir + "/head.json"))
    w = load(head_dir + "/head.safetensors")
    x = torch.tensor(json.load(open(emb_path)), dtype=DT)
    if cfg.get("normalize_input"):
        x = x / x.norm(dim=1, keepdim=True)
    act = {"silu": torch.nn.functional.silu, "relu": torch.relu,
           "gelu": lambda v: torch.nn.functional.gelu(v, approximate="none"),
           "gelu_pytorch_tanh": lambda v: torch.nn.functional.gelu(v, approximate="tanh")}[cfg.get("activation", "silu")]
    layers = len(cfg.get("hidden", [])) + 1
    for i in range(layers):
        x = x @ w["layers.%d.weight" % i].T + w["layers.%d.bias" % i]
        if i + 1 < layers:
            if cfg.get("layer_norm"):
                x = torch.nn.functional.layer_norm(x, (x.shape[1],), w["norms.%d.weight" % i], w["norms.%d.bias" % i],
                                                   cfg.get("layer_norm_eps", 1e-5))
            x = act(x)
    print(json.dumps(x[:, 0].tolist()))


if __name__ == "__main__":
    main()
