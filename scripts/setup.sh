#!/usr/bin/env bash
# Installs every Debian 12 package wick needs to build and test, then builds the release preset.
# Usage: scripts/setup.sh [--no-build]
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build pkg-config git ca-certificates curl
  nlohmann-json3-dev libcli11-dev libfmt-dev libpcre2-dev libutf8proc-dev
  libsimdjson-dev                       # tokenizer.json's vocabulary and merges, parsed fast at start-up
  libgtest-dev libgmock-dev libbenchmark-dev
  libsentencepiece-dev                  # the SentencePiece library: a test oracle for Llama 2 tokenization
  python3 python3-torch python3-numpy   # the PyTorch reference used by the tests (/usr/bin/python3)
  clang libclang-rt-14-dev              # libFuzzer: the parser fuzz targets (fuzz preset)
  clang-format                          # scripts/check_format.sh: the tree stays as .clang-format says
  libcpp-httplib-dev                    # the HTTP server of `wick serve` (and the load generator)
  libtomlplusplus-dev                   # wick prove's search configuration (TOML)
  python3-venv                          # .venv: the pinned Python test clients and oracles
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The Python test clients and oracles (OpenAI's client, transformers' apply_chat_template),
# pinned, in a virtual environment of the checkout.
if [ ! -x .venv/bin/python3 ] || ! cmp -s tools/requirements-test.txt .venv/requirements-test.txt; then
  echo "setup: creating .venv (tools/requirements-test.txt)"
  /usr/bin/python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r tools/requirements-test.txt
  cp tools/requirements-test.txt .venv/requirements-test.txt
fi

# Hugging Face transformers itself as the model oracle. Current transformers (Qwen3, 5.x rope
# semantics) needs torch >= 2.6, which Debian lacks, so this environment takes PyPI's torch: about
# 5 GB with the CUDA wheels it depends on, 2-3 minutes to install, used on the CPU only.
if [ ! -x .venv-torch/bin/python3 ] || ! cmp -s tools/requirements-torch.txt .venv-torch/requirements-torch.txt; then
  echo "setup: creating .venv-torch (tools/requirements-torch.txt: PyPI torch + transformers, ~5 GB)"
  /usr/bin/python3 -m venv --clear .venv-torch
  .venv-torch/bin/pip install --quiet --disable-pip-version-check -r tools/requirements-torch.txt
  cp tools/requirements-torch.txt .venv-torch/requirements-torch.txt
fi

if [ "${1:-}" != "--no-build" ]; then
  cmake --preset release >/dev/null
  cmake --build --preset release
fi
