#!/usr/bin/env bash
# Builds the C++ library, its GoogleTest suite and the engine-reader fuzz replayer under
# AddressSanitizer and UndefinedBehaviorSanitizer (GCC; CPU backend only), then runs ctest and
# replays the fuzz seed corpus and every saved fuzz failure through the reader. Any sanitizer
# report fails the script.
#   scripts/sanitize.sh [BUILD_DIR]        (default: build/sanitize)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build/sanitize}
flags="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1"
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTENSORFORGE_CUDA=OFF \
    -DTENSORFORGE_BUILD_TESTS=ON -DTENSORFORGE_BUILD_FUZZERS=ON -DTENSORFORGE_BUILD_PYTHON=OFF \
    -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
fi
cmake --build "$build" -j "${JOBS:-2}"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 UBSAN_OPTIONS=print_stacktrace=1
ctest --test-dir "$build" --output-on-failure -j "${JOBS:-2}"
inputs=("$root/tests/fuzz_corpus")
[ -d "$root/build/fuzz-failures" ] && inputs+=("$root/build/fuzz-failures")
"$build/tensorforge-fuzz-reader" "${inputs[@]}"
echo "sanitize: ctest and the fuzz corpus ran clean under ASan and UBSan"
