"""Conformance: PyTorch's own OpInfo samples through the tensorforge backend, against eager
(conformance_lib.py says how outputs are compared).

The CPU slice runs in every test run: each OpInfo, one sample, in float32 and in one more dtype
that rotates with the op (every dtype the engine holds is covered across ops). Under
`pytest -m cuda` the same runs on the GPU in float32 and float16. `scripts/conformance.py` runs
every sample in every dtype and writes the summary in docs/conformance.md.

Two checked-in lists make regressions visible:
- conformance_expected.json: the (op, dtype) pairs that ran in an engine on each device. A pair
  that now falls back to PyTorch fails the test: a converter stopped converting. A pair newly in
  an engine passes; refresh the list with `scripts/conformance.py --slice --update`.
Set TF_CONFORMANCE_RECORD=FILE to keep every pair's result (scripts/conformance.py --from-record
FILE --update then refreshes the list and prints the summary).
- XFAIL below: known differences, each with its reason. A pair listed there that now matches
  fails the test, so the list only shrinks.
"""

from __future__ import annotations

import json
import os
import pathlib

import pytest
import torch

import conformance_lib as conf

EXPECTED_PATH = pathlib.Path(__file__).with_name("conformance_expected.json")

# (op, dtype, device) -> why the engine's result differs from eager's; empty means none known.
XFAIL: dict[tuple[str, str, str], str] = {
    ("nn.functional.soft_margin_loss", "float16", "cuda"):
        "log(1 + exp(-y x)) overflows to inf in float16 between layers where eager's kernel computes in "
        "float32; the pointwise fusion does not yet reach across the chain's reduction",
    ("nn.functional.soft_margin_loss", "float16", "cpu"):
        "log(1 + exp(-y x)) overflows to inf in float16 between layers where eager's kernel computes in "
        "float32 (CPU engines run the layers as written)",
}


def slice_dtypes(index: int, device: str) -> list[torch.dtype]:
    """float32 and one more dtype, rotating with the op's index (CPU); float32 and float16 (CUDA)."""
    if device == "cuda":
        return [torch.float32, torch.float16]
    others = [d for d in conf.DTYPES if d != torch.float32]
    return [torch.float32, others[index % len(others)]]


def slice_pairs(device: str):
    """(op key, dtype name) of the slice that every run checks, in op_db order."""
    out = []
    for index, op in enumerate(conf.op_db()):
        supported = op.supported_dtypes(device)
        out += [(conf.op_key(op), str(dt).removeprefix("torch.")) for dt in slice_dtypes(index, device)
                if dt in supported]
    return out


def expected_engine_pairs(device: str) -> set[tuple[str, str]]:
    if not EXPECTED_PATH.exists():
        return set()
    data = json.loads(EXPECTED_PATH.read_text())
    return {tuple(p) for p in data.get(device, {}).get("engine", [])}


def run_op(op_key: str, dtypes: list[torch.dtype], device: str, samples: int) -> dict:
    """{dtype name: PairResult} for one OpInfo."""
    op = next(o for o in conf.op_db() if conf.op_key(o) == op_key)
    return {str(dt).removeprefix("torch."): conf.check_pair(op, dt, device, samples) for dt in dtypes
            if dt in op.supported_dtypes(device)}


def record(op_key: str, device: str, results: dict) -> None:
    """With TF_CONFORMANCE_RECORD=FILE, appends each pair's result to FILE as a JSON line (one file
    can take several pytest-xdist workers' lines); scripts/conformance.py --from-record reads it."""
    path = os.environ.get("TF_CONFORMANCE_RECORD")
    if not path:
        return
    lines = "".join(json.dumps({"op": op_key, "dtype": dtype, "device": device, "torch": torch.__version__,
                                "status": r.status,
                                "samples": r.samples, "failure": r.failure, "note": r.note}) + "\n"
                    for dtype, r in results.items())
    with open(path, "a") as f:
        f.write(lines)


def check_op(op_key: str, index: int, device: str, samples: int) -> None:
    results = run_op(op_key, slice_dtypes(index, device), device, samples)
    record(op_key, device, results)
    engine = expected_engine_pairs(device)
    problems = []
    for dtype, r in results.items():
        reason = XFAIL.get((op_key, dtype, device))
        if r.failure and not reason:
            problems.append(f"{dtype}: {r.failure} (ran in: {r.status})")
        if reason and not r.failure and r.samples:
            problems.append(f"{dtype}: listed in XFAIL ({reason}) but now matches eager: remove the entry")
        if (op_key, dtype) in engine and r.status == "fallback":
            problems.append(f"{dtype}: ran in an engine before, now falls back to PyTorch")
    assert not problems, f"{op_key} on {device}:\n  " + "\n  ".join(problems)


def _ops():
    try:
        return [conf.op_key(op) for op in conf.op_db()]
    except ImportError as e:  # op_db needs expecttest and hypothesis (scripts/install_deps.sh installs them)
        pytest.skip(f"torch.testing's op_db is not importable: {e}", allow_module_level=True)


OPS = _ops()


@pytest.mark.parametrize("index", range(len(OPS)), ids=OPS)
def test_opinfo_cpu(index):
    check_op(OPS[index], index, "cpu", samples=1)


@pytest.mark.cuda
@pytest.mark.parametrize("index", range(len(OPS)), ids=OPS)
def test_opinfo_cuda(index):
    check_op(OPS[index], index, "cuda", samples=1)


def test_expected_list_names_known_pairs():
    """Every pair in conformance_expected.json is still in the slice (op_db changes with PyTorch;
    a stale entry would check nothing)."""
    known = set(slice_pairs("cpu"))
    stale = sorted(expected_engine_pairs("cpu") - known)
    assert not stale, f"{len(stale)} pairs of conformance_expected.json are not in the CPU slice: {stale[:10]}"


def test_xfail_entries_name_real_ops():
    names = set(OPS)
    assert all(op in names for op, _, _ in XFAIL), sorted(op for op, _, _ in XFAIL if op not in names)
