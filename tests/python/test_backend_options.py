"""Each compilation option has a visible effect: truncate_long_and_double, enabled_precisions, debug,
min_block_size (and the dry run), torch_executed_ops (OpOverload form), optimization_level,
use_python_runtime, require_full_compilation, pass_through_build_failures. Also: recompilation
follows dynamo's guards (same shapes build nothing, a new batch size builds once)."""

import json
import logging

import pytest
import torch
from torch import nn

import tensorforge as tf
from backend_util import Watch, compile_model, engine_modules, kept_ops


class Small(nn.Module):
    def __init__(self, dtype=torch.float32):
        super().__init__()
        torch.manual_seed(0)
        self.l1 = nn.Linear(8, 16).to(dtype)
        self.l2 = nn.Linear(16, 4).to(dtype)

    def forward(self, x):
        return self.l2(torch.relu(self.l1(x)) * 0.5 + 1.0)


def run(model, x, options):
    with torch.no_grad():
        return compile_model(model, options)(x), model(x)


def test_float64_stays_in_pytorch_unless_truncated():
    model, x = Small(torch.float64).eval(), torch.randn(4, 8, dtype=torch.float64)
    with Watch() as w:
        out, expected = run(model, x, {"min_block_size": 1})
    assert w.engines == 0 and out.dtype == torch.float64
    assert all("truncate_long_and_double" in k["reason"] for k in w.reports[0].kept_in_pytorch)
    with Watch() as w:
        out, expected = run(model, x, {"min_block_size": 1, "truncate_long_and_double": True})
    assert w.engines == 1 and w.reports[0].kept_in_pytorch == []
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)  # float32 inside the engine


def test_enabled_half_precision_computes_in_float16():
    model, x = Small().eval(), torch.randn(4, 8)
    out32, expected = run(model, x, {"min_block_size": 1})
    text32 = engine_modules()[0].engine.network_text()
    out16, _ = run(model, x, {"min_block_size": 1, "enabled_precisions": {torch.float, torch.half}})
    text16 = engine_modules()[0].engine.network_text()
    assert "float16" not in text32 and "float16" in text16
    assert out16.dtype == torch.float32
    torch.testing.assert_close(out16, expected, atol=5e-3, rtol=5e-3)
    assert not torch.equal(out16, out32)


def test_debug_logs_coverage_partition_and_builds(caplog):
    model, x = Small().eval(), torch.randn(4, 8)
    with caplog.at_level(logging.DEBUG, logger="tensorforge"):
        run(model, x, {"min_block_size": 1, "debug": True})
    text = caplog.text
    assert "operators:" in text and "supported (100.0%)" in text
    assert "engines: 1" in text and "built engine _run_on_engine_0" in text
    assert "time: lower" in text and "build: " in text and "kernels cpu." in text


def test_debug_leaves_the_log_levels_as_they_were(caplog, capfd):
    import logging

    logger = logging.getLogger("tensorforge")
    before, handlers, engine_level = logger.level, list(logger.handlers), tf.log_level()
    model, x = Small().eval(), torch.randn(4, 8)
    run(model, x, {"min_block_size": 1, "debug": True})
    assert logger.level == before and logger.handlers == handlers and tf.log_level() == engine_level
    capfd.readouterr()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tensorforge"):
        run(Small().eval(), torch.randn(3, 8), {"min_block_size": 1})  # no debug: nothing logged
    assert not [r for r in caplog.records if r.levelno < logging.WARNING]
    assert "[tensorforge info]" not in capfd.readouterr().err


def test_report_says_where_the_compile_time_went():
    model, x = Small().eval(), torch.randn(4, 8)
    with Watch() as w:
        run(model, x, {"min_block_size": 1})
    report = w.reports[0]
    assert set(report.seconds) == {"lower", "partition", "convert", "build"}
    assert all(s >= 0 for s in report.seconds.values())
    parts = report.build_ms()
    assert "optimize" in parts and "memory" in parts and any(k.startswith("kernels cpu.") for k in parts), parts
    assert report.to_json()["engines"][0]["build_ms"] == report.engines[0]["build_ms"]


def test_min_block_size_keeps_small_blocks_in_pytorch():
    model, x = Small().eval(), torch.randn(4, 8)
    ops = None
    with Watch() as w:
        run(model, x, {"min_block_size": 1})
        ops = w.reports[0].total_ops
    with Watch() as w:
        out, expected = run(model, x, {"min_block_size": ops + 1})
    assert w.engines == 0 and len(w.reports[0].kept_in_pytorch) == ops
    assert w.reports[0].more_engines_at == ops
    torch.testing.assert_close(out, expected)


def test_dry_run_prints_the_report_and_builds_nothing(capsys, tmp_path):
    model, x = Small().eval(), torch.randn(4, 8)
    path = tmp_path / "report.json"
    with Watch() as w:
        out, expected = run(model, x, {"min_block_size": float("inf"), "dryrun": str(path)})
    printed = capsys.readouterr().out
    assert "TensorForge report" in printed and "operators:" in printed and "would give more engines" in printed
    assert w.engines == 0
    torch.testing.assert_close(out, expected)
    data = json.loads(path.read_text())
    assert data["coverage_percent"] == 100.0 and data["min_block_size"] == "inf"
    assert data["total_ops"] == w.reports[0].total_ops and data["block_sizes"]


def test_torch_executed_ops_accepts_op_overloads():
    model, x = Small().eval(), torch.randn(4, 8)
    with Watch() as w:
        out, expected = run(model, x, {"min_block_size": 1, "torch_executed_ops": {torch.ops.aten.relu.default}})
    assert kept_ops(w.reports[0]) == ["aten.relu.default"] and w.engines == 2
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("level", [0, 5])
def test_optimization_level_reaches_the_engine(level):
    run(Small().eval(), torch.randn(4, 8), {"min_block_size": 1, "optimization_level": level})
    assert [m.engine.optimization_level for m in engine_modules()] == [level]


def test_python_runtime_gives_identical_results():
    model, x = Small().eval(), torch.randn(4, 8)
    out_cpp, _ = run(model, x, {"min_block_size": 1})
    assert not engine_modules()[0].use_python_runtime
    out_py, _ = run(model, x, {"min_block_size": 1, "use_python_runtime": True})
    assert engine_modules()[0].use_python_runtime
    assert torch.equal(out_cpp, out_py)


def test_engine_module_checks_its_inputs():
    run(Small().eval(), torch.randn(4, 8), {"min_block_size": 1})
    module = engine_modules()[0]
    with pytest.raises(ValueError, match=r"expects torch.float32 \[4, 8\], got torch.float32 \[5, 8\]"):
        module(torch.randn(5, 8))
    with pytest.raises(ValueError, match="takes 1 inputs"):
        module()


class WithUnsupported(nn.Module):
    def forward(self, x):
        return torch.erfinv(torch.tanh(x) * 0.5) + x * 2 - 1


def test_require_full_compilation_lists_what_is_missing():
    with pytest.raises(Exception, match=r"(?s)require_full_compilation is set.*erfinv \(aten.erfinv.default\): no converter"):
        run(WithUnsupported(), torch.randn(3), {"min_block_size": 1, "require_full_compilation": True})


def test_build_failures_fall_back_or_raise(monkeypatch):
    def broken(self, network):
        raise tf.UnsupportedError("simulated build failure")

    monkeypatch.setattr(tf.Builder, "build", broken)
    model, x = Small().eval(), torch.randn(4, 8)
    with pytest.warns(UserWarning, match="simulated build failure"), Watch() as w:
        out, expected = run(model, x, {"min_block_size": 1})
    assert w.engines == 0
    torch.testing.assert_close(out, expected)
    with pytest.raises(Exception, match="simulated build failure"):
        run(model, x, {"min_block_size": 1, "pass_through_build_failures": True})


def test_recompilation_follows_guards():
    model = Small().eval()
    torch._dynamo.reset()
    compiled = torch.compile(model, backend="tensorforge", dynamic=False, options={"min_block_size": 1})
    with torch.no_grad(), Watch() as w:
        compiled(torch.randn(4, 8))
        assert (w.graphs, w.engines) == (1, 1)
        compiled(torch.randn(4, 8))
        assert (w.graphs, w.engines) == (1, 1)  # same shapes: nothing compiled
        out = compiled(torch.randn(7, 8))
        assert (w.graphs, w.engines) == (2, 2)  # a new batch size compiles once
        compiled(torch.randn(7, 8))
        compiled(torch.randn(4, 8))
        assert (w.graphs, w.engines) == (2, 2)  # both are cached for the process
    assert out.shape == (7, 4)


def test_graph_that_mutates_its_input_runs_in_an_engine():
    # Traced functionally: x + 1 and the product in the engine, the new x copied back into x.
    def f(x, y):
        x.add_(1)
        return x * y

    x, y = torch.randn(3), torch.randn(3)
    x0 = x.clone()
    with Watch() as w:
        out = compile_model(f, {"min_block_size": 1})(x, y)
    assert w.engines == 1
    torch.testing.assert_close(x, x0 + 1)  # the mutation happened
    torch.testing.assert_close(out, (x0 + 1) * y)


def test_timing_options_reach_the_builder(monkeypatch, tmp_path):
    import tensorforge.dynamo.backend as backend

    seen = []

    class Recording(tf.Builder):
        def __init__(self, config):
            seen.append(config)
            super().__init__(config)

    monkeypatch.setattr(backend.tf, "Builder", Recording)
    model, x = Small().eval(), torch.randn(4, 8)
    run(model, x, {"min_block_size": 1, "num_avg_timing_iters": 3, "timing_cache_path": str(tmp_path)})
    assert seen and all(c.timing_iterations == 3 and c.timing_cache_dir == str(tmp_path) for c in seen)
