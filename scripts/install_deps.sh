#!/usr/bin/env bash
# Installs what building and testing TensorForge needs on a fresh Debian machine with Python 3.10+:
# OpenBLAS and GoogleTest (Debian packages), the Python build tools, and the CPU build of PyTorch
# 2.13.0 (pinned: a loose `torch` would pull a multi-GB CUDA build). Safe to run again.
set -euo pipefail
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
need=()
for pkg in libopenblas-dev libgtest-dev cmake ninja-build g++; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${need[@]}"
fi
python3 -m pip install -q "scikit-build-core>=0.10" "nanobind>=2.0" "numpy" "pytest"
python3 -c "import torch" 2>/dev/null || python3 -m pip install -q "torch==2.13.0"
