"""The demo's models on the CPU, TensorForge against eager in one process: calls interleaved (best of
`--calls`, three rounds, the best round kept) and each engine's per-layer profile summed by layer
kind and kernel, so that a speed-up can be placed. float32, PyTorch's thread count.

    python3 benchmarks/cpu_models.py --models encoder resnet18 --batch 1
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
import compile_demo  # noqa: E402 - the demo's models and inputs
from cpu_activations import best_ms  # noqa: E402 - best of N calls after a warm-up

import tensorforge  # noqa: E402,F401 - registers the backend
from tensorforge.dynamo.backend import COMPILED  # noqa: E402


def engine_profile(runs: int = 20) -> list[tuple[float, str]]:
    """(ms a call, "kind kernel") summed over the layers of the engines of the last compiled graph."""
    rows: dict[str, float] = {}
    for _, module in COMPILED[-1]().named_modules():
        if type(module).__name__ != "EngineModule":
            continue
        inputs = [torch.randn(s.shape, dtype=s.model_dtype) if s.model_dtype.is_floating_point
                  else torch.randint(0, 100, tuple(s.shape), dtype=s.model_dtype) for s in module.inputs]
        for r in module.engine.profile(*inputs, runs=runs):
            key = f"{r['kind']} {r['tactic']}"
            rows[key] = rows.get(key, 0.0) + r["ms"]
    return sorted(((ms, k) for k, ms in rows.items()), reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(compile_demo.MODELS), choices=list(compile_demo.MODELS))
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {time.strftime('%Y-%m-%d')}")
    for name in args.models:
        model, x = compile_demo.prepared(name, args.batch, torch.device("cpu"))
        fast = torch.compile(model, backend="tensorforge", dynamic=False)
        with torch.no_grad():
            fast(x)
            model(x)
            rounds = [(best_ms(lambda: model(x), args.calls), best_ms(lambda: fast(x), args.calls)) for _ in range(3)]
            eager, ours = min(r[0] for r in rounds), min(r[1] for r in rounds)
            print(f"{name} b{args.batch}: eager {eager:.2f} ms, TensorForge {ours:.2f} ms ({eager / ours:.2f}x)")
            for ms, what in engine_profile()[:8]:
                print(f"  {ms:7.2f} ms  {what}")


if __name__ == "__main__":
    main()
