"""GPU benchmark: the models of shared/PEERS.md (or the broader set of benchmarks/model_zoo.py) at
float16 (random weights) under PyTorch eager, inductor with mode="reduce-overhead", and TensorForge,
in one process on one GPU.

For every model and batch size it prints the time per call of each (median of `--repeats`
repetitions of `--calls` calls, timed with CUDA events after 3 warm-up calls, as in PEERS.md), the
compile time (seconds from torch.compile to the third call returning), how the graph was split
(engines, ops left to PyTorch) and the relative error of eager float16, inductor and TensorForge
against a float32 run of the same (float16) weights.

    python3 benchmarks/cuda_models.py [--set peers|broad] [--models resnet50 bert ...] [--batches 1 32]
                                      [--backends eager inductor tensorforge] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings

import torch

from cuda_timing import kernel_profile, median_ms

from model_zoo import ALL, BROAD, PEERS, first_tensor, make_model


TF_OPTIONS = {"enabled_precisions": {torch.float16}}
"""TensorForge's options in every compile; --engine-cache adds the engine cache's."""
ENGINE_CACHE = {"cache_built_engines": True, "reuse_cached_engines": True}


def compiled(model, inputs, backend: str, timings: dict | None = None):
    """The compiled callable and its compile time (torch.compile to the third call returning);
    `timings`, if given, gets "first_output_s": seconds from the first call to its output."""
    torch._dynamo.reset()
    start = time.perf_counter()
    if backend == "inductor":
        fn = torch.compile(model, mode="reduce-overhead", dynamic=False)
    else:
        import tensorforge  # noqa: F401 - registers the backend

        fn = torch.compile(model, backend="tensorforge", dynamic=False, options=TF_OPTIONS)
    with torch.no_grad():
        for i in range(3):
            first = time.perf_counter()
            out = fn(*inputs)
            if i == 0 and timings is not None:
                torch.cuda.synchronize()
                timings["first_output_s"] = time.perf_counter() - first
    torch.cuda.synchronize()
    return fn, time.perf_counter() - start, out


def host_ms(fn, calls: int = 50) -> float:
    """Milliseconds per call the host takes to issue `calls` back-to-back calls (no wait inside): when
    it nears the timed ms per call, the call is host-bound, not device-bound."""
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    elapsed = time.perf_counter() - start
    torch.cuda.synchronize()
    return elapsed * 1e3 / calls


def compile_parts(reports) -> dict:
    """Seconds per compile phase (lower, partition, convert, build) and per part of the engine
    builds ("optimize", "kernels <tactic>", "memory"), summed over the graphs' reports, largest
    first; the rest of the compile time is dynamo's tracing and the first calls."""
    total = {}
    for r in reports:
        for k, v in list(r.seconds.items()) + [(k, ms / 1e3) for k, ms in r.build_ms().items()]:
            total[k] = total.get(k, 0.0) + v
    return {k: round(v, 3) for k, v in sorted(total.items(), key=lambda kv: -kv[1])}


def rel_err(out, ref) -> float:
    """Norm of the difference over the norm of the reference, in float64."""
    out, ref = out.double(), ref.double()
    return ((out - ref).norm() / ref.norm()).item()


def float32_reference(model, inputs):
    """The main output of `model` run in float32 with the same (float16-rounded) weights and inputs:
    the exact answer the float16 runs approximate. Float16 itself strays from it by an amount that
    depends on the model (about 2-3% for ResNet-50 with calibrated batch norms, where eager float16
    and TensorForge then differ from each other by as much), so each backend's error is measured
    against this reference rather than against eager float16."""
    import copy

    ref_model = copy.deepcopy(model).float()
    ref_inputs = [x.float() if x.is_floating_point() else x for x in inputs]
    out = first_tensor(ref_model(*ref_inputs)).float()
    del ref_model
    return out


def first_use_of_dynamo() -> float:
    """Seconds to compile and call a one-line function with the tensorforge backend on a CPU
    tensor: dynamo's first use in a process (its imports and set-up, which any backend pays once),
    without touching the GPU's libraries. The compile times of the main process come after
    inductor's compiles, where dynamo is set up already; warm_compile's new process calls this
    first, so that its time compares with those."""
    import tensorforge  # noqa: F401 - registers the backend

    start = time.perf_counter()
    fn = torch.compile(lambda x: x * 2 + 1, backend="tensorforge", dynamic=False)
    fn(torch.ones(4))
    seconds = time.perf_counter() - start
    torch._dynamo.reset()
    return seconds


def warm_compile(name: str, batch: int, backend: str = "tensorforge",
                 engine_cache: bool = False) -> tuple[float | None, dict, float | None]:
    """`backend`'s compile time for `name` in a new process, which finds on disk what this one
    compiled and chose (TensorForge: generated kernels, convolution plans, traces; inductor: its FX
    graph, autograd and kernel caches), that compile's parts (as compile_parts; TensorForge only)
    and the process's first use of dynamo before it (first_use_of_dynamo); (None, {}, None) when
    that process fails. The process first imports torch, the model's library and
    tensorforge, makes the model and uses dynamo once on the CPU; the time counts from
    torch.compile, so it includes the CUDA libraries' first handles."""
    import subprocess

    code = ("import sys, json, torch; sys.path.insert(0, %r); import cuda_models as c, model_zoo as z; "
            "from tensorforge.dynamo.backend import STATS, reports_since; " % os.path.dirname(os.path.abspath(__file__)))
    code += "c.TF_OPTIONS.update(c.ENGINE_CACHE); " if engine_cache else ""
    if "optimization_level" in TF_OPTIONS:
        code += "c.TF_OPTIONS['optimization_level'] = %d; " % TF_OPTIONS["optimization_level"]
    code += ("model, inputs = z.make_model(%r, %d); print('FIRST', c.first_use_of_dynamo()); n = STATS['graphs']; "
             "print('SECONDS', c.compiled(model, inputs, %r)[1]); "
             "print('PARTS', json.dumps(c.compile_parts(reports_since(n))))" % (name, batch, backend))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    lines = {ln.split()[0]: ln.split(None, 1)[1] for ln in r.stdout.splitlines()
             if ln.startswith(("FIRST ", "SECONDS ", "PARTS "))}
    if r.returncode != 0 or "SECONDS" not in lines:
        return None, {}, None
    return float(lines["SECONDS"]), json.loads(lines.get("PARTS", "{}")), float(lines["FIRST"])


def run_one(name: str, batch: int, backends, repeats: int, calls: int, profile: bool = False) -> dict:
    model, inputs = make_model(name, batch)
    row = {"model": name, "batch": batch}
    with torch.no_grad():
        ref = first_tensor(model(*inputs)).float()
        exact = float32_reference(model, inputs)
        row["eager_rel_err"] = rel_err(ref, exact)
        if "eager" in backends:
            row["eager_ms"] = median_ms(lambda: model(*inputs), repeats, calls)
        for backend in [b for b in backends if b != "eager"]:
            from tensorforge.dynamo.backend import STATS, reports_since

            graphs_before = STATS["graphs"]
            try:
                fn, secs, out = compiled(model, inputs, backend)
                row[f"{backend}_compile_s"] = secs
                row[f"{backend}_ms"] = median_ms(lambda: fn(*inputs), repeats, calls)
                row[f"{backend}_rel_err"] = rel_err(first_tensor(fn(*inputs)).float(), exact)
                if profile:
                    (row[f"{backend}_top_kernels"], row[f"{backend}_device_ms"],
                     row[f"{backend}_kernels_per_call"]) = kernel_profile(lambda: fn(*inputs))
                    row[f"{backend}_host_ms"] = host_ms(lambda: fn(*inputs))
                if backend == "tensorforge":
                    out = first_tensor(fn(*inputs)).float()
                    row["max_diff"] = (out - ref).abs().max().item()
                    row["ref_max"] = ref.abs().max().item()
                    reps = reports_since(graphs_before)
                    row["graphs"] = len(reps)
                    row["engines"] = sum(len(r.engines) for r in reps)
                    row["coverage"] = round(100.0 * sum(r.supported_ops for r in reps) /
                                            max(1, sum(r.total_ops for r in reps)), 1)
                    row["unsupported"] = sorted({op for r in reps for op in r.unsupported})
                    row["compile_parts_s"] = compile_parts(reps)
            except Exception as e:  # noqa: BLE001 - report and go on with the other models
                row[f"{backend}_error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
            torch._dynamo.reset()
    del model
    torch.cuda.empty_cache()
    return row


WRONG = 1e-2
"""TensorForge's float16 result is marked WRONG in the table when its relative error against the
float32 reference passes both this (the end-to-end tests' bound) and twice eager float16's own."""


def wrong(row) -> bool:
    err = row.get("tensorforge_rel_err")
    return err is not None and err > max(WRONG, 2 * row.get("eager_rel_err", 0.0))


def fmt(v, spec=".3f"):
    return "" if v is None else format(v, spec)


def warm_s(row, backend: str) -> str:
    """ " (s)" with `backend`'s warm compile time of the row, when --warm-compile measured it."""
    s = row.get(f"{backend}_warm_compile_s")
    return "" if s is None else f" ({s:.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=ALL, help="default: the --set's models")
    parser.add_argument("--set", choices=["peers", "broad"], default="peers",
                        help="peers: shared/PEERS.md's five (batches 1 and 32); broad: issue 9's wider set "
                             "(batch 8); see benchmarks/model_zoo.py")
    parser.add_argument("--batches", nargs="+", type=int, help="default: 1 32 for peers, 8 for broad")
    parser.add_argument("--backends", nargs="+", default=["eager", "inductor", "tensorforge"],
                        choices=["eager", "inductor", "tensorforge"])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--json", help="also write the rows as JSON to this path")
    parser.add_argument("--engine-cache", action="store_true",
                        help="compile TensorForge with cache_built_engines and reuse_cached_engines, so that "
                             "--warm-compile's new process takes its engines from the engine cache")
    parser.add_argument("--warm-compile", action="store_true",
                        help="after each row, compile the model with each compiling backend again in a new "
                             "process (its caches on disk now warm), after a first use of dynamo there on a "
                             "one-line CPU function, and report both times")
    parser.add_argument("--level", type=int, help="TensorForge's optimization_level (default: its default, 3)")
    parser.add_argument("--profile", action="store_true",
                        help="also list each compiled model's top CUDA kernels, its device time per call (all "
                             "kernels and copies) and its host time per call (issuing calls without waiting)")
    args = parser.parse_args()
    args.models = args.models or (PEERS if args.set == "peers" else BROAD)
    args.batches = args.batches or ([1, 32] if args.set == "peers" else [8])
    warnings.filterwarnings("ignore")
    if args.engine_cache:
        TF_OPTIONS.update(ENGINE_CACHE)
    if args.level is not None:
        TF_OPTIONS["optimization_level"] = args.level
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}, "
          f"{time.strftime('%Y-%m-%d')}", flush=True)
    rows = []
    for name in args.models:
        for batch in args.batches:
            row = run_one(name, batch, args.backends, args.repeats, args.calls, args.profile)
            if args.warm_compile and "tensorforge" in args.backends:
                (row["tensorforge_warm_compile_s"], row["warm_compile_parts_s"],
                 row["dynamo_first_use_s"]) = warm_compile(name, batch, "tensorforge", args.engine_cache)
            if args.warm_compile and "inductor" in args.backends:
                row["inductor_warm_compile_s"] = warm_compile(name, batch, "inductor")[0]
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if not k.endswith("top_kernels")}), flush=True)
            if "compile_parts_s" in row:
                warm = row.get("tensorforge_warm_compile_s")
                print(f"  tensorforge compile, {name} batch {batch} ({row['tensorforge_compile_s']:.1f} s"
                      + (f"; warm caches, new process: {warm:.1f} s after dynamo's first use there, "
                         f"{row['dynamo_first_use_s']:.1f} s" if warm is not None else "") + "): " +
                      ", ".join(f"{k} {v:.2f} s" for k, v in row["compile_parts_s"].items()))
                if row.get("warm_compile_parts_s"):
                    print("    warm: " + ", ".join(f"{k} {v:.2f} s" for k, v in row["warm_compile_parts_s"].items()))
            for key in [k for k in row if k.endswith("top_kernels")]:
                b = key.removesuffix("_top_kernels")
                print(f"  {b} top kernels, {name} batch {batch} (device {row[b + '_device_ms']:.3f} ms, "
                      f"host {row[b + '_host_ms']:.3f} ms, {row[b + '_kernels_per_call']:.0f} kernels a call):")
                for kname, ms, count in row[key]:
                    print(f"    {ms:8.3f} ms  x{count:<4d} {kname[:110]}")
    print("\n| model (fp16) | batch | eager ms | inductor r-o ms | TensorForge ms | compile s r-o / TF (warm) | max abs diff "
          "(max abs eager) | rel. error vs float32: eager / r-o / TF | engines, coverage |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        err = "; ".join(f"{k}: {v}" for k, v in r.items() if k.endswith("_error"))
        print(f"| {r['model']} | {r['batch']} | {fmt(r.get('eager_ms'))} | {fmt(r.get('inductor_ms'))} | "
              f"{fmt(r.get('tensorforge_ms'))} | {fmt(r.get('inductor_compile_s'), '.1f')}{warm_s(r, 'inductor')} / "
              f"{fmt(r.get('tensorforge_compile_s'), '.1f')}{warm_s(r, 'tensorforge')}"
              + f" | {fmt(r.get('max_diff'), '.2e')} "
              f"({fmt(r.get('ref_max'), '.3g')}) | {fmt(r.get('eager_rel_err'), '.1e')} / "
              f"{fmt(r.get('inductor_rel_err'), '.1e')} / {fmt(r.get('tensorforge_rel_err'), '.1e')} | "
              f"{r.get('engines', '')}, {r.get('coverage', '')}% |"
              + (f" {err}" if err else "") + (" WRONG" if wrong(r) else ""))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
