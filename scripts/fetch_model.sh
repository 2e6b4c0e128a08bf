#!/usr/bin/env bash
# Puts the default model, TinyStories-656K, in models/tinystories-656k/: copied from the test
# data folder ($WICK_TESTDATA or ../shared/testdata) when present, else downloaded from its
# Hugging Face repository raincandy-u/TinyStories-656K.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=models/tinystories-656k
files=(config.json generation_config.json tokenizer.json tokenizer_config.json special_tokens_map.json model.safetensors)
if [ -f "$dest/model.safetensors" ] && [ -f "$dest/config.json" ]; then exit 0; fi
mkdir -p "$dest"
src="${WICK_TESTDATA:-../shared/testdata}/models/tinystories-656k"
if [ -d "$src" ]; then
  for f in "${files[@]}"; do [ -f "$src/$f" ] && cp "$src/$f" "$dest/"; done
  chmod u+w "$dest"/*
  echo "fetch_model: copied TinyStories-656K from $src"
else
  base=https://huggingface.co/raincandy-u/TinyStories-656K/resolve/main
  for f in "${files[@]}"; do
    curl -fsSL --retry 3 -o "$dest/$f" "$base/$f" || { [ "$f" = special_tokens_map.json ] || [ "$f" = generation_config.json ]; } || {
      echo "fetch_model: could not download $f" >&2; exit 1; }
  done
  echo "fetch_model: downloaded TinyStories-656K"
fi
