#!/usr/bin/env bash
# The main job: install, build the package, then build a ResNet-18-sized network through the engine
# API, run it on the CPU engine against PyTorch, save and reload the engine, and print the timings.
set -euo pipefail
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
cd "$(dirname "$0")/.."
scripts/install_deps.sh
python3 -m pip install -q --no-build-isolation --no-deps .
python3 examples/engine_demo.py "$@"
