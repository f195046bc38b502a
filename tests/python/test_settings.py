"""CompilationSettings.from_options: every seed key, aliases, and clear errors for unknown keys
(with the closest valid key) and values of the wrong type."""

import math

import pytest
import torch

import tensorforge as tf
from tensorforge.dynamo.settings import CompilationSettings


def test_defaults_match_the_documented_ones():
    s = CompilationSettings()
    assert s.enabled_precisions == {torch.float32}
    assert s.min_block_size == 5 and s.optimization_level == 3
    assert not s.truncate_long_and_double and not s.debug and not s.use_python_runtime
    assert s.torch_executed_ops == set() and not s.dry_run


def test_seed_example_options():
    s = CompilationSettings.from_options({
        "enabled_precisions": {torch.float, torch.half}, "truncate_long_and_double": True, "debug": True,
        "min_block_size": 2, "torch_executed_ops": {"torch.ops.aten.sub.Tensor", torch.ops.aten.mul.Tensor},
        "optimization_level": 5, "use_python_runtime": True})
    assert s.enabled_precisions == {torch.float32, torch.float16}
    assert s.truncate_long_and_double and s.debug and s.use_python_runtime
    assert s.min_block_size == 2 and s.optimization_level == 5
    assert s.torch_executed_ops == {"aten.sub.Tensor", "aten.mul.Tensor"}


def test_aliases_and_gpu_options_are_recorded():
    s = CompilationSettings.from_options({"truncate_double": True, "device": "cuda:0", "disable_tf32": True,
                                          "use_fp32_acc": True, "workspace_size": 1 << 20,
                                          "num_avg_timing_iters": 4, "timing_cache_path": "/tmp/x",
                                          "pass_through_build_failures": True, "require_full_compilation": True})
    assert s.truncate_long_and_double and s.device == torch.device("cuda:0") and s.disable_tf32
    assert s.workspace_size == 1 << 20 and s.num_avg_timing_iters == 4


def test_inf_min_block_size_and_dryrun_mean_dry_run():
    assert CompilationSettings.from_options({"min_block_size": float("inf")}).dry_run
    assert CompilationSettings.from_options({"dryrun": True}).dry_run
    assert CompilationSettings.from_options({"dryrun": "/tmp/r.json"}).dry_run
    assert math.isinf(CompilationSettings.from_options({"min_block_size": math.inf}).min_block_size)


@pytest.mark.parametrize("key,close", [("min_blok_size", "min_block_size"), ("enabled_precision", "enabled_precisions"),
                                       ("torch_excuted_ops", "torch_executed_ops"), ("debg", "debug")])
def test_unknown_key_names_the_closest(key, close):
    with pytest.raises(tf.InvalidArgumentError, match=f"unknown tensorforge option '{key}'; did you mean '{close}'"):
        CompilationSettings.from_options({key: 1})


def test_unknown_key_without_a_close_match_lists_the_keys():
    with pytest.raises(tf.InvalidArgumentError, match="valid keys: enabled_precisions"):
        CompilationSettings.from_options({"zzzzzz": 1})


@pytest.mark.parametrize("key,value", [
    ("debug", "yes"), ("min_block_size", 0), ("min_block_size", 2.5), ("min_block_size", True),
    ("optimization_level", 6), ("optimization_level", "3"), ("enabled_precisions", {torch.float64}),
    ("enabled_precisions", set()), ("torch_executed_ops", {"sub"}), ("torch_executed_ops", 3),
    ("workspace_size", -1), ("device", "tpu:7"), ("dryrun", 1), ("use_python_runtime", 1),
    ("num_avg_timing_iters", 0), ("timing_cache_path", 3), ("timing_cache_path", __file__), ("use_fp32_acc", 1),
    ("use_fp32_acc", False)])
def test_wrong_types_name_the_key(key, value):
    with pytest.raises(tf.InvalidArgumentError, match=f"option '{key}' must be"):
        CompilationSettings.from_options({key: value})


def test_backend_rejects_bad_options_at_compile_time():
    f = torch.compile(lambda x: x + 1, backend="tensorforge", options={"min_blok_size": 1})
    with pytest.raises(Exception, match="did you mean 'min_block_size'"):
        f(torch.randn(2))
