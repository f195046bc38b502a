#!/usr/bin/env bash
# On the GPU machine: build and install, then run the CUDA tests (pytest -m cuda) and the C++ suite.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-/tmp}
python3 -m pip install --no-build-isolation --no-deps -v . > "$out/pip_install.log" 2>&1 || { tail -40 "$out/pip_install.log"; exit 1; }
grep -E "TensorForge:" "$out/pip_install.log"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
PYTHONUNBUFFERED=1 python3 -m pytest tests/python -m cuda -q -p no:cacheprovider -rf --maxfail=40 2>&1 | tee "$out/pytest_cuda.log" | tail -50
