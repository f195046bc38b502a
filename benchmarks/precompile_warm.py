"""Warm compiles with dynamo's precompile cache (docs/backend.md, "Skipping dynamo's tracing"):
for each model, three new processes in turn, each timing `torch.compile` to the third call
returning (cuda_models.compiled) after a first use of dynamo on a one-line CPU function:

1. cold: caches in a fresh folder, `torch._dynamo.config.caching_precompile` on, and
   `tensorforge.dynamo.precompile.save_cache_artifacts()` (PyTorch's, with the entries of
   Hugging Face's decorated forwards mended) after the calls;
2. warm: TensorForge's caches (kernels, plans, traces) and the engine cache warm, dynamo traces
   again (issue 9's warm compile; `caching_precompile` on over an empty dynamo cache folder, since
   with the flag on the backend compiles each graph as a restored one, whose cache keys differ);
3. precompiled: the same with `caching_precompile` on, so dynamo reads the first process's
   bytecode and guards instead of tracing, and the backend compiles each graph on its first call.

The third output must equal the second's (same weights, same inputs): the largest difference is
printed. TensorForge with the engine cache on in every process, and with the precompile cache on,
`tensorforge.dynamo.precompile.restorable_guards` as dynamo's guard filter (Hugging Face's models
otherwise fail to load their entries).

    python3 benchmarks/precompile_warm.py [--models bert gpt2] [--batch 1] [--device cuda]

(default: the five models of shared/PEERS.md at batch 1, issue 12's measure)
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import tempfile

import model_zoo
from child_process import call_in_child


def compile_once(name: str, batch: int, precompile: bool, save: bool, device: str = "cuda") -> dict:
    """In this (new) process: the model compiled with TensorForge; seconds to the third call, the
    dynamo cache's counters, graphs the backend compiled, and the output's sum and first values."""
    import torch

    import cuda_models as c
    import model_zoo

    c.TF_OPTIONS.update(c.ENGINE_CACHE)
    if device == "cpu":  # a smoke run on a machine without a GPU, in float32
        c.TF_OPTIONS["enabled_precisions"] = {torch.float32}
        torch.cuda.synchronize = lambda: None
    model, inputs = model_zoo.make_model(name, batch, device=device,
                                         dtype=torch.float16 if device == "cuda" else torch.float32)
    first = c.first_use_of_dynamo()
    from tensorforge.dynamo.backend import STATS

    torch._dynamo.config.caching_precompile = precompile
    if precompile:  # Hugging Face's decorated forwards: guards PyTorch's cache cannot restore left out
        from tensorforge.dynamo.precompile import restorable_guards

        c.TF_OPTIONS["guard_filter_fn"] = restorable_guards  # (torch.compile takes it out of the dict)
    graphs = STATS["graphs"]
    timings = {}
    _, seconds, out = c.compiled(model, inputs, "tensorforge", timings)
    if save:  # PyTorch's save, after mending what dynamo records wrongly for decorated forwards
        from tensorforge.dynamo.precompile import save_cache_artifacts

        save_cache_artifacts()
    from torch._dynamo.utils import counters
    from tensorforge.dynamo.backend import reports_since

    stages = collections.Counter()  # the backend's seconds per stage, over the graphs compiled here
    for report in reports_since(graphs):
        stages.update(report.seconds)

    out = model_zoo.first_tensor(out).float()
    return {"seconds": round(seconds, 3), "first_output_s": round(timings["first_output_s"], 3),
            "dynamo_first_use_s": round(first, 3),
            "dynamo_cache": dict(counters.get("dynamo_cache", {})), "graphs_compiled": STATS["graphs"] - graphs,
            "captured": dict(counters["stats"]).get("unique_graphs", 0),
            "backend_stages_s": {k: round(v, 3) for k, v in stages.items()},
            "out_head": out.flatten()[:64].tolist(), "out_abs_sum": out.abs().sum().item()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=model_zoo.PEERS)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--json")
    args = p.parse_args()
    rows = []
    for name in args.models:
        with tempfile.TemporaryDirectory() as cache:
            os.environ["XDG_CACHE_HOME"] = cache  # TensorForge's caches and the engine cache
            runs = {}
            for mode, pre, save in (("cold", True, True), ("warm", True, False), ("precompiled", True, False)):
                # warm: dynamo's cache in an empty folder, so dynamo traces again while the backend
                # finds its caches as filled by the cold process (which compiled with the flag on)
                os.environ["TORCHINDUCTOR_CACHE_DIR"] = os.path.join(cache, "inductor-empty" if mode == "warm"
                                                                     else "inductor")
                runs[mode] = call_in_child("precompile_warm", "compile_once", (name, args.batch, pre, save, args.device),
                                           f"{name} {mode}")
        row = {"model": name, "batch": args.batch}
        for mode, r in runs.items():
            if r is not None:
                row[mode] = {k: v for k, v in r.items() if k != "out_head"}
        if runs["warm"] and runs["precompiled"]:
            row["max_diff_precompiled_vs_warm"] = max(abs(a - b) for a, b in zip(runs["warm"]["out_head"],
                                                                                  runs["precompiled"]["out_head"]))
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\n| model | batch | cold s | warm s (dynamo traces) | precompiled s | precompiled: first output s "
          "| dynamo cache | graphs dynamo traced warm / precompiled (its first use's one included) | max diff |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        get = lambda mode, key: r.get(mode, {}).get(key, "")  # noqa: E731
        print(f"| {r['model']} | {r['batch']} | {get('cold', 'seconds')} | {get('warm', 'seconds')} | "
              f"{get('precompiled', 'seconds')} | {get('precompiled', 'first_output_s')} | "
              f"{get('precompiled', 'dynamo_cache')} | "
              f"{get('warm', 'captured')} / {get('precompiled', 'captured')} | "
              f"{r.get('max_diff_precompiled_vs_warm', '')} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
