"""Dynamic shapes benchmark (issue 11's bar): for each model, TensorForge's dynamic engine against
its static engines, beside inductor with dynamic=True, in one process.

For each model (float16 on CUDA, random weights, benchmarks/model_zoo.py) and each dynamic dim
(the batch, 1..64 with opt 32; for transformers also the sequence, 16..512 with opt 128):

- static: torch.compile(dynamic=False) at opt and at the smallest size: ms per call;
- dynamic: torch.compile with the dim marked dynamic (torch._dynamo.mark_dynamic(x, dim, min, max)),
  compiled at opt: ms per call at opt and at the smallest size (its DynamicEngineModule called
  directly where dynamo itself would send size 1 to a static graph), relative error against float32
  at two sizes off opt (7 and 50; seq 40 and 500), and a sweep over 20 sizes in the range (not called before) counting
  compilations (graphs) and plans, the first call's time at each new size, and where the last new
  size's plan spent its build (JSON: last_plan_build_ms);
- inductor: torch.compile(mode="reduce-overhead", dynamic=True), ms per call at opt and smallest.

    python3 benchmarks/dynamic_shapes.py [--models resnet50 bert ...] [--dims batch seq] [--json out.json]
                                         [--device cpu]   (a CPU smoke run: float32, perf_counter)
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
import warnings

import torch

from model_zoo import PEERS, TRANSFORMERS, first_tensor, make_model

RANGES = {"batch": (0, 1, 32, 64, (7, 50)), "seq": (1, 16, 128, 512, (40, 500))}
"""dim -> (input dim, min, opt, max, sizes checked for correctness)."""


def ms_per_call(fn, device: str, repeats: int, calls: int) -> float:
    """Median over `repeats` of the mean time of `calls` back-to-back calls, after 3 warm-up calls."""
    if device == "cuda":
        from cuda_timing import median_ms

        return median_ms(fn, repeats, calls)
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - start) * 1e3 / calls)
    return statistics.median(times)


def resized(inputs, dim: int, n: int):
    """The example inputs with dim `dim` of each (same-rank) input made n long (new random values)."""
    out = []
    for x in inputs:
        shape = list(x.shape)
        shape[dim] = n
        if x.is_floating_point():
            out.append(torch.randn(shape, dtype=x.dtype, device=x.device))
        else:
            out.append(torch.randint(0, 1000, shape, dtype=x.dtype, device=x.device))
    return tuple(out)


def rel_err(out, ref) -> float:
    out, ref = first_tensor(out).double(), first_tensor(ref).double()
    return ((out - ref).norm() / ref.norm().clamp_min(1e-30)).item()


def first_calls_ms(fn, calls, device: str) -> list[float]:
    """[median, max] over `calls` (each an argument tuple at a size not called before) of the first
    call's wall time in ms: what a new shape costs (a plan built, a CUDA graph captured)."""
    times = []
    for args in calls:
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn(*args)
        if device == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1e3)
    return [statistics.median(times), max(times)]


def float32_of(model, inputs):
    """The model's output computed in float32 from the same (float16) weights and inputs."""
    import copy

    m32 = copy.deepcopy(model).float()
    with torch.no_grad():
        return m32(*[x.float() if x.is_floating_point() else x for x in inputs])


def compile_tf(model, dynamic):
    import tensorforge  # noqa: F401 - registers the backend

    torch._dynamo.reset()
    options = {"enabled_precisions": {torch.float16}} if next(model.parameters()).dtype == torch.float16 else {}
    return torch.compile(model, backend="tensorforge", dynamic=dynamic, options=options)


def run_one(name: str, dim_name: str, device: str, repeats: int, calls: int) -> dict:
    from tensorforge.dynamo import STATS, engine_modules
    from tensorforge.dynamo.runtime.dynamic_engine_module import DynamicEngineModule

    dim, lo, opt, hi, checks = RANGES[dim_name]
    dtype = torch.float16 if device == "cuda" else torch.float32
    model, base = make_model(name, opt if dim_name == "batch" else 8, device=device, dtype=dtype)
    if dim_name == "seq":
        base = resized(base, 1, opt)
    small = resized(base, dim, lo)
    row = {"model": name, "dim": dim_name, "range": [lo, opt, hi]}
    timed = lambda f, args: ms_per_call(lambda: f(*args), device, repeats, calls)  # noqa: E731
    with torch.no_grad():
        for label, args in (("opt", base), ("small", small)):
            fn = compile_tf(model, dynamic=False)
            fn(*args)
            row[f"static_{label}_ms"] = timed(fn, args)
        fn = compile_tf(model, dynamic=None)
        marked = tuple(x.clone() for x in base)
        for x in marked:
            torch._dynamo.mark_dynamic(x, dim, min=lo, max=hi)
        graphs0 = STATS["graphs"]
        start = time.perf_counter()
        fn(*marked)
        row["dynamic_compile_s"] = time.perf_counter() - start
        modules = [m for m in engine_modules() if isinstance(m, DynamicEngineModule)]
        row["dynamic_engines"] = len(modules)
        row["sizes"] = {k: list(v) for m in modules for k, v in m.engine.sizes.items()}
        row["dynamic_opt_ms"] = timed(fn, base)
        whole = len(modules) == 1 and len(engine_modules()) == 1 and len(modules[0].inputs) == len(small)
        if whole and all(v[0] <= lo for v in row["sizes"].values()):
            # the whole model is the one engine (taking just the user's inputs, no lifted buffers): its
            # smallest size without dynamo's own specialization
            row["dynamic_small_ms"] = timed(lambda *a: modules[0](*a), small)
        row["dynamic_small_via_dynamo_ms"] = timed(fn, small)
        for n in checks:
            args = resized(base, dim, n)
            row[f"rel_err_{n}"] = rel_err(fn(*args), float32_of(model, args))
            row[f"eager_rel_err_{n}"] = rel_err(model(*args), float32_of(model, args))
        seen = {lo, opt, *checks}
        sweep = random.Random(0).sample([n for n in range(lo, hi + 1) if n not in seen], 20)
        row["sweep_first_call_ms"] = first_calls_ms(fn, [resized(base, dim, n) for n in sweep], device)
        row["sweep_graphs"] = STATS["graphs"] - graphs0
        row["sweep_plans"] = sum(m.engine.plans_built for m in modules)
        if modules and modules[0]._plans:  # where the last new size's plan spent its build (stage -> ms)
            last = next(reversed(modules[0]._plans.values()))
            row["last_plan_build_ms"] = {k: round(v, 1) for k, v in dict(last.engine.build_times).items()}
        torch._dynamo.reset()
        if device == "cuda":
            ind = torch.compile(model, mode="reduce-overhead", dynamic=True)
            ind(*base)
            row["inductor_opt_ms"] = timed(ind, base)
            row["inductor_small_ms"] = timed(ind, small)
            row["inductor_sweep_first_call_ms"] = first_calls_ms(ind, [resized(base, dim, n) for n in sweep], device)
            torch._dynamo.reset()
    return row


def new_size_ms(row: dict) -> str:
    """The median first-call ms at a new size, TensorForge / inductor."""
    tf = f"{row['sweep_first_call_ms'][0]:.1f}"
    return tf + (f"/{row['inductor_sweep_first_call_ms'][0]:.1f}" if "inductor_sweep_first_call_ms" in row else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=PEERS)
    parser.add_argument("--dims", nargs="+", default=["batch", "seq"], choices=sorted(RANGES))
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--json", help="also write the rows as JSON to this path")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)
    rows = []
    for name in args.models:
        for dim in args.dims:
            if dim == "seq" and name not in TRANSFORMERS:
                continue
            try:
                row = run_one(name, dim, args.device, args.repeats, args.calls)
            except Exception as e:  # noqa: BLE001 - report and go on
                row = {"model": name, "dim": dim, "error": f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"}
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(f"\n{'model':<20} {'dim':<6} {'static opt':>10} {'dyn opt':>8} {'ratio':>6} {'static small':>12} "
          f"{'dyn small':>9} {'ratio':>6} {'graphs':>6} {'inductor opt/small':>18} {'new size ms TF/ind':>20}")
    for r in rows:
        if "error" in r:
            print(f"{r['model']:<20} {r['dim']:<6} {r['error']}")
            continue
        small = r.get("dynamic_small_ms", r["dynamic_small_via_dynamo_ms"])
        ind = f"{r['inductor_opt_ms']:.3f}/{r['inductor_small_ms']:.3f}" if "inductor_opt_ms" in r else "-"
        print(f"{r['model']:<20} {r['dim']:<6} {r['static_opt_ms']:>10.3f} {r['dynamic_opt_ms']:>8.3f} "
              f"{r['dynamic_opt_ms'] / r['static_opt_ms']:>6.2f} {r['static_small_ms']:>12.3f} {small:>9.3f} "
              f"{small / r['static_small_ms']:>6.2f} {r['sweep_graphs']:>6} {ind:>18} {new_size_ms(r):>20}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
