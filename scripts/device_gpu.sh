#!/usr/bin/env bash
# On the GPU machine, in one call: install the wheels carried in .whl/ (filled here by
# scripts/device_wheels.sh: packages the machine lacks,
# such as expecttest for the conformance test, pytest-xdist, and nvidia-cudnn-frontend, whose C++
# headers the cuDNN attention and int8 convolution kernels need), build and install (skipped with SKIP_INSTALL=1, for
# a second call on the same warm machine), run the CUDA tests (pytest -m cuda, which includes the
# end-to-end torch.compile tests and the OpInfo conformance slice on CUDA; PYTEST_WORKERS=N spreads
# them over N pytest-xdist workers; TESTS="file ..." runs only those files' CUDA tests, TESTS=none
# none; TEST_K="topk or depthwise" selects tests by a pytest -k expression), then the model benchmark with BENCH_ARGS (skipped when BENCH_ARGS is "none"), with
# MEMORY_BENCH=1 benchmarks/memory_bound_cuda.py, with DYNAMIC_ARGS (e.g. "--models bert gpt2")
# benchmarks/dynamic_shapes.py, with LOAD=1 benchmarks/load_time.py (LOAD_ARGS, e.g. "--models bert")
# with INT8_ARGS (e.g. "--models resnet50 --batch 256 --time --residuals") benchmarks/int8_accuracy.py,
# with EXTRA a command of its own (e.g. EXTRA="python3 benchmarks/stem_cuda.py"), with PROBES (names of
# benchmarks/probes/*.cu, e.g. PROBES="int8_conv_cutlass_sm90 gelu_gemm_cutlass_sm90") those probes built
# while the engine installs and run after the tests,
# and with DEMO=1 the README's main job's demo (examples/compile_demo.py, float16 on the GPU). Logs
# and JSON go to $OUT.
#   OUT=... BENCH_ARGS="--models resnet50 --batches 1" scripts/device_gpu.sh
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-/tmp}
start=$(date +%s)
# The carried wheels but CUTLASS's (whose headers only the probes read, unpacked below).
wheels=$(ls .whl/*.whl 2>/dev/null | grep -v nvidia_cutlass)
if [ -n "$wheels" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site $wheels &&
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
if [ -n "${PROBES:-}" ]; then
  # Each benchmarks/probes/NAME.cu built in the background while the engine installs (CUTLASS from the
  # carried nvidia-cutlass wheel, cuBLASLt from the pip CUDA libraries), run one after another once
  # the tests are done; logs in $out/probe_NAME.log.
  nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
  cl=/tmp/cl
  cutlass_wheel=$(ls .whl/nvidia_cutlass-*.whl 2>/dev/null | head -1)
  [ -n "$cutlass_wheel" ] && python3 -c "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])" "$cutlass_wheel" "$cl"
  nv=$(python3 -c "import glob, site; print(next(iter(glob.glob(s + '/nvidia/cu13') for s in site.getsitepackages() if glob.glob(s + '/nvidia/cu13')))[0])")
  probe_builds=()
  for p in $PROBES; do
    "$nvcc" -std=c++17 -arch=sm_90a -O3 -DNDEBUG --expt-relaxed-constexpr --extended-lambda -Isrc -Iinclude \
      -I"$cl/cutlass_library/source/include" -I"$cl/cutlass_library/source/tools/util/include" -I"$nv/include" \
      "benchmarks/probes/$p.cu" -L"$nv/lib" -l:libcublasLt.so.13 -o "/tmp/probe_$p" > "$out/probe_$p.log" 2>&1 &
    probe_builds+=($!)
  done
fi
if [ "${SKIP_INSTALL:-0}" != "1" ]; then
  # The H200's architecture only (the default list of four takes about four times as long to compile).
  python3 -m pip install --no-build-isolation --no-deps -v -C cmake.define.CMAKE_CUDA_ARCHITECTURES=90 . \
    > "$out/pip_install.log" 2>&1 || {
    tail -40 "$out/pip_install.log"; exit 1; }
  grep -E "TensorForge:" "$out/pip_install.log"
  # Without the frontend's headers cuDNN's fused attention and int8 convolutions are not built, and
  # every benchmark of them measures the fallbacks instead: say so first.
  if grep -q "cuDNN frontend not found" "$out/pip_install.log"; then
    echo "WARNING: built without the cuDNN frontend (carry nvidia_cudnn_frontend's wheel in .whl/):" \
      "cuda.attention.cudnn and cuda.quantized_conv.cudnn are absent"
  fi
  echo "install: $(( $(date +%s) - start )) s"
fi
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader
if [ "${TESTS:-cuda}" != "none" ]; then
  workers=()
  [ "${PYTEST_WORKERS:-0}" != "0" ] && workers=(-n "$PYTEST_WORKERS")
  paths=(tests/python)
  [ "${TESTS:-cuda}" != "cuda" ] && read -r -a paths <<< "$TESTS"
  PYTHONUNBUFFERED=1 timeout "${TEST_TIMEOUT:-300}" python3 -m pytest "${paths[@]}" -m cuda -q -p no:cacheprovider \
    -rf --maxfail=30 "${workers[@]}" ${TEST_K:+-k "$TEST_K"} ${TEST_ARGS:-} 2>&1 | tee "$out/pytest_cuda.log" | grep -v "^\.\|^s\|^$" | tail -40
  echo "tests: $(( $(date +%s) - start )) s"
fi
if [ -n "${PROBES:-}" ]; then
  wait "${probe_builds[@]}"
  echo "probes built: $(( $(date +%s) - start )) s"
  for p in $PROBES; do
    echo "== probe $p"
    LD_LIBRARY_PATH="$nv/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" timeout "${PROBE_TIMEOUT:-120}" "/tmp/probe_$p" 2>&1 |
      tee -a "$out/probe_$p.log" || tail -5 "$out/probe_$p.log"
  done
  echo "probes: $(( $(date +%s) - start )) s"
fi
if [ "${BENCH_ARGS:-}" != "none" ]; then
  PYTHONUNBUFFERED=1 python3 benchmarks/cuda_models.py ${BENCH_ARGS:-} --json "$out/bench.json" 2>&1 |
    tee "$out/bench.log" | grep -v "^{" | tail -30
fi
if [ "${MEMORY_BENCH:-0}" = "1" ]; then
  PYTHONUNBUFFERED=1 python3 benchmarks/memory_bound_cuda.py --json "$out/memory_bound.json" 2>&1 |
    tee "$out/memory_bound.log" | grep -v "^{" | tail -25
fi
if [ -n "${DYNAMIC_ARGS:-}" ]; then
  (cd benchmarks && PYTHONUNBUFFERED=1 python3 dynamic_shapes.py ${DYNAMIC_ARGS} --json "$out/dynamic.json" 2>&1 |
    tee "$out/dynamic.log" | grep -v "^{" | tail -25)
fi
if [ "${LOAD:-0}" = "1" ]; then
  PYTHONUNBUFFERED=1 python3 benchmarks/load_time.py ${LOAD_ARGS:-} --json "$out/load.json" 2>&1 | tee "$out/load.log" |
    tail -15
fi
if [ -n "${INT8_ARGS:-}" ]; then
  PYTHONUNBUFFERED=1 python3 benchmarks/int8_accuracy.py ${INT8_ARGS} --json "$out/int8.json" 2>&1 |
    tee "$out/int8.log" | grep -v "^{\|Warning\|warn" | tail -60
fi
if [ -n "${EXTRA:-}" ]; then
  PYTHONUNBUFFERED=1 bash -c "${EXTRA}" 2>&1 | tee "$out/extra.log" | tail -40
fi
if [ "${DEMO:-0}" = "1" ]; then
  PYTHONUNBUFFERED=1 python3 examples/compile_demo.py --iterations 20 2>&1 | tee "$out/demo.log" |
    grep -v "Warning\|warn" | tail -40
fi
echo "total: $(( $(date +%s) - start )) s"
