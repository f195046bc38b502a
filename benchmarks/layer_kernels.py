"""CUDA: which kernels the one-layer engines of benchmarks/memory_bound_cuda.py run, with each
kernel's device time per call (the CUDA profiler's), to see where a layer's time goes.

    python3 benchmarks/layer_kernels.py [--cases "top-8" "argmax"] [--dtype float16] [--calls 20]
"""

from __future__ import annotations

import argparse

import torch

import tensorforge as tf
from tensorforge.testing.networks import network_of

from memory_bound_cuda import case_list


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", default=[], help="case names starting so (default: all)")
    parser.add_argument("--dtype", default="float16", choices=["float16", "bfloat16", "float32"])
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    for name, inputs, build, fn in case_list(getattr(torch, args.dtype)):
        if args.cases and not any(name.startswith(c) for c in args.cases):
            continue
        inputs = [t.contiguous() for t in inputs]
        engine = tf.Builder(tf.BuilderConfig(device="cuda")).build(network_of(build, inputs))
        expected = fn(*inputs)
        results = [torch.empty_like(e) for e in (expected if isinstance(expected, (list, tuple)) else [expected])]
        ctx = engine.create_execution_context()
        for _ in range(3):
            ctx.execute(inputs, results)
        torch.cuda.synchronize()
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
            for _ in range(args.calls):
                ctx.execute(inputs, results)
            torch.cuda.synchronize()
        print(f"{name}: {engine.inspect().strip().splitlines()[-1][:160]}")
        for e in sorted(prof.key_averages(), key=lambda e: -e.self_device_time_total):
            if e.self_device_time_total > 0:
                print(f"  {e.self_device_time_total / args.calls:9.1f} us  x{e.count // args.calls:<3} {e.key[:110]}")


if __name__ == "__main__":
    main()
