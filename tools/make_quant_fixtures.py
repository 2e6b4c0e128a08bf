#!/usr/bin/env python3
"""Writes tests/data/quant_fixtures.json: random GGUF blocks of every type wick decodes, and the
floats llama.cpp's own Python package decodes them to (PyPI `gguf`, gguf.quants.dequantize, NumPy)
— an implementation that shares nothing with wick's. tests/unit/quant_fixture_test.cpp checks
wick's dequantization against it. Run from the checkout: .venv/bin/python3 tools/make_quant_fixtures.py
"""
import importlib.metadata
import json
import os

import numpy as np
from gguf.constants import GGMLQuantizationType as T
from gguf.quants import dequantize

rng = np.random.default_rng(20261201)


def f16(x):
    return np.array([x], dtype=np.float16).tobytes()


def block(kind):
    b = lambda n: rng.integers(0, 256, n, dtype=np.uint8).tobytes()  # noqa: E731
    if kind == "Q8_0":
        return f16(rng.uniform(-0.05, 0.05)) + rng.integers(-128, 128, 32, dtype=np.int8).tobytes()
    if kind == "Q4_0":
        return f16(rng.uniform(-0.05, 0.05)) + b(16)
    if kind == "Q4_K":
        return f16(rng.uniform(0.0, 0.01)) + f16(rng.uniform(0.0, 0.01)) + b(12) + b(128)
    if kind == "Q6_K":
        return b(128) + b(64) + rng.integers(-128, 128, 16, dtype=np.int8).tobytes() + f16(rng.uniform(-0.01, 0.01))
    if kind in ("Q4_1", "Q5_1"):
        return f16(rng.uniform(0.0, 0.05)) + f16(rng.uniform(-0.5, 0.5)) + (b(4) if kind == "Q5_1" else b"") + b(16)
    if kind == "Q5_0":
        return f16(rng.uniform(-0.05, 0.05)) + b(4) + b(16)
    if kind == "IQ4_NL":
        return f16(rng.uniform(-0.05, 0.05)) + b(16)
    if kind == "Q2_K":
        return b(16) + b(64) + f16(rng.uniform(0.0, 0.01)) + f16(rng.uniform(0.0, 0.01))
    if kind == "Q3_K":
        return b(32) + b(64) + b(12) + f16(rng.uniform(-0.01, 0.01))
    if kind == "Q5_K":
        return f16(rng.uniform(0.0, 0.01)) + f16(rng.uniform(0.0, 0.01)) + b(12) + b(32) + b(128)
    if kind == "IQ4_XS":
        return f16(rng.uniform(-0.01, 0.01)) + b(2) + b(4) + b(128)
    if kind == "F16":
        return np.array(rng.normal(0, 3, 32), dtype=np.float16).tobytes()
    if kind == "BF16":
        return (np.array(rng.normal(0, 3, 32), dtype=np.float32).view(np.uint32) >> 16).astype(np.uint16).tobytes()
    raise KeyError(kind)


def main():
    out = {"generator": "gguf %s (PyPI, llama.cpp's gguf-py): gguf.quants.dequantize" % importlib.metadata.version("gguf"), "types": {}}
    for kind, qtype, blocks in (("Q8_0", T.Q8_0, 6), ("Q4_0", T.Q4_0, 6), ("Q4_K", T.Q4_K, 3), ("Q6_K", T.Q6_K, 3),
                                ("F16", T.F16, 2), ("BF16", T.BF16, 2), ("Q4_1", T.Q4_1, 6), ("Q5_0", T.Q5_0, 6),
                                ("Q5_1", T.Q5_1, 6), ("IQ4_NL", T.IQ4_NL, 6), ("Q2_K", T.Q2_K, 3), ("Q3_K", T.Q3_K, 3),
                                ("Q5_K", T.Q5_K, 3), ("IQ4_XS", T.IQ4_XS, 3)):
        raw = b"".join(block(kind) for _ in range(blocks))
        values = dequantize(np.frombuffer(raw, dtype=np.uint8), qtype).astype(np.float32).reshape(-1)
        out["types"][kind] = {"bytes_hex": raw.hex(), "values": [float(v) for v in values]}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "quant_fixtures.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=0)
    print("wrote", os.path.normpath(path), {k: len(v["values"]) for k, v in out["types"].items()})


if __name__ == "__main__":
    main()
