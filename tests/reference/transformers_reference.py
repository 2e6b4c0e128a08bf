#!/usr/bin/env python3
"""Hugging Face transformers itself as the model oracle (run by .venv-torch/bin/python).

hf_reference.py is a float64 rewrite of the modeling code; it shares its reading of that code
with wick, so a misreading both make (a rope scaling, a window's edge) would pass. This script
loads the same model directory with `AutoModelForCausalLM.from_pretrained` (eager attention,
weights upcast to float64), prefills the prompt with a KV cache, then runs greedy decode steps
through `past_key_values`, and writes what transformers exposes under hf_reference.py's names:

    prefill/embd, prefill/blk.L.out (L < n_layers - 1), prefill/out_norm   (output_hidden_states)
    prefill/logits      every prompt token
    decode.<i>/logits   greedy decode step i
    tokens              the greedy tokens (as float32)

Usage: transformers_reference.py JOBS.json   (the job format of hf_reference.py)
"""
import json
import sys

import torch
from transformers import AutoConfig, AutoModelForCausalLM

from hf_reference import save  # the same safetensors writer as the float64 rewrite


def run_job(job):
    config = AutoConfig.from_pretrained(job["dir"])
    # Phi3Config's default pad_token_id (32000) lies outside a tiny vocabulary, which nn.Embedding
    # refuses; padding_idx only shapes initialization and gradients, never the forward pass.
    if config.pad_token_id is not None and config.pad_token_id >= config.vocab_size:
        config.pad_token_id = None
    model = AutoModelForCausalLM.from_pretrained(job["dir"], config=config, torch_dtype=torch.float64,
                                                 attn_implementation="eager")
    model.eval()
    n_layers = model.config.num_hidden_layers
    out = {}
    with torch.no_grad():
        ids = torch.tensor([job["prompt"]])
        r = model(input_ids=ids, use_cache=True, output_hidden_states=True)
        hs = r.hidden_states  # [embd, block 0 .. n-2 outputs, final norm of block n-1's output], each [1, T, hidden]
        out["prefill/embd"] = hs[0][0]
        for layer in range(n_layers - 1):
            out["prefill/blk.%d.out" % layer] = hs[layer + 1][0]
        out["prefill/out_norm"] = hs[n_layers][0]
        out["prefill/logits"] = r.logits[0]  # [T, vocab]
        past = r.past_key_values
        logits = r.logits[0, -1]
        tokens = []
        pos = len(job["prompt"])
        for i in range(job["steps"]):
            tok = int(torch.argmax(logits))
            tokens.append(tok)
            r = model(input_ids=torch.tensor([[tok]]), past_key_values=past, use_cache=True,
                      position_ids=torch.tensor([[pos]]), cache_position=torch.tensor([pos]))
            past = r.past_key_values
            logits = r.logits[0, -1]
            out["decode.%d/logits" % i] = logits.unsqueeze(0)
            pos += 1
    out["tokens"] = torch.tensor(tokens, dtype=torch.float32)
    save(job["out"], out)


def main():
    torch.manual_seed(0)
    for job in json.load(open(sys.argv[1])):
        run_job(job)


if __name__ == "__main__":
    main()
