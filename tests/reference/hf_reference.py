#!/usr/bin/python3
"""Independent PyTorch reference for the Llama family (llama, mistral, qwen2, qwen3, phi3, gemma2, stablelm).

Written from the Hugging Face transformers modeling code (modeling_llama.py, modeling_mistral.py,
modeling_qwen2.py, modeling_qwen3.py, modeling_phi3.py, modeling_gemma2.py, modeling_stablelm.py,
modeling_rope_utils.py,
activations.py),
without importing transformers or
anything from wick. It reads a model directory (config.json + safetensors, parsed here by hand),
runs a prompt through the model with a KV cache and then greedy decode steps, computing in
float64 (weights upcast), and writes every named intermediate to a safetensors file:

    prefill/<name>      for name in embd, blk.L.{attn_norm,attn_out,ffn_norm,ffn_out,out}, out_norm, logits
    decode.<i>/logits   logits of greedy decode step i (input: the previous greedy token)
    tokens              the greedy tokens chosen (as float32)

Usage: hf_reference.py JOBS.json   where JOBS.json = [{"dir":..., "prompt":[ids], "steps":N, "out":...}, ...]
"""
import json
import math
import struct
import sys

import torch

DT = torch.float64


def load_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {}) or {}
    dtypes = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
    out = {}
    base = 8 + n
    for name, e in header.items():
        b, end = e["data_offsets"]
        t = torch.frombuffer(bytearray(raw[base + b:base + end]), dtype=dtypes[e["dtype"]])
        out[name] = t.reshape(e["shape"]).to(DT)
    for alias, target in meta.items():  # tied tensors stored once
        if alias not in out and target in out:
            out[alias] = out[target]
    return out


def load_weights(d):
    import os
    idx = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(idx):
        files = sorted(set(json.load(open(idx))["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    w = {}
    for f in files:
        w.update(load_safetensors(os.path.join(d, f)))
    return w


def head_dim(cfg):
    # Qwen3Config defaults head_dim to 128; the others derive it from the hidden size (StableLmAttention
    # always does).
    if cfg.get("head_dim") and cfg["model_type"] != "stablelm":
        return cfg["head_dim"]
    # Gemma2Config defaults it to 256.
    defaults = {"qwen3": 128, "gemma2": 256}
    return defaults.get(cfg["model_type"], cfg["hidden_size"] // cfg["num_attention_heads"])


def windows(cfg):
    """The sliding window of each layer (None = full attention)."""
    t, n = cfg["model_type"], cfg["num_hidden_layers"]
    if t in ("mistral", "phi3"):
        return [cfg.get("sliding_window")] * n
    if t in ("qwen2", "qwen3"):
        # Qwen2Config / Qwen3Config: the window counts only with use_sliding_window; layer_types
        # names each layer, by default sliding from max_window_layers on.
        win = cfg.get("sliding_window") if cfg.get("use_sliding_window") else None
        types = cfg.get("layer_types") or [
            "sliding_attention" if win is not None and l >= cfg.get("max_window_layers", n) else "full_attention"
            for l in range(n)]
        return [win if types[l] == "sliding_attention" else None for l in range(n)]
    if t == "gemma2":
        # Gemma2Config: sliding_window (default 4096) on the layers layer_types names, by default
        # every other layer starting with layer 0.
        win = cfg.get("sliding_window", 4096)
        types = cfg.get("layer_types") or ["sliding_attention" if (l + 1) % 2 else "full_attention" for l in range(n)]
        return [win if types[l] == "sliding_attention" else None for l in range(n)]
    return [None] * n


ACTIVATIONS = {
    "silu": torch.nn.functional.silu,
    "swish": torch.nn.functional.silu,
    "gelu": lambda x: torch.nn.functional.gelu(x, approximate="none"),
    # activations.py: PytorchGELUTanh and NewGELUActivation, both the tanh approximation.
    "gelu_pytorch_tanh": lambda x: torch.nn.functional.gelu(x, approximate="tanh"),
    "gelu_new": lambda x: 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0)))),
}


class Rope:
    """modeling_rope_utils.py: inv_freq and attention factor per rope type; dynamic/longrope
    depend on seq_len = max(position_ids) + 1 of the forward call."""

    def __init__(self, cfg):
        self.cfg = cfg
        # The rotated part of each head: partial_rotary_factor (StableLmConfig defaults it to 0.25).
        factor = cfg.get("partial_rotary_factor", 0.25 if cfg["model_type"] == "stablelm" else 1.0)
        self.dim = int(head_dim(cfg) * factor)
        self.base = cfg.get("rope_theta", 10000.0)
        self.rs = cfg.get("rope_scaling") or {}
        self.type = self.rs.get("rope_type", self.rs.get("type", "default"))
        if self.type == "su":
            self.type = "longrope"
        self.attention_factor = 1.0

    def default(self, base):
        return 1.0 / (base ** (torch.arange(0, self.dim, 2, dtype=torch.int64).float() / self.dim))

    def inv_freq(self, seq_len):
        t, rs, cfg = self.type, self.rs, self.cfg
        if t == "default":
            return self.default(self.base)
        if t == "linear":
            return self.default(self.base) / rs["factor"]
        if t == "dynamic":
            maxp = cfg["max_position_embeddings"]
            if seq_len <= maxp:
                return self.default(self.base)
            f = rs["factor"]
            base = self.base * ((f * seq_len / maxp) - (f - 1)) ** (self.dim / (self.dim - 2))
            return self.default(base)
        if t == "llama3":
            inv = self.default(self.base)
            f, lo, hi, old = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"], rs["original_max_position_embeddings"]
            low_wl, high_wl = old / lo, old / hi
            wl = 2 * math.pi / inv
            scaled = torch.where(wl > low_wl, inv / f, inv)
            smooth = (old / wl - lo) / (hi - lo)
            smoothed = (1 - smooth) * scaled / f + smooth * scaled
            medium = ~(wl < high_wl) * ~(wl > low_wl)
            return torch.where(medium, smoothed, scaled)
        if t == "yarn":
            # transformers 5.x: the configured factor; derived from the two lengths only when absent.
            orig = rs.get("original_max_position_embeddings") or cfg["max_position_embeddings"]
            f = rs.get("factor")
            if f is None:
                f = cfg["max_position_embeddings"] / orig

            def mscale(s, m=1.0):
                return 1.0 if s <= 1 else 0.1 * m * math.log(s) + 1.0
            af = rs.get("attention_factor")
            if af is None:
                if rs.get("mscale") and rs.get("mscale_all_dim"):
                    af = mscale(f, rs["mscale"]) / mscale(f, rs["mscale_all_dim"])
                else:
                    af = mscale(f)
            self.attention_factor = af
            bf, bs = rs.get("beta_fast") or 32, rs.get("beta_slow") or 1

            def cdim(rot):
                return (self.dim * math.log(orig / (rot * 2 * math.pi))) / (2 * math.log(self.base))
            low, high = cdim(bf), cdim(bs)
            if rs.get("truncate", True):
                low, high = math.floor(low), math.ceil(high)
            low, high = max(low, 0), min(high, self.dim - 1)
            if low == high:
                high += 0.001
            pos_freqs = self.base ** (torch.arange(0, self.dim, 2).float() / self.dim)
            extra = 1.0 / pos_freqs
            inter = 1.0 / (f * pos_freqs)
            ramp = torch.clamp((torch.arange(self.dim // 2, dtype=torch.float32) - low) / (high - low), 0, 1)
            ef = 1 - ramp
            return inter * (1 - ef) + extra * ef
        if t == "longrope":
            orig = cfg.get("original_max_position_embeddings") or cfg["max_position_embeddings"]
            f = cfg["max_position_embeddings"] / orig if cfg.get("original_max_position_embeddings") else rs.get("factor", 1.0)
            af = rs.get("attention_factor")
            if af is None:
                af = 1.0 if f <= 1 else math.sqrt(1 + math.log(f) / math.log(orig))
            self.attention_factor = af
            ext = torch.tensor(rs["long_factor"] if seq_len > orig else rs["short_factor"], dtype=torch.float32)
            return 1.0 / (ext * self.base ** (torch.arange(0, self.dim, 2, dtype=torch.int64).float() / self.dim))
        raise ValueError("rope type " + t)

    def cos_sin(self, positions):
        inv = self.inv_freq(int(positions.max()) + 1)  # float32, as transformers
        freqs = positions.float()[:, None] * inv[None, :]  # float32 product
        emb = torch.cat((freqs, freqs), dim=-1).to(DT)
        return emb.cos() * self.attention_factor, emb.sin() * self.attention_factor


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Model:
    def __init__(self, d):
        self.cfg = cfg = json.load(open(d + "/config.json"))
        self.w = load_weights(d)
        self.type = cfg["model_type"]
        self.L = cfg["num_hidden_layers"]
        self.H = cfg["num_attention_heads"]
        self.KVH = cfg.get("num_key_value_heads") or self.H
        self.hd = head_dim(cfg)
        self.gemma = self.type == "gemma2"
        if self.gemma:  # Gemma2MLP uses hidden_activation; Gemma2Config ties embeddings by default
            self.act = ACTIVATIONS[cfg.get("hidden_activation", "gelu_pytorch_tanh")]
        else:
            self.act = ACTIVATIONS[cfg.get("hidden_act", "silu")]
        self.layer_norm = self.type == "stablelm"  # nn.LayerNorm (weight and bias) instead of RMSNorm
        self.eps = cfg.get("layer_norm_eps", 1e-5) if self.layer_norm else cfg.get("rms_norm_eps", 1e-6)
        self.rope = Rope(cfg)
        # Gemma2Attention: scaling = query_pre_attn_scalar ** -0.5; attention and final logits
        # soft-capped (None = off).
        self.scaling = cfg.get("query_pre_attn_scalar", 256) ** -0.5 if self.gemma else 1.0 / math.sqrt(self.hd)
        self.attn_cap = cfg.get("attn_logit_softcapping", 50.0) if self.gemma else None
        self.final_cap = cfg.get("final_logit_softcapping", 30.0) if self.gemma else None
        if cfg.get("tie_word_embeddings", self.gemma):
            self.w["lm_head.weight"] = self.w["model.embed_tokens.weight"]
        self.windows = windows(cfg)
        self.k_cache = [None] * self.L
        self.v_cache = [None] * self.L

    def lin(self, name, x):
        y = x @ self.w[name + ".weight"].T
        b = self.w.get(name + ".bias")
        return y + b if b is not None else y

    def norm(self, name, x):  # RMSNorm over the last dimension
        if self.layer_norm:  # nn.LayerNorm: biased variance
            mean = x.mean(-1, keepdim=True)
            var = (x - mean).pow(2).mean(-1, keepdim=True)
            return (x - mean) * torch.rsqrt(var + self.eps) * self.w[name + ".weight"] + self.w[name + ".bias"]
        var = x.pow(2).mean(-1, keepdim=True)
        w = self.w[name + ".weight"]
        if self.gemma:  # Gemma2RMSNorm: output * (1.0 + weight)
            w = 1.0 + w
        return w * (x * torch.rsqrt(var + self.eps))

    def attention(self, l, x, pos, record):
        p = "model.layers.%d.self_attn." % l
        n = x.shape[0]
        Q, KV = self.H * self.hd, self.KVH * self.hd
        if self.type == "phi3":
            qkv = self.lin(p + "qkv_proj", x)
            q, k, v = qkv[:, :Q], qkv[:, Q:Q + KV], qkv[:, Q + KV:]
        else:
            q, k, v = self.lin(p + "q_proj", x), self.lin(p + "k_proj", x), self.lin(p + "v_proj", x)
        q = q.view(n, self.H, self.hd)
        k = k.view(n, self.KVH, self.hd)
        if self.type == "qwen3":  # Qwen3Attention: q_norm / k_norm over each head, before rope
            q, k = self.norm(p + "q_norm", q), self.norm(p + "k_norm", k)
        q, k = q.transpose(0, 1), k.transpose(0, 1)
        v = v.view(n, self.KVH, self.hd).transpose(0, 1)
        cos, sin = self.rope.cos_sin(pos)
        r = self.rope.dim  # StableLmAttention: rotary on the first r dims of each head, the rest passes through
        q = torch.cat((q[..., :r] * cos + rotate_half(q[..., :r]) * sin, q[..., r:]), dim=-1)
        k = torch.cat((k[..., :r] * cos + rotate_half(k[..., :r]) * sin, k[..., r:]), dim=-1)
        if self.k_cache[l] is not None:
            k = torch.cat((self.k_cache[l], k), dim=1)
            v = torch.cat((self.v_cache[l], v), dim=1)
        self.k_cache[l], self.v_cache[l] = k, v
        rep = self.H // self.KVH
        k = k.repeat_interleave(rep, dim=0)
        v = v.repeat_interleave(rep, dim=0)
        scores = (q @ k.transpose(1, 2)) * self.scaling
        if self.attn_cap is not None:
            scores = torch.tanh(scores / self.attn_cap) * self.attn_cap
        kpos = torch.arange(k.shape[1])
        allowed = kpos[None, :] <= pos[:, None]
        if self.windows[l]:
            allowed &= (pos[:, None] - kpos[None, :]) < self.windows[l]
        scores = scores.masked_fill(~allowed[None], float("-inf"))
        out = torch.softmax(scores, dim=-1) @ v
        out = out.transpose(0, 1).reshape(n, Q)
        return self.lin(p + "o_proj", out)

    def mlp(self, l, x):
        p = "model.layers.%d.mlp." % l
        if self.type == "phi3":
            gate, up = self.lin(p + "gate_up_proj", x).chunk(2, dim=-1)
        else:
            gate, up = self.lin(p + "gate_proj", x), self.lin(p + "up_proj", x)
        return self.lin(p + "down_proj", self.act(gate) * up)

    def forward(self, ids, pos0, record):
        pos = torch.arange(pos0, pos0 + len(ids))
        x = self.w["model.embed_tokens.weight"][torch.tensor(ids)]
        if self.gemma:  # Gemma2TextScaledWordEmbedding: times sqrt(hidden_size)
            x = x * math.sqrt(self.cfg["hidden_size"])
        record("embd", x)
        for l in range(self.L):
            p = "model.layers.%d." % l
            h = self.norm(p + "input_layernorm", x)
            record("blk.%d.attn_norm" % l, h)
            a = self.attention(l, h, pos, record)
            if self.gemma:  # Gemma2DecoderLayer: the branch output is normed before the residual add
                a = self.norm(p + "post_attention_layernorm", a)
            record("blk.%d.attn_out" % l, a)
            x = x + a
            h = self.norm(p + ("pre_feedforward_layernorm" if self.gemma else "post_attention_layernorm"), x)
            record("blk.%d.ffn_norm" % l, h)
            m = self.mlp(l, h)
            if self.gemma:
                m = self.norm(p + "post_feedforward_layernorm", m)
            record("blk.%d.ffn_out" % l, m)
            x = x + m
            record("blk.%d.out" % l, x)
        h = self.norm("model.norm", x)
        record("out_norm", h)
        logits = h @ self.w["lm_head.weight"].T
        if self.final_cap is not None:  # Gemma2ForCausalLM: final_logit_softcapping
            logits = torch.tanh(logits / self.final_cap) * self.final_cap
        record("logits", logits)
        return logits


def save(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        b = t.to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def run_job(job):
    m = Model(job["dir"])
    out = {}
    prompt = job["prompt"]
    with torch.no_grad():
        logits = m.forward(prompt, 0, lambda n, t: out.__setitem__("prefill/" + n, t.clone()))
        tokens = []
        pos = len(prompt)
        for i in range(job["steps"]):
            tok = int(torch.argmax(logits[-1]))
            tokens.append(tok)
            logits = m.forward([tok], pos, lambda n, t, i=i: out.__setitem__("decode.%d/%s" % (i, n), t.clone()) if n == "logits" else None)
            pos += 1
    out["tokens"] = torch.tensor(tokens, dtype=torch.float32)
    save(job["out"], out)


def main():
    jobs = json.load(open(sys.argv[1]))
    for job in jobs:
        run_job(job)


if __name__ == "__main__":
    main()
