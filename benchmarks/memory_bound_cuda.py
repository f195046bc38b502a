"""CUDA benchmark: memory-bound layers alone (reductions over any axis and the whole tensor,
arg-reductions, softmax, gather, scatter, pad, resize, pooling, top-k, cumsum) against the same
PyTorch operation, on tensors of 4 MB and more. Each runs as a one-layer engine (an execution
context on preallocated tensors, its CUDA graph replayed) and as the PyTorch call; the times are
device times (the CUDA profiler's kernel time per call, so host overhead is left out). The rate
counts the bytes a layer must move (inputs read once, outputs written once) and is compared with
the device copy rate measured first (torch copy of 256 MB, read + write).

The issue's bar (issue 10): at least 70% of the copy rate, and never more than twice PyTorch's time.

    python3 benchmarks/memory_bound_cuda.py [--dtype float16] [--repeats 5] [--calls 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics

import torch
import torch.nn.functional as F

import tensorforge as tf
from tensorforge.testing.networks import network_of


def device_ms(fn, calls: int) -> float:
    """Kernel (and copy) device time per call of `fn`, from the CUDA profiler."""
    fn()
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        for _ in range(calls):
            fn()
        torch.cuda.synchronize()
    return sum(e.self_device_time_total for e in prof.key_averages()) / 1e3 / calls


def copy_rate_gbs(repeats: int, calls: int) -> float:
    x = torch.empty(128 << 20, dtype=torch.float16, device="cuda")
    y = torch.empty_like(x)
    ms = statistics.median(device_ms(lambda: y.copy_(x), calls) for _ in range(repeats))
    return 2 * x.numel() * x.element_size() / ms / 1e6


def nbytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def case_list(dt):
    """(name, inputs, network builder, torch function): the builder adds the layer to a network
    whose inputs are given, and returns its outputs."""
    g = torch.Generator(device="cuda").manual_seed(0)

    def rnd(*shape, dtype=dt):
        return torch.randn(shape, generator=g, device="cuda").to(dtype)

    rows = rnd(4096, 4096)
    scores = rnd(32 * 12 * 128, 128)  # BERT-base batch 32's attention scores
    image = rnd(32, 64, 112, 112)
    table = rnd(65536, 512)
    idx = torch.randint(0, 65536, (32768,), generator=g, device="cuda")
    flat = rnd(1 << 24, dtype=torch.float32)
    sidx = torch.randint(0, 1 << 24, (1 << 22,), generator=g, device="cuda")
    src = rnd(1 << 22, dtype=torch.float32)
    return [
        ("sum, last axis", [rows], lambda n, x: n.add_reduce(x, "sum", [1]), lambda x: x.sum(1)),
        ("sum, first axis", [rows], lambda n, x: n.add_reduce(x, "sum", [0]), lambda x: x.sum(0)),
        ("sum, whole tensor", [rows], lambda n, x: n.add_reduce(x, "sum", []), lambda x: x.sum()),
        ("max, middle axis", [image], lambda n, x: n.add_reduce(x, "max", [1]), lambda x: x.amax(1)),
        ("argmax, last axis", [rows], lambda n, x: n.add_arg_reduce(x, "argmax", 1), lambda x: x.argmax(1)),
        ("softmax, 4096 columns", [rows], lambda n, x: n.add_softmax(x, -1), lambda x: x.softmax(-1)),
        ("softmax, 128 columns", [scores], lambda n, x: n.add_softmax(x, -1), lambda x: x.softmax(-1)),
        ("gather rows (embedding)", [table, idx], lambda n, x, i: n.add_gather(x, i, 0),
         lambda x, i: x.index_select(0, i)),
        ("scatter add", [flat, sidx, src], lambda n, x, i, s: n.add_scatter(x, i, s, 0, "add"),
         lambda x, i, s: x.scatter_add(0, i, s)),
        ("pad 1 (constant)", [image], lambda n, x: n.add_pad(x, [0, 0, 1, 1, 0, 0, 1, 1]),
         lambda x: F.pad(x, (1, 1, 1, 1))),
        ("resize nearest 2x", [image[:8]], lambda n, x: n.add_resize(x, [224, 224], "nearest"),
         lambda x: F.interpolate(x, size=(224, 224), mode="nearest")),
        ("resize bilinear 2x", [image[:8]], lambda n, x: n.add_resize(x, [224, 224], "linear"),
         lambda x: F.interpolate(x, size=(224, 224), mode="bilinear")),
        ("max pool 3x3/2", [image], lambda n, x: n.add_pooling(x, "max", [3, 3], [2, 2], [1, 1]),
         lambda x: F.max_pool2d(x, 3, 2, 1)),
        ("top-8, last axis", [rows], lambda n, x: n.add_topk(x, 8, -1), lambda x: x.topk(8, -1)),
        ("cumsum, last axis", [rows], lambda n, x: n.add_cumsum(x, 1), lambda x: x.cumsum(1)),
    ]


def run_case(name, inputs, build, torch_fn, repeats, calls, copy_gbs):
    inputs = [t.contiguous() for t in inputs]
    engine = tf.Builder(tf.BuilderConfig(device="cuda")).build(network_of(build, inputs))
    expected = torch_fn(*inputs)
    expected = list(expected) if isinstance(expected, (list, tuple)) else [expected]
    results = [torch.empty_like(e) for e in expected]
    ctx = engine.create_execution_context()
    if name.startswith("scatter"):  # in place for PyTorch; the engine writes a new tensor
        torch_call = lambda: torch_fn(inputs[0].clone(), *inputs[1:])  # noqa: E731
    else:
        torch_call = lambda: torch_fn(*inputs)  # noqa: E731
    ours = statistics.median(device_ms(lambda: ctx.execute(inputs, results), calls) for _ in range(repeats))
    theirs = statistics.median(device_ms(torch_call, calls) for _ in range(repeats))
    moved = nbytes(inputs) + nbytes(expected)
    row = {"case": name, "shape": [list(t.shape) for t in inputs], "MB": round(moved / 1e6, 1),
           "tensorforge_us": round(ours * 1e3, 1), "torch_us": round(theirs * 1e3, 1),
           "tensorforge_gbs": round(moved / ours / 1e6), "of_copy_rate": round(moved / ours / 1e6 / copy_gbs, 2),
           "vs_torch": round(theirs / ours, 2)}
    row["meets_bar"] = row["of_copy_rate"] >= 0.7 and row["vs_torch"] >= 0.5
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", default="float16", choices=["float16", "bfloat16", "float32"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--json", help="also write the rows as JSON to this path")
    parser.add_argument("--cases", nargs="+", metavar="WORD",
                        help="only the cases whose name starts with one of these words (softmax, sum, top-8, ...)")
    args = parser.parse_args()
    dt = getattr(torch, args.dtype)
    copy_gbs = copy_rate_gbs(args.repeats, args.calls)
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, {args.dtype}; device copy rate "
          f"{copy_gbs:.0f} GB/s (read + write)", flush=True)
    rows = []
    for name, inputs, build, fn in case_list(dt):
        if args.cases and not name.startswith(tuple(args.cases)):
            continue
        try:
            rows.append(run_case(name, inputs, build, fn, args.repeats, args.calls, copy_gbs))
        except Exception as e:  # noqa: BLE001 - report and go on with the other cases
            rows.append({"case": name, "error": f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"})
        print(json.dumps(rows[-1]), flush=True)
    print("\n| layer | MB moved | TensorForge µs | PyTorch µs | TF GB/s | of copy rate | PyTorch time / TF |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['case']} | | | | | | {r['error']} |")
            continue
        print(f"| {r['case']} | {r['MB']} | {r['tensorforge_us']} | {r['torch_us']} | {r['tensorforge_gbs']} | "
              f"{r['of_copy_rate']:.0%} | {r['vs_torch']:.2f}x{'' if r['meets_bar'] else ' (under the bar)'} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"copy_gbs": copy_gbs, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
