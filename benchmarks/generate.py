"""Text generation with Hugging Face's static cache (docs/backend.md, "Generating text"): a
LLaMA-style decoder with random weights, `model.generate()` with greedy decoding and
`cache_implementation="static"`, its `forward` compiled by each backend in one process; eager beside
them. Per backend: seconds from the compile to the first generate() returning (compiles included),
milliseconds per new token over later calls (the prompt's step included, best of repeats), the
graphs TensorForge compiled and what they left in PyTorch, and whether the tokens equal eager's.

The default shape is the broad set's llama (hidden 2048, MLP 5632, 32 query heads over 8 key/value
heads, 8 layers; about 0.5 G weights in float16) with a 128-token prompt at batch 1, 64 new tokens.

    python3 benchmarks/generate.py [--backends eager inductor tensorforge] [--device cuda]
                                   [--batch 1] [--prompt 128] [--new 64] [--json out.json]

On a machine without a GPU, `--device cpu --small` checks the route in float32 on a small
configuration.
"""

from __future__ import annotations

import argparse
import json
import time

import torch


def make_model(device: str, dtype: torch.dtype, small: bool):
    import transformers as t

    if small:
        cfg = t.LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                            num_key_value_heads=2, vocab_size=512, max_position_embeddings=512)
    else:
        cfg = t.LlamaConfig(hidden_size=2048, intermediate_size=5632, num_hidden_layers=8, num_attention_heads=32,
                            num_key_value_heads=8, vocab_size=32000, max_position_embeddings=2048)
    cfg.pad_token_id, cfg.bos_token_id, cfg.eos_token_id = 0, 1, 2
    torch.manual_seed(0)
    return t.LlamaForCausalLM(cfg).to(device, dtype).eval(), cfg.vocab_size


def generate(model, ids, new: int):
    return model.generate(ids, max_new_tokens=new, min_new_tokens=new, do_sample=False,
                          cache_implementation="static")


def run(backend: str, model, ids, new: int, repeats: int, device: str, dtype: torch.dtype) -> dict:
    import torch._dynamo

    from tensorforge.dynamo.backend import STATS, reports_since

    torch._dynamo.reset()
    forward = model.forward
    graphs = STATS["graphs"]
    if backend == "inductor":
        model.forward = torch.compile(forward, mode="reduce-overhead", dynamic=False)
    elif backend == "tensorforge":
        model.forward = torch.compile(forward, backend="tensorforge", dynamic=False,
                                      options={"enabled_precisions": {dtype}})
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    try:
        start = time.perf_counter()
        with torch.no_grad():
            tokens = generate(model, ids, new)
        sync()
        first = time.perf_counter() - start
        best = float("inf")
        for _ in range(repeats):
            sync()
            start = time.perf_counter()
            with torch.no_grad():
                generate(model, ids, new)
            sync()
            best = min(best, time.perf_counter() - start)
    finally:
        model.forward = forward
    row = {"backend": backend, "first_generate_s": round(first, 3), "ms_per_token": round(best / new * 1e3, 3),
           "tokens": tokens}
    if backend == "tensorforge":
        reports = reports_since(graphs)
        row["graphs"] = len(reports)
        row["engines"] = sum(len(r.engines) for r in reports)
        row["left_in_pytorch"] = sorted({op for r in reports for op in r.unsupported})
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backends", nargs="+", default=["eager", "inductor", "tensorforge"])
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--prompt", type=int, default=128)
    p.add_argument("--new", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--small", action="store_true", help="a small configuration (a check, not a measure)")
    p.add_argument("--json")
    args = p.parse_args()

    import tensorforge  # noqa: F401 - registers the backend

    dtype = torch.float16 if args.device == "cuda" else torch.float32
    model, vocab = make_model(args.device, dtype, args.small)
    ids = torch.randint(3, vocab, (args.batch, args.prompt), generator=torch.Generator().manual_seed(1)).to(args.device)
    rows = [run(b, model, ids, args.new, args.repeats, args.device, dtype) for b in args.backends]
    reference = next((r["tokens"] for r in rows if r["backend"] == "eager"), None)
    for r in rows:
        r["tokens_equal_eager"] = None if reference is None else bool(torch.equal(r.pop("tokens"), reference))
        r.pop("tokens", None)
        print(json.dumps(r), flush=True)
    print(f"\n| backend | first generate() s | ms per new token | tokens equal eager's |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['backend']} | {r['first_generate_s']} | {r['ms_per_token']} | {r['tokens_equal_eager']} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
