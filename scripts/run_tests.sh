#!/usr/bin/env bash
# The test suite: install, build the package once with the C++ tests enabled, run ctest (GoogleTest:
# IR, printer, file format, every CPU kernel), build and install the C++ package and an example
# application on it (scripts/check_cpp_package.sh), and run pytest (every layer against torch, the
# engine API, ResNet-18 end to end, the C++ example). GPU tests skip themselves without a GPU.
set -euo pipefail
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
cd "$(dirname "$0")/.."
scripts/install_deps.sh
python3 -m pip install -q --no-build-isolation --no-deps \
  -C build-dir=build/test -C cmake.define.TENSORFORGE_BUILD_TESTS=ON .
ctest --test-dir build/test --output-on-failure -j 2
# The C++ package (shared library, headers, CMake config) installed and an application built on it;
# pytest then runs it on an engine saved from Python (tests/python/test_cpp_package.py).
TENSORFORGE_CPP_EXAMPLE=$(scripts/check_cpp_package.sh | tail -1)
export TENSORFORGE_CPP_EXAMPLE
python3 -m pytest tests/python -q
