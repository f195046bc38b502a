#!/usr/bin/env bash
# The main job: install, build the package, then torch.compile a ResNet-18 and a BERT-style encoder
# with the tensorforge backend (GPU float16 where there is one, else CPU float32): coverage report,
# largest difference from eager, time per call of eager, inductor and TensorForge.
set -euo pipefail
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
cd "$(dirname "$0")/.."
scripts/install_deps.sh
python3 -m pip install -q --no-build-isolation --no-deps .
python3 examples/compile_demo.py "$@"
