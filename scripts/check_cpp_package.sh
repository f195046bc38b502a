#!/usr/bin/env bash
# The C++ package, as a C++ user gets it: a plain CMake build of libtensorforge (shared), installed
# with `cmake --install` (headers, library, tensorforge-exec, tensorforgeConfig.cmake), then the
# example application examples/cpp built against the installed package with find_package. Prints
# the example's path last. TENSORFORGE_CUDA (default OFF: the CPU backend, for CI's speed) and
# BUILD_DIR (default build/cpp-package) may be set.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build/cpp-package}
prefix="$PWD/$build/install"
gen=(); command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)
cmake -S . -B "$build/lib" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DTENSORFORGE_CUDA="${TENSORFORGE_CUDA:-OFF}" >/dev/null
cmake --build "$build/lib" -j "${JOBS:-2}" >/dev/null
cmake --install "$build/lib" --prefix "$prefix" >/dev/null
cmake -S examples/cpp -B "$build/example" "${gen[@]}" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$build/example" >/dev/null
echo "$PWD/$build/example/run_engine"
