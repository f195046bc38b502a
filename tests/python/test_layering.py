"""The layers of the C++ tree include only what lies below them (issue 9's architecture item): the
rules are checked here on every #include of src/, so a change that reaches across shows in CI.

    common     -> common, the public headers
    ir         -> common, ir, the formula table kernels/common/pointwise_formulas.h
    opt        -> common, ir, opt, serialize/file_io.h (pass dumps)
    codegen    -> codegen, ir, common
    kernels    -> common, ir, kernels, codegen, runtime/device.h (streams, device memory)
                  kernels/cuda never includes kernels/cpu (but dtype_dispatch.h: the host-side
                  conversion of a pad value must round as the CPU kernel does), nor kernels/cpu
                  kernels/cuda; what both use lives in kernels/common
    builder, runtime, serialize, python -> anything below them
"""

import pathlib
import re

SRC = pathlib.Path(__file__).resolve().parents[2] / "src"
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)

ALLOWED = {
    "common": ["common/", "tensorforge/"],
    "ir": ["common/", "ir/", "tensorforge/", "kernels/common/pointwise_formulas.h"],
    "opt": ["common/", "ir/", "opt/", "tensorforge/", "serialize/file_io.h"],
    "codegen": ["codegen/", "ir/", "common/", "tensorforge/"],
    "kernels": ["common/", "ir/", "kernels/", "codegen/", "tensorforge/", "runtime/device.h"],
}


def includes(directory):
    for path in sorted((SRC / directory).rglob("*")):
        if path.suffix in (".h", ".cc", ".cu", ".cuh"):
            for name in INCLUDE.findall(path.read_text()):
                yield path.relative_to(SRC).as_posix(), name


def test_each_layer_includes_only_what_lies_below_it():
    bad = [(f, inc) for layer, allowed in ALLOWED.items() for f, inc in includes(layer)
           if not any(inc.startswith(a) for a in allowed)]
    assert not bad, "includes across layers:\n" + "\n".join(f"  {f}: {inc}" for f, inc in bad)


def test_cpu_and_cuda_kernels_share_only_through_kernels_common():
    bad = [(f, inc) for f, inc in includes("kernels/cuda")
           if inc.startswith("kernels/cpu/") and inc != "kernels/cpu/dtype_dispatch.h"]
    bad += [(f, inc) for f, inc in includes("kernels/cpu") if inc.startswith("kernels/cuda/")]
    assert not bad, "kernels reaching into the other backend:\n" + "\n".join(f"  {f}: {inc}" for f, inc in bad)


def test_the_rules_see_the_tree():
    assert sum(1 for _ in includes("kernels/cuda")) > 50 and sum(1 for _ in includes("ir")) > 20
