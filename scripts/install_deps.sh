#!/usr/bin/env bash
# Installs what building and testing TensorForge needs on a fresh Debian machine with Python 3.10+:
# OpenBLAS, oneDNN and GoogleTest (Debian packages), the Python build tools, pytest with expecttest and
# hypothesis (PyTorch's OpInfo database, which the conformance test reads, imports them), torchao
# (PT2E quantization, for the quantization tests), and the CPU build of PyTorch 2.13.0 (pinned: a
# loose `torch` would pull a multi-GB CUDA build). Safe to run again.
set -euo pipefail
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
need=()
for pkg in libopenblas-dev libdnnl-dev libgtest-dev cmake ninja-build g++; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${need[@]}"
fi
python3 -m pip install -q "scikit-build-core>=0.10" "nanobind>=2.0" "numpy" "pytest" "expecttest" "hypothesis"
python3 -c "import torch" 2>/dev/null || python3 -m pip install -q "torch==2.13.0"
# torchao's PT2E quantization flow makes the pre-quantized graphs tests/python/test_quantize.py converts.
python3 -c "import torchao" 2>/dev/null || python3 -m pip install -q --no-deps "torchao==0.18.0"
# Where nvcc exists the CUDA backend is built (and must compile, even without a GPU): it needs the
# cuBLASLt, cuDNN and NVRTC headers and libraries, taken from NVIDIA's pip packages unless the CUDA
# toolkit has them, and cuDNN's C++ frontend headers (optional; from their pip package).
if command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then
  python3 -c "import nvidia.cudnn, nvidia.cu13" 2>/dev/null ||
    python3 -m pip install -q --no-deps "nvidia-cublas==13.1.1.3" "nvidia-cudnn-cu13==9.24.0.43" \
      "nvidia-cuda-nvrtc==13.0.88"
  # cuDNN's C++ frontend (header-only) gives the fused attention kernel, cuda.attention.cudnn.
  python3 -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('cudnn') is None)" ||
    python3 -m pip install -q --no-deps "nvidia-cudnn-frontend==1.32.0"
fi
