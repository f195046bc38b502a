#!/usr/bin/env bash
# The long fuzz run: the engine reader (structure-aware mutations of the seed corpus) and network
# building through the Python API (tools/fuzz/runner.py), then, where clang is installed, the
# coverage-guided libFuzzer target for the reader under ASan and UBSan. Failures are saved under
# build/fuzz-failures with the command that replays them; the script fails if there are any.
#   scripts/fuzz.sh [READER_INPUTS] [NETWORK_INPUTS] [LIBFUZZER_RUNS]   (defaults 200000 50000 1000000)
# Needs the package importable (pip install, or PYTHONPATH=build/dev/pkg after scripts/dev-build.sh).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
reader=${1:-200000} network=${2:-50000} runs=${3:-1000000}
seed=${FUZZ_SEED:-$(date +%s)}
status=0
python3 "$root/tools/fuzz/runner.py" --target reader --inputs "$reader" --seed "$seed" \
  --json "$root/build/fuzz-reader.json" || status=1
python3 "$root/tools/fuzz/runner.py" --target network --inputs "$network" --seed "$seed" \
  --json "$root/build/fuzz-network.json" || status=1
if command -v clang++-14 >/dev/null || command -v clang++ >/dev/null; then
  cxx=$(command -v clang++-14 || command -v clang++)
  build="$root/build/libfuzzer"
  if [ ! -f "$build/build.ninja" ]; then
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$cxx" \
      -DTENSORFORGE_CUDA=OFF -DTENSORFORGE_BUILD_FUZZERS=ON -DTENSORFORGE_LIBFUZZER=ON \
      -DTENSORFORGE_BUILD_TOOLS=OFF -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -g" \
      -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
  fi
  cmake --build "$build" -j "${JOBS:-2}" --target tensorforge-fuzz-reader
  work="$root/build/libfuzzer-corpus"
  mkdir -p "$work" "$root/build/fuzz-failures"
  cp -n "$root"/tests/fuzz_corpus/*.tfengine "$work"/
  ASAN_OPTIONS=detect_leaks=0 "$build/tensorforge-fuzz-reader" "$work" -runs="$runs" -seed="$seed" \
    -max_len=65536 -timeout=30 -rss_limit_mb=4096 -artifact_prefix="$root/build/fuzz-failures/libfuzzer-" \
    -print_final_stats=1 2>&1 | tail -25 || status=1
else
  echo "fuzz: no clang; skipped the libFuzzer run (apt-get install clang-14 libclang-rt-14-dev)"
fi
exit $status
