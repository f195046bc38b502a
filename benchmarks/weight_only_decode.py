"""Issue 13's weight-only bar: a LLaMA-style decoder (random weights, float16) at batch 1 taking
one token, the step of decoding that reads every weight once, compiled with TensorForge in float16
and after `tensorforge.quantize(weight_only=True)` (int8 linear weights per output channel), with
eager float16 and inductor reduce-overhead beside them in the same process. ms per call by CUDA
events (median of repeats); the relative error of each output against eager float16's.

The default shape is LLaMA-7B's layer (hidden 4096, MLP 11008, 32 query heads over 32 key/value
heads) cut to 8 layers: 1.6 G weights, 3.2 GB in float16. The step runs without a KV cache (one
token, no earlier ones), so attention is trivial and the linear layers' weights are what it reads.

    python3 benchmarks/weight_only_decode.py [--layers 8] [--hidden 4096] [--ffn 11008] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cuda_timing import median_ms  # noqa: E402


def make_model(layers: int, hidden: int, ffn: int, heads: int, kv_heads: int):
    import transformers as t

    cfg = t.LlamaConfig(hidden_size=hidden, intermediate_size=ffn, num_hidden_layers=layers,
                        num_attention_heads=heads, num_key_value_heads=kv_heads, vocab_size=32000,
                        max_position_embeddings=2048, use_cache=False)
    torch.manual_seed(0)
    model = t.LlamaModel(cfg).to("cuda", torch.float16).eval()
    return model


class LastHidden(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, ids):
        return self.model(input_ids=ids, use_cache=False).last_hidden_state


def compile_and_time(name, module, ids, options, repeats, calls, reference):
    torch._dynamo.reset()
    start = time.perf_counter()
    if name == "inductor":
        fn = torch.compile(module, mode="reduce-overhead", dynamic=False)
    else:
        import tensorforge  # noqa: F401 - registers the backend

        fn = torch.compile(module, backend="tensorforge", dynamic=False, options=options)
    with torch.no_grad():
        for _ in range(3):
            out = fn(ids)
        torch.cuda.synchronize()
        compile_s = time.perf_counter() - start
        ms = median_ms(lambda: fn(ids), repeats=repeats, calls=calls)
    err = ((out.float() - reference.float()).norm() / reference.float().norm()).item()
    return {"ms": round(ms, 4), "compile_s": round(compile_s, 1), "rel_err": err}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--hidden", type=int, default=4096)
    p.add_argument("--ffn", type=int, default=11008)
    p.add_argument("--heads", type=int, default=32)
    p.add_argument("--kv-heads", type=int, default=32)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--calls", type=int, default=50)
    p.add_argument("--no-inductor", action="store_true")
    p.add_argument("--json")
    args = p.parse_args()
    import tensorforge as tf

    module = LastHidden(make_model(args.layers, args.hidden, args.ffn, args.heads, args.kv_heads))
    ids = torch.randint(0, 32000, (1, 1), device="cuda")
    with torch.no_grad():
        reference = module(ids)
        eager_ms = median_ms(lambda: module(ids), repeats=args.repeats, calls=args.calls)
    linear_bytes = sum(m.weight.numel() * 2 for m in module.modules() if isinstance(m, torch.nn.Linear))
    row = {"device": torch.cuda.get_device_name(), "layers": args.layers, "hidden": args.hidden, "ffn": args.ffn,
           "linear_weight_MB": round(linear_bytes / 1e6, 1), "eager_ms": round(eager_ms, 4)}
    options = {"enabled_precisions": {torch.float16}, "min_block_size": 1}
    row["tensorforge_fp16"] = compile_and_time("tensorforge", module, ids, options, args.repeats, args.calls, reference)
    quantized = tf.quantize(module, weight_only=True, example_inputs=(ids,))
    row["tensorforge_int8_weights"] = compile_and_time("tensorforge", quantized, ids, options, args.repeats,
                                                       args.calls, reference)
    from tensorforge.dynamo import engine_modules

    text = engine_modules()[-1].engine.inspect()
    row["weight_only_layers"] = text.count("weight-only int8 matrix-vector")
    if not args.no_inductor:
        row["inductor"] = compile_and_time("inductor", module, ids, {}, args.repeats, args.calls, reference)
    fp16, int8 = row["tensorforge_fp16"]["ms"], row["tensorforge_int8_weights"]["ms"]
    row["int8_speedup"] = round(fp16 / int8, 3)
    # The copy-rate floor: reading the linear weights once (float16 and int8) at 4.2 TB/s (PEERS.md's copy rate).
    row["floor_ms_fp16_int8"] = [round(linear_bytes / 4.2e9, 4), round(linear_bytes / 2 / 4.2e9, 4)]
    print(json.dumps(row))
    print(f"{row['device']}: {args.layers} layers, hidden {args.hidden}, MLP {args.ffn}, "
          f"{row['linear_weight_MB']} MB of float16 linear weights; eager {eager_ms:.3f} ms, "
          f"TensorForge float16 {fp16:.3f} ms, int8 weights {int8:.3f} ms ({row['int8_speedup']}x; "
          f"{row['weight_only_layers']} weight-only layers), inductor "
          f"{row.get('inductor', {}).get('ms', 'not run')} ms; errors "
          f"{row['tensorforge_fp16']['rel_err']:.2e} / {row['tensorforge_int8_weights']['rel_err']:.2e}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(row, f, indent=1)


if __name__ == "__main__":
    main()
