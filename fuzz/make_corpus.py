#!/usr/bin/env python3
"""Writes the seed inputs of the parser fuzzers (fuzz/corpus/): small valid GGUF models and
safetensors files that reach deep into the parsers, so mutations explore the interesting parts.
Deterministic; rerun it after changing a format and commit the result."""
import json
import os
import random
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
rng = random.Random(1)

# GGUF value types
U32, I32, F32, BOOL, STRING, ARRAY = 4, 5, 6, 7, 8, 9


def gguf_string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def kv(key, vtype, value):
    out = gguf_string(key) + struct.pack("<I", vtype)
    if vtype == U32: out += struct.pack("<I", value)
    elif vtype == I32: out += struct.pack("<i", value)
    elif vtype == F32: out += struct.pack("<f", value)
    elif vtype == BOOL: out += struct.pack("<B", value)
    elif vtype == STRING: out += gguf_string(value)
    elif vtype == ARRAY:
        etype, items = value
        out += struct.pack("<IQ", etype, len(items))
        for it in items:
            if etype == STRING: out += gguf_string(it)
            elif etype == F32: out += struct.pack("<f", it)
            elif etype == I32: out += struct.pack("<i", it)
    return out


def q8_0(n):  # blocks of f16 scale + 32 int8
    return b"".join(struct.pack("<H", 0x1400) + bytes(rng.randrange(256) for _ in range(32)) for _ in range(n // 32))


def q4_0(n):
    return b"".join(struct.pack("<H", 0x1400) + bytes(rng.randrange(256) for _ in range(16)) for _ in range(n // 32))


def f32(n):
    return struct.pack(f"<{n}f", *[1.0] * n)


def gguf(meta, tensors, alignment=32):
    """tensors: (name, dims in ggml order, ggml type, bytes)"""
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(meta)) + b"".join(meta)
    offset, infos, data = 0, b"", b""
    for name, dims, gtype, blob in tensors:
        infos += gguf_string(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        infos += struct.pack("<IQ", gtype, offset)
        pad = (-len(blob)) % alignment
        data += blob + b"\0" * pad
        offset += len(blob) + pad
    out = head + infos
    out += b"\0" * ((-len(out)) % alignment)
    return out + data


def spm_vocab():
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(4)] + ["\u2581", "a", "b", "\u2581a", "ab", "\u2581ab", "c", "d", "e"]
    types = [2, 3, 3] + [6] * 4 + [1] * 9
    scores = [0.0] * 7 + [-float(i) for i in range(9)]
    return [kv("tokenizer.ggml.model", STRING, "llama"), kv("tokenizer.ggml.tokens", ARRAY, (STRING, tokens)),
            kv("tokenizer.ggml.scores", ARRAY, (F32, scores)), kv("tokenizer.ggml.token_type", ARRAY, (I32, types)),
            kv("tokenizer.ggml.bos_token_id", U32, 1), kv("tokenizer.ggml.eos_token_id", U32, 2),
            kv("tokenizer.ggml.add_bos_token", BOOL, 1)], len(tokens)


def bpe_vocab():
    tokens = ["a", "b", "c", "\u0120", "ab", "\u0120a", "\u0120ab", "abc", "<|endoftext|>", "d", "e", "f", "g", "h", "i", "j"]
    types = [1] * 8 + [3] + [1] * 7
    merges = ["a b", "\u0120 a", "\u0120a b", "ab c"]
    return [kv("tokenizer.ggml.model", STRING, "gpt2"), kv("tokenizer.ggml.pre", STRING, "qwen2"),
            kv("tokenizer.ggml.tokens", ARRAY, (STRING, tokens)), kv("tokenizer.ggml.token_type", ARRAY, (I32, types)),
            kv("tokenizer.ggml.merges", ARRAY, (STRING, merges)), kv("tokenizer.ggml.eos_token_id", U32, 8)], len(tokens)


def model(arch, vocab_fn, quant, biases):
    hidden, heads, kv_heads, ffn = 32, 2, 1, 64
    vocab_meta, n_vocab = vocab_fn()
    meta = [kv("general.architecture", STRING, arch), kv(f"{arch}.context_length", U32, 64),
            kv(f"{arch}.embedding_length", U32, hidden), kv(f"{arch}.block_count", U32, 1),
            kv(f"{arch}.feed_forward_length", U32, ffn), kv(f"{arch}.attention.head_count", U32, heads),
            kv(f"{arch}.attention.head_count_kv", U32, kv_heads),
            kv(f"{arch}.attention.layer_norm_rms_epsilon", F32, 1e-5), kv(f"{arch}.rope.freq_base", F32, 10000.0)] + vocab_meta
    gtype, blob = (8, q8_0) if quant == "q8_0" else (2, q4_0)
    hd = hidden // heads
    t = [("token_embd.weight", [hidden, n_vocab], gtype, blob(hidden * n_vocab)), ("output_norm.weight", [hidden], 0, f32(hidden))]
    p = "blk.0."
    t += [(p + "attn_norm.weight", [hidden], 0, f32(hidden)),
          (p + "attn_q.weight", [hidden, heads * hd], gtype, blob(hidden * heads * hd)),
          (p + "attn_k.weight", [hidden, kv_heads * hd], gtype, blob(hidden * kv_heads * hd)),
          (p + "attn_v.weight", [hidden, kv_heads * hd], gtype, blob(hidden * kv_heads * hd)),
          (p + "attn_output.weight", [heads * hd, hidden], gtype, blob(hidden * heads * hd)),
          (p + "ffn_norm.weight", [hidden], 0, f32(hidden)),
          (p + "ffn_gate.weight", [hidden, ffn], gtype, blob(hidden * ffn)),
          (p + "ffn_up.weight", [hidden, ffn], gtype, blob(hidden * ffn)),
          (p + "ffn_down.weight", [ffn, hidden], gtype, blob(hidden * ffn))]
    if biases:
        t += [(p + "attn_q.bias", [heads * hd], 0, f32(heads * hd)), (p + "attn_k.bias", [kv_heads * hd], 0, f32(kv_heads * hd)),
              (p + "attn_v.bias", [kv_heads * hd], 0, f32(kv_heads * hd))]
    return gguf(meta, t)


def safetensors(tensors, metadata=None):
    header, offset, data = {}, 0, b""
    if metadata: header["__metadata__"] = metadata
    for name, dtype, shape, blob in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        data += blob
    h = json.dumps(header).encode()
    h += b" " * ((-len(h)) % 8)
    return struct.pack("<Q", len(h)) + h + data


def write(sub, name, blob):
    os.makedirs(os.path.join(HERE, "corpus", sub), exist_ok=True)
    with open(os.path.join(HERE, "corpus", sub, name), "wb") as f:
        f.write(blob)


write("gguf", "llama_q8_0_spm.gguf", model("llama", spm_vocab, "q8_0", False))
write("gguf", "qwen2_q4_0_bpe.gguf", model("qwen2", bpe_vocab, "q4_0", True))
write("gguf", "vocab_only.gguf", gguf(spm_vocab()[0] + [kv("general.name", STRING, "vocab")], []))
write("safetensors", "two_f32.safetensors",
      safetensors([("a.weight", "F32", [2, 4], f32(8)), ("b.bias", "F32", [4], f32(4))], {"format": "pt"}))
write("safetensors", "bf16_f16.safetensors",
      safetensors([("w", "BF16", [3, 2], bytes(12)), ("v", "F16", [5], bytes(10)), ("e", "F32", [0], b"")]))
