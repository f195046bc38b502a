#!/usr/bin/env bash
# Fills .whl/ (ignored by git, carried to the GPU machine, which has no network) with the Python 3.12
# wheels scripts/device_gpu.sh installs there: the cuDNN frontend (its C++ headers build the fused
# attention and int8 convolution kernels), pytest-xdist and execnet (PYTEST_WORKERS), expecttest
# (the OpInfo conformance test), and NVIDIA's CUTLASS wheel, whose headers only the probes read
# (PROBES=...). Run it here, on a machine with the package index, then pass carry=[".whl"].
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl
cd .whl
python3 -m pip download -q --python-version 3.12 --only-binary=:all: --no-deps \
  nvidia-cudnn-frontend==1.32.0 pytest-xdist==3.8.0 execnet==2.1.2 expecttest==0.3.0 nvidia-cutlass==4.2.0.0
ls -1 *.whl
