#!/usr/bin/env bash
# Developer build: C++ library, GoogleTest suite and the Python module in one CMake build folder,
# plus an importable package under BUILD/pkg (no pip install), so several checkouts can be built and
# tested side by side.
#   scripts/dev-build.sh [BUILD_DIR]      (default: build/dev; CUDA code for sm_90 only unless
#                                          CUDA_ARCHITECTURES names others)
#   then: BUILD_DIR/tests/cpp/tensorforge_tests
#         PYTHONPATH=BUILD_DIR/pkg python3 -m pytest tests/python
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build/dev}
mkdir -p "$build"
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTENSORFORGE_BUILD_TESTS=ON \
    -DTENSORFORGE_BUILD_PYTHON=ON -DPython_EXECUTABLE="$(command -v python3)" \
    -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHITECTURES:-90}" >/dev/null
fi
cmake --build "$build" -j "${JOBS:-2}"
pkg="$build/pkg/tensorforge"
mkdir -p "$pkg"
for f in "$root"/python/tensorforge/*.py; do ln -sf "$f" "$pkg/"; done
for d in "$root"/python/tensorforge/*/; do [ -d "$d" ] && ln -sfn "${d%/}" "$pkg/$(basename "$d")"; done
cp "$build"/_C*.so "$pkg/"
if [ -x "$build/tensorforge-exec" ]; then mkdir -p "$pkg/bin" && cp "$build/tensorforge-exec" "$pkg/bin/"; fi
echo "built $build; run: PYTHONPATH=$build/pkg python3 -m pytest tests/python"
