#!/usr/bin/env bash
# Writes tests/data/gguf/llama-tiny-q4_k_m.gguf with llama.cpp's own tools, so wick's GGUF
# reading (q/k row order, Q4_K / Q6_K decoding, rope-scaling metadata) is proven by files
# somebody else wrote (tests/model/gguf_fixture_test.cpp). Run by hand; the fixture is committed.
#
#   1. wick-make-model: a random 2-layer Llama, hidden 256 (K-quant blocks need rows of 256),
#      linear rope scaling (factor 2), the TinyStories tokenizer.
#   2. llama.cpp's convert_hf_to_gguf.py -> F32 GGUF (a torch older than 2.1 lacks the float8
#      dtypes its lazy-tensor table names; a shim adds placeholders, none occur in this model).
#   3. tests/reference/gguf_dequantize.py --check-against: the F32 file, decoded and q/k rows put
#      back, equals the original bit for bit (proves the test's inverse permutation).
#   4. llama-quantize Q4_K_M (Q4_K and Q6_K tensors) -> the fixture.
#
# Needs: LLAMA_CPP=<llama.cpp source with build/bin/llama-quantize built>, .venv (gguf) and
# .venv-torch (transformers; `pip install sentencepiece` there for the converter).
# Usage: LLAMA_CPP=/path/to/llama.cpp tools/make_gguf_fixture.sh
set -euo pipefail
cd "$(dirname "$0")/.."
: "${LLAMA_CPP:?set LLAMA_CPP to a llama.cpp source tree with build/bin/llama-quantize}"
testdata="${WICK_TESTDATA:-$PWD/../shared/testdata}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
build/release/bin/wick-make-model --preset tiny --seed 5 --testdata "$testdata" -o "$work/hf" \
  --set hidden_size=256 --set intermediate_size=512 --set head_dim=64 \
  --set 'rope_scaling={"type":"linear","factor":2.0}'
cat > "$work/convert.py" <<'PY'
import runpy, sys, torch
for name in ["float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "uint16", "uint32", "uint64"]:
    if not hasattr(torch, name):
        setattr(torch, name, torch.uint8)
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
PY
PYTHONPATH="$LLAMA_CPP/gguf-py:$LLAMA_CPP" .venv-torch/bin/python3 "$work/convert.py" "$LLAMA_CPP/convert_hf_to_gguf.py" \
  "$work/hf" --outtype f32 --outfile "$work/f32.gguf"
.venv/bin/python3 tests/reference/gguf_dequantize.py "$work/f32.gguf" "$work/hf/config.json" "$work/check" --check-against "$work/hf"
LD_LIBRARY_PATH="$LLAMA_CPP/build/bin" "$LLAMA_CPP/build/bin/llama-quantize" "$work/f32.gguf" tests/data/gguf/llama-tiny-q4_k_m.gguf Q4_K_M
cp "$work/hf/config.json" tests/data/gguf/llama-tiny.config.json
ls -l tests/data/gguf
