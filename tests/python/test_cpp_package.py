"""The C++ package: examples/cpp/run_engine, built by scripts/check_cpp_package.sh against the
installed package (find_package(tensorforge)), runs an engine saved from Python and prints what the
Python engine API computes for the same inputs; the installed tensorforge-exec runs it too."""

import json
import math
import os
import pathlib
import re
import subprocess

import pytest
import torch

import tensorforge as tf

EXAMPLE = os.environ.get("TENSORFORGE_CPP_EXAMPLE", "")
pytestmark = pytest.mark.skipif(
    not EXAMPLE, reason="TENSORFORGE_CPP_EXAMPLE (the example's path) is set by scripts/run_tests.sh after "
                        "scripts/check_cpp_package.sh built the C++ package")


def _inputs_like_the_example(engine):
    """sin(0.01 * i) over each input's elements, as run_engine.cc fills them."""
    out = []
    for info in [i for i in engine.io_tensors if i.is_input]:
        n = math.prod(info.shape)
        values = torch.sin(0.01 * torch.arange(n, dtype=torch.float32)).reshape(tuple(info.shape))
        out.append(values.to(getattr(torch, info.dtype.name)))
    return out


def _saved_engine(tmp_path):
    torch.manual_seed(0)

    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Linear(12, 7)
            self.b = torch.nn.Linear(7, 3)

        def forward(self, x):
            return self.b(torch.relu(self.a(x))), torch.sigmoid(self.a(x)).mean(dim=0)

    path = tmp_path / "m.tfengine"
    tf.save(M().eval(), path, (torch.randn(5, 12),), options={"min_block_size": 1}, output_format="engine")
    return path, tf.Engine.load(path)


def test_example_runs_a_python_engine(tmp_path):
    path, engine = _saved_engine(tmp_path)
    expected = engine(*_inputs_like_the_example(engine))
    run = subprocess.run([EXAMPLE, str(path)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    lines = [l for l in run.stdout.splitlines() if l.startswith("output ")]
    assert len(lines) == len(expected), run.stdout
    for line, want, info in zip(lines, expected, [i for i in engine.io_tensors if not i.is_input]):
        m = re.match(r"output (\S+) \[([\d,]*)\] (\w+) count (\d+) sum (\S+) first(.*)", line)
        assert m, line
        name, dims, dtype, count, total, first = m.groups()
        assert name == info.name and [int(d) for d in dims.split(",") if d] == list(want.shape), line
        assert int(count) == want.numel()
        assert math.isclose(float(total), want.double().sum().item(), rel_tol=1e-5, abs_tol=1e-5), line
        firsts = [float(v) for v in first.split()]
        assert torch.allclose(torch.tensor(firsts), want.flatten()[:len(firsts)].float(), atol=1e-6), line


def test_installed_exec_tool(tmp_path):
    path, engine = _saved_engine(tmp_path)
    tool = pathlib.Path(EXAMPLE).parents[1] / "install" / "bin" / "tensorforge-exec"
    assert tool.exists(), tool
    info = tmp_path / "layers.json"
    run = subprocess.run([str(tool), str(path), "--iterations", "3", "--export-layer-info", str(info)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    layers = json.loads(info.read_text())
    assert layers and "layers" in json.dumps(layers)
    bad = subprocess.run([str(tool), str(path), "--iterations"], capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "usage" in (bad.stderr + bad.stdout).lower()
