#!/usr/bin/env bash
# Run on the GPU machine (no network there): build and install the package with the Python and
# build tools already present, then run the Python tests and the demo. Logs go to $OUT when set.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-/tmp}
py=python3
$py -c "import sys, torch, nanobind; print(sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'nanobind', nanobind.__version__)"
echo "C++ compiler: ${CXX:-c++} ($(${CXX:-c++} --version | head -1))"
start=$(date +%s)
$py -m pip install --no-build-isolation --no-deps -v . > "$out/pip_install.log" 2>&1
rc=$?
grep -E "TensorForge:|CMake Warning" "$out/pip_install.log" | head -20
echo "pip install rc=$rc in $(( $(date +%s) - start )) s"
[ $rc -eq 0 ] || { tail -40 "$out/pip_install.log"; exit $rc; }
cd /tmp && $py -c "import tensorforge as tf; print('tensorforge', tf.__version__, 'built_with_cuda', tf.built_with_cuda(), 'cuda devices', tf._C.cuda_device_count())"
cd - >/dev/null
PYTHONUNBUFFERED=1 $py -m pytest tests/python -q --maxfail=30 -p no:cacheprovider -rf 2>&1 | tee "$out/pytest.log" | tail -45
PYTHONUNBUFFERED=1 $py examples/compile_demo.py --iterations 5 2>&1 | tee "$out/demo.log"
