#!/usr/bin/env bash
# Set up .venv with this project, its test tools and (with --compile) tracr, on a machine with only
# Python 3.10+ and pip. torch is installed first as 2.13.0, the CPU build this machine ships, and kept
# there by constraints.txt, so nothing ever pulls a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="test"
for arg in "$@"; do
  case "$arg" in
    --compile) extras="test,compile" ;;
    *) echo "usage: scripts/setup.sh [--compile]" >&2; exit 2 ;;
  esac
done
python3 -m venv .venv
py=.venv/bin/python
"$py" -m pip install -q --upgrade pip
"$py" -m pip install -q -c constraints.txt "torch==2.13.0"
"$py" -m pip install -q -c constraints.txt -e ".[${extras}]"
"$py" -c "import torch, transformer_lens; print('ready: torch', torch.__version__, '| transformer-lens', transformer_lens.__version__ if hasattr(transformer_lens, '__version__') else '3.x')" 2>/dev/null
