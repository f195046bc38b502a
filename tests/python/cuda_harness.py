"""Harness for the CUDA kernel tests: build one network for the CPU and for CUDA, run both on the
same inputs, and compare the CUDA results with the CPU kernels (the reference) under the
per-dtype tolerances of layer_harness."""

import torch

import tensorforge as tf
from tensorforge.testing.networks import network_of
from layer_harness import TOLERANCE


def both(build, inputs, replay_atol=None, **config):
    """Outputs of the network `build` adds, run by the CPU engine and by the CUDA engine (built with the
    BuilderConfig options `config`). `replay_atol` replaces the dtype's tolerance for the CUDA graph
    replay check, for kernels whose result legitimately varies between runs (float atomics)."""
    net = network_of(build, inputs)
    cpu = tf.Builder(tf.BuilderConfig(device="cpu")).build(net)(*inputs)
    engine = tf.Builder(tf.BuilderConfig(device="cuda", **config)).build(net)
    on_gpu = [t.cuda() for t in inputs]
    gpu = [g.cpu() for g in engine(*on_gpu)]
    # The first call runs the kernels and captures a CUDA graph; the second replays it (into new
    # output buffers, so through the staging copies) and must agree.
    for again, first in zip(engine(*on_gpu), gpu):
        if replay_atol is None:
            close(again.cpu(), first, "CUDA graph replay")
        else:
            torch.testing.assert_close(again.cpu(), first, atol=replay_atol, rtol=0, msg="CUDA graph replay")
    return cpu, gpu


def close(gpu, cpu, msg):
    assert gpu.dtype == cpu.dtype and gpu.shape == cpu.shape, msg
    if cpu.dtype.is_floating_point:
        atol, rtol = TOLERANCE[cpu.dtype]
        torch.testing.assert_close(gpu, cpu, atol=atol, rtol=rtol, equal_nan=True, msg=lambda m: f"{msg}: {m}")
    else:
        assert torch.equal(gpu, cpu), msg


def check(build, inputs, msg):
    """Runs `build` on both devices and compares every output with close()."""
    cpu, gpu = both(build, inputs)
    cpu = [torch.as_tensor(c) for c in cpu]  # the CPU engine returns NumPy arrays when given no torch input
    assert len(cpu) == len(gpu), msg
    for i, (g, c) in enumerate(zip(gpu, cpu)):
        close(g, c, f"{msg} [out{i}]")
