"""Where a warm compile's seconds go: for each model, a first process compiles it with TensorForge
(filling the kernel, convolution-plan and trace caches on disk), then new processes compile it
again and report a timeline from `torch.compile` to the third call (each process first uses dynamo
once on a one-line CPU function, as `cuda_models.py --warm-compile` does, and reports that apart):
dynamo's tracing before the backend is entered, dynamo's tracing of later graphs between the
backend's calls (a model with graph breaks gives several), the backend's stages (lower, partition,
convert, build) summed over its calls, dynamo's work after the backend returns (guards, code), and
each of the first three calls. On CUDA two more warm processes: one without the backend's loading
of cuBLASLt and cuDNN on a helper thread beside the lowering, and one that first uses cuDNN and
cuBLAS through PyTorch ("libraries loaded by PyTorch"): the differences say what loading the
libraries costs inside a compile and how much of it the helper hides.

    python3 benchmarks/compile_timeline.py --models mobilenet_v3_large gpt2 --batch 1
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from child_process import call_in_child

HERE = os.path.dirname(os.path.abspath(__file__))


def child(name: str, batch: int, mode: str, device: str = "cuda", profile: int = 0) -> dict:
    """One compile in this process, as a timeline of seconds since torch.compile; with `profile`,
    also as text the `profile` most expensive functions (cProfile, cumulative) inside the backend
    and from its return to the first call's, and the engines' build parts."""
    import cProfile
    import io
    import pstats

    import torch

    sys.path.insert(0, HERE)
    import model_zoo
    import tensorforge.dynamo.backend as backend

    model, inputs = model_zoo.make_model(name, batch, device=device,
                                         dtype=torch.float16 if device == "cuda" else torch.float32)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    if mode == "no warm-up":  # the backend loads no library ahead on a helper thread
        backend._warm_up_libraries = lambda device: None
    if mode == "preloaded":  # cuDNN (convolution, attention) and cuBLAS(Lt) used once through PyTorch
        x = torch.randn(1, 8, 16, 16, device="cuda", dtype=torch.float16)
        torch.nn.functional.conv2d(x, torch.randn(8, 8, 3, 3, device="cuda", dtype=torch.float16))
        a = torch.randn(64, 64, device="cuda", dtype=torch.float16)
        torch.nn.functional.linear(a, a, a[0])
        q = torch.randn(1, 2, 64, 64, device="cuda", dtype=torch.float16)
        torch.nn.functional.scaled_dot_product_attention(q, q, q)
        torch.cuda.synchronize()
    # Dynamo's first use in the process (its imports and set-up, paid once by any backend) on a
    # one-line CPU function, outside the timeline, as in cuda_models.first_use_of_dynamo.
    import cuda_models

    first_use = cuda_models.first_use_of_dynamo()
    marks = {}
    original = backend.compile_graph
    # With `profile`: one profiler inside the backend, another outside it until the first call
    # returns (dynamo's work after the backend, the first call's own); one profiler runs at a time.
    profiler = cProfile.Profile() if profile else None
    after = cProfile.Profile() if profile else None
    first_call_done = []

    def timed(*args, **kwargs):
        entered = time.perf_counter()
        marks.setdefault("backend entered", entered - start)
        if profiler:
            after.disable()
            profiler.enable()
        try:
            return original(*args, **kwargs)
        finally:
            if profiler:
                profiler.disable()
                if not first_call_done:
                    after.enable()
            marks["backend returned"] = time.perf_counter() - start
            marks["inside the backend"] = marks.get("inside the backend", 0.0) + time.perf_counter() - entered
            marks["graphs"] = marks.get("graphs", 0) + 1

    backend.compile_graph = timed
    torch._dynamo.reset()
    graphs_before = backend.STATS["graphs"]
    start = time.perf_counter()
    precision = torch.float16 if device == "cuda" else torch.float32
    fn = torch.compile(model, backend="tensorforge", dynamic=False, options={"enabled_precisions": {precision}})
    with torch.no_grad():
        for i in range(3):
            fn(*inputs)
            sync()
            if after and i == 0:
                after.disable()
                first_call_done.append(True)
            marks[f"call {i + 1} done"] = time.perf_counter() - start
    stages, build_ms = {}, {}
    for r in backend.reports_since(graphs_before):
        for k, v in r.seconds.items():
            stages[k] = stages.get(k, 0.0) + v
        for k, v in r.build_ms().items():
            build_ms[k] = build_ms.get(k, 0.0) + v
    result = {"marks": marks, "stages": stages, "dynamo first use": first_use}
    if profiler:
        text = io.StringIO()
        text.write("the engines' build, ms: " + ", ".join(f"{k} {v:.1f}" for k, v in
                                                        sorted(build_ms.items(), key=lambda kv: -kv[1])) + "\n")
        text.write("inside the backend:\n")
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(profile)
        text.write("after the backend, to the first call's return:\n")
        pstats.Stats(after, stream=text).sort_stats("cumulative").print_stats(profile)
        result["profile"] = text.getvalue()
    return result


def run_child(name: str, batch: int, mode: str, device: str, profile: int = 0) -> dict | None:
    return call_in_child("compile_timeline", "child", (name, batch, mode, device, profile), f"{name} ({mode})",
                         timeout=600)


def describe(t: dict) -> str:
    m, s = t["marks"], t["stages"]
    enter, ret = m.get("backend entered", 0.0), m.get("backend returned", 0.0)
    parts = [f"dynamo before the backend {enter:.2f}"]
    if m.get("graphs", 1) > 1:  # dynamo traces the later graphs (after graph breaks) between backend calls
        parts.append(f"dynamo between its {m['graphs']} graphs {ret - enter - m['inside the backend']:.2f}")
    parts += [f"{k} {v:.2f}" for k, v in s.items()]
    parts.append(f"rest of the backend {m.get('inside the backend', 0.0) - sum(s.values()):.2f}")
    last = ret
    for i in range(1, 4):
        done = m.get(f"call {i} done", last)
        parts.append(f"{'dynamo after + ' if i == 1 else ''}call {i} {done - last:.2f}")
        last = done
    return f"total {last:.2f} s (after dynamo's first use, {t['dynamo first use']:.2f} s): " + ", ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["mobilenet_v3_large", "gpt2", "resnet50"])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"],
                        help="cpu: float32 on the CPU (no library-loading row)")
    parser.add_argument("--modes", nargs="+", choices=["cold", "warm", "no warm-up", "preloaded"],
                        help="the processes to run per model, in order (a mode may repeat: warm processes vary "
                             "by a few tenths of a second); default: cold, warm and, on CUDA, no warm-up and "
                             "preloaded. Without cold first, warm finds what an earlier run left in the caches")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="print the backend's N most expensive functions (cProfile, cumulative), those from its "
                             "return to the first call's, and the engines' build parts, after each warm timeline "
                             "(the timeline then includes the profiler's cost)")
    parser.add_argument("--json", help="also write the timelines as JSON to this path")
    args = parser.parse_args()
    rows = []
    for name in args.models:
        row = {"model": name, "batch": args.batch}
        runs = args.modes or ["cold", "warm"] + (["no warm-up", "preloaded"] if args.device == "cuda" else [])
        for i, mode in enumerate(runs):
            t = run_child(name, args.batch, mode, args.device, args.profile if mode != "cold" else 0)
            label = {"no warm-up": "warm, no library warm-up", "preloaded": "warm, libraries loaded by PyTorch"}.get(mode, mode)
            if runs.count(mode) > 1:
                label += f" #{runs[:i + 1].count(mode)}"
            row[label] = t
            if t is not None:
                print(f"{name} b{args.batch} {label}: {describe(t)}", flush=True)
                if "profile" in t:
                    print(t["profile"], flush=True)
        rows.append(row)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
