"""Issue 14's CPU models, TensorForge against eager in one process: calls interleaved (best of
`--calls`, three rounds, the best round kept) and each engine's per-layer profile summed by layer
kind and kernel, so that a speed-up can be placed. float32, PyTorch's thread count. The models: the
demo's two (resnet18, encoder) and three more from transformers with random weights (mobilenet_v2,
gpt2: GPT-2 small over 128 tokens, vit_small: ViT-S/16 at 224x224); `--inductor` also times
torch.compile's default backend.

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


class LastHidden(torch.nn.Module):
    """A transformers model called with one tensor, returning its last_hidden_state."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x).last_hidden_state


def _transformers_extra(name: str, batch: int):
    import transformers as t

    from model_zoo import _calibrate_batch_norms

    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    if name == "gpt2":
        model = t.GPT2Model(t.GPT2Config(use_cache=False))
        return LastHidden(model).eval(), torch.randint(0, 50257, (batch, 128), generator=gen)
    if name == "vit_small":
        cfg = t.ViTConfig(hidden_size=384, num_hidden_layers=12, num_attention_heads=6, intermediate_size=1536)
        return LastHidden(t.ViTModel(cfg, add_pooling_layer=False)).eval(), torch.randn(batch, 3, 224, 224, generator=gen)
    model = LastHidden(t.MobileNetV2Model(t.MobileNetV2Config(), add_pooling_layer=False))
    _calibrate_batch_norms(model, torch.randn(4, 3, 224, 224, generator=torch.Generator().manual_seed(2)))
    return model.eval(), torch.randn(batch, 3, 224, 224, generator=gen)


EXTRA = ["mobilenet_v2", "gpt2", "vit_small"]
MODELS = list(compile_demo.MODELS) + EXTRA


def prepared(name: str, batch: int):
    if name in EXTRA:
        return _transformers_extra(name, batch)
    return compile_demo.prepared(name, batch, torch.device("cpu"))


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
    parser.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--profile", type=int, default=8, help="rows of the engines' per-layer profile to print")
    parser.add_argument("--inductor", action="store_true", help="also time torch.compile's default backend")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {time.strftime('%Y-%m-%d')}")
    for name in args.models:
        model, x = prepared(name, args.batch)
        fast = torch.compile(model, backend="tensorforge", dynamic=False)
        calls = {"eager": lambda: model(x), "TensorForge": lambda: fast(x)}
        with torch.no_grad():
            start = time.perf_counter()
            diff = compile_demo.largest_difference(fast(x), model(x))
            build = time.perf_counter() - start
            if args.inductor:
                torch._dynamo.reset()
                inductor = torch.compile(model, dynamic=False)
                inductor(x)
                calls["inductor"] = lambda: inductor(x)
            rounds = [{k: best_ms(fn, args.calls) for k, fn in calls.items()} for _ in range(3)]
            best = {k: min(r[k] for r in rounds) for k in calls}
            line = ", ".join(f"{k} {ms:.2f} ms" for k, ms in best.items())
            print(f"{name} b{args.batch}: {line} ({best['eager'] / best['TensorForge']:.2f}x eager; "
                  f"first call {build:.1f} s, max diff {diff:.1e})", flush=True)
            if args.inductor:
                torch._dynamo.reset()
                fast = torch.compile(model, backend="tensorforge", dynamic=False)
                fast(x)
            for ms, what in engine_profile()[:args.profile]:
                print(f"  {ms:7.2f} ms  {what}")

if __name__ == "__main__":
    main()
